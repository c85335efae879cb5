//! What the upstream said, as Python sees it: one frozen class per
//! [`RelayEvent`] kind. `limen._native.RelayEvent` is their union. Row data
//! only ever appears in capture mode (the gateway's own catalog queries).
use limen_wire::pg::RelayEvent;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyType};

use super::{add_union, bytes, lossy};

/// Declares frozen event classes whose fields are all read-only.
macro_rules! event_classes {
    ($($(#[$doc:meta])* $rust:ident => $py:literal { $($field:ident : $ty:ty),* $(,)? })*) => {
        $(
            $(#[$doc])*
            #[pyclass(frozen, get_all, name = $py, module = "limen._native")]
            pub struct $rust {
                $(pub(crate) $field: $ty,)*
            }
        )*

        pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(m.add_class::<$rust>()?;)*
            let py = m.py();
            let every = [$(py.get_type::<$rust>(),)*];
            unions(m, &every)
        }
    };
}

event_classes! {
    /// An Authentication message body (never forwarded).
    Authentication => "PgAuthentication" { body: Py<PyBytes> }
    /// BackendKeyData (never forwarded).
    BackendKeyData => "PgBackendKeyData" { process_id: i32, secret_key: Py<PyBytes> }
    /// NegotiateProtocolVersion (forwarded).
    NegotiateProtocolVersion => "PgNegotiateProtocolVersion" {}
    /// RowDescription: its column count and how many a column rule replaces.
    RowDescription => "PgRowDescription" { columns: usize, replaced: usize }
    /// CommandComplete with its tag.
    CommandComplete => "PgCommandComplete" { tag: String }
    /// An ErrorResponse forwarded as is: {field code: value}.
    ErrorResponse => "PgErrorResponse" { fields: Py<PyDict> }
    /// An ErrorResponse replaced by the caller's replacement.
    ReplacedError => "PgReplacedError" {}
    /// A NoticeResponse: {field code: value}.
    NoticeResponse => "PgNoticeResponse" { fields: Py<PyDict> }
    /// ReadyForQuery with the transaction status ("I", "T" or "E").
    ReadyForQuery => "PgReadyForQuery" { status: String }
    /// ParameterStatus.
    ParameterStatus => "PgParameterStatus" { name: String, value: String }
    /// CopyInResponse with its overall format (0 text, 1 binary).
    CopyInResponse => "PgCopyInResponse" { format: u8 }
    /// CopyOutResponse with its overall format.
    CopyOutResponse => "PgCopyOutResponse" { format: u8 }
    /// CopyBothResponse with its overall format.
    CopyBothResponse => "PgCopyBothResponse" { format: u8 }
    /// A DataRow's values, in capture mode only (not forwarded).
    DataRow => "PgDataRow" { values: Py<PyList> }
}

fn fields_dict(py: Python<'_>, f: &[(u8, Vec<u8>)]) -> PyResult<Py<PyDict>> {
    let d = PyDict::new(py);
    for (code, value) in f {
        d.set_item((*code as char).to_string(), lossy(value))?;
    }
    Ok(d.unbind())
}

/// The Python object of one relay event.
pub(crate) fn relay_event(py: Python<'_>, ev: RelayEvent) -> PyResult<Py<PyAny>> {
    let obj = match ev {
        RelayEvent::Authentication(body) => Py::new(
            py,
            Authentication {
                body: bytes(py, &body),
            },
        )?
        .into_any(),
        RelayEvent::BackendKeyData {
            process_id,
            secret_key,
        } => Py::new(
            py,
            BackendKeyData {
                process_id,
                secret_key: bytes(py, &secret_key),
            },
        )?
        .into_any(),
        RelayEvent::NegotiateProtocolVersion => {
            Py::new(py, NegotiateProtocolVersion {})?.into_any()
        }
        RelayEvent::RowDescription { columns, replaced } => {
            Py::new(py, RowDescription { columns, replaced })?.into_any()
        }
        RelayEvent::CommandComplete(t) => {
            Py::new(py, CommandComplete { tag: lossy(&t) })?.into_any()
        }
        RelayEvent::Error(f) => Py::new(
            py,
            ErrorResponse {
                fields: fields_dict(py, &f)?,
            },
        )?
        .into_any(),
        RelayEvent::ReplacedError => Py::new(py, ReplacedError {})?.into_any(),
        RelayEvent::Notice(f) => Py::new(
            py,
            NoticeResponse {
                fields: fields_dict(py, &f)?,
            },
        )?
        .into_any(),
        RelayEvent::ReadyForQuery(st) => Py::new(
            py,
            ReadyForQuery {
                status: (st.byte() as char).to_string(),
            },
        )?
        .into_any(),
        RelayEvent::ParameterStatus { name, value } => Py::new(
            py,
            ParameterStatus {
                name: lossy(&name),
                value: lossy(&value),
            },
        )?
        .into_any(),
        RelayEvent::CopyIn(format) => Py::new(py, CopyInResponse { format })?.into_any(),
        RelayEvent::CopyOut(format) => Py::new(py, CopyOutResponse { format })?.into_any(),
        RelayEvent::CopyBoth(format) => Py::new(py, CopyBothResponse { format })?.into_any(),
        RelayEvent::DataRow(values) => {
            let list = PyList::empty(py);
            for v in values {
                match v {
                    Some(b) => list.append(PyBytes::new(py, &b))?,
                    None => list.append(py.None())?,
                }
            }
            Py::new(
                py,
                DataRow {
                    values: list.unbind(),
                },
            )?
            .into_any()
        }
    };
    Ok(obj)
}

/// The unions the stub declares over these classes.
fn unions(m: &Bound<'_, PyModule>, every: &[Bound<'_, PyType>]) -> PyResult<()> {
    add_union(m, "RelayEvent", every)?;
    Ok(())
}
