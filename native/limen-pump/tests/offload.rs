//! A huge value is masked on a worker thread, not on the hub thread that
//! every session shares (`src/io/offload.rs`): another session's
//! statement is served while it is masked, and the client gets exactly the
//! bytes an inline relay gives.
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use limen_pump::{
    CacheLimits, Hub, IoConfig, Judge, JudgeRequest, NoFastPath, Pump, PumpCore, PumpShared,
    RecordKind, RecordSink, Verdict,
};
use limen_wire::pg::{ContentMasker, FrontendDecoder, Limits, ServerRelay};

use common::pg::{data_row as row, msg, query};
use common::{pair, NoRecords};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Values at least this long are "huge" for the maskers below.
const HUGE: usize = 1 << 20;

/// Masks by turning every `x` into `y`; notes which thread masked how many
/// huge values. A's masker, on its first huge value, also sends B's
/// statement and waits (at most `give_up`) until B has been judged, noting
/// whether that happened while it was masking.
#[derive(Clone, Default)]
struct Gate {
    seen: Arc<Seen>,
    poke: Option<Arc<Mutex<Option<TcpStream>>>>,
    give_up: Duration,
}

#[derive(Default)]
struct Seen {
    huge_on_hub: AtomicU64,
    huge_on_worker: AtomicU64,
    b_judged: AtomicBool,
    b_served_while_masking: AtomicBool,
}

impl ContentMasker for Gate {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        out.extend(value.iter().map(|&b| if b == b'x' { b'y' } else { b }));
        if value.len() < HUGE {
            return 0;
        }
        let on_hub = std::thread::current().name() == Some("limen-pump");
        let count = if on_hub {
            &self.seen.huge_on_hub
        } else {
            &self.seen.huge_on_worker
        };
        count.fetch_add(1, Ordering::SeqCst);
        let client = self
            .poke
            .as_ref()
            .and_then(|p| p.lock().ok().and_then(|mut c| c.take()));
        if let Some(mut client) = client {
            if client.write_all(&query(b"SELECT 1")).is_ok() {
                let until = Instant::now() + self.give_up;
                while !self.seen.b_judged.load(Ordering::SeqCst) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let judged = self.seen.b_judged.load(Ordering::SeqCst);
                self.seen
                    .b_served_while_masking
                    .store(judged, Ordering::SeqCst);
            }
        }
        1
    }
}

/// B's fast path: allows at once and notes that B was judged.
struct Allow(Arc<Seen>);

impl Judge for Allow {
    fn try_now(&mut self, request: &JudgeRequest) -> Result<Option<Verdict>, String> {
        self.0.b_judged.store(true, Ordering::SeqCst);
        Ok(Some(Verdict {
            upstream: request.raw.clone(),
            ..Verdict::default()
        }))
    }
}

fn relay(masker: Gate) -> Arc<Mutex<ServerRelay<Gate>>> {
    Arc::new(Mutex::new(ServerRelay::new(
        Some(masker),
        Limits::default(),
    )))
}

fn pump<J: Judge>(
    masker: Gate,
    client: TcpStream,
    upstream: TcpStream,
    judge: J,
    cfg: IoConfig,
) -> std::io::Result<Pump<Gate, NoRecords, J>> {
    pump_into(masker, client, upstream, judge, cfg, NoRecords)
}

fn pump_into<J: Judge, R: RecordSink>(
    masker: Gate,
    client: TcpStream,
    upstream: TcpStream,
    judge: J,
    cfg: IoConfig,
    sink: R,
) -> std::io::Result<Pump<Gate, R, J>> {
    let core = PumpCore::new(
        FrontendDecoder::new_regular(Limits::default()),
        relay(masker),
        CacheLimits::default(),
    );
    let shared = PumpShared::try_new()?;
    Pump::try_new(core, client, upstream, sink, judge, shared, cfg)
}

/// One record: the thread that appended it, its kind and payload.
type Taped = (String, RecordKind, Vec<u8>);

/// Keeps every record with the name of the thread that appended it; hands
/// workers a sink of its own when `detachable`.
#[derive(Clone, Default)]
struct Tape {
    records: Arc<Mutex<Vec<Taped>>>,
    detachable: bool,
}

