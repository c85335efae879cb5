//! Frontend (client to server) messages and their incremental decoder.
//!
//! One file per message family. [`FrontendDecoder`] starts in the startup
//! phase (untagged packets), moves to the regular phase after a
//! StartupMessage, and stops accepting bytes after CancelRequest or
//! Terminate. Each step yields the raw [`Frame`](crate::pg::Frame) (forward it untouched) and,
//! from [`FrontendDecoder::next_message`], the parsed [`FrontendMessage`].
use crate::error::{Error, ErrorKind};
use crate::pg::copy::{encode_empty, parse_empty, CopyData, COPY_DATA_TAG, COPY_DONE_TAG};

mod bind;
mod copy_fail;
mod decoder;
mod execute;
mod function_call;
mod parse;
mod password;
mod query;
mod startup;
mod target;

pub use bind::Bind;
pub use copy_fail::CopyFail;
pub use decoder::{FrontendDecoder, FrontendPhase};
pub use execute::Execute;
pub use function_call::FunctionCall;
pub use parse::Parse;
pub use password::{AuthContext, GssResponse, PasswordMessage, SaslInitialResponse, SaslResponse};
pub use query::Query;
pub use startup::{
    encode_gssenc_request, encode_ssl_request, CancelRequest, ProtocolVersion, StartupMessage,
    CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, MAX_CANCEL_KEY_LEN, SSL_REQUEST_CODE,
};
pub use target::{Close, Describe, TargetKind};

/// Frontend type bytes.
pub mod tag {
    /// Bind.
    pub const BIND: u8 = b'B';
    /// Close.
    pub const CLOSE: u8 = b'C';
    /// CopyData.
    pub const COPY_DATA: u8 = b'd';
    /// CopyDone.
    pub const COPY_DONE: u8 = b'c';
    /// CopyFail.
    pub const COPY_FAIL: u8 = b'f';
    /// Describe.
    pub const DESCRIBE: u8 = b'D';
    /// Execute.
    pub const EXECUTE: u8 = b'E';
    /// Flush.
    pub const FLUSH: u8 = b'H';
    /// FunctionCall.
    pub const FUNCTION_CALL: u8 = b'F';
    /// Parse.
    pub const PARSE: u8 = b'P';
    /// PasswordMessage / SASLInitialResponse / SASLResponse / GSSResponse.
    pub const PASSWORD: u8 = b'p';
    /// Query.
    pub const QUERY: u8 = b'Q';
    /// Sync.
    pub const SYNC: u8 = b'S';
    /// Terminate.
    pub const TERMINATE: u8 = b'X';
}

