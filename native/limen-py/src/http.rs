//! Bindings for `limen_wire::http`: the native HTTP/1.1 head parsers and
//! chunked codec, for the differential tests against the Python reader and
//! h11 (`tests/test_http_native_heads.py`) and, later, the native relay's
//! hand-over. Conversions only; the rules live in the crate.
use limen_wire::http::{
    encode_chunk, encode_last_chunk, find_request_head, find_response_head, hand_back_reason,
    parse_request_head, parse_response_head, write_request_head, write_response_head, BodyFraming,
    ChunkedDecoder, Header, UpstreamHeaders,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

create_exception!(
    _native,
    HttpHeadError,
    PyException,
    "The peer's HTTP head or chunked body is refused (the Python relay refuses it too)."
);

fn refused(e: limen_wire::Error) -> PyErr {
    HttpHeadError::new_err(e.context())
}

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn pairs(headers: &[Header<'_>]) -> Pairs {
    headers
        .iter()
        .map(|h| (h.name.to_vec(), h.value.to_vec()))
        .collect()
}

fn version(v: [u8; 2]) -> Vec<u8> {
    vec![v[0], b'.', v[1]]
}

type RequestTuple = (
    usize,
    usize,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Pairs,
    Option<u128>,
    bool,
    bool,
);

/// The first request head of `buf`: `(start, end, method, target, version,
/// headers, content_length, chunked, keep_alive)`, None while incomplete;
/// HttpHeadError when refused.
#[pyfunction]
fn http_request_head(buf: &[u8], limit: usize) -> PyResult<Option<RequestTuple>> {
    let Some((start, end)) = find_request_head(buf, limit).map_err(refused)? else {
        return Ok(None);
    };
    let r = parse_request_head(&buf[start..end]).map_err(refused)?;
    Ok(Some((
        start,
        end,
        r.method.to_vec(),
        r.target.to_vec(),
        version(r.version),
        pairs(&r.headers),
        r.framing.content_length,
        r.framing.chunked,
        r.keep_alive(),
    )))
}

type ResponseTuple = (
    usize,
    Vec<u8>,
    u16,
    Vec<u8>,
    Pairs,
    &'static str,
    Option<u128>,
    bool,
);

/// The first response head of `buf` to a request made with `method` (and
/// no upgrade asked: a `101` is refused):
/// `(end, version, status, reason, headers, framing, length, keep_alive)`
/// (`framing`: "length", "chunked" or "close"), None while incomplete;
/// HttpHeadError when refused.
#[pyfunction]
fn http_response_head(buf: &[u8], limit: usize, method: &[u8]) -> PyResult<Option<ResponseTuple>> {
    let Some(end) = find_response_head(buf, limit).map_err(refused)? else {
        return Ok(None);
    };
    let r = parse_response_head(&buf[..end]).map_err(refused)?;
    r.check_switch(false).map_err(refused)?;
    let (kind, length) = framing(r.body(method));
    Ok(Some((
        end,
        version(r.version),
        r.status,
        r.reason.to_vec(),
        pairs(&r.headers),
        kind,
        length,
        r.keep_alive(),
    )))
}

/// One chunked body, decoded as it arrives.
#[pyclass(name = "HttpChunkedDecoder", module = "limen._native")]
pub struct HttpChunkedDecoder {
    inner: ChunkedDecoder,
}

#[pymethods]
impl HttpChunkedDecoder {
    /// `limit`: the longest incomplete chunk-size line or trailer held.
    #[new]
    fn new(limit: usize) -> Self {
        HttpChunkedDecoder {
            inner: ChunkedDecoder::new(limit),
        }
    }

    /// `(data, used)`: the body bytes in `data` and how many of its bytes
    /// belong to the body (the rest follows it); HttpHeadError when refused.
    fn decode<'py>(
        &mut self,
        py: Python<'py>,
        data: &[u8],
    ) -> PyResult<(Bound<'py, PyBytes>, usize)> {
        let mut out = Vec::new();
        let used = self.inner.decode(data, &mut out).map_err(refused)?;
        Ok((PyBytes::new(py, &out), used))
    }

    /// The body has ended.
    #[getter]
    fn done(&self) -> bool {
        self.inner.is_done()
    }

    /// Bytes held between calls.
    #[getter]
    fn pending(&self) -> usize {
        self.inner.pending()
    }
}

/// `data` as one chunk, as h11 writes it (empty: nothing).
#[pyfunction]
fn http_encode_chunk<'py>(py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
    let mut out = Vec::with_capacity(data.len() + 12);
    encode_chunk(data, &mut out);
    PyBytes::new(py, &out)
}

