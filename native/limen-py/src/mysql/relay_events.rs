//! The events `MySqlServerRelay.feed` reports (the union `MySqlRelayEvent`):
//! what Python learns of the upstream's answers, never row bytes.
use limen_wire::mysql::RelayEvent;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};

use crate::wire::{add_union, bytes, lossy};

/// An OK packet, or the EOF / OK ending a result set.
#[pyclass(frozen, get_all, name = "MySqlOkSeen", module = "limen._native")]
pub struct MySqlOkSeen {
    status: u16,
    affected_rows: u64,
    last_insert_id: u64,
    warnings: u16,
}

/// The server's ERR (message masked by content, as the client got it).
#[pyclass(frozen, get_all, name = "MySqlErrSeen", module = "limen._native")]
pub struct MySqlErrSeen {
    code: u16,
    sql_state: String,
    message: String,
}

/// COM_STMT_PREPARE succeeded.
#[pyclass(frozen, get_all, name = "MySqlPrepareOk", module = "limen._native")]
pub struct MySqlPrepareOk {
    statement_id: u32,
    params: u16,
    columns: u16,
}

/// The server asks for a local file; nothing of it went to the client.
#[pyclass(frozen, get_all, name = "MySqlInfileRequest", module = "limen._native")]
pub struct MySqlInfileRequest {
    filename: Py<PyBytes>,
}

pub(super) fn event(py: Python<'_>, e: RelayEvent) -> PyResult<Bound<'_, PyAny>> {
    Ok(match e {
        RelayEvent::Ok {
            status,
            affected_rows,
            last_insert_id,
            warnings,
        } => Bound::new(
            py,
            MySqlOkSeen {
                status,
                affected_rows,
                last_insert_id,
                warnings,
            },
        )?
        .into_any(),
        RelayEvent::Err {
            code,
            sql_state,
            message,
        } => Bound::new(
            py,
            MySqlErrSeen {
                code,
                sql_state: lossy(&sql_state),
                message: lossy(&message),
            },
        )?
        .into_any(),
        RelayEvent::PrepareOk {
            statement_id,
            params,
            columns,
        } => Bound::new(
            py,
            MySqlPrepareOk {
                statement_id,
                params,
                columns,
            },
        )?
        .into_any(),
        RelayEvent::InfileRequest { filename } => Bound::new(
            py,
            MySqlInfileRequest {
                filename: bytes(py, &filename),
            },
        )?
        .into_any(),
    })
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MySqlOkSeen>()?;
    m.add_class::<MySqlErrSeen>()?;
    m.add_class::<MySqlPrepareOk>()?;
    m.add_class::<MySqlInfileRequest>()?;
    let py = m.py();
    let members: [Bound<'_, PyType>; 4] = [
        py.get_type::<MySqlOkSeen>(),
        py.get_type::<MySqlErrSeen>(),
        py.get_type::<MySqlPrepareOk>(),
        py.get_type::<MySqlInfileRequest>(),
    ];
    add_union(m, "MySqlRelayEvent", &members)
}
