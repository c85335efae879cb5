//! The server side of a session (`limen_wire::pg::ServerRelay`) and the
//! output plans Python gives it.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use limen_pump::SharedRelay;
use limen_wire::pg::{CopyFormat, Limits, OutColumn, OutputPlan, ServerRelay};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyList};

use super::events::relay_event;
use super::{limits, proto_err, MaskAdapter};
use crate::mask::PyMasker;

/// (mask, expected label) of one output column.
type ColumnTuple = (Option<Vec<u8>>, Option<Vec<u8>>);
/// An output plan from Python: (prefix, has_run, run_mask, suffix,
/// all_mask, copy = (format 0 text / 1 csv / 2 binary, delimiter, quote,
/// escape, header), scrub).
type PlanTuple = (
    Vec<ColumnTuple>,
    bool,
    Option<Vec<u8>>,
    Vec<ColumnTuple>,
    Option<Vec<u8>>,
    Option<(u8, u8, u8, u8, bool)>,
    bool,
);

fn output_plan(t: PlanTuple) -> Arc<OutputPlan> {
    let (prefix, has_run, run, suffix, all, copy, scrub) = t;
    let cols = |v: Vec<ColumnTuple>| {
        v.into_iter()
            .map(|(mask, name)| OutColumn { mask, name })
            .collect()
    };
    Arc::new(OutputPlan {
        prefix: cols(prefix),
        run: has_run.then_some(run),
        suffix: cols(suffix),
        all,
        copy: copy.map(|(format, delimiter, quote, escape, header)| {
            let format = match format {
                0 => CopyFormat::Text { delimiter },
                1 => CopyFormat::Csv {
                    delimiter,
                    quote,
                    escape,
                },
                _ => CopyFormat::Binary,
            };
            (format, header)
        }),
        scrub,
    })
}

/// The server side of a session (`limen_wire::pg::ServerRelay`): upstream
/// bytes in, bytes for the client and events out.
#[pyclass(name = "PgServerRelay", module = "limen._native")]
pub struct PgServerRelay {
    /// Shared with a native pump once the session hands it its sockets:
    /// `replace_error` and friends then reach the pump's relay.
    pub(crate) inner: SharedRelay<MaskAdapter>,
}

impl PgServerRelay {
    fn relay(&self) -> PyResult<MutexGuard<'_, ServerRelay<MaskAdapter>>> {
        self.inner
            .lock()
            .map_err(|_| PyRuntimeError::new_err("the relay lock is poisoned"))
    }
}

#[pymethods]
impl PgServerRelay {
    #[new]
    #[pyo3(signature = (masker=None, max_message_size=Limits::DEFAULT_MAX_MESSAGE_SIZE))]
    fn new(masker: Option<PyRef<'_, PyMasker>>, max_message_size: usize) -> Self {
        PgServerRelay {
            inner: Arc::new(Mutex::new(ServerRelay::new(
                masker.map(|m| MaskAdapter(m.inner.clone())),
                limits(max_message_size),
            ))),
        }
    }

    /// Whole-value replacements by column origin: {(table_oid, attnum): bytes}.
    fn set_columns(&mut self, columns: HashMap<(u32, i16), Vec<u8>>) -> PyResult<()> {
        self.relay()?.set_columns(columns);
        Ok(())
    }

    /// When true, DataRows are not forwarded but returned as `PgDataRow`
    /// events (the gateway's own
    /// catalog queries, never a client's result).
    #[setter]
    fn set_capture_rows(&mut self, on: bool) -> PyResult<()> {
        self.relay()?.set_capture_rows(on);
        Ok(())
    }

    #[getter]
    fn get_capture_rows(&self) -> PyResult<bool> {
        Ok(self.relay()?.capture_rows())
    }

    /// Until the next ReadyForQuery: an ErrorResponse whose message contains
    /// `marker` is sent to the client as `replacement` (a whole message).
    fn replace_error(&mut self, marker: Vec<u8>, replacement: Vec<u8>) -> PyResult<()> {
        self.relay()?.replace_error(marker, replacement);
        Ok(())
    }

    /// Call for each Query, Sync and FunctionCall sent upstream, in order
    /// with `push_describe` and `replace_error`: registrations made after it
    /// wait for the next request/ReadyForQuery cycle (pipelining clients).
    fn push_sync(&mut self) -> PyResult<()> {
        self.relay()?.push_sync();
        Ok(())
    }

    /// Call for each Describe sent upstream, in order; the answer to a
    /// `hidden` one (sent by the gateway to learn a portal's columns) sets
    /// the masking plan but is not forwarded. Give `portal` for a Describe
    /// of a portal: the rows that follow are masked by its output plan.
    #[pyo3(signature = (hidden, portal=None))]
    fn push_describe(&mut self, hidden: bool, portal: Option<Vec<u8>>) -> PyResult<()> {
        let mut relay = self.relay()?;
        match portal {
            Some(p) => relay.push_describe_portal(hidden, &p),
            None => relay.push_describe(hidden),
        }
        Ok(())
    }

    /// Output plans of the next simple query's statements (one per
    /// statement, None for a statement with no masked column); see
    /// `limen.policy.colplan.Output.relay` for a plan's form.
    fn plan_query(&mut self, plans: Vec<Option<PlanTuple>>) -> PyResult<()> {
        let plans = plans.into_iter().map(|p| p.map(output_plan)).collect();
        self.relay()?.plan_query(plans);
        Ok(())
    }

    /// The output plan of prepared statement `name` (None: none masked).
    #[pyo3(signature = (name, plan=None))]
    fn plan_statement(&mut self, name: Vec<u8>, plan: Option<PlanTuple>) -> PyResult<()> {
        self.relay()?.plan_statement(&name, plan.map(output_plan));
        Ok(())
    }

    /// The output plan of a portal opened by SQL (`DECLARE name CURSOR`).
    #[pyo3(signature = (name, plan=None))]
    fn plan_portal(&mut self, name: Vec<u8>, plan: Option<PlanTuple>) -> PyResult<()> {
        self.relay()?.plan_portal(&name, plan.map(output_plan));
        Ok(())
    }

    /// A Bind of `statement` into `portal` went upstream.
    fn note_bind(&mut self, portal: Vec<u8>, statement: Vec<u8>) -> PyResult<()> {
        self.relay()?.note_bind(&portal, &statement);
        Ok(())
    }

    /// DataRows changed by masking so far.
    #[getter]
    fn masked_rows(&self) -> PyResult<u64> {
        Ok(self.relay()?.masked_rows())
    }

    /// Feeds one chunk from the upstream. Returns (bytes for the client,
    /// events: `limen._native.RelayEvent`). Authentication and BackendKeyData are never forwarded.
    /// Masking runs with the GIL released.
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        chunk: PyBackedBytes,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyList>)> {
        // bytes or bytearray (what a trio.abc.Stream may return)
        let chunk: &[u8] = &chunk;
        let mut out = Vec::with_capacity(chunk.len() + 64);
        let inner = &self.inner;
        let events = py.detach(|| match inner.lock() {
            Ok(mut relay) => relay.try_feed(chunk, &mut out).map_err(proto_err),
            Err(_) => Err(PyRuntimeError::new_err("the relay lock is poisoned")),
        })?;
        let list = PyList::empty(py);
        for ev in events {
            list.append(relay_event(py, ev)?)?;
        }
        Ok((PyBytes::new(py, &out), list))
    }
}
