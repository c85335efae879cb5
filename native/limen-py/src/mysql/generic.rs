//! OK / ERR / EOF packets (parse and encode), and result-set pieces parsed
//! one packet at a time: column count, column definition, text row.
use limen_wire::mysql::resultset::parse_column_count;
use limen_wire::mysql::{ColumnDefinition, EofPacket, ErrPacket, OkPacket, TextRow};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::proto_err;
use crate::wire::{add_union, bytes, lossy};

/// An OK packet (`header` 0x00, or 0xfe ending a result set with
/// CLIENT_DEPRECATE_EOF).
#[pyclass(frozen, get_all, name = "MySqlOk", module = "limen._native")]
pub struct MySqlOk {
    header: u8,
    affected_rows: u64,
    last_insert_id: u64,
    status: u16,
    warnings: u16,
    info: Py<PyBytes>,
    session_state: Py<PyBytes>,
}

/// An ERR packet.
#[pyclass(frozen, get_all, name = "MySqlErr", module = "limen._native")]
pub struct MySqlErr {
    code: u16,
    /// Five characters, e.g. `42000`; None before PROTOCOL_41.
    sql_state: Option<String>,
    message: Py<PyBytes>,
}

/// A MariaDB progress report (an ERR packet with code 0xffff).
#[pyclass(frozen, get_all, name = "MySqlProgress", module = "limen._native")]
pub struct MySqlProgress {
    stage: u8,
    max_stage: u8,
    /// Thousandths of a percent.
    progress: u32,
    info: Py<PyBytes>,
}

/// An EOF packet (PROTOCOL_41 form).
#[pyclass(frozen, get_all, name = "MySqlEof", module = "limen._native")]
pub struct MySqlEof {
    warnings: u16,
    status: u16,
}

/// A ColumnDefinition41: `org_table` / `org_name` are the real table and
/// column (empty for expressions), what `column:` rules match.
#[pyclass(
    frozen,
    get_all,
    name = "MySqlColumnDefinition",
    module = "limen._native"
)]
pub struct MySqlColumnDefinition {
    schema: Py<PyBytes>,
    table: Py<PyBytes>,
    org_table: Py<PyBytes>,
    name: Py<PyBytes>,
    org_name: Py<PyBytes>,
    charset: u16,
    column_length: u32,
    column_type: u8,
    flags: u16,
    decimals: u8,
}

/// Parses a ColumnDefinition41 payload under the negotiated capabilities.
#[pyfunction]
fn mysql_parse_column_definition(
    py: Python<'_>,
    payload: &[u8],
    caps: u64,
) -> PyResult<MySqlColumnDefinition> {
    let c = ColumnDefinition::try_parse(payload, caps).map_err(proto_err)?;
    Ok(MySqlColumnDefinition {
        schema: bytes(py, c.schema),
        table: bytes(py, c.table),
        org_table: bytes(py, c.org_table),
        name: bytes(py, c.name),
        org_name: bytes(py, c.org_name),
        charset: c.charset,
        column_length: c.column_length,
        column_type: c.column_type,
        flags: c.flags,
        decimals: c.decimals,
    })
}

/// Parses an OK payload under the negotiated capabilities.
#[pyfunction]
fn mysql_parse_ok(py: Python<'_>, payload: &[u8], caps: u64) -> PyResult<MySqlOk> {
    let ok = OkPacket::try_parse(payload, caps).map_err(proto_err)?;
    Ok(MySqlOk {
        header: ok.header,
        affected_rows: ok.affected_rows,
        last_insert_id: ok.last_insert_id,
        status: ok.status,
        warnings: ok.warnings,
        info: bytes(py, ok.info),
        session_state: bytes(py, ok.session_state),
    })
}

/// Parses an ERR payload: `MySqlErr` or `MySqlProgress`.
#[pyfunction]
fn mysql_parse_err(py: Python<'_>, payload: &[u8]) -> PyResult<Py<PyAny>> {
    match ErrPacket::try_parse(payload).map_err(proto_err)? {
        ErrPacket::Error {
            code,
            sql_state,
            message,
        } => Ok(Py::new(
            py,
            MySqlErr {
                code,
                sql_state: sql_state.map(|s| lossy(&s)),
                message: bytes(py, message),
            },
        )?
        .into_any()),
        ErrPacket::Progress {
            stage,
            max_stage,
            progress,
            info,
        } => Ok(Py::new(
            py,
            MySqlProgress {
                stage,
                max_stage,
                progress,
                info: bytes(py, info),
            },
        )?
        .into_any()),
    }
}

