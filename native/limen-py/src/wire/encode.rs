//! Encoders for the messages the gateway writes itself, and the shape and
//! tree helpers of the policy layer.
use limen_wire::pg::backend::{
    Authentication, BackendKeyData, ErrorNotice, ParameterStatus, TransactionStatus,
};
use limen_wire::pg::frontend::{
    CancelRequest, Describe, Parse, ProtocolVersion, Query, StartupMessage, TargetKind,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::local_err;

fn notice_bytes(
    error: bool,
    severity: &str,
    code: &str,
    message: &str,
    detail: Option<&str>,
    hint: Option<&str>,
) -> PyResult<Vec<u8>> {
    let n = ErrorNotice {
        severity,
        code,
        message,
        detail,
        hint,
        ..ErrorNotice::default()
    };
    let mut out = Vec::new();
    if error {
        n.try_encode_error(&mut out).map_err(local_err)?;
    } else {
        n.try_encode_notice(&mut out).map_err(local_err)?;
    }
    Ok(out)
}

/// ErrorResponse, or NoticeResponse with `notice=True`.
#[pyfunction]
#[pyo3(signature = (severity, code, message, detail=None, hint=None, *, notice=false))]
fn pg_error<'py>(
    py: Python<'py>,
    severity: &str,
    code: &str,
    message: &str,
    detail: Option<&str>,
    hint: Option<&str>,
    notice: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = notice_bytes(!notice, severity, code, message, detail, hint)?;
    Ok(PyBytes::new(py, &bytes))
}

/// ReadyForQuery with status "I", "T" or "E".
#[pyfunction]
fn pg_ready_for_query<'py>(py: Python<'py>, status: &str) -> PyResult<Bound<'py, PyBytes>> {
    let st = match status {
        "I" => TransactionStatus::Idle,
        "T" => TransactionStatus::InTransaction,
        "E" => TransactionStatus::Failed,
        _ => return Err(PyValueError::new_err("status must be 'I', 'T' or 'E'")),
    };
    let mut out = Vec::new();
    st.encode_ready_for_query(&mut out);
    Ok(PyBytes::new(py, &out))
}

fn encode_auth(a: Authentication<'_>) -> PyResult<Vec<u8>> {
    let mut out = Vec::new();
    a.try_encode(&mut out).map_err(local_err)?;
    Ok(out)
}

/// AuthenticationCleartextPassword.
#[pyfunction]
fn pg_auth_cleartext_password(py: Python<'_>) -> PyResult<Bound<'_, PyBytes>> {
    Ok(PyBytes::new(
        py,
        &encode_auth(Authentication::CleartextPassword)?,
    ))
}

/// AuthenticationOk.
#[pyfunction]
fn pg_auth_ok(py: Python<'_>) -> PyResult<Bound<'_, PyBytes>> {
    Ok(PyBytes::new(py, &encode_auth(Authentication::Ok)?))
}

/// BackendKeyData.
#[pyfunction]
fn pg_backend_key_data<'py>(
    py: Python<'py>,
    process_id: i32,
    secret_key: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    BackendKeyData {
        process_id,
        secret_key,
    }
    .try_encode(&mut out)
    .map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

/// ParameterStatus.
#[pyfunction]
fn pg_parameter_status<'py>(
    py: Python<'py>,
    name: &str,
    value: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    ParameterStatus {
        name: name.as_bytes(),
        value: value.as_bytes(),
    }
    .try_encode(&mut out)
    .map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

/// StartupMessage (protocol 3.0) with these parameters.
#[pyfunction]
fn pg_startup<'py>(
    py: Python<'py>,
    params: Vec<(String, String)>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    StartupMessage {
        version: ProtocolVersion::V3_0,
        params: params
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect(),
    }
    .try_encode(&mut out)
    .map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

/// The literal-insensitive template of a libpg_query JSON parse tree
/// (see `limen_wire::pg::tree`). Short work: the GIL stays held.
#[pyfunction]
fn pg_tree_template(json: &str) -> String {
    limen_wire::pg::tree::tree_template(json)
}

/// The shape key of a simple query (see `limen_pump::shape`), or None.
#[pyfunction]
fn pg_shape_key<'py>(py: Python<'py>, sql: &[u8]) -> Option<Bound<'py, PyBytes>> {
    limen_pump::shape::literal_key(sql).map(|k| PyBytes::new(py, &k))
}

