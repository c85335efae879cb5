//! [`PgClientCore`]: the pump's client-side state machine
//! (`limen_pump::PumpCore`) without sockets or threads, for the Trio relay
//! (h11's way: one state machine, two drivers). Python reads the sockets
//! and hands the bytes over; the core says what goes upstream, which
//! message must be judged (the client direction then waits for `resume`,
//! buffering what the client sends meanwhile, capped), and frames, masks
//! and records what goes to the client.
use std::sync::{Arc, Mutex};

use limen_pump::{CacheLimits, PumpCore, PumpError, PumpErrorKind};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyList};

use super::new_core;
use super::sink::{self, RecordQueue, Sink};
use super::types::{ClientStep, JudgeRequest, Verdict};
use crate::mask::PyMasker;
use crate::record::{LogSink, RecordWriter};
use crate::wire::{MaskAdapter, PgClientDecoder, PgProtocolError, PgServerRelay};

create_exception!(
    _native,
    RecordError,
    PyException,
    "A record could not be written: the session must end (nothing is relayed unrecorded)."
);

fn core_err(e: PumpError) -> PyErr {
    match e.kind() {
        PumpErrorKind::Protocol(_) => PgProtocolError::new_err(e.message().to_owned()),
        PumpErrorKind::Record => RecordError::new_err(e.message().to_owned()),
        _ => PyRuntimeError::new_err(e.message().to_owned()),
    }
}

/// The client side of one session for the Trio relay. See the module docs.
#[pyclass(name = "PgClientCore", module = "limen._native")]
pub struct PgClientCore {
    core: PumpCore<MaskAdapter>,
    sink: Sink,
    queue: Option<Arc<Mutex<RecordQueue>>>,
}

impl PgClientCore {
    fn step(
        &self,
        py: Python<'_>,
        upstream: &[u8],
        step: limen_pump::ClientStep,
    ) -> PyResult<ClientStep> {
        let (judge, terminate) = match step {
            limen_pump::ClientStep::NeedData | limen_pump::ClientStep::Paused => (None, false),
            limen_pump::ClientStep::Judge(r) => {
                (Some(Py::new(py, JudgeRequest::new(py, &r))?), false)
            }
            limen_pump::ClientStep::Terminate => (None, true),
        };
        Ok(ClientStep {
            upstream: PyBytes::new(py, upstream).unbind(),
            judge,
            terminate,
        })
    }
}

#[pymethods]
impl PgClientCore {
    #[new]
    #[pyo3(signature = (decoder, relay, recorder=None, *, input_masker=None, results_masked=false,
        cache_entries=1024, cache_bytes=1048576, cache_max_text=8192, max_paused=1048576))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        mut decoder: PyRefMut<'_, PgClientDecoder>,
        relay: PyRef<'_, PgServerRelay>,
        recorder: Option<PyRef<'_, RecordWriter>>,
        input_masker: Option<PyRef<'_, PyMasker>>,
        results_masked: bool,
        cache_entries: usize,
        cache_bytes: usize,
        cache_max_text: usize,
        max_paused: usize,
    ) -> Self {
        let limits = CacheLimits {
            entries: cache_entries,
            bytes: cache_bytes,
            max_text: cache_max_text,
        };
        let core = new_core(&mut decoder, &relay, input_masker, results_masked, limits)
            .with_paused_cap(max_paused);
        let (sink, queue) = Sink::new(recorder.map(|w| LogSink(Arc::clone(&w.log))));
        PgClientCore { core, sink, queue }
    }

    /// Bytes from the client (b"" handles what the handshake's decoder
    /// still holds). While a verdict is awaited they are only buffered (at
    /// most `max_paused` bytes: past it, PgProtocolError).
    fn client_data(&mut self, py: Python<'_>, data: PyBackedBytes) -> PyResult<ClientStep> {
        // bytes or bytearray (what a trio.abc.Stream may return)
        let mut up = Vec::new();
        let step = self
            .core
            .try_client_data(&data, &mut up, &mut self.sink)
            .map_err(core_err)?;
        self.step(py, &up, step)
    }

    /// The verdict on request `id`: its bytes go upstream, then the
    /// messages buffered behind it are handled.
    fn resume(
        &mut self,
        py: Python<'_>,
        id: u64,
        verdict: PyRef<'_, Verdict>,
    ) -> PyResult<ClientStep> {
        let mut up = Vec::new();
        let step = self
            .core
            .try_resume(id, verdict.inner.clone(), &mut up)
            .and_then(|()| self.core.try_process(&mut up, &mut self.sink))
            .map_err(core_err)?;
        self.step(py, &up, step)
    }

    /// Bytes from the upstream: returns what the client gets (framed,
    /// masked, errors swapped; recorded as `u2c`). Masking runs with the
    /// GIL released.
    fn upstream_data<'py>(
        &mut self,
        py: Python<'py>,
        data: PyBackedBytes,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let data: &[u8] = &data;
        let mut out = Vec::with_capacity(data.len() + 64);
        let (core, sink) = (&mut self.core, &mut self.sink);
        py.detach(|| core.try_upstream_data(data, &mut out, sink))
            .map_err(core_err)?;
        Ok(PyBytes::new(py, &out))
    }

    /// The queued records `(kind, payload, masked)` (no native recorder
    /// given); take them after each call to keep the log in order.
    fn take_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        sink::take_records(py, self.queue.as_ref())
    }

    /// Forget the cached decisions.
    fn clear_cache(&mut self) {
        self.core.clear_cache();
    }

    /// A config reload's masks for this live session (see
    /// `limen_pump::MaskSwap`): the relay's result masker, the statement
    /// masker of the records, and whether `u2c` records are masked.
    #[pyo3(signature = (masker, input_masker, results_masked))]
    fn set_masks(
        &self,
        masker: Option<PyRef<'_, PyMasker>>,
        input_masker: Option<PyRef<'_, PyMasker>>,
        results_masked: bool,
    ) -> PyResult<()> {
        super::set_masks(&self.core.mask_swap(), masker, input_masker, results_masked)
    }

    /// The last ReadyForQuery status: "I", "T" or "E".
    #[getter]
    fn status(&self) -> String {
        (self.core.status() as char).to_string()
    }

    /// True while a verdict is awaited.
    #[getter]
    fn paused(&self) -> bool {
        self.core.paused()
    }

    /// Client bytes buffered and not yet handled.
    #[getter]
    fn client_pending(&self) -> usize {
        self.core.client_pending()
    }

    /// Decisions in the cache.
    #[getter]
    fn cached(&self) -> usize {
        self.core.cached()
    }

    /// Statements forwarded on a cached decision.
    #[getter]
    fn cache_hits(&self) -> u64 {
        self.core.counts().cache_hits
    }

    /// Judge requests handed out.
    #[getter]
    fn judged(&self) -> u64 {
        self.core.counts().judged
    }

    /// Bytes read from the client and from the upstream.
    #[getter]
    fn bytes(&self) -> (u64, u64) {
        let c = self.core.counts();
        (c.client_bytes, c.upstream_bytes)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PgClientCore>()?;
    m.add("RecordError", m.py().get_type::<RecordError>())?;
    Ok(())
}
