//! The sans-IO core with byte slices: judge requests, verdicts, the cache,
//! discard-until-Sync, hidden Describes, masking and recording; then
//! arbitrary bytes on both sides (never a panic, only whole messages out).
mod common;

use std::sync::{Arc, Mutex};

use limen_pump::{CacheLimits, ClientStep, JudgeKind, PumpCore, RecordKind, SharedRelay, Verdict};
use limen_wire::pg::{
    BackendDecoder, ContentMasker, FrontendDecoder, FrontendMessage, Limits, ServerRelay,
};
use proptest::prelude::*;

use common::pg::{msg, query, sync};
use common::{At as Toy, Log};

fn parse(name: &[u8], sql: &[u8]) -> Vec<u8> {
    msg(b'P', &[name, b"\0", sql, b"\0", &[0, 0]].concat())
}

fn bind(portal: &[u8], stmt: &[u8]) -> Vec<u8> {
    msg(
        b'B',
        &[portal, b"\0", stmt, b"\0", &[0, 0, 0, 0, 0, 0]].concat(),
    )
}

fn execute(portal: &[u8]) -> Vec<u8> {
    msg(b'E', &[portal, b"\0", &[0, 0, 0, 0]].concat())
}

fn regular_decoder() -> FrontendDecoder {
    FrontendDecoder::new_regular(Limits::default())
}

fn core() -> (PumpCore<Toy>, SharedRelay<Toy>) {
    let relay = Arc::new(Mutex::new(ServerRelay::new(Some(Toy), Limits::default())));
    let core = PumpCore::new(
        regular_decoder(),
        Arc::clone(&relay),
        CacheLimits::default(),
    );
    (core, relay)
}

#[test]
fn a_query_waits_for_the_host_then_goes_upstream() -> Result<(), Box<dyn std::error::Error>> {
    let (mut core, _) = core();
    let mut log = Log::default();
    let mut up = Vec::new();
    let q = query(b"SELECT 1");
    let step = core.try_client_data(&[q.clone(), sync()].concat(), &mut up, &mut log)?;
    let ClientStep::Judge(req) = step else {
        return Err("expected a judge request".into());
    };
    assert_eq!(req.kind, JudgeKind::Query);
    assert_eq!(req.sql, b"SELECT 1");
    assert_eq!(req.raw, q);
    assert!(up.is_empty());
    assert!(core.paused());
    let verdict = Verdict {
        upstream: req.raw.clone(),
        ..Verdict::default()
    };
    core.try_resume(req.id, verdict, &mut up)?;
    assert_eq!(core.try_process(&mut up, &mut log)?, ClientStep::NeedData);
    assert_eq!(up, [q, sync()].concat());
    assert!(log.0.is_empty(), "the host records what it judged");
    // A verdict for nothing pending is the host's mistake.
    assert!(core
        .try_resume(req.id, Verdict::default(), &mut up)
        .is_err());
    Ok(())
}

#[test]
fn cached_allows_are_recorded_and_forwarded() -> Result<(), Box<dyn std::error::Error>> {
    let (mut core, _) = core();
    let mut log = Log::default();
    let mut up = Vec::new();
    let q = query(b"SELECT 2");
    let ClientStep::Judge(req) = core.try_client_data(&q, &mut up, &mut log)? else {
        return Err("expected a judge request".into());
    };
    let verdict = Verdict {
        upstream: req.raw.clone(),
        discard_until_sync: false,
        cache_event: Some(b"{\"action\":\"allow\"}".to_vec()),
        cache_shape: false,
    };
    core.try_resume(req.id, verdict, &mut up)?;
    // The same text again, twice: no request.
    let step = core.try_client_data(&[q.clone(), q.clone()].concat(), &mut up, &mut log)?;
    assert_eq!(step, ClientStep::NeedData);
    assert_eq!(up, [q.clone(), q.clone(), q.clone()].concat());
    assert_eq!(core.counts().cache_hits, 2);
    let kinds: Vec<RecordKind> = log.0.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        [
            RecordKind::C2u,
            RecordKind::Event,
            RecordKind::C2u,
            RecordKind::Event
        ]
    );
    // The same text as a Parse is another statement.
    let step = core.try_client_data(&parse(b"", b"SELECT 2"), &mut up, &mut log)?;
    assert!(matches!(step, ClientStep::Judge(_)));
    Ok(())
}

