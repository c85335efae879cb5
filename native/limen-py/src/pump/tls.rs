//! Bindings for `limen_pump::tls`: the listener's and the upstream's TLS
//! configurations (from PEM bytes) and `TlsSession`, the sans-IO rustls
//! session that Python drives through the handshake and the login
//! (`limen.gateway.tlsnative.NativeTlsStream`) and the pump then takes.
use std::sync::Arc;

use limen_pump::tls::{self, config::Verify, TlsSession as Session};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

create_exception!(
    _native,
    TlsError,
    PyException,
    "A TLS failure: a bad certificate or key, a failed handshake, a bad record."
);

fn tls_err(e: tls::TlsError) -> PyErr {
    TlsError::new_err(e.0)
}

/// The listener's TLS configuration (certificate chain and key, PEM).
#[pyclass(name = "TlsServerConfig", module = "limen._native", frozen)]
pub struct TlsServerConfig {
    pub(crate) inner: Arc<tls::ServerConfig>,
}

#[pymethods]
impl TlsServerConfig {
    #[new]
    fn new(cert_pem: &[u8], key_pem: &[u8]) -> PyResult<Self> {
        Ok(TlsServerConfig {
            inner: tls::config::server_config(cert_pem, key_pem).map_err(tls_err)?,
        })
    }
}

/// The upstream's TLS configuration: `verify` is "none" (sslmode
/// prefer/require), "ca" (verify-ca) or "full" (verify-full); `roots_pem`
/// the CA certificates for the last two; an optional client certificate.
#[pyclass(name = "TlsClientConfig", module = "limen._native", frozen)]
pub struct TlsClientConfig {
    inner: Arc<tls::ClientConfig>,
}

#[pymethods]
impl TlsClientConfig {
    #[new]
    #[pyo3(signature = (verify, roots_pem=None, cert_pem=None, key_pem=None))]
    fn new(
        verify: &str,
        roots_pem: Option<&[u8]>,
        cert_pem: Option<&[u8]>,
        key_pem: Option<&[u8]>,
    ) -> PyResult<Self> {
        let verify = match verify {
            "none" => Verify::None,
            "ca" => Verify::Ca,
            "full" => Verify::Full,
            _ => return Err(PyValueError::new_err("verify must be none, ca or full")),
        };
        let client = match (cert_pem, key_pem) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(PyValueError::new_err("cert_pem and key_pem go together")),
        };
        Ok(TlsClientConfig {
            inner: tls::config::client_config(verify, roots_pem, client).map_err(tls_err)?,
        })
    }
}

/// One TLS session, driven sans-IO until a pump takes it (see
/// `limen_pump::tls`).
#[pyclass(name = "TlsSession", module = "limen._native", frozen)]
pub struct TlsSession {
    pub(crate) inner: Session,
}

#[pymethods]
impl TlsSession {
    /// The server side of a client's session.
    #[staticmethod]
    fn server(config: PyRef<'_, TlsServerConfig>) -> PyResult<Self> {
        Ok(TlsSession {
            inner: Session::server(&config.inner).map_err(tls_err)?,
        })
    }

    /// The client side of a session to `server_name`.
    #[staticmethod]
    fn client(config: PyRef<'_, TlsClientConfig>, server_name: &str) -> PyResult<Self> {
        Ok(TlsSession {
            inner: Session::client(&config.inner, server_name).map_err(tls_err)?,
        })
    }

    /// Takes in ciphertext from the peer (b"": the peer closed).
    fn feed(&self, data: &[u8]) -> PyResult<()> {
        self.inner.feed(data).map_err(tls_err)
    }

    /// Up to `max_bytes` decrypted bytes (b"": none yet, or the end).
    fn read_plain<'py>(&self, py: Python<'py>, max_bytes: usize) -> PyResult<Bound<'py, PyBytes>> {
        let out = self.inner.read_plain(max_bytes).map_err(tls_err)?;
        Ok(PyBytes::new(py, &out))
    }

    /// Encrypts plaintext for the peer.
    fn write_plain(&self, data: &[u8]) -> PyResult<()> {
        self.inner.write_plain(data).map_err(tls_err)
    }

    /// The ciphertext to send now.
    fn take_tls<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let out = self.inner.take_tls().map_err(tls_err)?;
        Ok(PyBytes::new(py, &out))
    }

    /// Queues close_notify.
    fn close(&self) -> PyResult<()> {
        self.inner.close().map_err(tls_err)
    }

    /// True until the handshake is complete.
    #[getter]
    fn handshaking(&self) -> PyResult<bool> {
        self.inner.handshaking().map_err(tls_err)
    }

    /// True once the peer closed and every decrypted byte was read.
    #[getter]
    fn peer_closed(&self) -> PyResult<bool> {
        self.inner.peer_closed().map_err(tls_err)
    }

    /// The negotiated version ("TLSv1_3", ...), None while handshaking.
    #[getter]
    fn version(&self) -> PyResult<Option<String>> {
        self.inner.version().map_err(tls_err)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("TlsError", m.py().get_type::<TlsError>())?;
    m.add_class::<TlsServerConfig>()?;
    m.add_class::<TlsClientConfig>()?;
    m.add_class::<TlsSession>()?;
    Ok(())
}
