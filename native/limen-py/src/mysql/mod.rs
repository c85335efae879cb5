//! Bindings for `limen-wire`'s MySQL / MariaDB protocol (`limen_wire::mysql`),
//! the pieces the MySQL driver builds on. Same conventions as [`crate::wire`]:
//! one frozen class per packet or step kind, unions named in the stub, no
//! positional tuples.
//!
//! - [`framing`]: `MySqlPacketDecoder` (bytes in, `MySqlPacket`s out, caps
//!   and sequence ids checked) and `mysql_packet` (framing out).
//! - [`handshake`]: `MySqlHandshakeV10` (parse and encode: limen is the
//!   server to its clients and the client of the upstream),
//!   `mysql_parse_client_hello` (`MySqlSslRequest | MySqlHandshakeResponse41`)
//!   and `mysql_encode_handshake_response`.
//! - [`command`]: `mysql_parse_command`, one class per command kind.
//! - [`generic`]: OK / ERR / EOF parse and encode.
//! - [`auth`]: `MySqlClientAuth`, limen's upstream login, typed steps.
//! - [`relay`]: `MySqlServerRelay`, the upstream's responses masked for the
//!   client (`MySqlColumnPlan`, `MySqlExpect`; the relay events in
//!   `relay_events.rs`).
//! - [`shape`]: `mysql_shape_constants`, the shape lexer's constants.
//!
//! Any peer protocol error raises `MySqlProtocolError` (close that
//! connection); a bad local argument raises `ValueError`.
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

pub(crate) mod auth;
pub(crate) mod command;
pub(crate) mod framing;
pub(crate) mod generic;
pub(crate) mod handshake;
pub(crate) mod relay;
mod relay_events;
pub(crate) mod shape;

create_exception!(
    _native,
    MySqlProtocolError,
    PyException,
    "The peer broke the MySQL protocol (or sent a packet over the cap): close that connection."
);

pub(crate) fn proto_err(e: limen_wire::Error) -> PyErr {
    MySqlProtocolError::new_err(e.to_string())
}

pub(crate) fn local_err(e: limen_wire::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add(
        "MySqlProtocolError",
        m.py().get_type::<MySqlProtocolError>(),
    )?;
    framing::register(m)?;
    handshake::register(m)?;
    command::register(m)?;
    generic::register(m)?;
    auth::register(m)?;
    relay::register(m)?;
    shape::register(m)?;
    Ok(())
}
