//! Bindings for `limen-pump`: [`PgPump`] takes a session's two plaintext
//! sockets (duplicated descriptors: the Python socket objects stay open and
//! usable once the pump ended, e.g. for the final FATAL), its client
//! decoder and its relay (shared: `PgServerRelay.replace_error` reaches the
//! pump), and hands them to the process's pump thread (`limen_pump::Hub`),
//! which moves the bytes of every pumped session without the GIL.
//!
//! Statements are judged by Python's `judge` callable on the pump thread
//! first (it takes the GIL: no thread hand-off for a decision that is ready
//! at once): it gets a `JudgeRequest` and returns a `Verdict`, or None,
//! and then the request comes out of `events()` — Python waits on
//! `fileno()` (an eventfd) — answered with `resume()` whenever the decision
//! is made. Records go straight into the session's `RecordWriter` when one
//! is given, else they queue for `take_records()` (announced by a
//! `PumpRecords` event).
//!
//! [`client::PgClientCore`] is the same client-side state machine without
//! sockets, for the Trio relay; [`types`] holds the values both exchange
//! with Python, [`sink`] where their records go.
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use limen_pump::mysql::MySqlMaskSwap;
use limen_pump::{
    CacheLimits, Command, Event, Hub, IoConfig, Judge, MaskSwap, Pump, PumpCore, PumpShared,
};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::mask::PyMasker;
use crate::mysql::relay::MySqlColumnPlan;
use crate::record::{LogSink, RecordWriter};
use crate::wire::{MaskAdapter, PgClientDecoder, PgServerRelay};

pub(crate) mod client;
pub(crate) mod mysql;
pub(crate) mod sink;
pub(crate) mod tls;
pub(crate) mod types;

use sink::{RecordQueue, Sink};
use types::{JudgeRequest, PumpEnd, PumpRecords, Verdict};

/// Python's fast path: `judge(JudgeRequest)` on the pump's thread (with
/// the GIL) returns a `Verdict`, or None to send the request as an event.
struct PyJudge(Option<Py<PyAny>>);

/// The process's pump thread, started with the first pumped session. One
/// thread for every session: measured on 2 cores with pgbench -S at 8
/// clients, two hub threads (sessions spread over them) did worse in both
/// modes than one (the fast-path decisions share the GIL anyway).
static HUB: OnceLock<Hub> = OnceLock::new();

fn hub() -> PyResult<&'static Hub> {
    if let Some(h) = HUB.get() {
        return Ok(h);
    }
    // The hub thread keeps one Python thread state for its whole life
    // (attached once, detached while it pumps): each fast-path decision
    // then only takes the GIL instead of creating a thread state.
    let h = Hub::try_new_with(|body| Python::attach(|py| py.detach(body)))
        .map_err(|e| PyOSError::new_err(format!("cannot start the pump thread: {e}")))?;
    Ok(HUB.get_or_init(|| h))
}

impl Judge for PyJudge {
    fn try_now(
        &mut self,
        r: &limen_pump::JudgeRequest,
    ) -> Result<Option<limen_pump::Verdict>, String> {
        let Some(cb) = &self.0 else {
            return Ok(None);
        };
        Python::attach(|py| {
            let request = JudgeRequest::new(py, r);
            let out = cb
                .call1(py, (request,))
                .map_err(|e| format!("the gateway's judge failed: {e}"))?;
            if out.is_none(py) {
                return Ok(None);
            }
            let verdict = out
                .cast_bound::<Verdict>(py)
                .map_err(|e| format!("the gateway's judge answered oddly: {e}"))?;
            Ok(Some(verdict.get().inner.clone()))
        })
    }
}

/// The client-side state machine over a session's decoder (taken, with
/// what it still buffers) and relay (shared), for the pump and for
/// [`client::PgClientCore`] alike.
fn new_core(
    decoder: &mut PgClientDecoder,
    relay: &PgServerRelay,
    input_masker: Option<PyRef<'_, PyMasker>>,
    results_masked: bool,
    limits: CacheLimits,
) -> PumpCore<MaskAdapter> {
    PumpCore::new(decoder.take(), Arc::clone(&relay.inner), limits)
        .with_input_masker(input_masker.map(|m| MaskAdapter(m.inner.clone())))
        .with_masked_results(results_masked)
}

/// Hands a reload's masks to a session's core and relay.
fn set_masks(
    swap: &MaskSwap<MaskAdapter>,
    masker: Option<PyRef<'_, PyMasker>>,
    input_masker: Option<PyRef<'_, PyMasker>>,
    results_masked: bool,
) -> PyResult<()> {
    swap.set(
        masker.map(|m| MaskAdapter(m.inner.clone())),
        input_masker.map(|m| MaskAdapter(m.inner.clone())),
        results_masked,
    )
    .map_err(|e| PyRuntimeError::new_err(e.message().to_owned()))
}

