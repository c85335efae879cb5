//! Unnamed Parse on the fast path (JDBC, pgx, many ORMs send `Parse("",
//! text)` for every execution): a decision the host marks reusable is
//! judged once per text; the same session through a core with the cache
//! and one without gives the same upstream bytes and the same records
//! (differential, property-tested over random pipelines).
mod common;

use std::sync::{Arc, Mutex};

use limen_pump::{CacheLimits, ClientStep, PumpCore, RecordKind, Verdict};
use limen_wire::pg::{FrontendDecoder, Limits, ServerRelay};
use proptest::prelude::*;

use common::pg::{msg, sync};
use common::{Log, Plain as NoMask};

fn parse(name: &[u8], sql: &[u8]) -> Vec<u8> {
    msg(b'P', &[name, b"\0", sql, b"\0", &[0, 0]].concat())
}

fn bind(stmt: &[u8]) -> Vec<u8> {
    msg(
        b'B',
        &[b"\0", stmt, b"\0", &[0, 0, 0, 0, 0, 0][..]].concat(),
    )
}

fn describe_portal() -> Vec<u8> {
    msg(b'D', b"P\0")
}

fn execute() -> Vec<u8> {
    msg(b'E', &[b"\0", &[0, 0, 0, 0][..]].concat())
}

/// One execution as a driver sends it: Parse unnamed, Bind, Describe,
/// Execute, Sync.
fn round(sql: &[u8]) -> Vec<u8> {
    [
        parse(b"", sql),
        bind(b""),
        describe_portal(),
        execute(),
        sync(),
    ]
    .concat()
}

struct Run {
    up: Vec<u8>,
    records: Vec<(RecordKind, Vec<u8>)>,
    judged: Vec<Vec<u8>>,
    hits: u64,
}

/// The host: records what it judges (the statement, then its decision),
/// denies texts starting with "DROP" (discard until Sync, never cached),
/// holds texts starting with "UPDATE" (never cached: each is decided
/// fresh, and here let through), allows the rest, reusable when `cache`.
/// After an odd number of reloads its rules also deny "SELECT 2".
fn host_verdict(
    req: &limen_pump::JudgeRequest,
    cache: bool,
    reloads: usize,
    log: &mut Log,
) -> Verdict {
    let deny = req.sql.starts_with(b"DROP") || (reloads % 2 == 1 && req.sql == b"SELECT 2");
    let hold = req.sql.starts_with(b"UPDATE");
    let event = if deny {
        b"{\"deny\":1}".to_vec()
    } else if hold {
        b"{\"hold\":1}".to_vec()
    } else {
        b"{\"allow\":1}".to_vec()
    };
    log.0.push((RecordKind::C2u, req.sql.clone()));
    log.0.push((RecordKind::Event, event.clone()));
    Verdict {
        upstream: if deny {
            b"DENIED".to_vec()
        } else {
            req.raw.clone()
        },
        discard_until_sync: deny,
        cache_event: (cache && !deny && !hold).then_some(event),
        cache_shape: false,
    }
}

/// What the client does: sends bytes, or (between its messages) the
/// gateway reloads its rules, which empties the core's cache.
#[derive(Clone, Debug)]
enum Op {
    Send(Vec<u8>),
    Reload,
}

fn run(client: &[u8], step: usize, cache: bool) -> Result<Run, TestCaseError> {
    run_ops(&[Op::Send(client.to_vec())], step, cache)
}

fn run_ops(ops: &[Op], step: usize, cache: bool) -> Result<Run, TestCaseError> {
    let relay = Arc::new(Mutex::new(ServerRelay::new(
        Some(NoMask),
        Limits::default(),
    )));
    let limits = if cache {
        CacheLimits::default()
    } else {
        CacheLimits {
            entries: 0,
            ..CacheLimits::default()
        }
    };
    let mut core = PumpCore::new(
        FrontendDecoder::new_regular(Limits::default()),
        relay,
        limits,
    );
    let mut log = Log::default();
    let mut up = Vec::new();
    let mut judged = Vec::new();
    let mut reloads = 0;
    let fail = |e: limen_pump::PumpError| TestCaseError::fail(format!("{e:?}"));
    for op in ops {
        let client = match op {
            Op::Send(bytes) => bytes,
            Op::Reload => {
                reloads += 1;
                core.clear_cache();
                continue;
            }
        };
        for chunk in client.chunks(step.max(1)) {
            let mut s = core
                .try_client_data(chunk, &mut up, &mut log)
                .map_err(fail)?;
            while let ClientStep::Judge(req) = s {
                judged.push(req.sql.clone());
                let v = host_verdict(&req, cache, reloads, &mut log);
                core.try_resume(req.id, v, &mut up).map_err(fail)?;
                s = core.try_process(&mut up, &mut log).map_err(fail)?;
            }
        }
    }
    Ok(Run {
        up,
        records: log.0,
        judged,
        hits: core.counts().cache_hits,
    })
}

