//! The MySQL core with byte slices, against a toy server and a toy host:
//! cache hits forward, record and answer exactly as the host's slow path
//! does (cache on vs cache off give the same bytes and records), in any
//! split of either side's bytes; replies, denials, prepared statements,
//! pipelining, infile refusal; then arbitrary bytes (never a panic).
mod common;

use std::sync::{Arc, Mutex};

use limen_pump::mysql::{MySqlCore, SharedMySqlRelay, EXECUTE_SPLIT};
use limen_pump::{CacheLimits, ClientStep, JudgeRequest, RecordKind, RecordSink, Verdict};
use limen_wire::mysql::caps::{CLIENT_DEPRECATE_EOF, CLIENT_PROTOCOL_41};
use limen_wire::mysql::{
    put_lenenc, put_lenenc_str, write_packet, Expect, Limits, PacketDecoder, ServerRelay,
};
use proptest::prelude::*;

use common::mysql::{command, execute, prepare, query};
use common::At as Toy;

const CAPS: u64 = CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF;

#[derive(Default)]
struct Log(Vec<(RecordKind, Vec<u8>)>);

impl RecordSink for Log {
    fn try_append(&mut self, kind: RecordKind, payload: &[u8]) -> Result<(), String> {
        // u2c records are compared as one stream (their chunking follows the reads).
        match (kind, self.0.last_mut()) {
            (RecordKind::U2c, Some((RecordKind::U2c, last))) => last.extend_from_slice(payload),
            _ => self.0.push((kind, payload.to_vec())),
        }
        Ok(())
    }
}

fn close(id: u32) -> Vec<u8> {
    let mut p = vec![0x19];
    p.extend_from_slice(&id.to_le_bytes());
    command(&p)
}

/// A toy server: answers each command packet it gets.
struct Server {
    decoder: PacketDecoder,
    next_id: u32,
}

impl Server {
    fn new() -> Self {
        let mut decoder = PacketDecoder::new(Limits::default());
        decoder.set_authenticated();
        Server {
            decoder,
            next_id: 1,
        }
    }

    fn ok(out: &mut Vec<u8>, seq: u8, header: u8) -> u8 {
        let mut p = vec![header];
        put_lenenc(&mut p, 0);
        put_lenenc(&mut p, 0);
        p.extend_from_slice(&2u16.to_le_bytes());
        p.extend_from_slice(&0u16.to_le_bytes());
        write_packet(out, seq, &p)
    }

    fn answer(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.decoder.receive_data(bytes).is_err() {
            return out;
        }
        loop {
            self.decoder.ignore_sequence();
            let Ok(Some(p)) = self.decoder.next_packet() else {
                return out;
            };
            let payload = p.payload().to_vec();
            let seq = p.seq().wrapping_add(1);
            match payload.first() {
                Some(3) if payload[1..].starts_with(b"LOAD") => {
                    let mut req = vec![0xfb];
                    req.extend_from_slice(b"/etc/passwd");
                    write_packet(&mut out, seq, &req);
                }
                Some(3) if payload[1..].starts_with(b"FAIL") => {
                    let mut e = vec![0xff];
                    e.extend_from_slice(&1064u16.to_le_bytes());
                    e.extend_from_slice(b"#42000oops @ here");
                    write_packet(&mut out, seq, &e);
                }
                Some(3) => {
                    // one column, one row holding the statement text
                    let mut s = write_packet(&mut out, seq, &[1]);
                    let mut def = Vec::new();
                    for v in [&b"def"[..], b"db", b"t", b"t", b"c", b"c"] {
                        put_lenenc_str(&mut def, v);
                    }
                    def.push(0x0c);
                    def.extend_from_slice(&[33, 0, 0, 1, 0, 0, 253, 0, 0, 0, 0, 0]);
                    s = write_packet(&mut out, s, &def);
                    let mut row = Vec::new();
                    put_lenenc_str(&mut row, &payload[1..]);
                    s = write_packet(&mut out, s, &row);
                    Self::ok(&mut out, s, 0xfe);
                }
                Some(0x16) => {
                    let mut p = vec![0];
                    p.extend_from_slice(&self.next_id.to_le_bytes());
                    p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
                    self.next_id += 1;
                    write_packet(&mut out, seq, &p);
                }
                Some(0x17) | Some(0x0e) => {
                    Self::ok(&mut out, seq, 0);
                }
                Some(0x19) => {}
                // The refused infile's empty packet: the server's ERR.
                None => {
                    let mut e = vec![0xff];
                    e.extend_from_slice(&1146u16.to_le_bytes());
                    e.extend_from_slice(b"#HY000no file");
                    write_packet(&mut out, seq, &e);
                }
                _ => {
                    Self::ok(&mut out, seq, 0);
                }
            }
        }
    }
}

