//! `mysql_pump(...)`: a MySQL session on the native pump. It returns the
//! same handle as a PostgreSQL session (`PgPump`: events, resume, stop,
//! counters), over a [`limen_pump::mysql::MySqlCore`] and the session's
//! `MySqlServerRelay` (shared: the host sets each forwarded command's
//! expected answer on it while judging). See
//! `limen.gateway.mysql.relay_pump`.
use std::sync::Arc;

use limen_pump::mysql::{MySqlCore, MySqlMaskSwap};
use limen_pump::{CacheLimits, IoConfig, Pump, PumpShared};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use super::sink::Sink;
use super::{dup_socket, secs, Masks, PgPump, PyJudge};
use crate::mask::PyMasker;
use crate::mysql::relay::{MySqlColumnPlan, MySqlServerRelay};
use crate::record::{LogSink, RecordWriter};
use crate::wire::MaskAdapter;

/// A MySQL session's pump (see the module docs).
#[pyfunction]
#[pyo3(signature = (client, upstream, relay, recorder=None, *, judge=None,
    input_masked=false, input_masker=None, results_masked=false, max_packet_size=16777216,
    cache_entries=1024, cache_bytes=1048576, cache_max_text=8192,
    read_size=65536, max_backlog=1048576, write_timeout=10.0))]
#[allow(clippy::too_many_arguments)]
fn mysql_pump(
    client: &Bound<'_, PyAny>,
    upstream: &Bound<'_, PyAny>,
    relay: PyRef<'_, MySqlServerRelay>,
    recorder: Option<PyRef<'_, RecordWriter>>,
    judge: Option<Py<PyAny>>,
    input_masked: bool,
    input_masker: Option<PyRef<'_, PyMasker>>,
    results_masked: bool,
    max_packet_size: usize,
    cache_entries: usize,
    cache_bytes: usize,
    cache_max_text: usize,
    read_size: usize,
    max_backlog: usize,
    write_timeout: f64,
) -> PyResult<PgPump> {
    if read_size == 0 || read_size > limen_wire::mysql::Limits::default().max_chunk {
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
    let (sink, queue) = Sink::new(recorder.map(|w| LogSink(Arc::clone(&w.log))));
    let core = MySqlCore::new(Arc::clone(&relay.inner), max_packet_size, limits)
        .with_input_masked(input_masked)
        .with_input_masker(input_masker.map(|m| MaskAdapter(m.inner.clone())))
        .with_masked_results(results_masked);
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
    Ok(PgPump {
        shared,
        ready: Some(pump),
        started: false,
        queue,
        masks: Masks::MySql(masks),
    })
}

/// Hands a reload's masks to a MySQL session's core and relay (statement
/// texts are recorded masked when there is an `input_masker`).
pub(super) fn set_masks(
    swap: &MySqlMaskSwap<MaskAdapter>,
    masker: Option<PyRef<'_, PyMasker>>,
    input_masker: Option<PyRef<'_, PyMasker>>,
    results_masked: bool,
    statement_plan: Option<PyRef<'_, MySqlColumnPlan>>,
) -> PyResult<()> {
    let input_masked = input_masker.is_some();
    swap.set(
        masker.map(|m| MaskAdapter(m.inner.clone())),
        input_masker.map(|m| MaskAdapter(m.inner.clone())),
        input_masked,
        results_masked,
        statement_plan.map(|p| p.plan()),
    )
    .map_err(|e| PyRuntimeError::new_err(e.message().to_owned()))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mysql_pump, m)?)
}