/// Parses an EOF payload.
#[pyfunction]
fn mysql_parse_eof(payload: &[u8]) -> PyResult<MySqlEof> {
    let e = EofPacket::try_parse(payload).map_err(proto_err)?;
    Ok(MySqlEof {
        warnings: e.warnings,
        status: e.status,
    })
}

/// Encodes an OK payload for a client with capabilities `caps`.
#[pyfunction]
#[pyo3(signature = (caps, *, affected_rows=0, last_insert_id=0, status=0, warnings=0, info=None))]
fn mysql_encode_ok(
    py: Python<'_>,
    caps: u64,
    affected_rows: u64,
    last_insert_id: u64,
    status: u16,
    warnings: u16,
    info: Option<&[u8]>,
) -> Py<PyBytes> {
    let mut out = Vec::new();
    OkPacket {
        header: 0,
        affected_rows,
        last_insert_id,
        // limen never forwards session-state changes it made up.
        status: status & !limen_wire::mysql::caps::SERVER_SESSION_STATE_CHANGED,
        warnings,
        info: info.unwrap_or_default(),
        session_state: &[],
    }
    .encode(&mut out, caps);
    bytes(py, &out)
}

/// Encodes an ERR payload; `sql_state` is five ASCII characters.
#[pyfunction]
fn mysql_encode_err(
    py: Python<'_>,
    code: u16,
    sql_state: &str,
    message: &[u8],
) -> PyResult<Py<PyBytes>> {
    let state: [u8; 5] = sql_state
        .as_bytes()
        .try_into()
        .ok()
        .filter(|s: &[u8; 5]| s.iter().all(u8::is_ascii_alphanumeric))
        .ok_or_else(|| PyValueError::new_err("sql_state must be five ASCII letters or digits"))?;
    if code == 0xffff {
        return Err(PyValueError::new_err("code 0xffff is a progress report"));
    }
    let mut out = Vec::new();
    ErrPacket::Error {
        code,
        sql_state: Some(state),
        message,
    }
    .encode(&mut out);
    Ok(bytes(py, &out))
}

/// Parses a result set's column-count packet (fails closed on the
/// metadata-cache form limen never negotiates).
#[pyfunction]
fn mysql_parse_column_count(payload: &[u8], caps: u64) -> PyResult<u64> {
    match parse_column_count(payload, caps).map_err(proto_err)? {
        (n, true) => Ok(n),
        (_, false) => Err(super::MySqlProtocolError::new_err(
            "column definitions omitted (metadata cache)",
        )),
    }
}

/// Parses a text-protocol row of `columns` values (None is NULL).
#[pyfunction]
fn mysql_parse_text_row<'py>(
    py: Python<'py>,
    payload: &[u8],
    columns: usize,
) -> PyResult<Bound<'py, PyList>> {
    let row = TextRow::try_parse(payload, columns).map_err(proto_err)?;
    let out = PyList::empty(py);
    for v in row.iter() {
        match v {
            Some(b) => out.append(PyBytes::new(py, b))?,
            None => out.append(py.None())?,
        }
    }
    Ok(out)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MySqlOk>()?;
    m.add_class::<MySqlErr>()?;
    m.add_class::<MySqlProgress>()?;
    m.add_class::<MySqlEof>()?;
    m.add_class::<MySqlColumnDefinition>()?;
    m.add_function(wrap_pyfunction!(mysql_parse_column_definition, m)?)?;
    m.add_function(wrap_pyfunction!(mysql_parse_ok, m)?)?;
    m.add_function(wrap_pyfunction!(mysql_parse_err, m)?)?;
    m.add_function(wrap_pyfunction!(mysql_parse_eof, m)?)?;
    m.add_function(wrap_pyfunction!(mysql_encode_ok, m)?)?;
    m.add_function(wrap_pyfunction!(mysql_encode_err, m)?)?;
    m.add_function(wrap_pyfunction!(mysql_parse_column_count, m)?)?;
    m.add_function(wrap_pyfunction!(mysql_parse_text_row, m)?)?;
    let py = m.py();
    add_union(
        m,
        "MySqlErrPacket",
        &[py.get_type::<MySqlErr>(), py.get_type::<MySqlProgress>()],
    )
}
