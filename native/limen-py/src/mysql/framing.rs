//! Packet framing: `MySqlPacketDecoder` and `mysql_packet`.
use limen_wire::mysql::caps::GATEWAY_SUPPORTED;
use limen_wire::mysql::{write_packet, Limits, PacketDecoder};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyList};

use super::proto_err;
use crate::wire::bytes;

/// One logical packet (continuations joined).
#[pyclass(frozen, get_all, name = "MySqlPacket", module = "limen._native")]
pub struct MySqlPacket {
    /// Every physical packet as received: forward this untouched.
    raw: Py<PyBytes>,
    payload: Py<PyBytes>,
    /// Sequence id of the first physical packet.
    seq: u8,
    /// Sequence id of the last physical packet.
    last_seq: u8,
}

/// One direction of a MySQL connection: frames the stream into packets,
/// checks sequence ids and size caps.
#[pyclass(name = "MySqlPacketDecoder", module = "limen._native")]
pub struct MySqlPacketDecoder {
    inner: PacketDecoder,
}

#[pymethods]
impl MySqlPacketDecoder {
    #[new]
    #[pyo3(signature = (*, max_packet_size=64 << 20, max_unauthenticated_size=64 << 10, max_chunk=1 << 20))]
    fn new(max_packet_size: usize, max_unauthenticated_size: usize, max_chunk: usize) -> Self {
        MySqlPacketDecoder {
            inner: PacketDecoder::new(Limits {
                max_packet_size,
                max_chunk,
                max_unauthenticated_size,
            }),
        }
    }

    /// Feeds one chunk; returns the complete packets.
    fn feed<'py>(&mut self, py: Python<'py>, chunk: PyBackedBytes) -> PyResult<Bound<'py, PyList>> {
        self.inner.receive_data(&chunk).map_err(proto_err)?;
        let out = PyList::empty(py);
        while let Some(p) = self.inner.next_packet().map_err(proto_err)? {
            let packet = MySqlPacket {
                raw: bytes(py, p.raw()),
                payload: bytes(py, p.payload()),
                seq: p.seq(),
                last_seq: p.last_seq(),
            };
            out.append(Py::new(py, packet)?)?;
        }
        Ok(out)
    }

    /// The next packet must carry `seq` (0 at the start of a command).
    fn set_sequence(&mut self, seq: u8) {
        self.inner.set_sequence(seq);
    }

    /// Stops checking sequence ids.
    fn ignore_sequence(&mut self) {
        self.inner.ignore_sequence();
    }

    /// The id the next packet must carry, if checked.
    #[getter]
    fn sequence(&self) -> Option<u8> {
        self.inner.sequence()
    }

    /// Once the peer is authenticated (lifts the pre-auth size cap).
    fn set_authenticated(&mut self) {
        self.inner.set_authenticated();
    }

    /// Bytes received but not decoded (e.g. a TLS ClientHello that came in
    /// the same read as the SSLRequest): hand them to the TLS layer.
    fn take_pending(&mut self, py: Python<'_>) -> Py<PyBytes> {
        bytes(py, &self.inner.take_pending())
    }
}

/// A payload framed as packets (split at 16 MiB), and the sequence id the
/// next packet of this exchange carries.
#[pyclass(frozen, get_all, name = "MySqlFramed", module = "limen._native")]
pub struct MySqlFramed {
    data: Py<PyBytes>,
    next_seq: u8,
}

/// Frames `payload` starting at sequence id `seq`.
#[pyfunction]
#[pyo3(signature = (seq, payload, *, max_payload=64 << 20))]
fn mysql_packet(
    py: Python<'_>,
    seq: u8,
    payload: &[u8],
    max_payload: usize,
) -> PyResult<MySqlFramed> {
    if payload.len() > max_payload {
        return Err(PyValueError::new_err(
            "mysql_packet: payload over max_payload",
        ));
    }
    let mut out = Vec::with_capacity(payload.len() + 4);
    let next_seq = write_packet(&mut out, seq, payload);
    Ok(MySqlFramed {
        data: bytes(py, &out),
        next_seq,
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MySqlPacket>()?;
    m.add_class::<MySqlPacketDecoder>()?;
    m.add_class::<MySqlFramed>()?;
    m.add_function(wrap_pyfunction!(mysql_packet, m)?)?;
    m.add("MYSQL_GATEWAY_CAPABILITIES", GATEWAY_SUPPORTED)?;
    Ok(())
}
