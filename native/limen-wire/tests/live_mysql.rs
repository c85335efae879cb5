//! Against the local MariaDB (127.0.0.1:3306, root with an empty password):
//! the crate's encoders, decoders, response tracker and auth proofs drive
//! real sessions over TCP. Logins with mysql_native_password and MariaDB's
//! client_ed25519 (the test installs the plugin and creates its users),
//! wrong passwords refused, result sets, multi-statements, prepared
//! statements, COM_INIT_DB, COM_PING, errors.
use limen_wire::mysql::auth::{AuthStep, ClientAuth};
use limen_wire::mysql::binary::{parse_binary_row, types, BinaryRowRewriter, BinaryValue};
use limen_wire::mysql::caps::*;
use limen_wire::mysql::command::{code, encode_query};
use limen_wire::mysql::generic::ErrPacket;
use limen_wire::mysql::resultset::{Action, Rewrite};
use limen_wire::mysql::{
    write_packet, ColumnDefinition, Expect, HandshakeResponse41, HandshakeV10, Kind, Limits,
    PacketDecoder, ResponseTracker, SslRequest, TextRow, TextRowRewriter,
};
use std::io::{Read, Write};
use std::net::TcpStream;

type R = Result<(), Box<dyn std::error::Error>>;
type E = Box<dyn std::error::Error>;

struct Conn {
    sock: TcpStream,
    dec: PacketDecoder,
    caps: u64,
    seq: u8,
}

/// A result: rows as strings, column (org_table, org_name), the end kinds.
#[derive(Default, Debug)]
struct Res {
    rows: Vec<Vec<Option<String>>>,
    cols: Vec<(String, String)>,
    kinds: Vec<Kind>,
    types: Vec<u8>,
}

impl Conn {
    fn read(&mut self) -> Result<(Vec<u8>, u8), E> {
        loop {
            if let Some(p) = self.dec.next_packet()? {
                // Our next packet continues the exchange's sequence.
                self.seq = p.last_seq().wrapping_add(1);
                return Ok((p.payload().to_vec(), p.seq()));
            }
            let mut buf = [0u8; 16384];
            let n = self.sock.read(&mut buf)?;
            if n == 0 {
                return Err("closed".into());
            }
            self.dec.receive_data(&buf[..n])?;
        }
    }

    fn send(&mut self, payload: &[u8]) -> R {
        let mut out = Vec::new();
        self.seq = write_packet(&mut out, self.seq, payload);
        self.dec.set_sequence(self.seq);
        self.sock.write_all(&out)?;
        Ok(())
    }

    fn login(user: &str, password: &str, db: Option<&str>) -> Result<Conn, E> {
        let sock = TcpStream::connect("127.0.0.1:3306")?;
        let mut c = Conn {
            sock,
            dec: PacketDecoder::new(Limits::default()),
            caps: 0,
            seq: 0,
        };
        let (hello, seq) = c.read()?;
        assert_eq!(seq, 0);
        let hello = HandshakeV10::try_parse(&hello)?;
        let (mut auth, first) = ClientAuth::start(
            hello.auth_plugin,
            &hello.scramble,
            password.as_bytes(),
            false,
            None,
        )?;
        let wanted = CLIENT_PROTOCOL_41
            | CLIENT_SECURE_CONNECTION
            | CLIENT_PLUGIN_AUTH
            | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
            | CLIENT_MULTI_STATEMENTS
            | CLIENT_MULTI_RESULTS
            | CLIENT_DEPRECATE_EOF
            | CLIENT_SESSION_TRACK
            | CLIENT_TRANSACTIONS
            | if db.is_some() {
                CLIENT_CONNECT_WITH_DB
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
            username: user.as_bytes(),
            auth_response: &first,
            database: db.map(str::as_bytes),
            auth_plugin: Some(auth.plugin()),
            attributes: None,
            zstd_level: None,
        };
        let mut p = Vec::new();
        resp.try_encode(&mut p)?;
        c.seq = 1;
        c.send(&p)?;
        loop {
            let (p, _) = c.read()?;
            match auth.on_packet(&p, c.caps)? {
                AuthStep::Send(bytes) => c.send(&bytes)?,
                AuthStep::Wait => {}
                AuthStep::Done { .. } => break,
                AuthStep::RsaEncrypt { .. } => return Err("no RSA on MariaDB".into()),
            }
        }
        c.dec.set_authenticated();
        Ok(c)
    }

