//! The gateway's login to the upstream with the resource's credential:
//! `limen_wire::pg::auth::UpstreamAuth`, whose steps Python gets as one
//! frozen class per kind (`limen._native.AuthStep`).
use limen_wire::pg::auth::{AuthPolicy, AuthStep, UpstreamAuth};
use limen_wire::pg::backend::tag as btag;
use limen_wire::pg::BackendMessage;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::{add_union, bytes, proto_err, PgProtocolError};

/// Send these bytes to the upstream, then wait for its next Authentication.
#[pyclass(frozen, get_all, name = "PgAuthSend", module = "limen._native")]
pub struct AuthSend {
    data: Py<PyBytes>,
}

/// Nothing to send: wait for the upstream's next Authentication.
#[pyclass(frozen, name = "PgAuthWait", module = "limen._native")]
pub struct AuthWait;

/// The upstream accepted the login.
#[pyclass(frozen, name = "PgAuthOk", module = "limen._native")]
pub struct AuthOk;

/// The gateway's login to the upstream with the resource's credential.
#[pyclass(name = "PgUpstreamAuth", module = "limen._native")]
pub struct PgUpstreamAuth {
    inner: UpstreamAuth,
}

#[pymethods]
impl PgUpstreamAuth {
    #[new]
    #[pyo3(signature = (user, password, nonce, *, allow_cleartext=false, allow_md5=true, require_password=false))]
    fn new(
        user: &str,
        password: &str,
        nonce: &str,
        allow_cleartext: bool,
        allow_md5: bool,
        require_password: bool,
    ) -> Self {
        let policy = AuthPolicy {
            allow_cleartext,
            allow_md5,
            require_password,
            ..AuthPolicy::default()
        };
        PgUpstreamAuth {
            inner: UpstreamAuth::new(user.as_bytes(), password.as_bytes(), nonce, policy),
        }
    }

    /// Handles one Authentication message body (from the relay's
    /// `PgAuthentication` event). Returns `PgAuthSend`, `PgAuthWait` or
    /// `PgAuthOk`; raises PgProtocolError when the exchange fails.
    fn handle(&mut self, py: Python<'_>, body: &[u8]) -> PyResult<Py<PyAny>> {
        let msg = BackendMessage::try_parse(btag::AUTHENTICATION, body).map_err(proto_err)?;
        let BackendMessage::Authentication(auth) = msg else {
            return Err(PgProtocolError::new_err("not an Authentication message"));
        };
        match self.inner.try_handle(&auth).map_err(proto_err)? {
            AuthStep::Send(b) => Ok(Py::new(
                py,
                AuthSend {
                    data: bytes(py, &b),
                },
            )?
            .into_any()),
            AuthStep::Wait => Ok(Py::new(py, AuthWait)?.into_any()),
            AuthStep::Authenticated => Ok(Py::new(py, AuthOk)?.into_any()),
        }
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PgUpstreamAuth>()?;
    m.add_class::<AuthSend>()?;
    m.add_class::<AuthWait>()?;
    m.add_class::<AuthOk>()?;
    let py = m.py();
    add_union(
        m,
        "AuthStep",
        &[
            py.get_type::<AuthSend>(),
            py.get_type::<AuthWait>(),
            py.get_type::<AuthOk>(),
        ],
    )
}