/// A duplicate of a Python socket's descriptor, as a `TcpStream`.
fn dup_socket(sock: &Bound<'_, PyAny>) -> PyResult<TcpStream> {
    let fd: i32 = sock.call_method0("fileno")?.extract()?;
    if fd < 0 {
        return Err(PyValueError::new_err("the socket is closed"));
    }
    // SAFETY: `fd` is the open descriptor of `sock`, which this call holds a
    // reference to (with the GIL), so it stays open while it is borrowed;
    // it is only borrowed to duplicate it, and the duplicate is ours.
    #[allow(unsafe_code)]
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let owned = borrowed
        .try_clone_to_owned()
        .map_err(|e| PyOSError::new_err(format!("cannot duplicate the socket: {e}")))?;
    Ok(TcpStream::from(owned))
}

fn secs(s: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| PyValueError::new_err(format!("{what} must be a finite number >= 0")))
}

/// One pumped PostgreSQL session (see the module docs and
/// `limen.gateway.postgres.relay_pump`).
#[pyclass(name = "PgPump", module = "limen._native")]
pub struct PgPump {
    shared: Arc<PumpShared>,
    ready: Option<Pump<MaskAdapter, Sink, PyJudge>>,
    started: bool,
    queue: Option<Arc<Mutex<RecordQueue>>>,
    /// The session's masks, for a reload.
    masks: Masks,
}

/// A pumped session's handle on its masks (see `PgPump.set_masks`).
enum Masks {
    Pg(MaskSwap<MaskAdapter>),
    MySql(MySqlMaskSwap<MaskAdapter>),
}

