//! One session's masking never stalls another on the shared pump thread,
//! counted in work, not time: session A reads an endless result (every
//! value goes through a masker that counts the bytes it is given); when A
//! has masked a few MiB, its masker itself puts a `Query` into session B's
//! client socket and waits until the bytes are in B's receive queue (so B
//! is ready from then on). B's judge (on the hub thread, like the host's
//! fast path) notes how many bytes A had masked when B's statement got its
//! turn. The difference is A's work between B becoming ready and B being
//! served: at most what one drive may take (the byte budget plus two reads
//! plus the row those bytes complete), whatever the result's size.
//! Without the budget, A would mask its whole result first; without the
//! hub's round robin (sessions that used up a budget go after newly ready
//! ones), A would get a second turn when its id is lower.
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use limen_pump::{
    CacheLimits, Hub, IoConfig, Judge, JudgeRequest, NoFastPath, Pump, PumpCore, PumpShared,
    RecordKind, RecordSink, Verdict, DRIVE_BYTES,
};
use limen_wire::pg::{ContentMasker, FrontendDecoder, Limits, ServerRelay};

use common::pair;
use common::pg::{data_row as row, query};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Bytes of each value in A's result.
const VALUE: usize = 1000;
/// A's masked bytes before B's statement is sent.
const TRIGGER: u64 = 3 << 20;
/// Bytes of values in A's result (several budgets past the trigger).
const RESULT: usize = 24 << 20;

/// What the sessions' hooks saw: bytes A had masked, drives A had ended.
#[derive(Default)]
struct Work {
    masked: AtomicU64,
    drives: AtomicU64,
    sent_at: AtomicU64,
    judged_at: AtomicU64,
    sent_drives: AtomicU64,
    judged_drives: AtomicU64,
}

/// The side of B's client the masker writes to, and a clone of the
/// pump's side, to see the bytes arrive.
struct Poke {
    client: TcpStream,
    pump_side: TcpStream,
    done: bool,
}

/// A's masker: copies, counts, and sends B's statement once.
struct Counting {
    work: Arc<Work>,
    poke: Option<Mutex<Poke>>,
}

impl ContentMasker for Counting {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        // Slow on purpose (a few passes per byte), so that A's upstream
        // always has bytes waiting: A never runs dry, only its budget
        // makes it yield.
        let mut sum = 0u64;
        for _ in 0..4 {
            for &b in value {
                sum = std::hint::black_box(sum.wrapping_mul(31).wrapping_add(u64::from(b)));
            }
        }
        std::hint::black_box(sum);
        out.extend_from_slice(value);
        let total = self
            .work
            .masked
            .fetch_add(value.len() as u64, Ordering::SeqCst)
            + value.len() as u64;
        if total < TRIGGER {
            return 0;
        }
        let Some(Ok(mut poke)) = self.poke.as_ref().map(Mutex::lock) else {
            return 0;
        };
        if poke.done {
            return 0;
        }
        poke.done = true;
        if poke.client.write_all(&query(b"SELECT 1")).is_err() {
            return 0;
        }
        // The pump's side is non-blocking (the pump set it so): wait until
        // the statement can be read there, i.e. B is ready.
        let give_up = Instant::now() + Duration::from_secs(10);
        let mut one = [0u8; 1];
        while Instant::now() < give_up {
            match poke.pump_side.peek(&mut one) {
                Ok(n) if n > 0 => break,
                Err(e) if e.kind() != ErrorKind::WouldBlock => break,
                _ => std::thread::yield_now(),
            }
        }
        self.work.sent_at.store(total, Ordering::SeqCst);
        let drives = self.work.drives.load(Ordering::SeqCst);
        self.work.sent_drives.store(drives, Ordering::SeqCst);
        0
    }
}

/// B's fast path: allows at once and notes A's work so far.
struct Allow(Arc<Work>);

impl Judge for Allow {
    fn try_now(&mut self, request: &JudgeRequest) -> Result<Option<Verdict>, String> {
        let masked = self.0.masked.load(Ordering::SeqCst);
        self.0.judged_at.store(masked, Ordering::SeqCst);
        let drives = self.0.drives.load(Ordering::SeqCst);
        self.0.judged_drives.store(drives, Ordering::SeqCst);
        Ok(Some(Verdict {
            upstream: request.raw.clone(),
            ..Verdict::default()
        }))
    }
}

/// A's record sink: keeps nothing, counts A's drives (the pump asks a
/// sink whether records wait for the host once at the end of every drive).
struct Drives(Arc<Work>);

impl RecordSink for Drives {
    fn try_append(&mut self, _kind: RecordKind, _payload: &[u8]) -> Result<(), String> {
        Ok(())
    }

    fn needs_host(&mut self) -> bool {
        self.0.drives.fetch_add(1, Ordering::SeqCst);
        false
    }
}

/// A connected pair: (the test's side, the pump's side). The pump's side
/// takes up to `buffer` bytes before the writer blocks (as far as the
/// system allows), so that bytes wait for the pump whatever its pace.
fn pair_with(buffer: usize) -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    rustix::net::sockopt::set_socket_recv_buffer_size(&listener, buffer)?;
    let ours = TcpStream::connect(listener.local_addr()?)?;
    let (theirs, _) = listener.accept()?;
    Ok((ours, theirs))
}