impl RecordSink for Tape {
    fn try_append(&mut self, kind: RecordKind, payload: &[u8]) -> Result<(), String> {
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        let mut r = self.records.lock().map_err(|_| "poisoned")?;
        r.push((thread, kind, payload.to_vec()));
        Ok(())
    }

    fn detach(&mut self) -> Option<Box<dyn RecordSink + Send>> {
        self.detachable
            .then(|| Box::new(self.clone()) as Box<dyn RecordSink + Send>)
    }
}

/// A result with small, medium and huge values, ended like a real one.
fn result_stream() -> Vec<u8> {
    let mut s = Vec::new();
    for (i, len) in [10usize, 300_000, 3 << 20, 7, HUGE, 70_000, 5]
        .iter()
        .enumerate()
    {
        let value: Vec<u8> = (0..*len).map(|j| b"xab"[(i + j) % 3]).collect();
        s.extend(row(&value));
    }
    s.extend(msg(b'C', b"SELECT 7\0"));
    s.extend(msg(b'Z', b"I"));
    s
}

/// What an inline relay gives for `stream` (the reference).
fn inline(stream: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let r = relay(Gate::default());
    let mut out = Vec::new();
    let mut relay = r.lock().map_err(|_| "poisoned")?;
    for chunk in stream.chunks(64 << 10) {
        relay.try_feed(chunk, &mut out)?;
    }
    Ok(out)
}

/// Sends `stream` as A's upstream and reads what A's client gets (as much
/// as the inline relay gives for it).
fn through_a(
    stream: Vec<u8>,
    a: impl FnOnce(TcpStream, TcpStream) -> std::io::Result<()>,
    want: usize,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let (mut a_client, a_client_pump) = pair()?;
    let (mut a_up, a_up_pump) = pair()?;
    a(a_client_pump, a_up_pump)?;
    let writer = std::thread::spawn(move || a_up.write_all(&stream).map(|()| a_up));
    let mut got = vec![0u8; want];
    a_client.read_exact(&mut got)?;
    let _up = writer.join().map_err(|_| "writer panicked")??;
    Ok(got)
}

#[test]
fn huge_values_are_masked_on_workers_with_the_same_bytes() -> TestResult {
    let stream = result_stream();
    let want = inline(&stream)?;
    let seen = Arc::new(Seen::default());
    let masker = Gate {
        seen: Arc::clone(&seen),
        ..Gate::default()
    };
    let hub = Hub::try_new()?;
    let cfg = IoConfig {
        read_size: 16 << 10,
        ..IoConfig::default()
    };
    let got = through_a(
        stream,
        |client, up| {
            // A low threshold: the 300 kB value is handed off too.
            hub.attach(pump(masker, client, up, NoFastPath, cfg)?.with_offload_bytes(64 << 10));
            Ok(())
        },
        want.len(),
    )?;
    assert!(got == want, "the client got the inline relay's bytes");
    assert!(want.windows(4).any(|w| w == b"yaby"), "values were masked");
    assert_eq!(seen.huge_on_worker.load(Ordering::SeqCst), 2);
    assert_eq!(seen.huge_on_hub.load(Ordering::SeqCst), 0);
    Ok(())
}

/// A's records with the hand-off: the U2c records hold exactly what the
/// client got, in order; the records of the huge values were appended by
/// the workers when the sink can be detached, and by the hub otherwise.
fn records_of_a(detachable: bool) -> Result<Vec<Taped>, Box<dyn std::error::Error>> {
    let stream = result_stream();
    let want = inline(&stream)?;
    let tape = Tape {
        detachable,
        ..Tape::default()
    };
    let records = Arc::clone(&tape.records);
    let hub = Hub::try_new()?;
    let cfg = IoConfig {
        read_size: 16 << 10,
        ..IoConfig::default()
    };
    let got = through_a(
        stream,
        |client, up| {
            let p = pump_into(Gate::default(), client, up, NoFastPath, cfg, tape)?;
            hub.attach(p.with_offload_bytes(64 << 10));
            Ok(())
        },
        want.len(),
    )?;
    assert!(got == want, "the client got the inline relay's bytes");
    // Recorded before sent: every record is in once the client has it all.
    let records = records.lock().map_err(|_| "poisoned")?.clone();
    let u2c: Vec<u8> = records
        .iter()
        .filter(|(_, kind, _)| *kind == RecordKind::U2c)
        .flat_map(|(_, _, payload)| payload.iter().copied())
        .collect();
    assert!(
        u2c == want,
        "the records hold what the client got, in order"
    );
    Ok(records)
}

