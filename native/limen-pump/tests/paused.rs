//! Client bytes that arrive while a verdict is awaited (a hold can take
//! minutes, and the Trio relay keeps reading the client meanwhile): they
//! are buffered up to a cap and handled after the verdict, exactly as if
//! they had arrived after it.
mod common;

use std::sync::{Arc, Mutex};

use limen_pump::{
    CacheLimits, ClientStep, JudgeKind, PumpCore, PumpErrorKind, RecordKind, Side, Verdict,
};
use limen_wire::pg::{FrontendDecoder, Limits, ServerRelay};
use proptest::prelude::*;

use common::pg::{msg, query, sync};
use common::{Log, Plain};

fn parse(sql: &[u8]) -> Vec<u8> {
    msg(b'P', &[b"\0", sql, b"\0", &[0, 0]].concat())
}

fn core(cap: usize) -> PumpCore<Plain> {
    let relay = Arc::new(Mutex::new(ServerRelay::new(None, Limits::default())));
    PumpCore::new(
        FrontendDecoder::new_regular(Limits::default()),
        relay,
        CacheLimits::default(),
    )
    .with_paused_cap(cap)
}

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn bytes_read_during_a_hold_run_after_the_verdict() -> TestResult {
    let mut core = core(1 << 16);
    let mut log = Log::default();
    let mut up = Vec::new();
    let held = query(b"DELETE FROM t");
    let ClientStep::Judge(req) = core.try_client_data(&held, &mut up, &mut log)? else {
        return Err("expected a judge request".into());
    };
    // The client goes on while humans decide: buffered, nothing upstream.
    let later = [query(b"SELECT 1")].concat();
    let (a, b) = later.split_at(5);
    assert_eq!(
        core.try_client_data(a, &mut up, &mut log)?,
        ClientStep::Paused
    );
    assert_eq!(
        core.try_client_data(b, &mut up, &mut log)?,
        ClientStep::Paused
    );
    assert!(up.is_empty());
    assert!(core.paused());
    assert_eq!(core.client_pending(), later.len());
    core.try_resume(
        req.id,
        Verdict {
            upstream: held.clone(),
            ..Verdict::default()
        },
        &mut up,
    )?;
    let ClientStep::Judge(next) = core.try_process(&mut up, &mut log)? else {
        return Err("the buffered query must come next".into());
    };
    assert_eq!(next.kind, JudgeKind::Query);
    assert_eq!(next.sql, b"SELECT 1");
    assert_eq!(up, held);
    assert_eq!(
        core.counts().client_bytes,
        (held.len() + later.len()) as u64
    );
    Ok(())
}

#[test]
fn a_paused_core_buffers_up_to_its_cap_then_fails() -> TestResult {
    let mut core = core(64);
    let mut log = Log::default();
    let mut up = Vec::new();
    // A Parse, then a Sync already buffered behind it (5 bytes).
    let batch = [parse(b"SELECT 1"), sync()].concat();
    let ClientStep::Judge(_) = core.try_client_data(&batch, &mut up, &mut log)? else {
        return Err("expected a judge request".into());
    };
    assert_eq!(core.client_pending(), 5);
    // Exactly up to the cap is fine...
    assert_eq!(
        core.try_client_data(&[b'x'; 59], &mut up, &mut log)?,
        ClientStep::Paused
    );
    // ... one byte more is the client's protocol error, and says so.
    let err = match core.try_client_data(b"y", &mut up, &mut log) {
        Err(e) => e,
        Ok(step) => return Err(format!("expected an error, got {step:?}").into()),
    };
    assert_eq!(err.kind(), PumpErrorKind::Protocol(Side::Client));
    assert!(err.message().contains("more than 64 bytes"), "{err}");
    assert!(up.is_empty());
    Ok(())
}

/// The requests a host saw and the bytes that went upstream.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    requests: Vec<(JudgeKind, Vec<u8>)>,
    upstream: Vec<u8>,
    records: Vec<(RecordKind, Vec<u8>)>,
    error: bool,
}