fn pump<M: ContentMasker, J: Judge>(
    masker: M,
    client: TcpStream,
    upstream: TcpStream,
    sink: Drives,
    judge: J,
    cfg: IoConfig,
    budget: u64,
) -> std::io::Result<Pump<M, Drives, J>> {
    let relay = Arc::new(Mutex::new(ServerRelay::new(
        Some(masker),
        Limits::default(),
    )));
    let core = PumpCore::new(
        FrontendDecoder::new_regular(Limits::default()),
        relay,
        CacheLimits::default(),
    );
    let shared = PumpShared::try_new()?;
    Ok(Pump::try_new(core, client, upstream, sink, judge, shared, cfg)?.with_drive_bytes(budget))
}

/// What A did between B's statement being ready and B being judged.
struct Waited {
    /// Bytes A masked.
    masked: u64,
    /// Drives of A that ended (the one under way when B became ready
    /// counts).
    drives: u64,
}

/// Runs the scenario.
fn a_work_while_b_waits(cfg: IoConfig, budget: u64) -> Result<Waited, Box<dyn std::error::Error>> {
    let work = Arc::new(Work {
        sent_at: AtomicU64::new(u64::MAX),
        judged_at: AtomicU64::new(u64::MAX),
        ..Work::default()
    });
    let (a_client, a_client_pump) = pair()?;
    let (mut a_up, a_up_pump) = pair_with(4 << 20)?;
    let (b_client, b_client_pump) = pair()?;
    let (mut b_up, b_up_pump) = pair()?;
    let masker = Counting {
        work: Arc::clone(&work),
        poke: Some(Mutex::new(Poke {
            client: b_client,
            pump_side: b_client_pump.try_clone()?,
            done: false,
        })),
    };
    let a = pump(
        masker,
        a_client_pump,
        a_up_pump,
        Drives(Arc::clone(&work)),
        NoFastPath,
        cfg,
        budget,
    )?;
    let b_work = Arc::new(Work::default());
    let b = pump(
        Counting {
            work: Arc::clone(&b_work),
            poke: None,
        },
        b_client_pump,
        b_up_pump,
        Drives(b_work),
        Allow(Arc::clone(&work)),
        cfg,
        budget,
    )?;
    let reader: JoinHandle<std::io::Result<usize>> = std::thread::spawn(move || {
        let mut a_client = a_client;
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0;
        loop {
            match a_client.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    });
    let writer: JoinHandle<std::io::Result<usize>> = std::thread::spawn(move || {
        let value = vec![b'x'; VALUE];
        let one = row(&value);
        let batch: Vec<u8> = one.repeat(64);
        let mut sent = 0;
        while sent < RESULT / VALUE {
            a_up.write_all(&batch)?;
            sent += 64;
        }
        Ok(sent * one.len())
    });
    // The writer is ahead (the socket's buffer full) before A starts.
    std::thread::sleep(Duration::from_millis(50));
    let hub = Hub::try_new()?;
    // A first: the lower id, driven first within a turn.
    hub.attach(a);
    hub.attach(b);
    // B's statement reaches B's upstream once judged.
    let q = query(b"SELECT 1");
    let mut got = vec![0u8; q.len()];
    b_up.read_exact(&mut got)?;
    assert_eq!(got, q, "B's statement went upstream unchanged");
    let written = writer.join().map_err(|_| "writer panicked")??;
    let received = reader.join().map_err(|_| "reader panicked")??;
    assert_eq!(received, written, "A's client got A's whole result");
    let sent_at = work.sent_at.load(Ordering::SeqCst);
    let judged_at = work.judged_at.load(Ordering::SeqCst);
    assert!(
        sent_at >= TRIGGER && sent_at != u64::MAX,
        "B's statement was sent"
    );
    assert!(judged_at != u64::MAX, "B was judged");
    assert!(judged_at >= sent_at);
    let drives =
        work.judged_drives.load(Ordering::SeqCst) - work.sent_drives.load(Ordering::SeqCst);
    Ok(Waited {
        masked: judged_at - sent_at,
        drives,
    })
}

/// What one drive may mask: under the budget, plus two reads, plus the
/// row those bytes complete.
fn one_drive(cfg: IoConfig, budget: u64) -> u64 {
    budget + 2 * cfg.read_size as u64 + (VALUE + 16) as u64
}

fn check(cfg: IoConfig, budget: u64) -> TestResult {
    let waited = a_work_while_b_waits(cfg, budget)?;
    assert!(
        waited.drives <= 1,
        "A ended {} drives while B was ready: B must go before A's next turn",
        waited.drives
    );
    assert!(
        waited.masked <= one_drive(cfg, budget),
        "A masked {} bytes while B waited (one drive: {})",
        waited.masked,
        one_drive(cfg, budget)
    );
    Ok(())
}

#[test]
fn a_session_masking_a_huge_result_yields_within_one_budget() -> TestResult {
    let cfg = IoConfig {
        read_size: 16 << 10,
        // Room enough that A's client never holds A back: only the
        // budget can.
        max_backlog: 64 << 20,
        ..IoConfig::default()
    };
    check(cfg, 64 << 10)
}

#[test]
fn the_default_budget_bounds_the_wait_too() -> TestResult {
    check(IoConfig::default(), DRIVE_BYTES)
}