/// A toy host: allows (cacheable) every statement but DROP (an ERR reply);
/// records what a real host records (text, event).
fn host(relay: &SharedMySqlRelay<Toy>, r: &JudgeRequest, log: &mut Log) -> Result<Verdict, String> {
    let payload = &r.sql;
    let seq = r.raw.get(3).copied().unwrap_or(0);
    let text = payload.get(1..).unwrap_or_default();
    let code = payload.first().copied().unwrap_or(0);
    // A query with a WHERE is decided for its shape (its event, a function
    // of the shape, is every twin's).
    let shape = code == 3 && text.windows(5).any(|w| w == b"WHERE");
    let event = match limen_pump::mysql::shape::literal_key(text) {
        Some(key) if shape => format!("{{\"shape\":{}}}", key.len()).into_bytes(),
        _ => format!("{{\"decision\":{}}}", text.len()).into_bytes(),
    };
    if matches!(code, 3 | 0x16) {
        log.0.push((RecordKind::C2u, text.to_vec()));
        log.0.push((RecordKind::Event, event.clone()));
    }
    if text.starts_with(b"DROP") {
        let mut reply = Vec::new();
        write_packet(&mut reply, seq.wrapping_add(1), b"\xff\x8b\x04#42000denied");
        return Ok(Verdict {
            upstream: reply,
            discard_until_sync: true,
            ..Verdict::default()
        });
    }
    let (expect, cache_event) = match code {
        3 => (Some(Expect::Query), Some(event)),
        0x16 => {
            let mut e = event;
            e.push(EXECUTE_SPLIT);
            e.extend_from_slice(b"{\"execute\":");
            (Some(Expect::Prepare), Some(e))
        }
        0x17 => {
            let id = payload
                .get(1..5)
                .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap_or_default()));
            log.0.push((
                RecordKind::Event,
                format!("{{\"execute\":{id}}}").into_bytes(),
            ));
            (Some(Expect::Execute), None)
        }
        0x19 => (None, None),
        _ => (Some(Expect::Ok), None),
    };
    if let Some(expect) = expect {
        let sid =
            (code == 0x17).then(|| u32::from_le_bytes([r.sql[1], r.sql[2], r.sql[3], r.sql[4]]));
        relay
            .lock()
            .map_err(|_| "lock".to_string())?
            .expect(expect, seq, None, sid)
            .map_err(|e| e.to_string())?;
    }
    Ok(Verdict {
        upstream: r.raw.clone(),
        cache_event,
        cache_shape: shape,
        ..Verdict::default()
    })
}

struct Run {
    upstream: Vec<u8>,
    client: Vec<u8>,
    log: Log,
    hits: u64,
}

/// Drives a core as the pump does: client bytes in `split`-sized chunks,
/// each host request judged at once, the server's answers in chunks too.
fn run(input: &[u8], split: usize, cache: bool) -> Result<Run, String> {
    let relay: SharedMySqlRelay<Toy> =
        Arc::new(Mutex::new(ServerRelay::new(Some(Toy), CAPS, 1 << 20)));
    let limits = CacheLimits {
        entries: if cache { 64 } else { 0 },
        ..CacheLimits::default()
    };
    let mut core = MySqlCore::new(Arc::clone(&relay), 1 << 20, limits)
        .with_masked_results(true)
        .with_input_masker(Some(Toy));
    let mut server = Server::new();
    let mut log = Log::default();
    let (mut upstream, mut client) = (Vec::new(), Vec::new());
    let mut sent = 0;
    let split = split.max(1);
    let step_of = |core: &mut MySqlCore<Toy>,
                   mut step: ClientStep,
                   up: &mut Vec<u8>,
                   log: &mut Log|
     -> Result<bool, String> {
        while let ClientStep::Judge(r) = &step {
            let v = host(&relay, r, log)?;
            core.try_resume(r.id, v, up).map_err(|e| e.to_string())?;
            step = core.try_process(up, log).map_err(|e| e.to_string())?;
        }
        Ok(step == ClientStep::Terminate)
    };
    for chunk in input.chunks(split) {
        let step = core
            .try_client_data(chunk, &mut upstream, &mut log)
            .map_err(|e| e.to_string())?;
        let mut done = step_of(&mut core, step, &mut upstream, &mut log)?;
        core.take_client(&mut client);
        // The server answers what it got, in chunks; the core goes on.
        while sent < upstream.len() {
            let answer = server.answer(&upstream[sent..]);
            sent = upstream.len();
            for piece in answer.chunks(split) {
                let ended = core
                    .try_upstream_data(piece, &mut client, &mut log)
                    .map_err(|e| e.to_string())?;
                let _ = ended;
                if core.wants_process() {
                    let step = core
                        .try_process(&mut upstream, &mut log)
                        .map_err(|e| e.to_string())?;
                    done |= step_of(&mut core, step, &mut upstream, &mut log)?;
                    core.take_client(&mut client);
                }
            }
        }
        if done {
            break;
        }
    }
    Ok(Run {
        upstream,
        client,
        log,
        hits: core.counts().cache_hits,
    })
}