#[test]
fn a_refused_parse_discards_until_sync() -> Result<(), Box<dyn std::error::Error>> {
    let (mut core, _) = core();
    let mut log = Log::default();
    let mut up = Vec::new();
    let batch = [
        parse(b"", b"DROP TABLE t"),
        bind(b"", b""),
        execute(b""),
        sync(),
        query(b"SELECT 3"),
    ]
    .concat();
    let ClientStep::Judge(req) = core.try_client_data(&batch, &mut up, &mut log)? else {
        return Err("expected a judge request".into());
    };
    let marker = parse(b"", b"limen_denied_00");
    let verdict = Verdict {
        upstream: marker.clone(),
        discard_until_sync: true,
        cache_event: None,
        cache_shape: false,
    };
    core.try_resume(req.id, verdict, &mut up)?;
    let step = core.try_process(&mut up, &mut log)?;
    let ClientStep::Judge(next) = step else {
        return Err("expected the query after Sync".into());
    };
    assert_eq!(next.sql, b"SELECT 3");
    assert_eq!(up, [marker, sync()].concat());
    Ok(())
}

#[test]
fn an_execute_without_describe_gets_a_hidden_one() -> Result<(), Box<dyn std::error::Error>> {
    let (mut core, _) = core();
    let mut log = Log::default();
    let mut up = Vec::new();
    let batch = [bind(b"p1", b"s1"), execute(b"p1"), sync()].concat();
    assert_eq!(
        core.try_client_data(&batch, &mut up, &mut log)?,
        ClientStep::NeedData
    );
    let mut dec = regular_decoder();
    dec.receive_data(&up)?;
    let mut seen = Vec::new();
    while let Some((_, m)) = dec.next_message()? {
        seen.push(match m {
            FrontendMessage::Bind(_) => "bind",
            FrontendMessage::Describe(d) if d.name == b"p1" => "describe p1",
            FrontendMessage::Execute(_) => "execute",
            FrontendMessage::Sync => "sync",
            _ => "other",
        });
    }
    assert_eq!(seen, ["bind", "describe p1", "execute", "sync"]);
    Ok(())
}

#[test]
fn terminate_ends_the_client_side() -> Result<(), Box<dyn std::error::Error>> {
    let (mut core, _) = core();
    let mut up = Vec::new();
    let step = core.try_client_data(&msg(b'X', b""), &mut up, &mut Log::default())?;
    assert_eq!(step, ClientStep::Terminate);
    Ok(())
}

