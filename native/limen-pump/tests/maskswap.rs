//! A config reload's masks for a live core (`MaskSwap`): the relay masks
//! the next upstream bytes with the new masker, the core records them with
//! the new flag, and a statement the new statement masker finds something
//! in is never recorded raw from a decision cached before the swap.
mod common;

use std::sync::{Arc, Mutex};

use limen_pump::{CacheLimits, ClientStep, PumpCore, RecordKind, Verdict};
use limen_wire::pg::{FrontendDecoder, Limits, ServerRelay};

use common::pg::{data_row, msg, query};
use common::{At, FlaggedLog as Log};

fn row(value: &[u8]) -> Vec<u8> {
    [data_row(value), msg(b'C', b"SELECT 1\0"), msg(b'Z', b"I")].concat()
}

/// Sends `sql`; when the core asks, allows it (cached by shape) and
/// returns true.
fn run(
    core: &mut PumpCore<At>,
    log: &mut Log,
    sql: &[u8],
) -> Result<bool, Box<dyn std::error::Error>> {
    let mut up = Vec::new();
    let step = core.try_client_data(&query(sql), &mut up, log)?;
    let ClientStep::Judge(req) = step else {
        return Ok(false);
    };
    log.0
        .push((RecordKind::C2u, b"(judged by the host)".to_vec(), true));
    let verdict = Verdict {
        upstream: req.raw.clone(),
        discard_until_sync: false,
        cache_event: Some(b"{}".to_vec()),
        cache_shape: true,
    };
    core.try_resume(req.id, verdict, &mut up)?;
    core.try_process(&mut up, log)?;
    Ok(true)
}

#[test]
fn a_swap_reaches_the_relay_the_records_and_the_cache() -> Result<(), Box<dyn std::error::Error>> {
    let relay = Arc::new(Mutex::new(ServerRelay::new(None, Limits::default())));
    let mut core = PumpCore::new(
        FrontendDecoder::new_regular(Limits::default()),
        Arc::clone(&relay),
        CacheLimits::default(),
    );
    let swap = core.mask_swap();
    let mut log = Log::default();

    // Before: nothing masks; a clean statement is cached by its shape, and
    // its sibling with an '@' is a cache hit recorded as is.
    assert!(run(&mut core, &mut log, b"SELECT v FROM t WHERE a = 'x'")?);
    assert!(!run(
        &mut core,
        &mut log,
        b"SELECT v FROM t WHERE a = 'y@'"
    )?);
    let mut client = Vec::new();
    core.try_upstream_data(&row(b"a@b"), &mut client, &mut log)?;
    assert!(client.windows(3).any(|w| w == b"a@b"));
    let (kind, _, masked) = log.0.last().ok_or("no record")?;
    assert_eq!((*kind, *masked), (RecordKind::U2c, false));

    swap.set(Some(At), Some(At), true)?;

    // After: the cache is forgotten (the exact statement asks again), and
    // a sibling with an '@' goes to the host instead of being recorded raw.
    assert!(run(&mut core, &mut log, b"SELECT v FROM t WHERE a = 'x'")?);
    assert!(run(&mut core, &mut log, b"SELECT v FROM t WHERE a = 'z@'")?);
    assert!(!run(&mut core, &mut log, b"SELECT v FROM t WHERE a = 'w'")?);
    let mut client = Vec::new();
    core.try_upstream_data(&row(b"a@b"), &mut client, &mut log)?;
    assert!(!client.windows(3).any(|w| w == b"a@b"));
    assert!(client.windows(10).any(|w| w == b"a[MASKED]b"));
    let (kind, _, masked) = log.0.last().ok_or("no record")?;
    assert_eq!((*kind, *masked), (RecordKind::U2c, true));
    // The cache hit before the swap was recorded as is; after it, never.
    let raw: Vec<_> = log
        .0
        .iter()
        .filter(|(k, p, _)| *k == RecordKind::C2u && p.windows(1).any(|w| w == b"@"))
        .map(|(_, p, _)| String::from_utf8_lossy(p).into_owned())
        .collect();
    assert_eq!(raw, ["SELECT v FROM t WHERE a = 'y@'"]);
    Ok(())
}
