//! A host command queued before the client sends a message applies to that
//! message, even when the pump reads it within the same turn (no new
//! epoll edge, so no fresh start of a drive in between).
//!
//! The judge (the host's fast path, on the hub thread) queues the command
//! while it decides the first statement, then puts the second statement
//! into the client's socket and waits until the pump can read it. Reads are
//! exactly one statement long, so the first read fills its buffer and the
//! pump reads again in the same turn: the second statement is processed
//! in the turn that was already under way when the command was queued.
//! - `ClearCache`: the first statement's allow was cached; the second,
//!   identical statement must be judged again (a reload's cache clear).
//! - `Stop`: the second statement must never reach the upstream.
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use limen_pump::{
    CacheLimits, Command, Hub, IoConfig, Judge, JudgeRequest, Pump, PumpCore, PumpShared, Verdict,
};
use limen_wire::pg::{FrontendDecoder, Limits, ServerRelay};

use common::pg::query;
use common::{pair, NoRecords as Keep, Plain as Copy};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SQL: &[u8] = b"SELECT 1";

/// The fast path: allows (reusably), and on the first statement queues
/// `command` and sends the second statement.
struct Queueing {
    calls: Arc<AtomicUsize>,
    command: Option<Command>,
    shared: Arc<PumpShared>,
    client: Mutex<TcpStream>,
    pump_side: TcpStream,
}

impl Judge for Queueing {
    fn try_now(&mut self, request: &JudgeRequest) -> Result<Option<Verdict>, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(command) = self.command.take() {
            self.shared.command(command);
            let mut client = self.client.lock().map_err(|_| "poisoned")?;
            client.write_all(&query(SQL)).map_err(|e| e.to_string())?;
            // The pump's side is non-blocking: wait until the statement is
            // there to read.
            let give_up = Instant::now() + Duration::from_secs(10);
            let mut one = [0u8; 1];
            while Instant::now() < give_up {
                match self.pump_side.peek(&mut one) {
                    Ok(n) if n > 0 => break,
                    Err(e) if e.kind() != ErrorKind::WouldBlock => break,
                    _ => std::thread::yield_now(),
                }
            }
        }
        Ok(Some(Verdict {
            upstream: request.raw.clone(),
            cache_event: Some(b"cached".to_vec()),
            ..Verdict::default()
        }))
    }
}

/// Runs the scenario; returns the judge's calls, what the upstream got
/// (until the pump closed it or `want` bytes came), and the client's side.
fn run(
    command: Command,
    want: usize,
) -> Result<(usize, Vec<u8>, TcpStream), Box<dyn std::error::Error>> {
    let (mut client, client_pump) = pair()?;
    let (mut upstream, upstream_pump) = pair()?;
    let shared = PumpShared::try_new()?;
    let calls = Arc::new(AtomicUsize::new(0));
    let judge = Queueing {
        calls: Arc::clone(&calls),
        command: Some(command),
        shared: Arc::clone(&shared),
        client: Mutex::new(client.try_clone()?),
        pump_side: client_pump.try_clone()?,
    };
    let relay = Arc::new(Mutex::new(ServerRelay::new(Some(Copy), Limits::default())));
    let core = PumpCore::new(
        FrontendDecoder::new_regular(Limits::default()),
        relay,
        CacheLimits::default(),
    );
    let cfg = IoConfig {
        // One statement per read: the first read fills the buffer, so the
        // pump reads on in the same turn.
        read_size: query(SQL).len(),
        ..IoConfig::default()
    };
    let pump = Pump::try_new(core, client_pump, upstream_pump, Keep, judge, shared, cfg)?;
    let hub = Hub::try_new()?;
    hub.attach(pump);
    client.write_all(&query(SQL))?;
    upstream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < want {
        match upstream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e.into()),
        }
    }
    Ok((calls.load(Ordering::SeqCst), got, client))
}

#[test]
fn a_cache_clear_queued_before_a_statement_applies_to_it() -> TestResult {
    let q = query(SQL);
    let (calls, got, _client) = run(Command::ClearCache, 2 * q.len())?;
    assert_eq!(
        got,
        [q.clone(), q].concat(),
        "both statements went upstream"
    );
    assert_eq!(
        calls, 2,
        "the second statement was judged again, not served from the cleared cache"
    );
    Ok(())
}

#[test]
fn a_stop_queued_before_a_statement_keeps_it_from_the_upstream() -> TestResult {
    let q = query(SQL);
    // Read until the pump closes the upstream (it ends the session).
    let (calls, got, _client) = run(Command::Stop, usize::MAX)?;
    assert_eq!(got, q, "only the first statement went upstream");
    assert_eq!(calls, 1);
    Ok(())
}