#[test]
fn workers_record_the_huge_values_they_mask() -> TestResult {
    let records = records_of_a(true)?;
    let huge = |r: &&Taped| r.2.len() >= HUGE;
    let on = |r: &&Taped, thread: &str| r.0 == thread;
    assert_eq!(records.iter().filter(huge).count(), 2);
    assert!(records
        .iter()
        .filter(huge)
        .all(|r| on(&r, "limen-mask-worker")));
    assert!(records.iter().any(|r| on(&r, "limen-pump")));
    Ok(())
}

#[test]
fn a_sink_that_cannot_be_detached_records_on_the_hub() -> TestResult {
    let records = records_of_a(false)?;
    assert!(records.iter().all(|r| r.0 == "limen-pump"));
    assert_eq!(records.iter().filter(|r| r.2.len() >= HUGE).count(), 2);
    Ok(())
}

#[test]
fn without_the_hand_off_the_hub_masks_them_and_the_bytes_agree() -> TestResult {
    let stream = result_stream();
    let want = inline(&stream)?;
    let seen = Arc::new(Seen::default());
    let masker = Gate {
        seen: Arc::clone(&seen),
        ..Gate::default()
    };
    let hub = Hub::try_new()?;
    let got = through_a(
        stream,
        |client, up| {
            let p = pump(masker, client, up, NoFastPath, IoConfig::default())?;
            hub.attach(p.with_offload_bytes(u64::MAX));
            Ok(())
        },
        want.len(),
    )?;
    assert!(got == want);
    assert_eq!(seen.huge_on_hub.load(Ordering::SeqCst), 2);
    assert_eq!(seen.huge_on_worker.load(Ordering::SeqCst), 0);
    Ok(())
}

/// Session A's huge value is being masked when B's statement arrives; A's
/// masker holds on until B has been judged (or gives up). With the hand-off
/// B is served meanwhile; without it B cannot be (the hub thread is the one
/// masking), so the masker gives up: the scenario tells the two apart by
/// what happened, not by how long it took.
fn b_served_while_a_masks(offload: bool) -> Result<bool, Box<dyn std::error::Error>> {
    let seen = Arc::new(Seen::default());
    let (b_client, b_client_pump) = pair()?;
    let (mut b_up, b_up_pump) = pair()?;
    let masker = Gate {
        seen: Arc::clone(&seen),
        poke: Some(Arc::new(Mutex::new(Some(b_client.try_clone()?)))),
        give_up: if offload {
            Duration::from_secs(30)
        } else {
            Duration::from_millis(500)
        },
    };
    let hub = Hub::try_new()?;
    let b = pump(
        Gate::default(),
        b_client_pump,
        b_up_pump,
        Allow(Arc::clone(&seen)),
        IoConfig::default(),
    )?;
    hub.attach(b);
    let stream = result_stream();
    let want = inline(&stream)?;
    let got = through_a(
        stream,
        |client, up| {
            let threshold = if offload { HUGE as u64 } else { u64::MAX };
            let a = pump(masker, client, up, NoFastPath, IoConfig::default())?;
            hub.attach(a.with_offload_bytes(threshold));
            Ok(())
        },
        want.len(),
    )?;
    assert!(got == want, "A's client got the inline relay's bytes");
    // B's statement went upstream unchanged (whenever it was judged).
    let q = query(b"SELECT 1");
    let mut up = vec![0u8; q.len()];
    b_up.set_read_timeout(Some(Duration::from_secs(30)))?;
    match b_up.read_exact(&mut up) {
        Ok(()) => assert_eq!(up, q),
        Err(e) if e.kind() == ErrorKind::WouldBlock => return Err("B never went upstream".into()),
        Err(e) => return Err(e.into()),
    }
    drop(b_client);
    Ok(seen.b_served_while_masking.load(Ordering::SeqCst))
}

#[test]
fn another_session_is_served_while_a_huge_value_is_masked() -> TestResult {
    assert!(
        b_served_while_a_masks(true)?,
        "B was served during A's masking"
    );
    Ok(())
}

#[test]
fn inline_masking_would_hold_the_other_session() -> TestResult {
    assert!(
        !b_served_while_a_masks(false)?,
        "the scenario detects a hub thread busy masking"
    );
    Ok(())
}
