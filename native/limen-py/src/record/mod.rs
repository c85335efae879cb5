//! Bindings for `limen-record`: the session log writer, reader, verifier
//! and key helpers. Types are converted here; the format lives in the crate.
//!
//! Payloads: a `bytes` object is borrowed as a slice (and, when large, written
//! straight from it with a vectored write); any other buffer (bytearray,
//! memoryview) is copied once, directly into the writer's batch buffer, while
//! the GIL is held. Only a non-`bytes` buffer larger than `max_record` goes
//! through a temporary copy (it must be split).
use std::fs::OpenOptions;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use limen_pump::{RecordKind, RecordSink};
use limen_record::{FlushPolicy, HeaderFields, Key32, Kind, Source, Writer, WriterConfig};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

mod file;
mod read;

use file::{IoMsg, ThreadedFile, INLINE_DIGESTS};
use read::{
    record_generate_recipient_key, record_generate_signing_key, record_key_id,
    record_recipient_public_key, record_signing_public_key, record_verify, RecordReader,
};

fn to_py(e: limen_record::Error) -> PyErr {
    if e.is_io() {
        PyOSError::new_err(e.to_string())
    } else {
        PyValueError::new_err(e.to_string())
    }
}

fn key32(what: &str, b: &[u8]) -> PyResult<Key32> {
    <[u8; 32]>::try_from(b)
        .map_err(|_| PyValueError::new_err(format!("{what} must be 32 raw bytes, got {}", b.len())))
}

fn kind_of(name: &str) -> PyResult<Kind> {
    Kind::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Kind::APPENDABLE.iter().map(|k| k.name()).collect();
        PyValueError::new_err(format!(
            "unknown record kind {name:?}; one of {}",
            names.join(", ")
        ))
    })
}

/// A Python buffer seen as a [`Source`]: copied whole, straight into the
/// writer's batch buffer.
struct BufSource<'a, 'py> {
    buf: &'a PyBuffer<u8>,
    py: Python<'py>,
}

impl Source for BufSource<'_, '_> {
    fn len(&self) -> usize {
        self.buf.item_count()
    }
    fn copy_to(&self, offset: usize, dst: &mut [u8]) -> bool {
        offset == 0
            && dst.len() == self.buf.item_count()
            && self.buf.copy_to_slice(self.py, dst).is_ok()
    }
    fn contiguous(&self) -> Option<&[u8]> {
        None
    }
}

fn now_unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A session log shared by its Python writer and, while a session is
/// pumped natively, the pump thread (which appends with the GIL released).
pub(crate) struct SharedLog {
    writer: Mutex<Option<Writer<ThreadedFile>>>,
    start: Instant,
}

impl SharedLog {
    fn t_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
}

/// The pump's record sink: appends straight to the shared log.
pub(crate) struct LogSink(pub(crate) Arc<SharedLog>);

impl RecordSink for LogSink {
    fn try_append(&mut self, kind: RecordKind, payload: &[u8]) -> Result<(), String> {
        self.try_append_flagged(kind, payload, false)
    }

    fn try_append_flagged(
        &mut self,
        kind: RecordKind,
        payload: &[u8],
        masked: bool,
    ) -> Result<(), String> {
        let kind = match kind {
            RecordKind::C2u => Kind::ClientToUpstream,
            RecordKind::U2c => Kind::UpstreamToClient,
            RecordKind::Event => Kind::Event,
        };
        let t = self.0.t_us();
        let mut guard = self
            .0
            .writer
            .lock()
            .map_err(|_| "the session log's lock is poisoned".to_owned())?;
        let w = guard
            .as_mut()
            .ok_or_else(|| "the session log is closed".to_owned())?;
        w.try_append_flagged(kind, t, masked, payload)
            .map_err(|e| e.to_string())
    }

    /// The same log, for the pump's worker that masks a huge message: its
    /// record (copy, digests, sealing) is made there, not on the pump
    /// thread every session shares.
    fn detach(&mut self) -> Option<Box<dyn RecordSink + Send>> {
        Some(Box::new(LogSink(Arc::clone(&self.0))))
    }
}