/// The last chunk and an empty trailer.
#[pyfunction]
fn http_encode_last_chunk(py: Python<'_>) -> Bound<'_, PyBytes> {
    let mut out = Vec::new();
    encode_last_chunk(&mut out);
    PyBytes::new(py, &out)
}

fn framing(f: BodyFraming) -> (&'static str, Option<u128>) {
    match f {
        BodyFraming::Length(n) => ("length", Some(n)),
        BodyFraming::Chunked => ("chunked", None),
        BodyFraming::UntilClose => ("close", None),
    }
}

/// The upstream request for the client's request head `head` (parsed as
/// `http_request_head` parses it), sent to `target` with the upstream's
/// `host` and `credential` (name, value) header; `masked`: ask for an
/// identity encoding. ValueError for a host or credential h11 would not send.
#[pyfunction]
fn http_upstream_request<'py>(
    py: Python<'py>,
    head: &[u8],
    target: &[u8],
    host: &[u8],
    credential: Option<(Vec<u8>, Vec<u8>)>,
    masked: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let r = parse_request_head(head).map_err(refused)?;
    let cred = credential
        .as_ref()
        .map(|(n, v)| (n.as_slice(), v.as_slice()));
    let adds = UpstreamHeaders::new(host, cred, masked)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let mut out = Vec::with_capacity(head.len() + 64);
    write_request_head(&mut out, &r, target, &adds);
    Ok(PyBytes::new(py, &out))
}

/// The client's response head for the upstream's head `head` (a response
/// to `method`): `(bytes, framing, length)` (framing "length" or
/// "chunked"). `masked`: its body is masked; `length`: the masked body's
/// new length when it was buffered.
#[pyfunction]
fn http_client_response<'py>(
    py: Python<'py>,
    head: &[u8],
    method: &[u8],
    masked: bool,
    length: Option<usize>,
) -> PyResult<(Bound<'py, PyBytes>, &'static str, Option<u128>)> {
    let r = parse_response_head(head).map_err(refused)?;
    let mut out = Vec::with_capacity(head.len() + 32);
    let (kind, n) = framing(write_response_head(&mut out, &r, method, masked, length));
    Ok((PyBytes::new(py, &out), kind, n))
}

/// Why the native relay would hand the request head `head` back to the
/// Python relay (None: it may relay it); HttpHeadError when refused.
#[pyfunction]
fn http_hand_back_reason(head: &[u8]) -> PyResult<Option<&'static str>> {
    let r = parse_request_head(head).map_err(refused)?;
    Ok(hand_back_reason(&r))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("HttpHeadError", m.py().get_type::<HttpHeadError>())?;
    m.add_class::<HttpChunkedDecoder>()?;
    m.add_function(wrap_pyfunction!(http_request_head, m)?)?;
    m.add_function(wrap_pyfunction!(http_response_head, m)?)?;
    m.add_function(wrap_pyfunction!(http_encode_chunk, m)?)?;
    m.add_function(wrap_pyfunction!(http_upstream_request, m)?)?;
    m.add_function(wrap_pyfunction!(http_client_response, m)?)?;
    m.add_function(wrap_pyfunction!(http_hand_back_reason, m)?)?;
    m.add_function(wrap_pyfunction!(http_encode_last_chunk, m)?)?;
    Ok(())
}
