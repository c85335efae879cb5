//! The server side of a MySQL session (`limen_wire::mysql::ServerRelay`):
//! upstream bytes in, masked bytes for the client and small events out.
//! Python never sees row bytes.
use std::sync::{Arc, Mutex, MutexGuard};

use limen_wire::mysql::{ColumnPlan, Expect, ServerRelay};
use limen_wire::ErrorKind;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyList};

use super::proto_err;
use super::relay_events::{self, event};
use crate::mask::PyMasker;
use crate::wire::{bytes, MaskAdapter};

/// Chunks at least this long are relayed with the GIL released.
const DETACH_AT: usize = 4096;

/// The kind of response a command gets (`limen_wire::mysql::Expect`, plus
/// NONE for commands the server does not answer).
#[pyclass(
    eq,
    eq_int,
    frozen,
    hash,
    name = "MySqlExpect",
    module = "limen._native"
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MySqlExpect {
    /// OK or ERR (COM_PING, COM_INIT_DB, COM_RESET_CONNECTION, ...).
    #[pyo3(name = "OK")]
    Ok,
    /// COM_QUERY: OK, ERR, LOCAL INFILE or text result sets.
    #[pyo3(name = "QUERY")]
    Query,
    /// COM_STMT_EXECUTE: OK, ERR or binary result sets.
    #[pyo3(name = "EXECUTE")]
    Execute,
    /// COM_STMT_FETCH: binary rows of an open cursor.
    #[pyo3(name = "FETCH")]
    Fetch,
    /// COM_STMT_PREPARE.
    #[pyo3(name = "PREPARE")]
    Prepare,
    /// COM_FIELD_LIST.
    #[pyo3(name = "FIELD_LIST")]
    FieldList,
    /// One raw string (COM_STATISTICS).
    #[pyo3(name = "RAW")]
    Raw,
    /// No response (COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA).
    #[pyo3(name = "NONE")]
    None,
}

#[pymethods]
impl MySqlExpect {
    /// Its name in logs ("ok", "query", ...).
    #[getter]
    fn label(&self) -> &'static str {
        match self {
            MySqlExpect::Ok => "ok",
            MySqlExpect::Query => "query",
            MySqlExpect::Execute => "execute",
            MySqlExpect::Fetch => "fetch",
            MySqlExpect::Prepare => "prepare",
            MySqlExpect::FieldList => "field_list",
            MySqlExpect::Raw => "raw",
            MySqlExpect::None => "none",
        }
    }
}

fn native_expect(e: MySqlExpect) -> Option<Expect> {
    Some(match e {
        MySqlExpect::Ok => Expect::Ok,
        MySqlExpect::Query => Expect::Query,
        MySqlExpect::Execute => Expect::Execute,
        MySqlExpect::Fetch => Expect::Fetch,
        MySqlExpect::Prepare => Expect::Prepare,
        MySqlExpect::FieldList => Expect::FieldList,
        MySqlExpect::Raw => Expect::Raw,
        MySqlExpect::None => return None,
    })
}

/// Whole-value replacements by column origin (see the stub).
#[pyclass(frozen, name = "MySqlColumnPlan", module = "limen._native")]
pub struct MySqlColumnPlan {
    inner: Arc<ColumnPlan>,
}

type PyColumn = (Option<String>, String, String, Vec<u8>);

impl MySqlColumnPlan {
    /// The plan itself (for a pumped session's `set_masks`).
    pub(crate) fn plan(&self) -> ColumnPlan {
        (*self.inner).clone()
    }
}

#[pymethods]
impl MySqlColumnPlan {
    #[new]
    #[pyo3(signature = (columns, derived=None, base_tables=None))]
    fn new(
        columns: Vec<PyColumn>,
        derived: Option<Vec<u8>>,
        base_tables: Option<Vec<(String, String)>>,
    ) -> Self {
        let columns = columns
            .into_iter()
            .map(|(s, t, c, r)| (s.map(String::into_bytes), t.into_bytes(), c.into_bytes(), r))
            .collect();
        let base_tables = base_tables.map(|v| {
            v.into_iter()
                .map(|(s, t)| (s.into_bytes(), t.into_bytes()))
                .collect()
        });
        MySqlColumnPlan {
            inner: Arc::new(ColumnPlan::new(columns, derived, base_tables)),
        }
    }

    /// True when the plan replaces nothing.
    #[getter]
    fn empty(&self) -> bool {
        self.inner.is_empty()
    }
}

/// What one `feed` produced.
#[pyclass(frozen, get_all, name = "MySqlRelayOut", module = "limen._native")]
pub struct MySqlRelayOut {
    data: Py<PyBytes>,
    done: bool,
    events: Py<PyList>,
}

