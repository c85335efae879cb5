//! The client side of a session: frames the client's stream.
use limen_wire::pg::frontend::AuthContext;
use limen_wire::pg::{FrontendDecoder, Limits};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyList;

use super::messages::client_message;
use super::{local_err, proto_err};

/// The client side of a session: frames the client's stream.
#[pyclass(name = "PgClientDecoder", module = "limen._native")]
pub struct PgClientDecoder {
    pub(crate) decoder: FrontendDecoder,
}

impl PgClientDecoder {
    /// Hands the decoder (and the bytes it still buffers) to a pump or a
    /// client core, leaving a fresh one behind.
    pub(crate) fn take(&mut self) -> FrontendDecoder {
        let limits = *self.decoder.limits();
        std::mem::replace(&mut self.decoder, FrontendDecoder::new(limits))
    }
}

#[pymethods]
impl PgClientDecoder {
    #[new]
    #[pyo3(signature = (max_message_size=Limits::DEFAULT_MAX_MESSAGE_SIZE, max_unauthenticated_size=Limits::DEFAULT_MAX_UNAUTHENTICATED_SIZE))]
    fn new(max_message_size: usize, max_unauthenticated_size: usize) -> Self {
        let limits = Limits {
            max_message_size,
            max_unauthenticated_size,
            ..Limits::default()
        };
        PgClientDecoder {
            decoder: FrontendDecoder::new(limits),
        }
    }

    /// After answering SSLRequest/GSSENCRequest (and the TLS handshake).
    fn resume_startup(&mut self) -> PyResult<()> {
        self.decoder.resume_startup().map_err(local_err)
    }

    /// After AuthenticationCleartextPassword: the next 'p' is a password.
    fn expect_password(&mut self) {
        self.decoder.set_auth_context(AuthContext::Password);
    }

    /// Once the client is authenticated (lifts the pre-auth size cap).
    fn set_authenticated(&mut self) {
        self.decoder.set_auth_context(AuthContext::None);
        self.decoder.set_authenticated();
    }

    /// Feeds one chunk; returns the complete messages, one frozen class per
    /// kind (`limen._native.ClientMessage`), each with its raw bytes.
    fn feed<'py>(&mut self, py: Python<'py>, chunk: PyBackedBytes) -> PyResult<Bound<'py, PyList>> {
        // bytes or bytearray (what a trio.abc.Stream may return)
        self.decoder.receive_data(&chunk).map_err(proto_err)?;
        let out = PyList::empty(py);
        while let Some((frame, msg)) = self.decoder.next_message().map_err(proto_err)? {
            out.append(client_message(py, frame.raw(), msg)?)?;
        }
        Ok(out)
    }
}