    fn command(&mut self, payload: &[u8], expect: Expect) -> Result<Res, E> {
        self.seq = 0;
        self.send(payload)?;
        let mut t = ResponseTracker::new(expect, self.caps);
        let mut res = Res::default();
        let mut rw = TextRowRewriter::new(1 << 20);
        while !t.is_done() {
            let (p, seq) = self.read()?;
            let kind = t.on_packet(&p)?;
            match kind {
                Kind::ColumnCount(_) => res.types.clear(),
                Kind::BinaryRow => {
                    let values = parse_binary_row(&p, &res.types)?;
                    res.rows.push(
                        values
                            .iter()
                            .map(|v| match v {
                                BinaryValue::Null => None,
                                BinaryValue::Str(b) => {
                                    Some(String::from_utf8_lossy(b).into_owned())
                                }
                                BinaryValue::Fixed(b) | BinaryValue::Temporal(b) => {
                                    Some(format!("{b:?}"))
                                }
                            })
                            .collect(),
                    );
                    // Masking: the string replaced, the number made NULL.
                    let mut brw = BinaryRowRewriter::new(1 << 20);
                    let mut out = Vec::new();
                    let (r, _) =
                        brw.try_rewrite(&p, &res.types, seq, &mut out, |_, v, buf| match v {
                            BinaryValue::Str(_) => {
                                buf.extend_from_slice(b"<masked>");
                                Action::Replace
                            }
                            BinaryValue::Fixed(_) => Action::Null,
                            _ => Action::Keep,
                        })?;
                    assert_eq!(r, Rewrite::Changed);
                    let masked = parse_binary_row(&out[4..], &res.types)?;
                    assert!(masked.iter().all(|v| matches!(
                        v,
                        BinaryValue::Null
                            | BinaryValue::Str(b"<masked>")
                            | BinaryValue::Temporal(_)
                    )));
                }
                Kind::ColumnDefinition => {
                    let c = ColumnDefinition::try_parse(&p, self.caps)?;
                    res.types.push(c.column_type);
                    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                    res.cols.push((s(c.org_table), s(c.org_name)));
                }
                Kind::TextRow => {
                    let n = usize::try_from(t.columns())?;
                    let row = TextRow::try_parse(&p, n)?;
                    res.rows.push(
                        row.iter()
                            .map(|v| v.map(|b| String::from_utf8_lossy(b).into_owned()))
                            .collect(),
                    );
                    // Masking the secret column (index 1) re-frames the row.
                    let mut out = Vec::new();
                    let (r, _) = rw.try_rewrite(&p, n, seq, &mut out, |i, v, buf| {
                        if i == 1 && v.is_some() {
                            buf.extend_from_slice(b"<masked>");
                            Action::Replace
                        } else {
                            Action::Keep
                        }
                    })?;
                    if n > 1 && row.iter().nth(1).flatten().is_some() {
                        assert_eq!(r, Rewrite::Changed);
                        let masked = TextRow::try_parse(&out[4..], n)?;
                        assert_eq!(masked.iter().nth(1), Some(Some(&b"<masked>"[..])));
                        assert_eq!(masked.iter().next(), row.iter().next());
                    }
                }
                Kind::Err => {
                    if let ErrPacket::Error { code, .. } = ErrPacket::try_parse(&p)? {
                        res.rows.push(vec![Some(format!("ERR {code}"))]);
                    }
                }
                _ => {}
            }
            res.kinds.push(kind);
        }
        Ok(res)
    }

    fn query(&mut self, sql: &str) -> Result<Res, E> {
        let mut p = Vec::new();
        encode_query(&mut p, sql.as_bytes());
        self.command(&p, Expect::Query)
    }
}

fn setup() -> R {
    let mut root = Conn::login("root", "", None)?;
    let have = root
        .query("SELECT COUNT(*) FROM information_schema.plugins WHERE plugin_name = 'ed25519'")?;
    if have.rows[0][0].as_deref() == Some("0") {
        let r = root.query("INSTALL SONAME 'auth_ed25519'")?;
        assert!(matches!(r.kinds[..], [Kind::Ok { .. }]), "{r:?}");
    }
    for sql in [
        "CREATE OR REPLACE USER 'limen_wire_native'@'127.0.0.1' IDENTIFIED BY 'n@tive pw'",
        "CREATE OR REPLACE USER 'limen_wire_ed'@'127.0.0.1' IDENTIFIED VIA ed25519 USING PASSWORD('ed pw 2')",
        "CREATE DATABASE IF NOT EXISTS limen_wire_test",
        "CREATE OR REPLACE TABLE limen_wire_test.people (id INT PRIMARY KEY, secret VARCHAR(40))",
        "INSERT INTO limen_wire_test.people VALUES (1, 'alpha'), (2, NULL), (3, REPEAT('z', 40))",
        "GRANT SELECT ON limen_wire_test.* TO 'limen_wire_native'@'127.0.0.1'",
        "GRANT SELECT ON limen_wire_test.* TO 'limen_wire_ed'@'127.0.0.1'",
    ] {
        let r = root.query(sql)?;
        assert!(matches!(r.kinds[..], [Kind::Ok { .. }]), "{sql}: {r:?}");
    }
    Ok(())
}