#[test]
fn upstream_rows_are_masked_recorded_and_errors_swapped() -> Result<(), Box<dyn std::error::Error>>
{
    let (mut core, relay) = core();
    let mut log = Log::default();
    let mut client = Vec::new();
    let row = msg(
        b'D',
        &[&[0, 1][..], &7i32.to_be_bytes(), b"a@b.com"].concat(),
    );
    let done = msg(b'C', b"SELECT 1\0");
    let ready = msg(b'Z', b"T");
    assert!(core.try_upstream_data(&[row, done, ready].concat(), &mut client, &mut log)?);
    assert_eq!(core.status(), b'T');
    assert!(contains(&client, b"a[MASKED]b.com"));
    assert!(!contains(&client, b"a@b.com"));
    assert_eq!(log.0.len(), 1);
    assert_eq!(log.0[0].0, RecordKind::U2c);
    assert_eq!(log.0[0].1, client);
    // The host registers a replacement on the shared relay.
    let replacement = msg(b'E', b"SERROR\0C42501\0Mdenied\0\0");
    relay
        .lock()
        .map_err(|_| "poisoned")?
        .replace_error(b"limen_denied_1".to_vec(), replacement.clone());
    let error = msg(b'E', b"SERROR\0C42601\0Msyntax error at limen_denied_1\0\0");
    let mut out = Vec::new();
    core.try_upstream_data(&error, &mut out, &mut log)?;
    assert_eq!(out, replacement);
    Ok(())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Drives a core with arbitrary bytes (the fuzz target does the same).
fn drive(client: &[u8], upstream: &[u8], step: usize, cache: bool) {
    let relay = Arc::new(Mutex::new(ServerRelay::new(
        Some(Toy),
        Limits {
            max_message_size: 1 << 16,
            ..Limits::default()
        },
    )));
    let mut core = PumpCore::new(
        regular_decoder(),
        relay,
        CacheLimits {
            entries: 4,
            bytes: 256,
            max_text: 64,
        },
    );
    let mut log = Log::default();
    let mut up = Vec::new();
    let mut out = Vec::new();
    let mut stop_client = false;
    for chunk in client.chunks(step.max(1)) {
        let mut r = core.try_client_data(chunk, &mut up, &mut log);
        while let Ok(ClientStep::Judge(req)) = &r {
            let verdict = Verdict {
                upstream: req.raw.clone(),
                discard_until_sync: req.sql.first() == Some(&b'D'),
                cache_event: cache.then(|| b"{}".to_vec()),
                cache_shape: false,
            };
            r = core
                .try_resume(req.id, verdict, &mut up)
                .and_then(|()| core.try_process(&mut up, &mut log));
        }
        if !matches!(r, Ok(ClientStep::NeedData)) {
            stop_client = true;
        }
        if stop_client {
            break;
        }
    }
    for chunk in upstream.chunks(step.max(1)) {
        if core.try_upstream_data(chunk, &mut out, &mut log).is_err() {
            break;
        }
    }
    // Only whole messages go out on either side.
    let mut f = regular_decoder();
    assert!(f.receive_data(&up).is_ok());
    while let Ok(Some(_)) = f.next_frame() {}
    assert_eq!(f.pending(), 0);
    let mut b = BackendDecoder::new(Limits::default());
    assert!(b.receive_data(&out).is_ok());
    while let Ok(Some(_)) = b.next_frame() {}
    assert_eq!(b.pending(), 0);
}

fn messages() -> impl Strategy<Value = Vec<u8>> {
    let one = prop_oneof![
        "[A-Z@ ]{0,12}".prop_map(|s| query(s.as_bytes())),
        "[A-Z@ ]{0,12}".prop_map(|s| parse(b"", s.as_bytes())),
        Just(bind(b"", b"")),
        Just(execute(b"")),
        Just(sync()),
        Just(msg(b'D', b"P\0")),
        proptest::collection::vec(any::<u8>(), 0..12),
    ];
    proptest::collection::vec(one, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        client in messages(),
        upstream in proptest::collection::vec(any::<u8>(), 0..256),
        step in 1usize..40,
        cache in any::<bool>(),
    ) {
        drive(&client, &upstream, step, cache);
    }
}

/// The host's side of the input masking (as `limen.gateway.inrecord` does
/// it): a judged statement is recorded masked, and its decision is cached
/// (by shape) only when the masker found nothing in it.
fn host_record(
    core: &mut PumpCore<Toy>,
    log: &mut Log,
    up: &mut Vec<u8>,
    req: &limen_pump::JudgeRequest,
) -> Result<(), TestCaseError> {
    let mut masked = Vec::new();
    let found = Toy.mask_into(&req.sql, &mut masked);
    log.0.push((RecordKind::C2u, masked));
    log.0.push((RecordKind::Event, b"{}".to_vec()));
    let verdict = Verdict {
        upstream: req.raw.clone(),
        discard_until_sync: false,
        cache_event: (found == 0).then(|| b"{}".to_vec()),
        cache_shape: found == 0,
    };
    core.try_resume(req.id, verdict, up).map_err(fail)
}

fn fail(e: impl std::fmt::Debug) -> TestCaseError {
    TestCaseError::fail(format!("{e:?}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Differential: whether a statement was judged by the host or forwarded
    /// on a cached decision (exact or by shape), its record is what the
    /// host's masking makes of it; nothing the masker would find is ever
    /// recorded raw.
    #[test]
    fn shape_hits_are_recorded_as_the_host_would_mask_them(
        values in prop::collection::vec("[ab@]{0,4}", 1..12),
    ) {
        let (core, _) = core();
        let mut core = core.with_input_masker(Some(Toy));
        let mut log = Log::default();
        let mut up = Vec::new();
        let mut expected = Vec::new();
        for v in &values {
            let sql = format!("SELECT * FROM t WHERE a = '{v}'").into_bytes();
            let mut masked = Vec::new();
            Toy.mask_into(&sql, &mut masked);
            expected.push(masked);
            let mut step = core.try_client_data(&query(&sql), &mut up, &mut log).map_err(fail)?;
            while let ClientStep::Judge(req) = step {
                host_record(&mut core, &mut log, &mut up, &req)?;
                step = core.try_process(&mut up, &mut log).map_err(fail)?;
            }
        }
        let recorded: Vec<Vec<u8>> = log
            .0
            .iter()
            .filter(|(k, _)| *k == RecordKind::C2u)
            .map(|(_, p)| p.clone())
            .collect();
        prop_assert_eq!(&recorded, &expected);
        prop_assert!(recorded.iter().all(|r| !r.contains(&b'@')));
        let clean = values.iter().filter(|v| !v.contains('@')).count();
        if clean >= 2 {
            prop_assert!(core.counts().cache_hits > 0, "the shape cache was used");
        }
    }
}