/// What the host decides: allow (cached when the text's length is even),
/// refuse a Parse starting with 'D' (discard until Sync).
fn verdict(kind: JudgeKind, sql: &[u8], raw: &[u8]) -> Verdict {
    let refuse = kind == JudgeKind::Parse && sql.first() == Some(&b'D');
    Verdict {
        upstream: if refuse {
            parse(b"limen_denied")
        } else {
            raw.to_vec()
        },
        discard_until_sync: refuse,
        cache_event: (!refuse && sql.len().is_multiple_of(2)).then(|| b"{}".to_vec()),
        cache_shape: false,
    }
}

/// Feeds `chunks`; a verdict is given at once, or — when `late` says so
/// for that request — only after the next chunk was fed while paused.
fn run(chunks: &[Vec<u8>], late: &[bool]) -> Run {
    let mut core = core(1 << 20);
    let mut log = Log::default();
    let mut up = Vec::new();
    let mut requests = Vec::new();
    let mut waiting = None;
    let mut error = false;
    let mut chunk = chunks.iter();
    loop {
        let step = match waiting.take() {
            Some(req) => {
                let req: limen_pump::JudgeRequest = req;
                // Deferred: one more chunk arrives while paused first.
                if let Some(c) = chunk.next() {
                    match core.try_client_data(c, &mut up, &mut log) {
                        Ok(ClientStep::Paused) => {}
                        _ => {
                            error = true;
                            break;
                        }
                    }
                }
                let v = verdict(req.kind, &req.sql, &req.raw);
                core.try_resume(req.id, v, &mut up)
                    .and_then(|()| core.try_process(&mut up, &mut log))
            }
            None => match chunk.next() {
                Some(c) => core.try_client_data(c, &mut up, &mut log),
                None => break,
            },
        };
        let mut step = match step {
            Ok(s) => s,
            Err(_) => {
                error = true;
                break;
            }
        };
        while let ClientStep::Judge(req) = step {
            requests.push((req.kind, req.sql.clone()));
            if late.get(requests.len()).copied().unwrap_or(false) {
                waiting = Some(req);
                break;
            }
            let v = verdict(req.kind, &req.sql, &req.raw);
            step = match core
                .try_resume(req.id, v, &mut up)
                .and_then(|()| core.try_process(&mut up, &mut log))
            {
                Ok(s) => s,
                Err(_) => {
                    error = true;
                    return Run {
                        requests,
                        upstream: up,
                        records: log.0,
                        error,
                    };
                }
            };
        }
    }
    if let Some(req) = waiting {
        let v = verdict(req.kind, &req.sql, &req.raw);
        let _ = core
            .try_resume(req.id, v, &mut up)
            .and_then(|()| core.try_process(&mut up, &mut log));
    }
    Run {
        requests,
        upstream: up,
        records: log.0,
        error,
    }
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    let sql = prop::sample::select(vec![
        &b"SELECT 1"[..],
        b"SELECT 22",
        b"DROP t",
        b"DELETE 1",
        b"x",
    ]);
    prop_oneof![
        sql.clone().prop_map(query),
        sql.prop_map(parse),
        Just(sync()),
        Just(msg(b'H', b"")),
    ]
}

proptest! {
    /// Differential: buffering while paused (chunks fed before the verdict)
    /// against the same bytes fed only when the core is not paused.
    #[test]
    fn buffering_while_paused_changes_nothing(
        msgs in prop::collection::vec(message(), 1..24),
        cuts in prop::collection::vec(1usize..40, 1..30),
        late in prop::collection::vec(any::<bool>(), 0..30),
    ) {
        let stream = msgs.concat();
        let mut chunks = Vec::new();
        let mut at = 0;
        for c in cuts.iter().cycle() {
            if at >= stream.len() {
                break;
            }
            let end = (at + c).min(stream.len());
            chunks.push(stream[at..end].to_vec());
            at = end;
        }
        let eager = run(&chunks, &[]);
        let paused = run(&chunks, &late);
        prop_assert!(!eager.error && !paused.error);
        prop_assert_eq!(eager, paused);
    }
}