fn script() -> Vec<u8> {
    [
        query(b"SELECT 1"),
        query(b"SELECT '@secret'"),
        query(b"SELECT 1"),
        query(b"DROP TABLE t"),
        query(b"SELECT 1"),
        // twins: the first judged, the next from the shape cache, but the
        // one whose constant the input masker finds something in
        query(b"SELECT c FROM t WHERE id = 1 AND n = 'a'"),
        query(b"SELECT c FROM t WHERE id = 22 AND n = 'b'"),
        query(b"SELECT c FROM t WHERE id = 333 AND n = '@c'"),
        query(b"SELECT c FROM t WHERE id = 4 AND n = ''"),
        query(b"SELECT c FROM t WHERE id = 4 AND n = '' -- other"),
        prepare(b"SELECT ?"),
        execute(1),
        execute(0xffff_ffff),
        close(1),
        prepare(b"SELECT ?"),
        execute(2),
        query(b"FAIL @now"),
        query(b"LOAD DATA LOCAL INFILE 'x' INTO TABLE t"),
        command(&[0x0e]),
        query(b"DROP TABLE t"),
        query(b"SELECT 1"),
        command(&[1]),
        query(b"SELECT 'after quit'"),
    ]
    .concat()
}

#[test]
fn hits_equal_the_slow_path() -> Result<(), String> {
    let slow = run(&script(), 1 << 16, false)?;
    let fast = run(&script(), 1 << 16, true)?;
    assert_eq!(slow.hits, 1, "only the ping is handled without a cache");
    assert!(fast.hits >= 7, "hits: {}", fast.hits);

    assert_eq!(fast.upstream, slow.upstream);
    assert_eq!(fast.client, slow.client);
    assert_eq!(fast.log.0, slow.log.0);
    // What the client got is masked, and the denial came from the host.
    let client = String::from_utf8_lossy(&fast.client);
    assert!(!client.contains('@'));
    assert!(client.contains("[MASKED]secret"));
    assert!(client.contains("denied"));
    assert!(!String::from_utf8_lossy(&fast.upstream).contains("DROP"));
    assert!(!String::from_utf8_lossy(&fast.upstream).contains("after quit"));
    let events: Vec<_> = fast
        .log
        .0
        .iter()
        .filter(|(k, _)| *k == RecordKind::Event)
        .collect();
    assert!(events
        .iter()
        .any(|(_, e)| e.starts_with(b"{\"execute\":4294967295}")));
    assert!(events
        .iter()
        .any(|(_, e)| e == &b"{\"event\":\"infile_refused\"}".to_vec()));
    assert!(events
        .iter()
        .any(|(_, e)| e.starts_with(b"{\"event\":\"upstream_error\",\"code\":1064")));
    Ok(())
}

#[test]
fn twins_come_from_the_shape_cache() -> Result<(), String> {
    let script = [
        query(b"SELECT c FROM t WHERE id = 1 AND n = 'a'"),
        query(b"SELECT c FROM t WHERE id = 22 AND n = 'b'"),
        query(b"SELECT c FROM t WHERE id = 333 AND n = '@c'"),
        query(b"SELECT c FROM t WHERE id = 4 AND n = ''"),
        query(b"SELECT c FROM t WHERE id = 4 AND n = '' -- other"),
        query(b"SELECT c FROM t WHERE id = 5 AND n = 'x'"),
    ]
    .concat();
    let slow = run(&script, 1 << 16, false)?;
    let fast = run(&script, 1 << 16, true)?;
    // 22, 4 and 5: the '@' one is masked (the host records it), the
    // comment has no shape.
    assert_eq!(fast.hits, 3);
    assert_eq!(fast.upstream, slow.upstream);
    assert_eq!(fast.client, slow.client);
    assert_eq!(fast.log.0, slow.log.0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any split of both sides' bytes gives the same output, with the cache
    /// or without (a hit decides as the host's slow path).
    #[test]
    fn any_split_same_output(split in 1usize..300) {
        let reference = run(&script(), 1 << 16, false).map_err(TestCaseError::fail)?;
        for cache in [false, true] {
            let got = run(&script(), split, cache).map_err(TestCaseError::fail)?;
            prop_assert_eq!(&got.upstream, &reference.upstream);
            prop_assert_eq!(&got.client, &reference.client);
            prop_assert_eq!(&got.log.0, &reference.log.0);
        }
    }

    /// Arbitrary client bytes: an error or whole commands, never a panic.
    #[test]
    fn arbitrary_client_bytes(data in proptest::collection::vec(any::<u8>(), 0..600), split in 1usize..64) {
        let _ = run(&data, split, true);
    }
}
