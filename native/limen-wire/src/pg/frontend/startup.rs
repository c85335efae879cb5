//! Startup-phase packets (no type byte): StartupMessage, SSLRequest,
//! GSSENCRequest and CancelRequest. They share one layout — i32 length, i32
//! code — and are told apart by the code.
use crate::error::{Error, ErrorKind};
use crate::pg::codec::{put_cstr, put_i32, write_message, Reader};

/// The code of SSLRequest (1234 << 16 | 5679).
pub const SSL_REQUEST_CODE: i32 = 80_877_103;
/// The code of GSSENCRequest (1234 << 16 | 5680).
pub const GSSENC_REQUEST_CODE: i32 = 80_877_104;
/// The code of CancelRequest (1234 << 16 | 5678).
pub const CANCEL_REQUEST_CODE: i32 = 80_877_102;
/// Longest cancel key accepted (protocol 3.2 allows up to 256 bytes).
pub const MAX_CANCEL_KEY_LEN: usize = 256;

/// A protocol version: major 3, minor 0 (or 2 on recent servers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProtocolVersion {
    /// Major version (always 3 here).
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl ProtocolVersion {
    /// Protocol 3.0.
    pub const V3_0: ProtocolVersion = ProtocolVersion { major: 3, minor: 0 };

    fn code(self) -> i32 {
        i32::from(self.major) << 16 | i32::from(self.minor)
    }
}

/// StartupMessage: the protocol version and the connection parameters
/// (`user`, `database`, `application_name`, `options`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartupMessage<'a> {
    /// Requested protocol version.
    pub version: ProtocolVersion,
    /// Parameters as (name, value) in the order sent. Bounded by the startup
    /// packet cap, so this list is small.
    pub params: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> StartupMessage<'a> {
    /// The value of parameter `name`, if sent.
    pub fn param(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// Writes the packet.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, None, "StartupMessage", |o| {
            put_i32(o, self.version.code());
            for (name, value) in &self.params {
                if name.is_empty() {
                    return Err(Error::local(ErrorKind::InvalidValue, "StartupMessage"));
                }
                put_cstr(o, name, "StartupMessage")?;
                put_cstr(o, value, "StartupMessage")?;
            }
            o.push(0);
            Ok(())
        })
    }
}

/// CancelRequest: the backend process id and its secret key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CancelRequest<'a> {
    /// Process id from BackendKeyData.
    pub process_id: i32,
    /// Secret key from BackendKeyData (4 bytes in protocol 3.0).
    pub secret_key: &'a [u8],
}

impl CancelRequest<'_> {
    /// Writes the packet.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.secret_key.len() > MAX_CANCEL_KEY_LEN {
            return Err(Error::local(ErrorKind::InvalidValue, "CancelRequest"));
        }
        write_message(out, None, "CancelRequest", |o| {
            put_i32(o, CANCEL_REQUEST_CODE);
            put_i32(o, self.process_id);
            o.extend_from_slice(self.secret_key);
            Ok(())
        })
    }
}

/// Writes an SSLRequest packet.
pub fn encode_ssl_request(out: &mut Vec<u8>) {
    put_i32(out, 8);
    put_i32(out, SSL_REQUEST_CODE);
}

/// Writes a GSSENCRequest packet.
pub fn encode_gssenc_request(out: &mut Vec<u8>) {
    put_i32(out, 8);
    put_i32(out, GSSENC_REQUEST_CODE);
}

/// A parsed startup-phase packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StartupPacket<'a> {
    Startup(StartupMessage<'a>),
    Ssl,
    GssEnc,
    Cancel(CancelRequest<'a>),
}

/// Parses the body of a startup-phase packet (everything after the length).
pub(crate) fn try_parse(body: &[u8]) -> Result<StartupPacket<'_>, Error> {
    let mut r = Reader::new(body, "startup packet");
    let code = r.i32()?;
    match code {
        SSL_REQUEST_CODE => {
            r.finish()?;
            Ok(StartupPacket::Ssl)
        }
        GSSENC_REQUEST_CODE => {
            r.finish()?;
            Ok(StartupPacket::GssEnc)
        }
        CANCEL_REQUEST_CODE => {
            let process_id = r.i32()?;
            let secret_key = r.rest();
            if secret_key.len() < 4 || secret_key.len() > MAX_CANCEL_KEY_LEN {
                return Err(Error::remote(ErrorKind::InvalidValue, 8, "CancelRequest"));
            }
            Ok(StartupPacket::Cancel(CancelRequest {
                process_id,
                secret_key,
            }))
        }
        _ => {
            let major = (code >> 16) as u16;
            let minor = (code & 0xffff) as u16;
            if major != 3 {
                return Err(Error::remote(
                    ErrorKind::UnsupportedProtocol,
                    0,
                    "StartupMessage",
                ));
            }
            let mut params = Vec::new();
            loop {
                let name = r.cstr()?;
                if name.is_empty() {
                    break;
                }
                let value = r.cstr()?;
                params.push((name, value));
            }
            r.finish()?;
            Ok(StartupPacket::Startup(StartupMessage {
                version: ProtocolVersion { major, minor },
                params,
            }))
        }
    }
}