#[test]
fn live_mariadb() -> R {
    setup()?;
    // Both plugins log in; a wrong password is refused by the server.
    for (user, pw) in [
        ("limen_wire_native", "n@tive pw"),
        ("limen_wire_ed", "ed pw 2"),
    ] {
        let mut c = Conn::login(user, pw, Some("limen_wire_test"))?;
        let r = c.query("SELECT CURRENT_USER()")?;
        assert_eq!(r.rows, vec![vec![Some(format!("{user}@127.0.0.1"))]]);
        let e = Conn::login(user, "wrong", None)
            .err()
            .ok_or("wrong password accepted")?;
        let e = e.downcast::<limen_wire::Error>()?;
        assert_eq!(e.kind(), limen_wire::ErrorKind::Auth);
    }
    let mut c = Conn::login("limen_wire_native", "n@tive pw", Some("limen_wire_test"))?;
    assert!(has(c.caps, CLIENT_DEPRECATE_EOF));
    // A result set with real org_table / org_name, rows masked on the way.
    let r = c.query("SELECT p.id, p.secret AS s FROM people p ORDER BY id")?;
    assert_eq!(
        r.cols,
        [
            ("people".into(), "id".into()),
            ("people".into(), "secret".into())
        ]
    );
    assert_eq!(r.rows.len(), 3);
    assert_eq!(r.rows[1], [Some("2".into()), None]);
    // Multi-statements: OK with more results, then a result set, then ERR.
    let r = c.query("DO 1; SELECT 7, 'x'; SELECT * FROM nope")?;
    assert!(matches!(r.kinds[0], Kind::Ok { status } if status & SERVER_MORE_RESULTS_EXISTS != 0));
    assert!(r.rows.contains(&vec![Some("7".into()), Some("x".into())]));
    assert_eq!(r.rows.last(), Some(&vec![Some("ERR 1146".to_string())]));
    // Prepared statement: PREPARE_OK, one parameter, two columns.
    let mut p = vec![code::STMT_PREPARE];
    p.extend_from_slice(b"SELECT id, secret FROM people WHERE id = ?");
    let r = c.command(&p, Expect::Prepare)?;
    assert!(
        matches!(
            r.kinds[0],
            Kind::PrepareOk {
                params: 1,
                columns: 2,
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(
        r.kinds
            .iter()
            .filter(|k| **k == Kind::ColumnDefinition)
            .count(),
        2
    );
    let Kind::PrepareOk { statement_id, .. } = r.kinds[0] else {
        return Err("no PREPARE_OK".into());
    };
    // COM_STMT_EXECUTE with id = 1: binary rows, masked on the way.
    let mut p = vec![code::STMT_EXECUTE];
    p.extend_from_slice(&statement_id.to_le_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 0]); // no cursor, 1 iteration
    p.extend_from_slice(&[0, 1, types::LONGLONG, 0]); // bitmap, types bound
    p.extend_from_slice(&1u64.to_le_bytes());
    let r = c.command(&p, Expect::Execute)?;
    assert_eq!(r.types, [types::LONG, types::VAR_STRING]);
    assert_eq!(
        r.rows,
        [[
            Some(format!("{:?}", 1u32.to_le_bytes())),
            Some("alpha".into())
        ]]
    );
    // COM_INIT_DB, COM_PING, and an INIT_DB the server refuses.
    let r = c.command(b"\x02limen_wire_test", Expect::Ok)?;
    assert!(matches!(r.kinds[..], [Kind::Ok { .. }]));
    let r = c.command(&[code::PING], Expect::Ok)?;
    assert!(matches!(r.kinds[..], [Kind::Ok { .. }]));
    let r = c.command(b"\x02mysql", Expect::Ok)?;
    assert_eq!(r.kinds, [Kind::Err]);
    assert_eq!(r.rows, [[Some("ERR 1044".to_string())]]);
    Ok(())
}