#[pymethods]
impl PgPump {
    #[new]
    #[pyo3(signature = (client, upstream, decoder, relay, recorder=None, *, judge=None,
        input_masker=None, results_masked=false, cache_entries=1024, cache_bytes=1048576, cache_max_text=8192,
        read_size=65536, max_backlog=1048576, write_timeout=10.0, client_tls=None, upstream_tls=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        client: &Bound<'_, PyAny>,
        upstream: &Bound<'_, PyAny>,
        mut decoder: PyRefMut<'_, PgClientDecoder>,
        relay: PyRef<'_, PgServerRelay>,
        recorder: Option<PyRef<'_, RecordWriter>>,
        judge: Option<Py<PyAny>>,
        input_masker: Option<PyRef<'_, PyMasker>>,
        results_masked: bool,
        cache_entries: usize,
        cache_bytes: usize,
        cache_max_text: usize,
        read_size: usize,
        max_backlog: usize,
        write_timeout: f64,
        client_tls: Option<PyRef<'_, tls::TlsSession>>,
        upstream_tls: Option<PyRef<'_, tls::TlsSession>>,
    ) -> PyResult<Self> {
        if read_size == 0 || read_size > limen_wire::pg::Limits::DEFAULT_MAX_CHUNK {
            return Err(PyValueError::new_err("read_size must be in 1..=1048576"));
        }
        let cfg = IoConfig {
            read_size,
            max_backlog,
            write_timeout: secs(write_timeout, "write_timeout")?,
        };
        let limits = CacheLimits {
            entries: cache_entries,
            bytes: cache_bytes,
            max_text: cache_max_text,
        };
        let client = dup_socket(client)?;
        let upstream = dup_socket(upstream)?;
        // Lent last, once nothing else can fail: a lent connection goes
        // back to its session when the pump (or this error path) drops it.
        let lend = |s: Option<PyRef<'_, tls::TlsSession>>| {
            s.map(|s| s.inner.lend())
                .transpose()
                .map_err(|e| tls::TlsError::new_err(e.0))
        };
        let shared = PumpShared::try_new()
            .map_err(|e| PyOSError::new_err(format!("cannot create the pump's eventfds: {e}")))?;
        let (sink, queue) = Sink::new(recorder.map(|w| LogSink(Arc::clone(&w.log))));
        let core = new_core(&mut decoder, &relay, input_masker, results_masked, limits);
        let masks = core.mask_swap();
        let pump = Pump::try_new(
            core,
            client,
            upstream,
            sink,
            PyJudge(judge),
            Arc::clone(&shared),
            cfg,
        )
        .map_err(|e| PyOSError::new_err(format!("cannot set up the pump: {e}")))?;
        let pump = pump.with_tls(lend(client_tls)?, lend(upstream_tls)?);
        Ok(PgPump {
            shared,
            ready: Some(pump),
            started: false,
            queue,
            masks: Masks::Pg(masks),
        })
    }

    /// Hands the session to the process's pump thread (once): from now on
    /// its bytes move there, until the "end" event.
    fn start(&mut self) -> PyResult<()> {
        let hub = hub()?;
        let pump = self
            .ready
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("the pump was already started"))?;
        hub.attach(pump);
        self.started = true;
        Ok(())
    }

    /// The descriptor to wait on (readable when events are waiting).
    fn fileno(&self) -> i32 {
        self.shared.host_fd().as_fd().as_raw_fd()
    }

    /// The waiting events (`limen._native.PumpEvent`): a `JudgeRequest`
    /// the `judge` callable declined, `PumpRecords`, and `PumpEnd`, always
    /// the last.
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for ev in self.shared.take_events() {
            match ev {
                Event::Judge(r) => out.append(JudgeRequest::new(py, &r))?,
                Event::Records => out.append(PumpRecords)?,
                Event::End { reason, detail } => out.append(PumpEnd {
                    reason: reason.into(),
                    detail,
                })?,
            }
        }
        Ok(out)
    }

    /// The queued records `(kind, payload, masked)` (no native recorder
    /// given).
    fn take_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = sink::take_records(py, self.queue.as_ref())?;
        // A pump that stopped reading for a full queue goes on.
        if self.queue.is_some() {
            self.shared.kick();
        }
        Ok(out)
    }

    /// The verdict on judge request `id` (see `Verdict`).
    fn resume(&self, id: u64, verdict: PyRef<'_, Verdict>) {
        self.shared.command(Command::Resume {
            id,
            verdict: verdict.inner.clone(),
        });
    }

    /// Bytes for the client (whole messages), at the next message boundary.
    fn send_client(&self, data: Vec<u8>) {
        self.shared.command(Command::SendClient(data));
    }

    /// Forget the cached decisions.
    fn clear_cache(&self) {
        self.shared.command(Command::ClearCache);
    }

    /// A config reload's masks for this live session (see
    /// `limen_pump::MaskSwap` and `limen_pump::mysql::MySqlMaskSwap`): the
    /// relay's result masker, the statement masker of the records (None:
    /// statements are recorded raw), and whether `u2c` records are masked;
    /// for a MySQL session also `statement_plan`, the column plan of the
    /// statements it prepared on cached decisions (None: no column masks).
    /// The pump takes them before its next upstream bytes and client
    /// message.
    #[pyo3(signature = (masker, input_masker, results_masked, *, statement_plan=None))]
    fn set_masks(
        &self,
        masker: Option<PyRef<'_, PyMasker>>,
        input_masker: Option<PyRef<'_, PyMasker>>,
        results_masked: bool,
        statement_plan: Option<PyRef<'_, MySqlColumnPlan>>,
    ) -> PyResult<()> {
        match &self.masks {
            Masks::Pg(swap) => set_masks(swap, masker, input_masker, results_masked),
            Masks::MySql(swap) => {
                mysql::set_masks(swap, masker, input_masker, results_masked, statement_plan)
            }
        }
    }

    /// Ask the pump to end: it flushes what the client is owed (whole
    /// messages) and reports `PumpEnd(EndReason.STOPPED, ...)`.
    fn stop(&self) {
        self.shared.command(Command::Stop);
    }

    /// The last ReadyForQuery status: "I", "T" or "E".
    #[getter]
    fn status(&self) -> String {
        (self.shared.status() as char).to_string()
    }

    /// Seconds since the last byte read from either peer.
    #[getter]
    fn idle(&self) -> f64 {
        self.shared.idle().as_secs_f64()
    }

    /// Statements forwarded on a cached decision.
    #[getter]
    fn cache_hits(&self) -> u64 {
        self.shared.counts().cache_hits
    }

    /// Judge requests sent to Python.
    #[getter]
    fn judged(&self) -> u64 {
        self.shared.counts().judged
    }

    /// Bytes read from the client and from the upstream.
    #[getter]
    fn bytes(&self) -> (u64, u64) {
        let c = self.shared.counts();
        (c.client_bytes, c.upstream_bytes)
    }
}

impl Drop for PgPump {
    fn drop(&mut self) {
        // A pump left running would keep its session's sockets open.
        if self.started {
            self.shared.command(Command::Stop);
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PgPump>()?;
    client::register(m)?;
    mysql::register(m)?;
    tls::register(m)?;
    types::register(m)?;
    Ok(())
}
