//! Against the local MariaDB (127.0.0.1:3306, root with an empty password):
//! real responses — text and binary result sets, multi-results, PREPARE_OK,
//! errors — captured raw, with and without CLIENT_DEPRECATE_EOF, go
//! through the server-side relay whole and in 7-byte pieces; what it emits
//! is decoded by a reference decoder (the crate's packet decoder with
//! sequence checks, the tracker, the row parsers) and must hold the masked
//! values; with no masker and no plan it must equal the capture.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use limen_wire::mysql::auth::{AuthStep, ClientAuth};
use limen_wire::mysql::binary::{parse_binary_row, BinaryValue};
use limen_wire::mysql::caps::*;
use limen_wire::mysql::{
    write_packet, ColumnDefinition, ColumnPlan, ContentMasker, Expect, HandshakeResponse41,
    HandshakeV10, Kind, Limits, PacketDecoder, RelayEvent, ResponseTracker, ServerRelay,
    SslRequest, TextRow,
};

type E = Box<dyn std::error::Error>;
type Rows = Vec<Vec<Option<Vec<u8>>>>;

struct Upper;

/// Upper-cases "secret" (a stand-in for limen-mask).
impl ContentMasker for Upper {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        let s = String::from_utf8_lossy(value).replace("secret", "[SECRET]");
        out.extend_from_slice(s.as_bytes());
        0
    }
}

struct Conn {
    sock: TcpStream,
    dec: PacketDecoder,
    caps: u64,
}

impl Conn {
    fn read(&mut self) -> Result<(Vec<u8>, Vec<u8>, u8), E> {
        loop {
            if let Some(p) = self.dec.next_packet()? {
                return Ok((p.payload().to_vec(), p.raw().to_vec(), p.last_seq()));
            }
            let mut buf = [0u8; 65536];
            let n = self.sock.read(&mut buf)?;
            if n == 0 {
                return Err("closed".into());
            }
            self.dec.receive_data(&buf[..n])?;
        }
    }

    fn send(&mut self, seq: u8, payload: &[u8]) -> Result<(), E> {
        let mut out = Vec::new();
        let next = write_packet(&mut out, seq, payload);
        self.dec.set_sequence(next);
        self.sock.write_all(&out)?;
        Ok(())
    }

    fn login(deprecate_eof: bool) -> Result<Conn, E> {
        let mut c = Conn {
            sock: TcpStream::connect("127.0.0.1:3306")?,
            dec: PacketDecoder::new(Limits::default()),
            caps: 0,
        };
        let (hello, _, _) = c.read()?;
        let hello = HandshakeV10::try_parse(&hello)?;
        let (mut auth, first) =
            ClientAuth::start(hello.auth_plugin, &hello.scramble, b"", false, None)?;
        let wanted = CLIENT_PROTOCOL_41
            | CLIENT_SECURE_CONNECTION
            | CLIENT_PLUGIN_AUTH
            | CLIENT_MULTI_STATEMENTS
            | CLIENT_MULTI_RESULTS
            | CLIENT_TRANSACTIONS
            | if deprecate_eof {
                CLIENT_DEPRECATE_EOF
            } else {
                0
            };
        c.caps = wanted & hello.capabilities & GATEWAY_SUPPORTED;
        let resp = HandshakeResponse41 {
            head: SslRequest {
                capabilities: c.caps,
                max_packet_size: 1 << 24,
                collation: 45,
            },
            username: b"root",
            auth_response: &first,
            database: None,
            auth_plugin: Some(auth.plugin()),
            attributes: None,
            zstd_level: None,
        };
        let mut p = Vec::new();
        resp.try_encode(&mut p)?;
        c.send(1, &p)?;
        loop {
            let (p, _, seq) = c.read()?;
            match auth.on_packet(&p, c.caps)? {
                AuthStep::Send(bytes) => c.send(seq.wrapping_add(1), &bytes)?,
                AuthStep::Wait => {}
                AuthStep::Done { .. } => break,
                AuthStep::RsaEncrypt { .. } => return Err("no RSA on MariaDB".into()),
            }
        }
        c.dec.set_authenticated();
        Ok(c)
    }

    /// Sends a command; returns the raw response (and the payloads).
    fn capture(&mut self, payload: &[u8], expect: Expect) -> Result<(Vec<u8>, Vec<Vec<u8>>), E> {
        self.send(0, payload)?;
        let mut t = ResponseTracker::new(expect, self.caps);
        let (mut raw, mut payloads) = (Vec::new(), Vec::new());
        while !t.is_done() {
            let (p, r, _) = self.read()?;
            t.on_packet(&p)?;
            raw.extend_from_slice(&r);
            payloads.push(p);
        }
        Ok((raw, payloads))
    }
}

/// Relays `raw` whole and in 7-byte pieces (same output required).
fn relay(
    raw: &[u8],
    caps: u64,
    expect: Expect,
    plan: Option<Arc<ColumnPlan>>,
) -> Result<(Vec<u8>, Vec<RelayEvent>), E> {
    let mut outs = Vec::new();
    let mut events = Vec::new();
    for step in [raw.len().max(1), 7] {
        let mut r = ServerRelay::new(Some(Upper), caps, 16 << 20);
        r.expect(expect, 0, plan.clone(), Some(1))?;
        let mut out = Vec::new();
        events.clear();
        for piece in raw.chunks(step) {
            events.extend(r.try_feed(piece, &mut out)?);
        }
        assert!(r.is_done());
        outs.push(out);
    }
    assert_eq!(outs[0], outs[1], "the split changed the client bytes");
    let mut plain = ServerRelay::<Upper>::new(None, caps, 16 << 20);
    plain.expect(expect, 0, None, Some(1))?;
    let mut same = Vec::new();
    plain.try_feed(raw, &mut same)?;
    assert_eq!(same, raw, "no masker, no plan: passthrough");
    Ok((outs.swap_remove(0), events))
}