/// Writes one session log (see `limen.recording.SessionWriter`).
///
/// Frozen: every method takes `&self` and the writer lives behind the
/// log's mutex, so no Python-level borrow is held while a method runs with
/// the GIL released. (A `&mut self` flush or close, which release the GIL
/// while they wait for the disk, made any append from another thread in
/// the meantime fail with "Already borrowed": the recording shipper flushes
/// live logs while the native pump's judge callback appends to them.)
#[pyclass(module = "limen._native", frozen)]
pub struct RecordWriter {
    pub(crate) log: Arc<SharedLog>,
    max_record: usize,
    path: String,
}

impl RecordWriter {
    fn lock(&self) -> PyResult<MutexGuard<'_, Option<Writer<ThreadedFile>>>> {
        self.log
            .writer
            .lock()
            .map_err(|_| PyValueError::new_err(format!("session log {}: lock poisoned", self.path)))
    }

    fn closed_err(&self) -> PyErr {
        PyValueError::new_err(format!("session log {} is closed", self.path))
    }

    fn append_one(
        &self,
        py: Python<'_>,
        w: &mut Writer<ThreadedFile>,
        kind: Kind,
        t_us: u64,
        payload: &Bound<'_, PyAny>,
        masked: bool,
    ) -> PyResult<()> {
        if let Ok(b) = payload.cast::<PyBytes>() {
            return w
                .try_append_flagged(kind, t_us, masked, b.as_bytes())
                .map_err(to_py);
        }
        let buf = PyBuffer::<u8>::get(payload).map_err(|_| {
            PyValueError::new_err("payload must be bytes, bytearray or a memoryview of bytes")
        })?;
        if buf.item_count() <= self.max_record {
            w.try_append_flagged(kind, t_us, masked, &BufSource { buf: &buf, py })
                .map_err(to_py)
        } else {
            let v = buf.to_vec(py)?;
            w.try_append_flagged(kind, t_us, masked, &v[..])
                .map_err(to_py)
        }
    }
}