/// The tree the classifier walks (positions gone, each `A_Const` replaced
/// by its ordinal) and the `A_Const` objects (see
/// `limen_wire::pg::tree::sealed_tree`). Short work: the GIL stays held.
#[pyfunction]
fn pg_tree_sealed(json: &str) -> (String, Vec<String>) {
    limen_wire::pg::tree::sealed_tree(json)
}

/// Whether a decision for `sql` that read no constant may be cached under
/// its shape: every constant of the text is an `A_Const` of `json`, its
/// parse tree (see `limen_pump::shape::proven`).
#[pyfunction]
fn pg_shape_proven(sql: &[u8], json: &str) -> bool {
    limen_pump::shape::proven(sql, &limen_wire::pg::tree::const_locations(json))
}

/// The byte ranges of the constants the shape key replaces, or None.
#[pyfunction]
fn pg_shape_constants(sql: &[u8]) -> Option<Vec<(usize, usize)>> {
    limen_pump::shape::constants(sql).map(|(_, spans)| spans)
}

/// Query (simple protocol).
#[pyfunction]
fn pg_query<'py>(py: Python<'py>, sql: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    Query { sql }.try_encode(&mut out).map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

/// Parse of an unnamed statement without parameter types.
#[pyfunction]
fn pg_parse<'py>(py: Python<'py>, name: &[u8], sql: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    Parse::encode_parts(name, sql, &[], &mut out).map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

/// Describe of a portal (`kind` "P") or prepared statement ("S").
#[pyfunction]
fn pg_describe<'py>(py: Python<'py>, kind: &str, name: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let kind = match kind {
        "P" => TargetKind::Portal,
        "S" => TargetKind::Statement,
        _ => return Err(PyValueError::new_err("kind must be 'P' or 'S'")),
    };
    let mut out = Vec::new();
    Describe { kind, name }
        .try_encode(&mut out)
        .map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

/// CancelRequest.
#[pyfunction]
fn pg_cancel_request<'py>(
    py: Python<'py>,
    process_id: i32,
    secret_key: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    CancelRequest {
        process_id,
        secret_key,
    }
    .try_encode(&mut out)
    .map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pg_error, m)?)?;
    m.add_function(wrap_pyfunction!(pg_ready_for_query, m)?)?;
    m.add_function(wrap_pyfunction!(pg_auth_cleartext_password, m)?)?;
    m.add_function(wrap_pyfunction!(pg_auth_ok, m)?)?;
    m.add_function(wrap_pyfunction!(pg_backend_key_data, m)?)?;
    m.add_function(wrap_pyfunction!(pg_parameter_status, m)?)?;
    m.add_function(wrap_pyfunction!(pg_startup, m)?)?;
    m.add_function(wrap_pyfunction!(pg_query, m)?)?;
    m.add_function(wrap_pyfunction!(pg_tree_template, m)?)?;
    m.add_function(wrap_pyfunction!(pg_shape_key, m)?)?;
    m.add_function(wrap_pyfunction!(pg_shape_proven, m)?)?;
    m.add_function(wrap_pyfunction!(pg_tree_sealed, m)?)?;
    m.add_function(wrap_pyfunction!(pg_shape_constants, m)?)?;
    m.add_function(wrap_pyfunction!(pg_parse, m)?)?;
    m.add_function(wrap_pyfunction!(pg_cancel_request, m)?)?;
    m.add_function(wrap_pyfunction!(pg_describe, m)?)?;
    Ok(())
}
