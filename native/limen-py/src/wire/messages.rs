//! The client's messages as Python sees them: one frozen class per kind,
//! each with the message's `raw` bytes (forwarded untouched) and the fields
//! the gateway acts on. `limen._native.ClientMessage` is their union.
use limen_wire::pg::frontend::TargetKind;
use limen_wire::pg::FrontendMessage;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyType};

use super::{add_union, bytes, lossy};

/// Declares frozen message classes whose fields are all read-only.
macro_rules! message_classes {
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

message_classes! {
    /// SSLRequest (startup phase).
    SslRequest => "PgSslRequest" { raw: Py<PyBytes> }
    /// GSSENCRequest (startup phase).
    GssEncRequest => "PgGssEncRequest" { raw: Py<PyBytes> }
    /// CancelRequest (startup phase): the key the client was given.
    CancelRequest => "PgCancelRequest" { raw: Py<PyBytes>, process_id: i32, secret_key: Py<PyBytes> }
    /// StartupMessage: parameters and protocol version (major, minor).
    StartupMessage => "PgStartupMessage" {
        raw: Py<PyBytes>, params: Py<PyDict>, version: (u16, u16)
    }
    /// PasswordMessage (after AuthenticationCleartextPassword): the token.
    PasswordMessage => "PgPasswordMessage" { raw: Py<PyBytes>, password: Py<PyBytes> }
    /// SASLInitialResponse, SASLResponse or GSSResponse.
    SaslResponse => "PgSaslResponse" { raw: Py<PyBytes> }
    /// Query (simple protocol).
    Query => "PgQuery" { raw: Py<PyBytes>, sql: Py<PyBytes> }
    /// Parse: statement name and text.
    Parse => "PgParse" { raw: Py<PyBytes>, name: Py<PyBytes>, sql: Py<PyBytes> }
    /// Bind of `statement` into `portal`.
    Bind => "PgBind" { raw: Py<PyBytes>, portal: Py<PyBytes>, statement: Py<PyBytes> }
    /// Execute of a portal.
    Execute => "PgExecute" { raw: Py<PyBytes>, portal: Py<PyBytes> }
    /// Describe of a portal (`kind` "P") or statement ("S").
    Describe => "PgDescribe" { raw: Py<PyBytes>, kind: String, name: Py<PyBytes> }
    /// Close of a portal (`kind` "P") or statement ("S").
    Close => "PgClose" { raw: Py<PyBytes>, kind: String, name: Py<PyBytes> }
    /// Sync.
    Sync => "PgSync" { raw: Py<PyBytes> }
    /// Flush.
    Flush => "PgFlush" { raw: Py<PyBytes> }
    /// Terminate.
    Terminate => "PgTerminate" { raw: Py<PyBytes> }
    /// CopyData from the client.
    CopyData => "PgCopyData" { raw: Py<PyBytes> }
    /// CopyDone.
    CopyDone => "PgCopyDone" { raw: Py<PyBytes> }
    /// CopyFail.
    CopyFail => "PgCopyFail" { raw: Py<PyBytes> }
    /// FunctionCall (the fast-path interface).
    FunctionCall => "PgFunctionCall" { raw: Py<PyBytes> }
    /// A message of a type limen does not know.
    UnknownMessage => "PgUnknownMessage" { raw: Py<PyBytes>, tag: u8 }
}

fn target(k: TargetKind) -> String {
    match k {
        TargetKind::Statement => "S",
        TargetKind::Portal => "P",
    }
    .to_owned()
}

/// The Python object of one decoded client message.
pub(crate) fn client_message(
    py: Python<'_>,
    raw: &[u8],
    msg: FrontendMessage<'_>,
) -> PyResult<Py<PyAny>> {
    let r = bytes(py, raw);
    let obj = match msg {
        FrontendMessage::Startup(s) => {
            let params = PyDict::new(py);
            for (n, v) in &s.params {
                params.set_item(lossy(n), lossy(v))?;
            }
            let version = (s.version.major, s.version.minor);
            Py::new(
                py,
                StartupMessage {
                    raw: r,
                    params: params.unbind(),
                    version,
                },
            )?
            .into_any()
        }
        FrontendMessage::SslRequest => Py::new(py, SslRequest { raw: r })?.into_any(),
        FrontendMessage::GssEncRequest => Py::new(py, GssEncRequest { raw: r })?.into_any(),
        FrontendMessage::CancelRequest(c) => Py::new(
            py,
            CancelRequest {
                raw: r,
                process_id: c.process_id,
                secret_key: bytes(py, c.secret_key),
            },
        )?
        .into_any(),
        FrontendMessage::Query(q) => Py::new(
            py,
            Query {
                raw: r,
                sql: bytes(py, q.sql),
            },
        )?
        .into_any(),
        FrontendMessage::Parse(p) => Py::new(
            py,
            Parse {
                raw: r,
                name: bytes(py, p.name),
                sql: bytes(py, p.query),
            },
        )?
        .into_any(),
        FrontendMessage::Bind(b) => Py::new(
            py,
            Bind {
                raw: r,
                portal: bytes(py, b.portal),
                statement: bytes(py, b.statement),
            },
        )?
        .into_any(),
        FrontendMessage::Execute(e) => Py::new(
            py,
            Execute {
                raw: r,
                portal: bytes(py, e.portal),
            },
        )?
        .into_any(),
        FrontendMessage::Describe(d) => Py::new(
            py,
            Describe {
                raw: r,
                kind: target(d.kind),
                name: bytes(py, d.name),
            },
        )?
        .into_any(),
        FrontendMessage::Close(c) => Py::new(
            py,
            Close {
                raw: r,
                kind: target(c.kind),
                name: bytes(py, c.name),
            },
        )?
        .into_any(),
        FrontendMessage::Sync => Py::new(py, Sync { raw: r })?.into_any(),
        FrontendMessage::Flush => Py::new(py, Flush { raw: r })?.into_any(),
        FrontendMessage::Terminate => Py::new(py, Terminate { raw: r })?.into_any(),
        FrontendMessage::Password(p) => Py::new(
            py,
            PasswordMessage {
                raw: r,
                password: bytes(py, p.password),
            },
        )?
        .into_any(),
        FrontendMessage::SaslInitialResponse(_)
        | FrontendMessage::SaslResponse(_)
        | FrontendMessage::GssResponse(_) => Py::new(py, SaslResponse { raw: r })?.into_any(),
        FrontendMessage::CopyData(_) => Py::new(py, CopyData { raw: r })?.into_any(),
        FrontendMessage::CopyDone => Py::new(py, CopyDone { raw: r })?.into_any(),
        FrontendMessage::CopyFail(_) => Py::new(py, CopyFail { raw: r })?.into_any(),
        FrontendMessage::FunctionCall(_) => Py::new(py, FunctionCall { raw: r })?.into_any(),
        FrontendMessage::Unknown { tag, .. } => {
            Py::new(py, UnknownMessage { raw: r, tag })?.into_any()
        }
    };
    Ok(obj)
}

/// The unions the stub declares over these classes.
fn unions(m: &Bound<'_, PyModule>, every: &[Bound<'_, PyType>]) -> PyResult<()> {
    add_union(
        m,
        "StartupPhaseMessage",
        &[
            m.py().get_type::<SslRequest>(),
            m.py().get_type::<GssEncRequest>(),
            m.py().get_type::<CancelRequest>(),
            m.py().get_type::<StartupMessage>(),
            m.py().get_type::<PasswordMessage>(),
        ],
    )?;
    add_union(m, "ClientMessage", every)?;
    Ok(())
}
