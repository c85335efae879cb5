//! Bindings for `limen-pump`: [`PgPump`] takes a session's two plaintext
//! sockets (duplicated descriptors: the Python socket objects stay open and
//! usable once the pump ended, e.g. for the final FATAL), its client
//! decoder and its relay (shared: `PgServerRelay.replace_error` reaches the
//! pump), and hands them to the process's pump thread (`limen_pump::Hub`),
//! which moves the bytes of every pumped session without the GIL.
//!
//! Statements are judged by Python's `judge` callable on the pump thread
//! first (it takes the GIL: no thread hand-off for a decision that is ready
//! at once); what it declines (None) comes out of `events()` — Python
//! waits on `fileno()` (an eventfd) — as `("judge", ...)`, answered with
//! `resume()` whenever the decision is made. Records go straight into the
//! session's `RecordWriter` when one is given, else they queue for
//! `take_records()` (announced by a `("records",)` event).
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use limen_pump::{
    CacheLimits, Command, Event, Hub, IoConfig, Judge, JudgeRequest, Pump, PumpCore, PumpShared,
    RecordKind, RecordSink, Verdict,
};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::mask::PyMasker;
use crate::record::{LogSink, RecordWriter};
use crate::wire::{MaskAdapter, PgClientDecoder, PgServerRelay};

/// Records waiting for Python (when the recorder is not a native log).
#[derive(Default)]
struct RecordQueue {
    items: Vec<(RecordKind, Vec<u8>)>,
    bytes: usize,
    signalled: bool,
}

/// Past this many queued bytes the pump stops reading until Python drains.
const QUEUE_CAP: usize = 4 << 20;

enum Sink {
    Log(LogSink),
    Queue(Arc<Mutex<RecordQueue>>),
}

impl RecordSink for Sink {
    fn try_append_flagged(
        &mut self,
        kind: RecordKind,
        payload: &[u8],
        masked: bool,
    ) -> Result<(), String> {
        match self {
            Sink::Log(l) => l.try_append_flagged(kind, payload, masked),
            Sink::Queue(_) => self.try_append(kind, payload),
        }
    }

    fn try_append(&mut self, kind: RecordKind, payload: &[u8]) -> Result<(), String> {
        match self {
            Sink::Log(l) => l.try_append(kind, payload),
            Sink::Queue(q) => {
                let mut q = q
                    .lock()
                    .map_err(|_| "the record queue lock is poisoned".to_owned())?;
                q.bytes += payload.len();
                q.items.push((kind, payload.to_vec()));
                Ok(())
            }
        }
    }

    fn needs_host(&mut self) -> bool {
        match self {
            Sink::Log(_) => false,
            Sink::Queue(q) => match q.lock() {
                Ok(mut q) if !q.items.is_empty() && !q.signalled => {
                    q.signalled = true;
                    true
                }
                _ => false,
            },
        }
    }

    fn congested(&self) -> bool {
        match self {
            Sink::Log(_) => false,
            Sink::Queue(q) => q.lock().map(|q| q.bytes > QUEUE_CAP).unwrap_or(true),
        }
    }
}

/// Python's fast path: `judge(kind, name, sql, raw)` on the pump's thread
/// (with the GIL) returns `(data, discard, cache_event, cache_shape)`, or None to send
/// the request as an event.
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
    fn try_now(&mut self, r: &JudgeRequest) -> Result<Option<Verdict>, String> {
        let Some(cb) = &self.0 else {
            return Ok(None);
        };
        Python::attach(|py| {
            let out = cb
                .call1(
                    py,
                    (
                        r.kind.name(),
                        PyBytes::new(py, &r.name),
                        PyBytes::new(py, &r.sql),
                        PyBytes::new(py, &r.raw),
                    ),
                )
                .map_err(|e| format!("the gateway's judge failed: {e}"))?;
            if out.is_none(py) {
                return Ok(None);
            }
            let (upstream, discard_until_sync, cache_event, cache_shape): (
                Vec<u8>,
                bool,
                Option<Vec<u8>>,
                bool,
            ) = out
                .extract(py)
                .map_err(|e| format!("the gateway's judge answered oddly: {e}"))?;
            Ok(Some(Verdict {
                upstream,
                discard_until_sync,
                cache_event,
                cache_shape,
            }))
        })
    }
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
/// `limen.gateway.pump`).
#[pyclass(name = "PgPump", module = "limen._native")]
pub struct PgPump {
    shared: Arc<PumpShared>,
    ready: Option<Pump<MaskAdapter, Sink, PyJudge>>,
    started: bool,
    queue: Option<Arc<Mutex<RecordQueue>>>,
}

