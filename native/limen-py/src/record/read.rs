//! Reading and verifying logs, and the key helpers, for Python.

use std::fs::File;

use limen_record::{Ending, Header, ReaderLimits, Records, Status};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::{key32, to_py};

pub(super) fn header_dict<'py>(py: Python<'py>, h: &Header) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("version", h.version)?;
    d.set_item("encrypted", h.encrypted)?;
    d.set_item("start_unix_us", h.start_unix_us)?;
    d.set_item("max_record", h.max_record)?;
    d.set_item("session_id", &h.session_id)?;
    d.set_item("identity", &h.identity)?;
    d.set_item("resource", &h.resource)?;
    d.set_item("protocol", &h.protocol)?;
    d.set_item("signing_public_key", PyBytes::new(py, &h.signing_public))?;
    d.set_item(
        "signing_key_id",
        limen_record::key_id_hex(&h.signing_public),
    )?;
    if h.encrypted {
        d.set_item(
            "recipient_public_key",
            PyBytes::new(py, &h.recipient_public),
        )?;
        d.set_item(
            "recipient_key_id",
            limen_record::key_id_hex(&h.recipient_public),
        )?;
    } else {
        d.set_item("recipient_public_key", py.None())?;
        d.set_item("recipient_key_id", py.None())?;
    }
    Ok(d)
}

pub(super) fn open_file(path: &str) -> PyResult<File> {
    File::open(path).map_err(|e| PyOSError::new_err(format!("cannot open session log {path}: {e}")))
}

/// `(seq, t_us, kind, payload, masked)` as the reader yields it.
type RecordTuple<'py> = (u64, u64, &'static str, Bound<'py, PyBytes>, bool);

/// Iterates the records of a log as `(seq, t_us, kind, payload, masked)`.
#[pyclass(module = "limen._native")]
pub struct RecordReader {
    inner: Records<File>,
}

#[pymethods]
impl RecordReader {
    #[new]
    #[pyo3(signature = (path, key=None, public_key=None, max_message=268435456))]
    fn new(
        path: &str,
        key: Option<&[u8]>,
        public_key: Option<&[u8]>,
        max_message: usize,
    ) -> PyResult<Self> {
        let key = key.map(|k| key32("key", k)).transpose()?;
        let pk = public_key.map(|k| key32("public_key", k)).transpose()?;
        let limits = ReaderLimits {
            max_message,
            ..ReaderLimits::default()
        };
        let inner = Records::try_open(open_file(path)?, key.as_ref(), pk.as_ref(), &limits)
            .map_err(to_py)?;
        Ok(RecordReader { inner })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<RecordTuple<'py>>> {
        match self.inner.try_next().map_err(to_py)? {
            Some(r) => Ok(Some((
                r.seq,
                r.t_us,
                r.kind.name(),
                PyBytes::new(py, &r.payload),
                r.masked,
            ))),
            None => Ok(None),
        }
    }

    /// The log's header fields.
    fn header<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        header_dict(py, self.inner.header())
    }

    /// "intact" or "truncated" once iteration ended, else None.
    fn ending(&self) -> Option<&'static str> {
        match self.inner.ending() {
            Some(Ending::Intact) => Some("intact"),
            Some(Ending::Truncated { .. }) => Some("truncated"),
            None => None,
        }
    }
}

/// Verify a log file; `public_key` None checks integrity only.
#[pyfunction]
#[pyo3(signature = (path, public_key=None))]
pub(super) fn record_verify<'py>(
    py: Python<'py>,
    path: &str,
    public_key: Option<&[u8]>,
) -> PyResult<Bound<'py, PyDict>> {
    let pk = public_key.map(|k| key32("public_key", k)).transpose()?;
    let file = open_file(path)?;
    let rep = py
        .detach(|| limen_record::try_verify(file, pk.as_ref(), &ReaderLimits::default()))
        .map_err(to_py)?;
    let d = PyDict::new(py);
    let status = match rep.status {
        Status::Intact => "intact",
        Status::Truncated => "truncated",
        Status::Tampered => "tampered",
    };
    d.set_item("status", status)?;
    d.set_item("first_bad", rep.first_bad)?;
    d.set_item("offset", rep.offset)?;
    d.set_item("code", rep.problem.as_ref().map(|p| p.code()))?;
    d.set_item("reason", rep.problem.as_ref().map(|p| p.to_string()))?;
    d.set_item("frames", rep.frames)?;
    d.set_item("records", rep.records)?;
    d.set_item("payload_bytes", rep.payload_bytes)?;
    d.set_item("authenticated", rep.authenticated)?;
    match &rep.header {
        Some(h) => d.set_item("header", header_dict(py, h)?)?,
        None => d.set_item("header", py.None())?,
    }
    Ok(d)
}

/// A fresh Ed25519 signing key (32 raw bytes).
#[pyfunction]
pub(super) fn record_generate_signing_key<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
    let k = limen_record::try_generate_signing_key().map_err(to_py)?;
    Ok(PyBytes::new(py, &k))
}

/// The Ed25519 public key of a signing key.
#[pyfunction]
pub(super) fn record_signing_public_key<'py>(
    py: Python<'py>,
    signing_key: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let k = key32("signing_key", signing_key)?;
    Ok(PyBytes::new(py, &limen_record::signing_public_key(&k)))
}

/// A fresh X25519 recipient key pair `(private, public)`.
#[pyfunction]
pub(super) fn record_generate_recipient_key<'py>(
    py: Python<'py>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let (private, public) = limen_record::try_generate_recipient_key().map_err(to_py)?;
    Ok((PyBytes::new(py, &private), PyBytes::new(py, &public)))
}

/// The X25519 public key of a recipient private key.
#[pyfunction]
pub(super) fn record_recipient_public_key<'py>(
    py: Python<'py>,
    private_key: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let k = key32("private_key", private_key)?;
    Ok(PyBytes::new(py, &limen_record::recipient_public_key(&k)))
}

/// The short id (16 hex digits) of a public key.
#[pyfunction]
pub(super) fn record_key_id(public_key: &[u8]) -> PyResult<String> {
    Ok(limen_record::key_id_hex(&key32("public_key", public_key)?))
}
