//! limen's login to the upstream with the resource's credential:
//! `limen_wire::mysql::auth::ClientAuth`, whose steps Python gets as one
//! frozen class per kind (`limen._native.MySqlAuthStep`).
use limen_wire::mysql::auth::{encode_more_data, encode_switch, AuthStep, ClientAuth};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::{local_err, proto_err};
use crate::wire::{add_union, bytes};

/// Send `data` as the next packet's payload, then read the next packet.
#[pyclass(frozen, get_all, name = "MySqlAuthSend", module = "limen._native")]
pub struct AuthSend {
    data: Py<PyBytes>,
}

/// Encrypt `plaintext` with RSA-OAEP (SHA-1) under `public_key_pem`
/// (`limen.mysql_rsa`), send the ciphertext, then read the next packet.
#[pyclass(
    frozen,
    get_all,
    name = "MySqlAuthRsaEncrypt",
    module = "limen._native"
)]
pub struct AuthRsaEncrypt {
    public_key_pem: Py<PyBytes>,
    plaintext: Py<PyBytes>,
}

/// Nothing to send: read the next packet.
#[pyclass(frozen, name = "MySqlAuthWait", module = "limen._native")]
pub struct AuthWait;

/// Logged in: the server's OK status flags.
#[pyclass(frozen, get_all, name = "MySqlAuthDone", module = "limen._native")]
pub struct AuthDone {
    status: u16,
}

/// The client side of one login to an upstream MySQL / MariaDB server.
/// Plugins: mysql_native_password, caching_sha2_password, client_ed25519,
/// and mysql_clear_password over TLS only. Never holds a password in a
/// repr.
#[pyclass(name = "MySqlClientAuth", module = "limen._native")]
pub struct MySqlClientAuth {
    inner: ClientAuth,
    initial: Py<PyBytes>,
}

#[pymethods]
impl MySqlClientAuth {
    /// `plugin` and `scramble` from the upstream's greeting, `tls` whether
    /// the link is encrypted, `server_key` a configured PEM public key.
    #[new]
    #[pyo3(signature = (plugin, scramble, password, *, tls=false, server_key=None))]
    fn new(
        py: Python<'_>,
        plugin: &[u8],
        scramble: &[u8],
        password: &str,
        tls: bool,
        server_key: Option<&[u8]>,
    ) -> PyResult<Self> {
        if scramble.len() < 20 {
            return Err(PyValueError::new_err("scramble shorter than 20 bytes"));
        }
        let (inner, first) =
            ClientAuth::start(plugin, scramble, password.as_bytes(), tls, server_key)
                .map_err(local_err)?;
        Ok(MySqlClientAuth {
            inner,
            initial: bytes(py, &first),
        })
    }

    /// The plugin to name in the HandshakeResponse41.
    #[getter]
    fn plugin(&self, py: Python<'_>) -> Py<PyBytes> {
        bytes(py, self.inner.plugin())
    }

    /// The auth response for the HandshakeResponse41 (a password proof:
    /// never log it).
    #[getter]
    fn initial_response(&self, py: Python<'_>) -> Py<PyBytes> {
        self.initial.clone_ref(py)
    }

    /// Handles one server packet payload of the auth phase; `caps` are the
    /// negotiated capabilities. Returns a `MySqlAuthStep`; raises
    /// MySqlProtocolError when the login fails (an ERR from the server
    /// included: parse it first with `mysql_parse_err` to relay it).
    fn handle(&mut self, py: Python<'_>, payload: &[u8], caps: u64) -> PyResult<Py<PyAny>> {
        match self.inner.on_packet(payload, caps).map_err(proto_err)? {
            AuthStep::Send(b) => Ok(Py::new(
                py,
                AuthSend {
                    data: bytes(py, &b),
                },
            )?
            .into_any()),
            AuthStep::RsaEncrypt {
                public_key_pem,
                plaintext,
            } => Ok(Py::new(
                py,
                AuthRsaEncrypt {
                    public_key_pem: bytes(py, &public_key_pem),
                    plaintext: bytes(py, &plaintext),
                },
            )?
            .into_any()),
            AuthStep::Wait => Ok(Py::new(py, AuthWait)?.into_any()),
            AuthStep::Done { status } => Ok(Py::new(py, AuthDone { status })?.into_any()),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<MySqlClientAuth plugin={}>",
            String::from_utf8_lossy(self.inner.plugin())
        )
    }
}

/// An AuthSwitchRequest payload (limen's server side: move the client to
/// `plugin`, e.g. caching_sha2_password, with `data` as its nonce).
#[pyfunction]
fn mysql_encode_auth_switch(py: Python<'_>, plugin: &[u8], data: &[u8]) -> PyResult<Py<PyBytes>> {
    let mut out = Vec::with_capacity(plugin.len() + data.len() + 2);
    encode_switch(&mut out, plugin, data).map_err(local_err)?;
    Ok(bytes(py, &out))
}

/// An AuthMoreData payload (limen's server side: `b"\x04"` asks a
/// caching_sha2_password client for the full password, a PEM answers its
/// public-key request).
#[pyfunction]
fn mysql_encode_auth_more_data(py: Python<'_>, data: &[u8]) -> Py<PyBytes> {
    let mut out = Vec::with_capacity(data.len() + 1);
    encode_more_data(&mut out, data);
    bytes(py, &out)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mysql_encode_auth_switch, m)?)?;
    m.add_function(wrap_pyfunction!(mysql_encode_auth_more_data, m)?)?;
    m.add_class::<MySqlClientAuth>()?;
    m.add_class::<AuthSend>()?;
    m.add_class::<AuthRsaEncrypt>()?;
    m.add_class::<AuthWait>()?;
    m.add_class::<AuthDone>()?;
    let py = m.py();
    add_union(
        m,
        "MySqlAuthStep",
        &[
            py.get_type::<AuthSend>(),
            py.get_type::<AuthRsaEncrypt>(),
            py.get_type::<AuthWait>(),
            py.get_type::<AuthDone>(),
        ],
    )
}
