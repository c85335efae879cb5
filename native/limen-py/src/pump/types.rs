//! The typed values the pump and the client core exchange with Python:
//! [`JudgeRequest`] out, [`Verdict`] in, the end reasons, and the pump's
//! events. `limen._native.PumpEvent` is the union of what `PgPump.events()`
//! returns.
use limen_pump::EndReason as Reason;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::wire::{add_union, bytes};

/// Which message a [`JudgeRequest`] is about.
#[pyclass(eq, eq_int, frozen, hash, name = "JudgeKind", module = "limen._native")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JudgeKind {
    /// A simple-protocol Query.
    #[pyo3(name = "QUERY")]
    Query,
    /// An extended-protocol Parse.
    #[pyo3(name = "PARSE")]
    Parse,
    /// A FunctionCall (always refused by the gateway).
    #[pyo3(name = "FUNCTION_CALL")]
    FunctionCall,
}

impl From<limen_pump::JudgeKind> for JudgeKind {
    fn from(k: limen_pump::JudgeKind) -> Self {
        match k {
            limen_pump::JudgeKind::Query => JudgeKind::Query,
            limen_pump::JudgeKind::Parse => JudgeKind::Parse,
            limen_pump::JudgeKind::FunctionCall => JudgeKind::FunctionCall,
        }
    }
}

#[pymethods]
impl JudgeKind {
    /// Its name in logs ("query", "parse", "function_call").
    #[getter]
    fn label(&self) -> &'static str {
        match self {
            JudgeKind::Query => limen_pump::JudgeKind::Query.name(),
            JudgeKind::Parse => limen_pump::JudgeKind::Parse.name(),
            JudgeKind::FunctionCall => limen_pump::JudgeKind::FunctionCall.name(),
        }
    }
}

/// A message the host must decide on; the client direction waits for the
/// verdict with the same `id`.
#[pyclass(frozen, get_all, name = "JudgeRequest", module = "limen._native")]
pub struct JudgeRequest {
    /// Matches the verdict to the request.
    id: u64,
    /// Which message.
    kind: JudgeKind,
    /// The prepared statement name (Parse), else empty.
    name: Py<PyBytes>,
    /// The statement text (Query, Parse), else empty.
    sql: Py<PyBytes>,
    /// The whole message as received.
    raw: Py<PyBytes>,
}

impl JudgeRequest {
    pub(crate) fn new(py: Python<'_>, r: &limen_pump::JudgeRequest) -> Self {
        JudgeRequest {
            id: r.id,
            kind: r.kind.into(),
            name: bytes(py, &r.name),
            sql: bytes(py, &r.sql),
            raw: bytes(py, &r.raw),
        }
    }
}

/// The host's answer to a [`JudgeRequest`].
#[pyclass(frozen, name = "Verdict", module = "limen._native")]
pub struct Verdict {
    pub(crate) inner: limen_pump::Verdict,
}

#[pymethods]
impl Verdict {
    /// `upstream` goes upstream in place of the message (the message
    /// itself when allowed, the denial marker otherwise);
    /// `discard_until_sync` drops the client's messages until Sync (a
    /// refused Parse); `cache_event` (an allow's decision event) caches the
    /// decision; `cache_shape` caches it for every simple query of the
    /// same shape.
    #[new]
    #[pyo3(signature = (upstream, *, discard_until_sync=false, cache_event=None, cache_shape=false))]
    fn new(
        upstream: Vec<u8>,
        discard_until_sync: bool,
        cache_event: Option<Vec<u8>>,
        cache_shape: bool,
    ) -> Self {
        Verdict {
            inner: limen_pump::Verdict {
                upstream,
                discard_until_sync,
                cache_event,
                cache_shape,
            },
        }
    }

    #[getter]
    fn upstream<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.upstream)
    }

    #[getter]
    fn discard_until_sync(&self) -> bool {
        self.inner.discard_until_sync
    }

    #[getter]
    fn cache_event<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner
            .cache_event
            .as_deref()
            .map(|e| PyBytes::new(py, e))
    }

    #[getter]
    fn cache_shape(&self) -> bool {
        self.inner.cache_shape
    }
}

