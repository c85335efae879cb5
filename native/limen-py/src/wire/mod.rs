//! Bindings for `limen-wire` (PostgreSQL): the gateway's hot path.
//!
//! - [`relay::PgServerRelay`]: `limen_wire::pg::ServerRelay` with the
//!   masker: one call per chunk received from the upstream frames every
//!   message, masks DataRow values (content, and `column:table.column`
//!   rules through a table-OID map the caller supplies) and CopyData,
//!   rewrites lengths, and returns the bytes to forward plus the few small
//!   events Python acts on, one frozen class per kind ([`events`]). Python
//!   never sees row bytes.
//! - [`decoder::PgClientDecoder`]: frames the client's stream and returns
//!   each message as a frozen class per kind ([`messages`]) with its raw
//!   bytes (to forward untouched) and the fields policy needs.
//! - [`auth::PgUpstreamAuth`]: the SCRAM-SHA-256 / md5 / cleartext client
//!   state machine for the gateway's own login upstream.
//! - [`encode`]: encoders for the messages the gateway writes itself.
//!
//! Any peer protocol error raises `PgProtocolError` (close that connection).
use limen_mask::Masker;
use limen_wire::pg::{ContentMasker, Limits};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};

pub(crate) mod auth;
pub(crate) mod decoder;
pub(crate) mod encode;
pub(crate) mod events;
pub(crate) mod messages;
pub(crate) mod relay;

pub(crate) use decoder::PgClientDecoder;
pub(crate) use relay::PgServerRelay;

create_exception!(
    _native,
    PgProtocolError,
    PyException,
    "The peer broke the PostgreSQL protocol (or sent a message over the cap): close that connection."
);

pub(crate) fn proto_err(e: limen_wire::Error) -> PyErr {
    PgProtocolError::new_err(e.to_string())
}

pub(crate) fn local_err(e: limen_wire::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

pub(crate) fn limits(max_message_size: usize) -> Limits {
    Limits {
        max_message_size,
        ..Limits::default()
    }
}

/// `limen-mask`'s masker as the relay's content masker.
pub(crate) struct MaskAdapter(pub(crate) Masker);

impl ContentMasker for MaskAdapter {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        self.0.mask_into(value, out)
    }
}

pub(crate) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Adds `name` to the module: the union (`A | B | ...`, a
/// `types.UnionType`) of these classes, as the stub declares it, so that
/// Python can `isinstance` against it and read its members.
pub(crate) fn add_union(
    m: &Bound<'_, PyModule>,
    name: &str,
    types: &[Bound<'_, PyType>],
) -> PyResult<()> {
    let mut it = types.iter();
    let Some(first) = it.next() else {
        return Err(PyValueError::new_err("an empty union"));
    };
    let mut union = first.clone().into_any();
    for t in it {
        union = union.bitor(t)?;
    }
    m.add(name, union)
}

pub(crate) fn bytes(py: Python<'_>, b: &[u8]) -> Py<PyBytes> {
    PyBytes::new(py, b).unbind()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PgProtocolError", m.py().get_type::<PgProtocolError>())?;
    m.add_class::<PgServerRelay>()?;
    m.add_class::<PgClientDecoder>()?;
    messages::register(m)?;
    events::register(m)?;
    auth::register(m)?;
    encode::register(m)?;
    Ok(())
}
