//! Fuzz the decision cache of the extended protocol (differential): a
//! session of Parse (unnamed or named, texts from a small set so that they
//! repeat), Bind, Describe, Execute, Sync, Query and reloads, as the input
//! says, split as it says, through a core with the cache and one without.
//! The host denies "DROP…" (discard until Sync), holds "UPDATE…" (never
//! cached), allows the rest (cacheable), and after an odd number of
//! reloads also denies "SELECT 2". Both cores must send the upstream the
//! same bytes and record the same records; the cache may only save
//! judgements, never a refusal's.
#![no_main]
use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use limen_pump::{CacheLimits, ClientStep, PumpCore, RecordKind, RecordSink, Verdict};
use limen_wire::pg::{ContentMasker, FrontendDecoder, Limits, ServerRelay};

struct NoMask;

impl ContentMasker for NoMask {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        out.extend_from_slice(value);
        0
    }
}

#[derive(Default)]
struct Log(Vec<(RecordKind, Vec<u8>)>);

impl RecordSink for Log {
    fn try_append(&mut self, kind: RecordKind, payload: &[u8]) -> Result<(), String> {
        self.0.push((kind, payload.to_vec()));
        Ok(())
    }
}

const TEXTS: [&[u8]; 6] = [
    b"SELECT $1",
    b"SELECT 2",
    b"DROP TABLE t",
    b"UPDATE t SET a = $1",
    b"SELECT abalance FROM pgbench_accounts WHERE aid = $1",
    b"",
];

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

enum Op {
    Send(Vec<u8>),
    Reload,
}

/// One operation per input byte.
fn ops(data: &[u8]) -> Vec<Op> {
    data.iter()
        .map(|&b| {
            let text = TEXTS[usize::from(b >> 4) % TEXTS.len()];
            let name: &[u8] = if b & 0x08 == 0 { b"" } else { b"s1" };
            match b & 0x07 {
                0 | 1 => Op::Send(msg(b'P', &[name, b"\0", text, b"\0", &[0, 0]].concat())),
                2 => Op::Send(msg(
                    b'B',
                    &[b"\0", name, b"\0", &[0, 0, 0, 0, 0, 0][..]].concat(),
                )),
                3 => Op::Send(msg(b'E', &[b"\0", &[0, 0, 0, 0][..]].concat())),
                4 => Op::Send(msg(b'S', b"")),
                5 => Op::Send(msg(b'D', &[b"S", name, b"\0"].concat())),
                6 => Op::Send(msg(b'Q', &[text, b"\0"].concat())),
                _ => Op::Reload,
            }
        })
        .collect()
}

struct Run {
    up: Vec<u8>,
    records: Vec<(RecordKind, Vec<u8>)>,
    refusals: usize,
    judged: u64,
    hits: u64,
}

fn run(ops: &[Op], step: usize, cache: bool) -> Option<Run> {
    let relay = Arc::new(Mutex::new(ServerRelay::new(
        Some(NoMask),
        Limits::default(),
    )));
    let limits = if cache {
        CacheLimits {
            entries: 3,
            bytes: 512,
            max_text: 64,
        }
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
    let (mut log, mut up) = (Log::default(), Vec::new());
    let (mut reloads, mut refusals, mut judged) = (0usize, 0usize, 0u64);
    for op in ops {
        let bytes = match op {
            Op::Send(b) => b,
            Op::Reload => {
                reloads += 1;
                core.clear_cache();
                continue;
            }
        };
        for chunk in bytes.chunks(step) {
            let mut s = core.try_client_data(chunk, &mut up, &mut log).ok()?;
            while let ClientStep::Judge(req) = s {
                judged += 1;
                let deny =
                    req.sql.starts_with(b"DROP") || (reloads % 2 == 1 && req.sql == b"SELECT 2");
                let hold = req.sql.starts_with(b"UPDATE");
                refusals += usize::from(deny || hold);
                let event = [&[u8::from(deny), u8::from(hold)][..], &req.sql].concat();
                log.0.push((RecordKind::C2u, req.sql.clone()));
                log.0.push((RecordKind::Event, event.clone()));
                let verdict = Verdict {
                    upstream: if deny {
                        b"DENIED".to_vec()
                    } else {
                        req.raw.clone()
                    },
                    discard_until_sync: deny,
                    cache_event: (cache && !deny && !hold).then_some(event),
                    cache_shape: false,
                };
                core.try_resume(req.id, verdict, &mut up).ok()?;
                s = core.try_process(&mut up, &mut log).ok()?;
            }
            if matches!(s, ClientStep::Terminate) {
                break;
            }
        }
    }
    Some(Run {
        up,
        records: log.0,
        refusals,
        judged,
        hits: core.counts().cache_hits,
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(ctl).max(1);
    let ops = ops(&rest[..rest.len().min(256)]);
    let (Some(fast), Some(slow)) = (run(&ops, step, true), run(&ops, step, false)) else {
        // A protocol error is one for both: neither may err alone.
        assert_eq!(
            run(&ops, step, true).is_some(),
            run(&ops, step, false).is_some()
        );
        return;
    };
    assert_eq!(fast.up, slow.up, "the cache changed the upstream's bytes");
    assert_eq!(fast.records, slow.records, "the cache changed the record");
    assert_eq!(
        fast.refusals, slow.refusals,
        "a refusal came from the cache"
    );
    assert_eq!(fast.judged + fast.hits, slow.judged);
});
