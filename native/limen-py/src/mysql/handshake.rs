//! The connection phase's first packets: HandshakeV10 (parse and encode),
//! SSLRequest / HandshakeResponse41 (parse and encode).
use limen_wire::mysql::handshake::{attributes_from, encode_attributes};
use limen_wire::mysql::{ClientHello, HandshakeResponse41, HandshakeV10, SslRequest};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::{local_err, proto_err};
use crate::wire::{add_union, bytes};

/// The server's greeting (HandshakeV10). limen encodes one for its clients
/// and parses the upstream's.
#[pyclass(frozen, get_all, name = "MySqlHandshakeV10", module = "limen._native")]
pub struct MySqlHandshakeV10 {
    server_version: Py<PyBytes>,
    connection_id: u32,
    /// The whole nonce (20 bytes from real servers).
    scramble: Py<PyBytes>,
    /// MariaDB's extended capabilities in the high 32 bits.
    capabilities: u64,
    collation: u8,
    status: u16,
    auth_plugin: Py<PyBytes>,
}

#[pymethods]
impl MySqlHandshakeV10 {
    #[new]
    #[pyo3(signature = (*, server_version, connection_id, scramble, capabilities, collation, status, auth_plugin))]
    fn new(
        server_version: Py<PyBytes>,
        connection_id: u32,
        scramble: Py<PyBytes>,
        capabilities: u64,
        collation: u8,
        status: u16,
        auth_plugin: Py<PyBytes>,
    ) -> Self {
        MySqlHandshakeV10 {
            server_version,
            connection_id,
            scramble,
            capabilities,
            collation,
            status,
            auth_plugin,
        }
    }

    /// Parses the payload of the server's first packet.
    #[staticmethod]
    fn parse(py: Python<'_>, payload: &[u8]) -> PyResult<Self> {
        let h = HandshakeV10::try_parse(payload).map_err(proto_err)?;
        Ok(MySqlHandshakeV10 {
            server_version: bytes(py, h.server_version),
            connection_id: h.connection_id,
            scramble: bytes(py, &h.scramble),
            capabilities: h.capabilities,
            collation: h.collation,
            status: h.status,
            auth_plugin: bytes(py, h.auth_plugin),
        })
    }

    /// The payload (frame it with `mysql_packet(0, ...)`).
    fn encode(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        let h = HandshakeV10 {
            server_version: self.server_version.as_bytes(py),
            connection_id: self.connection_id,
            scramble: self.scramble.as_bytes(py).to_vec(),
            capabilities: self.capabilities,
            collation: self.collation,
            status: self.status,
            auth_plugin: self.auth_plugin.as_bytes(py),
        };
        let mut out = Vec::new();
        h.try_encode(&mut out).map_err(local_err)?;
        Ok(bytes(py, &out))
    }
}

/// The client asks for TLS (start it, then read the HandshakeResponse41).
#[pyclass(frozen, get_all, name = "MySqlSslRequest", module = "limen._native")]
pub struct MySqlSslRequest {
    capabilities: u64,
    max_packet_size: u32,
    collation: u8,
}

/// The client's answer to the greeting. `auth_response` is a password proof
/// (or, for mysql_clear_password, the password): never log it.
#[pyclass(
    frozen,
    get_all,
    name = "MySqlHandshakeResponse41",
    module = "limen._native"
)]
pub struct MySqlHandshakeResponse41 {
    capabilities: u64,
    max_packet_size: u32,
    collation: u8,
    username: Py<PyBytes>,
    auth_response: Py<PyBytes>,
    database: Option<Py<PyBytes>>,
    auth_plugin: Option<Py<PyBytes>>,
    /// Connection attributes (key to value), when sent.
    attributes: Option<Py<PyDict>>,
}

/// Parses the client's first packet (or, after TLS, its second).
#[pyfunction]
fn mysql_parse_client_hello(py: Python<'_>, payload: &[u8]) -> PyResult<Py<PyAny>> {
    match ClientHello::try_parse(payload).map_err(proto_err)? {
        ClientHello::Ssl(s) => Ok(Py::new(
            py,
            MySqlSslRequest {
                capabilities: s.capabilities,
                max_packet_size: s.max_packet_size,
                collation: s.collation,
            },
        )?
        .into_any()),
        ClientHello::Response(r) => {
            let attributes = match r.attributes {
                Some(a) => {
                    let d = PyDict::new(py);
                    for (k, v) in a.iter() {
                        d.set_item(PyBytes::new(py, k), PyBytes::new(py, v))?;
                    }
                    Some(d.unbind())
                }
                None => None,
            };
            let resp = MySqlHandshakeResponse41 {
                capabilities: r.head.capabilities,
                max_packet_size: r.head.max_packet_size,
                collation: r.head.collation,
                username: bytes(py, r.username),
                auth_response: bytes(py, r.auth_response),
                database: r.database.map(|d| bytes(py, d)),
                auth_plugin: r.auth_plugin.map(|p| bytes(py, p)),
                attributes,
            };
            Ok(Py::new(py, resp)?.into_any())
        }
    }
}

/// Encodes an SSLRequest payload (limen asking the upstream for TLS).
#[pyfunction]
#[pyo3(signature = (*, capabilities, max_packet_size, collation))]
fn mysql_encode_ssl_request(
    py: Python<'_>,
    capabilities: u64,
    max_packet_size: u32,
    collation: u8,
) -> Py<PyBytes> {
    let mut out = Vec::with_capacity(32);
    SslRequest {
        capabilities,
        max_packet_size,
        collation,
    }
    .encode(&mut out);
    bytes(py, &out)
}

/// Encodes a HandshakeResponse41 payload (limen logging in upstream); the
/// fields are written as `capabilities` say.
#[pyfunction]
#[pyo3(signature = (*, capabilities, max_packet_size, collation, username, auth_response, database=None, auth_plugin=None, attributes=None))]
#[allow(clippy::too_many_arguments)]
fn mysql_encode_handshake_response(
    py: Python<'_>,
    capabilities: u64,
    max_packet_size: u32,
    collation: u8,
    username: &[u8],
    auth_response: &[u8],
    database: Option<&[u8]>,
    auth_plugin: Option<&[u8]>,
    attributes: Option<Vec<(Vec<u8>, Vec<u8>)>>,
) -> PyResult<Py<PyBytes>> {
    let raw_attrs = attributes.map(|pairs| {
        let refs: Vec<(&[u8], &[u8])> = pairs
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        encode_attributes(&refs)
    });
    let attrs = match &raw_attrs {
        Some(raw) => Some(attributes_from(raw).map_err(local_err)?),
        None => None,
    };
    let r = HandshakeResponse41 {
        head: SslRequest {
            capabilities,
            max_packet_size,
            collation,
        },
        username,
        auth_response,
        database,
        auth_plugin,
        attributes: attrs,
        zstd_level: None,
    };
    let mut out = Vec::new();
    r.try_encode(&mut out).map_err(local_err)?;
    Ok(bytes(py, &out))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MySqlHandshakeV10>()?;
    m.add_class::<MySqlSslRequest>()?;
    m.add_class::<MySqlHandshakeResponse41>()?;
    m.add_function(wrap_pyfunction!(mysql_parse_client_hello, m)?)?;
    m.add_function(wrap_pyfunction!(mysql_encode_ssl_request, m)?)?;
    m.add_function(wrap_pyfunction!(mysql_encode_handshake_response, m)?)?;
    let py = m.py();
    add_union(
        m,
        "MySqlClientHello",
        &[
            py.get_type::<MySqlSslRequest>(),
            py.get_type::<MySqlHandshakeResponse41>(),
        ],
    )
}