/// Why a pumped session (or the Trio relay's client core) ended:
/// `limen_pump::EndReason`.
#[pyclass(eq, eq_int, frozen, hash, name = "EndReason", module = "limen._native")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The client closed its side (or hung up while a verdict was awaited).
    #[pyo3(name = "CLIENT_CLOSED")]
    ClientClosed,
    /// The client sent Terminate.
    #[pyo3(name = "TERMINATE")]
    Terminate,
    /// The upstream closed the connection.
    #[pyo3(name = "UPSTREAM_CLOSED")]
    UpstreamClosed,
    /// The client broke the protocol.
    #[pyo3(name = "CLIENT_PROTOCOL")]
    ClientProtocol,
    /// The upstream broke the protocol.
    #[pyo3(name = "UPSTREAM_PROTOCOL")]
    UpstreamProtocol,
    /// Reading or writing the client failed.
    #[pyo3(name = "CLIENT_IO")]
    ClientIo,
    /// Reading or writing the upstream failed.
    #[pyo3(name = "UPSTREAM_IO")]
    UpstreamIo,
    /// The client read nothing for the write timeout.
    #[pyo3(name = "CLIENT_STALLED")]
    ClientStalled,
    /// A record could not be written.
    #[pyo3(name = "RECORD")]
    Record,
    /// The host asked the pump to stop.
    #[pyo3(name = "STOPPED")]
    Stopped,
    /// An internal error (a bug).
    #[pyo3(name = "INTERNAL")]
    Internal,
}

impl From<Reason> for EndReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::ClientClosed => EndReason::ClientClosed,
            Reason::Terminate => EndReason::Terminate,
            Reason::UpstreamClosed => EndReason::UpstreamClosed,
            Reason::ClientProtocol => EndReason::ClientProtocol,
            Reason::UpstreamProtocol => EndReason::UpstreamProtocol,
            Reason::ClientIo => EndReason::ClientIo,
            Reason::UpstreamIo => EndReason::UpstreamIo,
            Reason::ClientStalled => EndReason::ClientStalled,
            Reason::Record => EndReason::Record,
            Reason::Stopped => EndReason::Stopped,
            Reason::Internal => EndReason::Internal,
        }
    }
}

impl From<EndReason> for Reason {
    fn from(r: EndReason) -> Self {
        match r {
            EndReason::ClientClosed => Reason::ClientClosed,
            EndReason::Terminate => Reason::Terminate,
            EndReason::UpstreamClosed => Reason::UpstreamClosed,
            EndReason::ClientProtocol => Reason::ClientProtocol,
            EndReason::UpstreamProtocol => Reason::UpstreamProtocol,
            EndReason::ClientIo => Reason::ClientIo,
            EndReason::UpstreamIo => Reason::UpstreamIo,
            EndReason::ClientStalled => Reason::ClientStalled,
            EndReason::Record => Reason::Record,
            EndReason::Stopped => Reason::Stopped,
            EndReason::Internal => Reason::Internal,
        }
    }
}

#[pymethods]
impl EndReason {
    /// Its name in logs ("client_closed", "upstream_closed", ...).
    #[getter]
    fn label(&self) -> &'static str {
        Reason::from(*self).name()
    }
}

/// The pump queued records for Python (`PgPump.take_records`).
#[pyclass(frozen, name = "PumpRecords", module = "limen._native")]
pub struct PumpRecords;

/// The pump ended; nothing more comes.
#[pyclass(frozen, get_all, name = "PumpEnd", module = "limen._native")]
pub struct PumpEnd {
    /// Why.
    pub(crate) reason: EndReason,
    /// A description without payload bytes.
    pub(crate) detail: String,
}

/// What the client core did with the bytes it had.
#[pyclass(frozen, get_all, name = "ClientStep", module = "limen._native")]
pub struct ClientStep {
    /// Bytes for the upstream (whole messages), in order.
    pub(crate) upstream: Py<PyBytes>,
    /// The message the host must decide on now (the client direction waits
    /// for `PgClientCore.resume`), if any.
    pub(crate) judge: Option<Py<JudgeRequest>>,
    /// The client sent Terminate.
    pub(crate) terminate: bool,
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<JudgeKind>()?;
    m.add_class::<JudgeRequest>()?;
    m.add_class::<Verdict>()?;
    m.add_class::<EndReason>()?;
    m.add_class::<PumpRecords>()?;
    m.add_class::<PumpEnd>()?;
    m.add_class::<ClientStep>()?;
    let py = m.py();
    add_union(
        m,
        "PumpEvent",
        &[
            py.get_type::<JudgeRequest>(),
            py.get_type::<PumpRecords>(),
            py.get_type::<PumpEnd>(),
        ],
    )
}
