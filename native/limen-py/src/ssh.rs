//! Bindings for `limen_wire::ssh`: `SshGcm`, one direction of an SSH
//! transport under AES-GCM (the packetizer in
//! `limen/gateway/ssh/packets.py` seals and opens every packet with it).
//! Conversions only; the packet format lives in the crate.
//!
//! Copies: `seal` writes the payload once, straight into the `bytes` it
//! returns, and encrypts it there; `open` copies the packet once into a
//! buffer the object keeps, decrypts it there and copies the payload out;
//! `open_message` does the same for a whole packet and, for channel data,
//! copies out only the data.

use limen_wire::ssh::{channel_data, Gcm, SshError, MAX_PACKET, MAX_SEAL_PADDING};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Packets this large are decrypted (runs of channel data this large
/// sealed) with the GIL released.
const DETACH_AT: usize = 64 * 1024;
/// Random padding bytes fetched from the OS at once.
const POOL: usize = 4096;

fn err(e: SshError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A C-contiguous byte buffer (bytes, bytearray, memoryview).
fn buffer(obj: &Bound<'_, PyAny>) -> PyResult<PyBuffer<u8>> {
    let buf = PyBuffer::<u8>::get(obj)
        .map_err(|_| PyTypeError::new_err("expected bytes, bytearray or memoryview"))?;
    if !buf.is_c_contiguous() {
        return Err(PyTypeError::new_err("expected a contiguous buffer"));
    }
    Ok(buf)
}

/// One direction of an SSH transport under AES-GCM: key, nonce, counter.
#[pyclass(name = "SshGcm", module = "limen._native")]
pub struct SshGcm {
    inner: Gcm,
    pool: Vec<u8>,
    used: usize,
    buf: Vec<u8>,
}

impl SshGcm {
    /// `n` random padding bytes, from the pool (refilled when spent).
    fn padding(&mut self, n: usize) -> PyResult<Vec<u8>> {
        let random = |buf: &mut [u8]| {
            getrandom::fill(buf).map_err(|_| PyValueError::new_err("the OS random source failed"))
        };
        if n > self.pool.len() {
            let mut own = vec![0u8; n];
            random(&mut own)?;
            return Ok(own);
        }
        if self.used + n > self.pool.len() {
            random(&mut self.pool)?;
            self.used = 0;
        }
        let start = self.used;
        self.used += n;
        Ok(self.pool[start..start + n].to_vec())
    }
}

#[pymethods]
impl SshGcm {
    /// `key`: 16 bytes (aes128-gcm) or 32 (aes256-gcm); `iv`: the 12 bytes
    /// of the key exchange.
    #[new]
    fn new(key: &[u8], iv: &[u8]) -> PyResult<Self> {
        Ok(SshGcm {
            inner: Gcm::new(key, iv).map_err(err)?,
            pool: vec![0u8; POOL],
            used: POOL,
            buf: Vec::new(),
        })
    }

    /// Bytes to read after the 4 length bytes `first` (the packet and its
    /// tag); ValueError when the length is not whole blocks or over `cap`.
    #[staticmethod]
    fn body_len(first: &[u8], cap: usize) -> PyResult<usize> {
        let first: [u8; 4] = first
            .try_into()
            .map_err(|_| PyValueError::new_err("the SSH packet length is 4 bytes"))?;
        Gcm::body_len(first, cap).map_err(err)
    }

    /// The packet on the wire for the payload `prefix ++ data`.
    fn seal<'py>(
        &mut self,
        py: Python<'py>,
        prefix: &[u8],
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let buf = buffer(data)?;
        let len = prefix.len() + buf.item_count();
        let pad = self.padding(MAX_SEAL_PADDING)?;
        let inner = &mut self.inner;
        PyBytes::new_with(py, Gcm::sealed_len(len), |out| {
            out[5..5 + prefix.len()].copy_from_slice(prefix);
            buf.copy_to_slice(py, &mut out[5 + prefix.len()..5 + len])?;
            inner.seal_in_place(len, &pad, out).map_err(err)
        })
    }

    /// `SSH_MSG_CHANNEL_DATA` packets (`SSH_MSG_CHANNEL_EXTENDED_DATA` of
    /// type `ext`) to the channel `chanid` for `data[offset:offset +
    /// length]`, `chunk` bytes each: the wire bytes and how many packets.
    /// The caller took the channel's window for all of it.
    #[pyo3(signature = (chanid, ext, data, offset, length, chunk))]
    #[allow(clippy::too_many_arguments)]
    fn seal_data<'py>(
        &mut self,
        py: Python<'py>,
        chanid: u32,
        ext: Option<u32>,
        data: &Bound<'py, PyAny>,
        offset: usize,
        length: usize,
        chunk: usize,
    ) -> PyResult<(Bound<'py, PyBytes>, usize)> {
        let owned;
        let whole: &[u8] = if let Ok(b) = data.cast::<PyBytes>() {
            b.as_bytes()
        } else {
            owned = buffer(data)?.to_vec(py)?;
            &owned
        };
        let end = offset
            .checked_add(length)
            .filter(|&e| e <= whole.len() && length > 0 && chunk > 0)
            .ok_or_else(|| err(SshError::BadBuffer))?;
        let piece = &whole[offset..end];
        let pad = self.padding(piece.len().div_ceil(chunk) * MAX_SEAL_PADDING)?;
        let inner = &mut self.inner;
        let mut count = 0;
        let out = PyBytes::new_with(
            py,
            Gcm::sealed_data_len(ext.is_some(), length, chunk),
            |out| {
                // The new bytes object is no one else's yet, and `piece`
                // lies in an immutable one the caller holds: a large run is
                // sealed without the GIL.
                let mut seal = move || inner.seal_data_into(chanid, ext, piece, chunk, &pad, out);
                count = if length >= DETACH_AT {
                    py.detach(seal)
                } else {
                    seal()
                }
                .map_err(err)?;
                Ok(())
            },
        )?;
        Ok((out, count))
    }

    /// Opens the packet whose 4 length bytes are `first` and the rest
    /// `body` (exactly `body_len(first)` bytes): its payload, message
    /// number first. ValueError when it does not authenticate or its
    /// padding is out of range.
    fn open<'py>(
        &mut self,
        py: Python<'py>,
        first: &[u8],
        body: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let first: [u8; 4] = first
            .try_into()
            .map_err(|_| PyValueError::new_err("the SSH packet length is 4 bytes"))?;
        let src = buffer(body)?;
        let n = src.item_count();
        if n != Gcm::body_len(first, usize::MAX).map_err(err)? {
            return Err(err(SshError::BadBuffer));
        }
        self.buf.clear();
        self.buf.resize(n, 0);
        src.copy_to_slice(py, &mut self.buf)?;
        let (inner, buf) = (&mut self.inner, self.buf.as_mut_slice());
        let payload = if n >= DETACH_AT {
            py.detach(move || inner.open_in_place(first, buf))
        } else {
            inner.open_in_place(first, buf)
        }
        .map_err(err)?;
        Ok(PyBytes::new(py, payload))
    }

    /// Opens one whole packet (its 4 length bytes, then exactly
    /// `body_len` bytes). With `parse`, a well-formed channel data or
    /// extended data message comes back as `(number, chanid, ext, data)`
    /// (`ext` None for plain data; `data` only the data, the one copy out);
    /// any other message, or any message without `parse`, as `(number,
    /// None, None, payload)` with the payload whole (message number
    /// first). ValueError as `open`.
    #[allow(clippy::type_complexity)]
    fn open_message<'py>(
        &mut self,
        py: Python<'py>,
        packet: &Bound<'py, PyAny>,
        parse: bool,
    ) -> PyResult<(u8, Option<u32>, Option<u32>, Bound<'py, PyBytes>)> {
        let src = buffer(packet)?;
        let n = src.item_count();
        if !(4 + 16..=4 + MAX_PACKET + 16).contains(&n) {
            return Err(err(SshError::BadBuffer));
        }
        self.buf.clear();
        self.buf.resize(n, 0);
        src.copy_to_slice(py, &mut self.buf)?;
        let (first, body) = self.buf.split_at_mut(4);
        let first: [u8; 4] = [first[0], first[1], first[2], first[3]];
        let inner = &mut self.inner;
        let payload = if n >= DETACH_AT {
            py.detach(move || inner.open_in_place(first, body))
        } else {
            inner.open_in_place(first, body)
        }
        .map_err(err)?;
        let number = payload
            .first()
            .copied()
            .ok_or_else(|| err(SshError::BadPadding))?;
        if parse {
            if let Some(found) = channel_data(payload) {
                let data = payload
                    .get(found.data)
                    .ok_or_else(|| err(SshError::BadBuffer))?;
                return Ok((
                    number,
                    Some(found.chanid),
                    found.ext,
                    PyBytes::new(py, data),
                ));
            }
        }
        Ok((number, None, None, PyBytes::new(py, payload)))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SshGcm>()?;
    Ok(())
}