/// Decodes the relay's output as a client: rows (binary values as bytes).
fn decode(bytes: &[u8], caps: u64, expect: Expect) -> Result<Rows, E> {
    let mut dec = PacketDecoder::new(Limits::default());
    dec.set_authenticated();
    dec.set_sequence(1);
    dec.receive_data(bytes)?;
    let mut t = ResponseTracker::new(expect, caps);
    let (mut types, mut rows) = (Vec::new(), Vec::new());
    while let Some(p) = dec.next_packet()? {
        match t.on_packet(p.payload())? {
            Kind::ColumnCount(_) => types.clear(),
            Kind::ColumnDefinition => {
                types.push(ColumnDefinition::try_parse(p.payload(), caps)?.column_type)
            }
            Kind::TextRow => {
                let row = TextRow::try_parse(p.payload(), usize::try_from(t.columns())?)?;
                rows.push(row.iter().map(|v| v.map(<[u8]>::to_vec)).collect());
            }
            Kind::BinaryRow => rows.push(
                parse_binary_row(p.payload(), &types)?
                    .into_iter()
                    .map(|v| match v {
                        BinaryValue::Null => None,
                        BinaryValue::Str(b) | BinaryValue::Fixed(b) | BinaryValue::Temporal(b) => {
                            Some(b.to_vec())
                        }
                    })
                    .collect(),
            ),
            _ => {}
        }
    }
    assert!(t.is_done() && dec.pending() == 0);
    Ok(rows)
}

/// A COM_QUERY payload.
fn query(sql: &[u8]) -> Vec<u8> {
    let mut p = vec![0x03];
    p.extend_from_slice(sql);
    p
}

fn v(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

#[test]
fn real_responses_through_the_relay() -> Result<(), E> {
    let mut setup = Conn::login(true)?;
    let sql = "CREATE DATABASE IF NOT EXISTS limen_wire_relay; \
               CREATE OR REPLACE TABLE limen_wire_relay.t (id INT, email VARCHAR(50), note TEXT); \
               INSERT INTO limen_wire_relay.t VALUES (1, 'a@b', 'my secret'), (2, NULL, 'x')";
    setup.capture(&query(sql.as_bytes()), Expect::Query)?;
    let plan = Arc::new(ColumnPlan::new(
        vec![(None, b"T".to_vec(), b"EMAIL".to_vec(), b"[E]".to_vec())],
        Some(b"[D]".to_vec()),
        Some(vec![(b"limen_wire_relay".to_vec(), b"t".to_vec())]),
    ));
    for deprecate in [false, true] {
        let mut c = Conn::login(deprecate)?;
        let caps = c.caps;
        assert_eq!(caps & CLIENT_DEPRECATE_EOF != 0, deprecate);
        // Text rows, two result sets.
        let q = "SELECT id, email, note, CONCAT(note, '!') FROM limen_wire_relay.t ORDER BY id; \
                 SELECT 'secret'";
        let (raw, _) = c.capture(&query(q.as_bytes()), Expect::Query)?;
        let (out, events) = relay(&raw, caps, Expect::Query, Some(plan.clone()))?;
        assert_eq!(
            decode(&out, caps, Expect::Query)?,
            vec![
                vec![v("1"), v("[E]"), v("my [SECRET]"), v("[D]")],
                vec![v("2"), None, v("x"), v("[D]")],
                vec![v("[D]")],
            ]
        );
        assert_eq!(events.len(), 2, "one end per result set: {events:?}");
        // Binary rows: PREPARE then EXECUTE.
        let mut prep = vec![0x16];
        prep.extend_from_slice(b"SELECT id, email, note FROM limen_wire_relay.t ORDER BY id");
        let (raw, payloads) = c.capture(&prep, Expect::Prepare)?;
        let (out, events) = relay(&raw, caps, Expect::Prepare, None)?;
        assert_eq!(out, raw, "PREPARE answers pass as they are");
        let Some(RelayEvent::PrepareOk {
            statement_id,
            columns: 3,
            params: 0,
        }) = events.first()
        else {
            return Err(format!("no PREPARE_OK: {events:?}").into());
        };
        assert_eq!(payloads[0][1..5], statement_id.to_le_bytes());
        let mut exec = vec![0x17];
        exec.extend_from_slice(&statement_id.to_le_bytes());
        exec.extend_from_slice(&[0, 1, 0, 0, 0]);
        let (raw, _) = c.capture(&exec, Expect::Execute)?;
        let (out, _) = relay(&raw, caps, Expect::Execute, Some(plan.clone()))?;
        assert_eq!(
            decode(&out, caps, Expect::Execute)?,
            vec![
                vec![
                    Some(1u32.to_le_bytes().to_vec()),
                    v("[E]"),
                    v("my [SECRET]")
                ],
                vec![Some(2u32.to_le_bytes().to_vec()), None, v("x")],
            ]
        );
        // An error naming a secret, masked.
        let (raw, _) = c.capture(
            &query(b"SELECT * FROM limen_wire_relay.secret_nope"),
            Expect::Query,
        )?;
        let (out, events) = relay(&raw, caps, Expect::Query, None)?;
        assert!(matches!(&events[..], [RelayEvent::Err { code: 1146, .. }]));
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(text.contains("[SECRET]_nope") && !text.contains("secret_nope"));
    }
    setup.capture(&query(b"DROP DATABASE limen_wire_relay"), Expect::Query)?;
    Ok(())
}