#[pymethods]
impl RecordWriter {
    #[new]
    #[pyo3(signature = (path, *, session_id, identity, resource, protocol, signing_key,
        recipient=None, start_unix_us=None, max_record=1048576, flush_bytes=262144,
        flush_ms=Some(200.0), fsync_each=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        path: &str,
        session_id: &str,
        identity: &str,
        resource: &str,
        protocol: &str,
        signing_key: &[u8],
        recipient: Option<&[u8]>,
        start_unix_us: Option<u64>,
        max_record: u32,
        flush_bytes: usize,
        flush_ms: Option<f64>,
        fsync_each: bool,
    ) -> PyResult<Self> {
        let signing_key = key32("signing_key", signing_key)?;
        let recipient = recipient.map(|r| key32("recipient", r)).transpose()?;
        let interval_us = match flush_ms {
            Some(ms) if !(ms.is_finite() && ms >= 0.0) => {
                return Err(PyValueError::new_err(
                    "flush_ms must be a finite number >= 0",
                ));
            }
            Some(ms) => Some((ms * 1000.0) as u64),
            None => None,
        };
        let cfg = WriterConfig {
            max_record,
            max_batch: max_record.saturating_add(14).max(1 << 20),
            flush: FlushPolicy {
                bytes: flush_bytes,
                interval_us,
                fsync_each,
            },
            // Batches go to the I/O thread; a borrowed payload cannot.
            direct_write_min: usize::MAX,
            // Who hashes (see `ThreadedFile`): the I/O thread links every
            // frame; payload digests are shared for plaintext frames, the
            // I/O thread's alone for sealed batches.
            defer_checksums: true,
            inline_digests: if recipient.is_some() {
                0
            } else {
                INLINE_DIGESTS
            },
        };
        let fields = HeaderFields {
            session_id,
            identity,
            resource,
            protocol,
            start_unix_us: start_unix_us.unwrap_or_else(now_unix_us),
        };
        // Never overwrite: a session log is append-once.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| PyOSError::new_err(format!("cannot create session log {path}: {e}")))?;
        let file = ThreadedFile::try_new(file)
            .map_err(|e| PyOSError::new_err(format!("cannot start the log's I/O thread: {e}")))?;
        let start = Instant::now();
        let mut inner = Writer::try_create(file, &fields, &signing_key, recipient.as_ref(), cfg)
            .map_err(to_py)?;
        if let Some(chainer) = inner.take_chainer() {
            inner
                .sink()
                .send(IoMsg::Start(chainer))
                .map_err(|e| PyOSError::new_err(format!("session log {path}: {e}")))?;
        }
        Ok(RecordWriter {
            log: Arc::new(SharedLog {
                writer: Mutex::new(Some(inner)),
                start,
            }),
            max_record: max_record as usize,
            path: path.to_owned(),
        })
    }

    /// Append one record of `kind` ("c2u", "u2c", "decision", "approval",
    /// "masking", "error", "event"); `payload` is any bytes-like object;
    /// `masked`: it went through limen's masking (the record's MASKED flag).
    #[pyo3(signature = (kind, payload, *, masked=false))]
    fn append(
        &self,
        py: Python<'_>,
        kind: &str,
        payload: &Bound<'_, PyAny>,
        masked: bool,
    ) -> PyResult<()> {
        let kind = kind_of(kind)?;
        let t = self.log.t_us();
        let mut guard = self.lock()?;
        let w = guard.as_mut().ok_or_else(|| self.closed_err())?;
        self.append_one(py, w, kind, t, payload, masked)
    }

    /// Append several records of one kind in one call.
    fn append_many(&self, py: Python<'_>, kind: &str, payloads: &Bound<'_, PyAny>) -> PyResult<()> {
        let kind = kind_of(kind)?;
        let t = self.log.t_us();
        let mut guard = self.lock()?;
        let w = guard.as_mut().ok_or_else(|| self.closed_err())?;
        for p in payloads.try_iter()? {
            self.append_one(py, w, kind, t, &p?, false)?;
        }
        Ok(())
    }

    /// Write pending records now.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let log = &self.log;
        let path = &self.path;
        py.detach(|| {
            let mut guard = log
                .writer
                .lock()
                .map_err(|_| PyValueError::new_err(format!("session log {path}: lock poisoned")))?;
            let w = guard
                .as_mut()
                .ok_or_else(|| PyValueError::new_err(format!("session log {path} is closed")))?;
            w.try_flush().map_err(to_py)?;
            w.sink()
                .try_wait_written()
                .map_err(|e| to_py(limen_record::Error::from(e)))
        })
    }

    /// Write the signed trailer, fsync and close. Returns the counts.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = self.log.t_us();
        let taken = self.lock()?.take();
        let mut w = taken.ok_or_else(|| {
            PyValueError::new_err(format!("session log {} is already closed", self.path))
        })?;
        let s = py.detach(|| w.try_close(t)).map_err(to_py)?;
        let d = PyDict::new(py);
        d.set_item("frames", s.frames)?;
        d.set_item("records", s.records)?;
        d.set_item("payload_bytes", s.payload_bytes)?;
        d.set_item("file_bytes", s.file_bytes)?;
        Ok(d)
    }

    /// Records appended so far (split payloads count each part).
    #[getter]
    fn records(&self) -> PyResult<u64> {
        Ok(self.lock()?.as_ref().map_or(0, |w| w.records()))
    }

    /// True once closed.
    #[getter]
    fn closed(&self) -> PyResult<bool> {
        Ok(self.lock()?.is_none())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RecordWriter>()?;
    m.add_class::<RecordReader>()?;
    m.add_function(wrap_pyfunction!(record_verify, m)?)?;
    m.add_function(wrap_pyfunction!(record_generate_signing_key, m)?)?;
    m.add_function(wrap_pyfunction!(record_signing_public_key, m)?)?;
    m.add_function(wrap_pyfunction!(record_generate_recipient_key, m)?)?;
    m.add_function(wrap_pyfunction!(record_recipient_public_key, m)?)?;
    m.add_function(wrap_pyfunction!(record_key_id, m)?)?;
    Ok(())
}