#[test]
fn repeated_unnamed_parse_is_judged_once_per_text() -> Result<(), TestCaseError> {
    let a = b"SELECT abalance FROM pgbench_accounts WHERE aid = $1";
    let b = b"SELECT 1";
    let client = [round(a), round(a), round(b), round(a), round(b)].concat();
    let fast = run(&client, 7, true)?;
    assert_eq!(fast.judged, vec![a.to_vec(), b.to_vec()]);
    assert_eq!(fast.hits, 3);
    let slow = run(&client, 7, false)?;
    assert_eq!(slow.judged.len(), 5);
    assert_eq!(fast.up, slow.up);
    assert_eq!(fast.records, slow.records);
    // The same text under a name is another statement: judged again.
    let named = [round(a), parse(b"s1", a)].concat();
    assert_eq!(run(&named, 64, true)?.judged.len(), 2);
    Ok(())
}

#[test]
fn a_denied_unnamed_parse_is_judged_every_time() -> Result<(), TestCaseError> {
    let client = [round(b"DROP TABLE t"), round(b"DROP TABLE t")].concat();
    let fast = run(&client, 5, true)?;
    assert_eq!(fast.judged.len(), 2);
    assert_eq!(fast.hits, 0);
    assert_eq!(fast.up, run(&client, 5, false)?.up);
    Ok(())
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    let text = prop_oneof![
        Just(&b"SELECT $1"[..]),
        Just(&b"SELECT 2"[..]),
        Just(&b"DROP TABLE t"[..]),
        Just(&b"UPDATE t SET a = $1"[..]),
    ];
    prop_oneof![
        text.clone().prop_map(round),
        text.prop_map(|t| parse(b"", t)),
        Just(bind(b"")),
        Just(execute()),
        Just(sync()),
    ]
}

fn pipeline() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(message(), 0..24).prop_map(|v| v.concat())
}

/// Messages with reloads between some of them.
fn session() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        6 => message().prop_map(Op::Send),
        1 => Just(Op::Reload),
    ];
    proptest::collection::vec(op, 0..32)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Differential: with the cache or without, the upstream gets the same
    /// bytes and the recording the same records, however the client's
    /// bytes are split; the cache only saves judgements.
    #[test]
    fn the_cache_changes_no_byte(client in pipeline(), step in 1usize..64) {
        let fast = run(&client, step, true)?;
        let slow = run(&client, step, false)?;
        prop_assert_eq!(&fast.up, &slow.up);
        prop_assert_eq!(&fast.records, &slow.records);
        prop_assert_eq!(fast.judged.len() as u64 + fast.hits, slow.judged.len() as u64);
    }

    /// The same across reloads that change a decision ("SELECT 2" allowed,
    /// then denied, then allowed): the cache is emptied by each reload, so
    /// a decision cached under the old rules is never reused under the new
    /// ones; and a text that is denied, held or whose rules changed is
    /// judged as often with the cache as without it.
    #[test]
    fn reloads_and_refusals_are_never_served_from_the_cache(
        ops in session(),
        step in 1usize..64,
    ) {
        let fast = run_ops(&ops, step, true)?;
        let slow = run_ops(&ops, step, false)?;
        prop_assert_eq!(&fast.up, &slow.up);
        prop_assert_eq!(&fast.records, &slow.records);
        prop_assert_eq!(fast.judged.len() as u64 + fast.hits, slow.judged.len() as u64);
        let refusals = |j: &[Vec<u8>]| {
            j.iter()
                .filter(|t| t.starts_with(b"UPDATE") || t.starts_with(b"DROP"))
                .count()
        };
        prop_assert_eq!(refusals(&fast.judged), refusals(&slow.judged));
    }
}

#[test]
fn a_reload_ends_the_reuse_of_an_allow() -> Result<(), TestCaseError> {
    let ops = [
        Op::Send(round(b"SELECT 2")),
        Op::Send(round(b"SELECT 2")),
        Op::Reload,
        Op::Send(round(b"SELECT 2")),
        Op::Send(round(b"SELECT 2")),
    ];
    let fast = run_ops(&ops, 9, true)?;
    // Judged once before the reload; after it, denied every time.
    assert_eq!(fast.judged.len(), 3);
    assert_eq!(fast.hits, 1);
    let denied = fast
        .records
        .iter()
        .filter(|(k, p)| *k == RecordKind::Event && p.as_slice() == b"{\"deny\":1}")
        .count();
    assert_eq!(denied, 2);
    assert_eq!(fast.up, run_ops(&ops, 9, false)?.up);
    Ok(())
}