/// A parsed frontend message, borrowing from the decoder's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrontendMessage<'a> {
    /// StartupMessage (startup phase).
    Startup(StartupMessage<'a>),
    /// SSLRequest (startup phase).
    SslRequest,
    /// GSSENCRequest (startup phase).
    GssEncRequest,
    /// CancelRequest (startup phase; ends the connection).
    CancelRequest(CancelRequest<'a>),
    /// Query ('Q').
    Query(Query<'a>),
    /// Parse ('P').
    Parse(Parse<'a>),
    /// Bind ('B').
    Bind(Bind<'a>),
    /// Execute ('E').
    Execute(Execute<'a>),
    /// Describe ('D').
    Describe(Describe<'a>),
    /// Close ('C').
    Close(Close<'a>),
    /// Sync ('S').
    Sync,
    /// Flush ('H').
    Flush,
    /// Terminate ('X').
    Terminate,
    /// PasswordMessage ('p' after a password request).
    Password(PasswordMessage<'a>),
    /// SASLInitialResponse ('p' after AuthenticationSASL).
    SaslInitialResponse(SaslInitialResponse<'a>),
    /// SASLResponse ('p' after AuthenticationSASLContinue).
    SaslResponse(SaslResponse<'a>),
    /// GSSResponse ('p' after a GSS/SSPI request).
    GssResponse(GssResponse<'a>),
    /// CopyData ('d').
    CopyData(CopyData<'a>),
    /// CopyDone ('c').
    CopyDone,
    /// CopyFail ('f').
    CopyFail(CopyFail<'a>),
    /// FunctionCall ('F').
    FunctionCall(FunctionCall<'a>),
    /// A message type this crate does not interpret: relay it as is.
    Unknown {
        /// Its type byte.
        tag: u8,
        /// Its body.
        body: &'a [u8],
    },
}

impl<'a> FrontendMessage<'a> {
    /// Parses a regular-phase message body; `auth` decides how a 'p'
    /// message is read. Offsets in errors count from the body's start.
    pub fn try_parse(tag: u8, body: &'a [u8], auth: AuthContext) -> Result<Self, Error> {
        Ok(match tag {
            tag::QUERY => FrontendMessage::Query(Query::try_parse(body)?),
            tag::PARSE => FrontendMessage::Parse(Parse::try_parse(body)?),
            tag::BIND => FrontendMessage::Bind(Bind::try_parse(body)?),
            tag::EXECUTE => FrontendMessage::Execute(Execute::try_parse(body)?),
            tag::DESCRIBE => FrontendMessage::Describe(Describe::try_parse(body)?),
            tag::CLOSE => FrontendMessage::Close(Close::try_parse(body)?),
            tag::SYNC => {
                parse_empty(body, "Sync")?;
                FrontendMessage::Sync
            }
            tag::FLUSH => {
                parse_empty(body, "Flush")?;
                FrontendMessage::Flush
            }
            tag::TERMINATE => {
                parse_empty(body, "Terminate")?;
                FrontendMessage::Terminate
            }
            tag::PASSWORD => match auth {
                AuthContext::None => {
                    return Err(Error::remote(
                        ErrorKind::UnexpectedMessage,
                        0,
                        "password message",
                    ))
                }
                AuthContext::Password => {
                    FrontendMessage::Password(PasswordMessage::try_parse(body)?)
                }
                AuthContext::SaslInitial => {
                    FrontendMessage::SaslInitialResponse(SaslInitialResponse::try_parse(body)?)
                }
                AuthContext::SaslContinue => {
                    FrontendMessage::SaslResponse(SaslResponse { data: body })
                }
                AuthContext::Gss => FrontendMessage::GssResponse(GssResponse { data: body }),
            },
            COPY_DATA_TAG => FrontendMessage::CopyData(CopyData { data: body }),
            COPY_DONE_TAG => {
                parse_empty(body, "CopyDone")?;
                FrontendMessage::CopyDone
            }
            tag::COPY_FAIL => FrontendMessage::CopyFail(CopyFail::try_parse(body)?),
            tag::FUNCTION_CALL => FrontendMessage::FunctionCall(FunctionCall::try_parse(body)?),
            other => FrontendMessage::Unknown { tag: other, body },
        })
    }

    /// Parses the body of a startup-phase packet (after its length field).
    pub fn try_parse_startup(body: &'a [u8]) -> Result<Self, Error> {
        Ok(match startup::try_parse(body)? {
            startup::StartupPacket::Startup(s) => FrontendMessage::Startup(s),
            startup::StartupPacket::Ssl => FrontendMessage::SslRequest,
            startup::StartupPacket::GssEnc => FrontendMessage::GssEncRequest,
            startup::StartupPacket::Cancel(c) => FrontendMessage::CancelRequest(c),
        })
    }

    /// Writes the message in wire form.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self {
            FrontendMessage::Startup(m) => m.try_encode(out),
            FrontendMessage::SslRequest => {
                encode_ssl_request(out);
                Ok(())
            }
            FrontendMessage::GssEncRequest => {
                encode_gssenc_request(out);
                Ok(())
            }
            FrontendMessage::CancelRequest(m) => m.try_encode(out),
            FrontendMessage::Query(m) => m.try_encode(out),
            FrontendMessage::Parse(m) => m.try_encode(out),
            FrontendMessage::Bind(m) => m.try_encode(out),
            FrontendMessage::Execute(m) => m.try_encode(out),
            FrontendMessage::Describe(m) => m.try_encode(out),
            FrontendMessage::Close(m) => m.try_encode(out),
            FrontendMessage::Sync => {
                encode_empty(tag::SYNC, out);
                Ok(())
            }
            FrontendMessage::Flush => {
                encode_empty(tag::FLUSH, out);
                Ok(())
            }
            FrontendMessage::Terminate => {
                encode_empty(tag::TERMINATE, out);
                Ok(())
            }
            FrontendMessage::Password(m) => m.try_encode(out),
            FrontendMessage::SaslInitialResponse(m) => m.try_encode(out),
            FrontendMessage::SaslResponse(m) => m.try_encode(out),
            FrontendMessage::GssResponse(m) => m.try_encode(out),
            FrontendMessage::CopyData(m) => m.try_encode(out),
            FrontendMessage::CopyDone => {
                encode_empty(COPY_DONE_TAG, out);
                Ok(())
            }
            FrontendMessage::CopyFail(m) => m.try_encode(out),
            FrontendMessage::FunctionCall(m) => m.try_encode(out),
            FrontendMessage::Unknown { tag, body } => {
                crate::pg::codec::write_message(out, Some(*tag), "unknown message", |o| {
                    o.extend_from_slice(body);
                    Ok(())
                })
            }
        }
    }
}