fn state_err(e: limen_wire::Error) -> PyErr {
    match e.kind() {
        ErrorKind::UnexpectedMessage | ErrorKind::Poisoned => {
            PyRuntimeError::new_err(e.to_string())
        }
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// The server side of a MySQL session (see the stub). Shared with the
/// session's native pump, if any (`mysql_pump`): the host sets the
/// expected answer of each command it forwards through here.
#[pyclass(name = "MySqlServerRelay", module = "limen._native")]
pub struct MySqlServerRelay {
    pub(crate) inner: Arc<Mutex<ServerRelay<MaskAdapter>>>,
}

impl MySqlServerRelay {
    fn relay(&self) -> PyResult<MutexGuard<'_, ServerRelay<MaskAdapter>>> {
        self.inner
            .lock()
            .map_err(|_| PyRuntimeError::new_err("the relay lock is poisoned"))
    }
}

#[pymethods]
impl MySqlServerRelay {
    #[new]
    #[pyo3(signature = (masker, caps, *, max_packet_size=16 << 20))]
    fn new(masker: Option<PyRef<'_, PyMasker>>, caps: u64, max_packet_size: usize) -> Self {
        MySqlServerRelay {
            inner: Arc::new(Mutex::new(ServerRelay::new(
                masker.map(|m| MaskAdapter(m.inner.clone())),
                caps,
                max_packet_size,
            ))),
        }
    }

    /// Call after forwarding one command upstream whose packet had sequence
    /// id `seq`. `statement_id`: of a COM_STMT_EXECUTE / COM_STMT_FETCH (a
    /// FETCH needs the cursor columns its EXECUTE returned).
    /// `secret_statement`: the statement held a secret (limen's statement
    /// masker found one), so the names of expression columns are masked.
    #[pyo3(signature = (expect, seq, plan=None, *, statement_id=None, secret_statement=false))]
    fn expect(
        &mut self,
        expect: PyRef<'_, MySqlExpect>,
        seq: u8,
        plan: Option<PyRef<'_, MySqlColumnPlan>>,
        statement_id: Option<u32>,
        secret_statement: bool,
    ) -> PyResult<()> {
        let mut relay = self.relay()?;
        if relay.is_done() {
            relay.set_secret_statement(secret_statement);
        }
        match native_expect(*expect) {
            Some(e) => relay
                .expect(e, seq, plan.map(|p| p.inner.clone()), statement_id)
                .map_err(state_err),
            None if relay.is_done() => Ok(()),
            None => Err(PyRuntimeError::new_err("a response is still in progress")),
        }
    }

    /// Forgets the cursor columns of a statement (after COM_STMT_CLOSE or
    /// COM_STMT_RESET went upstream).
    fn forget_statement(&mut self, statement_id: u32) -> PyResult<()> {
        self.relay()?.forget_statement(statement_id);
        Ok(())
    }

    /// Upstream bytes in (any split); raises `MySqlProtocolError` on a
    /// protocol error or bytes after the response (close the connection).
    fn feed(&mut self, py: Python<'_>, chunk: PyBackedBytes) -> PyResult<MySqlRelayOut> {
        let chunk: &[u8] = &chunk;
        let mut out = Vec::with_capacity(chunk.len() + 64);
        let shared = &self.inner;
        let feed = |out: &mut Vec<u8>| match shared.lock() {
            Ok(mut relay) => Ok(relay.try_feed(chunk, out)),
            Err(_) => Err(PyRuntimeError::new_err("the relay lock is poisoned")),
        };
        let events = if chunk.len() >= DETACH_AT {
            py.detach(|| feed(&mut out))
        } else {
            feed(&mut out)
        }?
        .map_err(proto_err)?;
        let list = PyList::empty(py);
        for e in events {
            list.append(event(py, e)?)?;
        }
        Ok(MySqlRelayOut {
            data: bytes(py, &out),
            done: self.relay()?.is_done(),
            events: list.unbind(),
        })
    }

    /// After a `MySqlInfileRequest`: the bytes to send upstream ("no
    /// file"); the client then gets ERR(code, sql_state, message).
    fn refuse_infile<'py>(
        &mut self,
        py: Python<'py>,
        code: u16,
        sql_state: &str,
        message: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let state: [u8; 5] = sql_state
            .as_bytes()
            .try_into()
            .ok()
            .filter(|s: &[u8; 5]| s.iter().all(u8::is_ascii_alphanumeric))
            .ok_or_else(|| PyValueError::new_err("sql_state must be 5 ASCII letters or digits"))?;
        let up = self
            .relay()?
            .refuse_infile(code, state, message)
            .map_err(state_err)?;
        Ok(PyBytes::new(py, &up))
    }

    /// After a `MySqlInfileRequest` a rule allows: the request framed for
    /// the client. Then pass each packet the client sends (its file, then
    /// an empty packet) through `forward_infile`.
    fn allow_infile<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let out = self.relay()?.allow_infile().map_err(state_err)?;
        Ok(PyBytes::new(py, &out))
    }

    /// One packet payload of the client's file: returns it framed for the
    /// upstream; the empty payload ends the file (the server's answer then
    /// comes through `feed`).
    fn forward_infile<'py>(
        &mut self,
        py: Python<'py>,
        payload: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let out = self.relay()?.forward_infile(payload).map_err(state_err)?;
        Ok(PyBytes::new(py, &out))
    }

    /// True when no response is in progress.
    #[getter]
    fn done(&self) -> PyResult<bool> {
        Ok(self.relay()?.is_done())
    }

    /// Server status flags of the last OK / EOF seen.
    #[getter]
    fn status(&self) -> PyResult<u16> {
        Ok(self.relay()?.status())
    }

    /// Values replaced whole (or NULLed) by column plans so far.
    #[getter]
    fn masked_values(&self) -> PyResult<u64> {
        Ok(self.relay()?.masked_values())
    }

    /// A config reload's content masker for this live session (None: only
    /// column plans apply), from the next value on.
    #[pyo3(signature = (masker))]
    fn set_masker(&mut self, masker: Option<PyRef<'_, PyMasker>>) -> PyResult<()> {
        self.relay()?
            .set_masker(masker.map(|m| MaskAdapter(m.inner.clone())));
        Ok(())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MySqlExpect>()?;
    m.add_class::<MySqlColumnPlan>()?;
    m.add_class::<MySqlServerRelay>()?;
    m.add_class::<MySqlRelayOut>()?;
    relay_events::register(m)
}