#[pymethods]
impl PgPump {
    #[new]
    #[pyo3(signature = (client, upstream, decoder, relay, recorder=None, *, judge=None,
        input_masker=None, results_masked=false, cache_entries=1024, cache_bytes=1048576, cache_max_text=8192,
        read_size=65536, max_backlog=1048576, write_timeout=10.0))]
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
        let shared = PumpShared::try_new()
            .map_err(|e| PyOSError::new_err(format!("cannot create the pump's eventfds: {e}")))?;
        let (sink, queue) = match recorder {
            Some(w) => (Sink::Log(LogSink(Arc::clone(&w.log))), None),
            None => {
                let q = Arc::new(Mutex::new(RecordQueue::default()));
                (Sink::Queue(Arc::clone(&q)), Some(q))
            }
        };
        let core = PumpCore::new(decoder.take(), Arc::clone(&relay.inner), limits)
            .with_input_masker(input_masker.map(|m| MaskAdapter(m.inner.clone())))
            .with_masked_results(results_masked);
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
        Ok(PgPump {
            shared,
            ready: Some(pump),
            started: false,
            queue,
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

    /// The waiting events: `("judge", id, kind, name, sql, raw)` with kind
    /// "query", "parse" or "function_call"; `("records",)`;
    /// `("end", reason, detail)`, always the last.
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for ev in self.shared.take_events() {
            let t = match ev {
                Event::Judge(r) => PyTuple::new(
                    py,
                    [
                        "judge".into_pyobject(py)?.into_any(),
                        r.id.into_pyobject(py)?.into_any(),
                        r.kind.name().into_pyobject(py)?.into_any(),
                        PyBytes::new(py, &r.name).into_any(),
                        PyBytes::new(py, &r.sql).into_any(),
                        PyBytes::new(py, &r.raw).into_any(),
                    ],
                )?,
                Event::Records => PyTuple::new(py, ["records"])?,
                Event::End { reason, detail } => {
                    PyTuple::new(py, ["end", reason.name(), detail.as_str()])?
                }
            };
            out.append(t)?;
        }
        Ok(out)
    }

    /// The queued records `(kind, payload)` (no native recorder given).
    fn take_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        let Some(q) = &self.queue else {
            return Ok(out);
        };
        let items = {
            let mut q = q
                .lock()
                .map_err(|_| PyRuntimeError::new_err("the record queue lock is poisoned"))?;
            q.signalled = false;
            q.bytes = 0;
            std::mem::take(&mut q.items)
        };
        // A pump that stopped reading for a full queue goes on.
        self.shared.kick();
        for (kind, payload) in items {
            out.append((kind.name(), PyBytes::new(py, &payload)))?;
        }
        Ok(out)
    }

    /// The verdict on judge request `id`: `data` goes upstream in place of
    /// the message; `discard` drops the client's messages until Sync;
    /// `cache_event` (an allow's decision event) caches the decision;
    /// `cache_shape` caches it for every simple query of the same shape.
    #[pyo3(signature = (id, data, *, discard=false, cache_event=None, cache_shape=false))]
    fn resume(
        &self,
        id: u64,
        data: Vec<u8>,
        discard: bool,
        cache_event: Option<Vec<u8>>,
        cache_shape: bool,
    ) {
        self.shared.command(Command::Resume {
            id,
            verdict: Verdict {
                upstream: data,
                discard_until_sync: discard,
                cache_event,
                cache_shape,
            },
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

    /// Ask the pump to end: it flushes what the client is owed (whole
    /// messages) and reports `("end", "stopped", ...)`.
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
    Ok(())
}
