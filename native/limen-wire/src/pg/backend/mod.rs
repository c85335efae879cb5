//! Backend (server to client) messages and their incremental decoder.
//!
//! One file per message family. [`BackendDecoder`] reads tagged messages;
//! after [`BackendDecoder::expect_encryption_response`] it reads the single
//! byte ('S', 'G' or 'N') that answers an SSLRequest or GSSENCRequest.
use crate::error::{Error, ErrorKind};
use crate::pg::copy::{encode_empty, parse_empty, CopyData, COPY_DATA_TAG, COPY_DONE_TAG};

mod authentication;
mod backend_key_data;
mod command_complete;
mod copy_response;
mod data_row;
mod decoder;
mod error_notice;
mod function_call_response;
mod negotiate;
mod notification;
mod parameter_description;
mod parameter_status;
mod ready_for_query;
mod row_description;

pub use authentication::Authentication;
pub use backend_key_data::BackendKeyData;
pub use command_complete::CommandComplete;
pub use copy_response::CopyResponse;
pub use data_row::DataRow;
pub use decoder::BackendDecoder;
pub use error_notice::{encode_fields, field, ErrorNotice, Fields};
pub use function_call_response::FunctionCallResponse;
pub use negotiate::NegotiateProtocolVersion;
pub use notification::NotificationResponse;
pub use parameter_description::ParameterDescription;
pub use parameter_status::ParameterStatus;
pub use ready_for_query::TransactionStatus;
pub use row_description::{ColumnMap, ColumnOrigin, FieldDescription, RowDescription};

/// Backend type bytes.
pub mod tag {
    /// Authentication*.
    pub const AUTHENTICATION: u8 = b'R';
    /// BackendKeyData.
    pub const BACKEND_KEY_DATA: u8 = b'K';
    /// BindComplete.
    pub const BIND_COMPLETE: u8 = b'2';
    /// CloseComplete.
    pub const CLOSE_COMPLETE: u8 = b'3';
    /// CommandComplete.
    pub const COMMAND_COMPLETE: u8 = b'C';
    /// CopyBothResponse.
    pub const COPY_BOTH_RESPONSE: u8 = b'W';
    /// CopyData.
    pub const COPY_DATA: u8 = b'd';
    /// CopyDone.
    pub const COPY_DONE: u8 = b'c';
    /// CopyInResponse.
    pub const COPY_IN_RESPONSE: u8 = b'G';
    /// CopyOutResponse.
    pub const COPY_OUT_RESPONSE: u8 = b'H';
    /// DataRow.
    pub const DATA_ROW: u8 = b'D';
    /// EmptyQueryResponse.
    pub const EMPTY_QUERY_RESPONSE: u8 = b'I';
    /// ErrorResponse.
    pub const ERROR_RESPONSE: u8 = b'E';
    /// FunctionCallResponse.
    pub const FUNCTION_CALL_RESPONSE: u8 = b'V';
    /// NegotiateProtocolVersion.
    pub const NEGOTIATE_PROTOCOL_VERSION: u8 = b'v';
    /// NoData.
    pub const NO_DATA: u8 = b'n';
    /// NoticeResponse.
    pub const NOTICE_RESPONSE: u8 = b'N';
    /// NotificationResponse.
    pub const NOTIFICATION_RESPONSE: u8 = b'A';
    /// ParameterDescription.
    pub const PARAMETER_DESCRIPTION: u8 = b't';
    /// ParameterStatus.
    pub const PARAMETER_STATUS: u8 = b'S';
    /// ParseComplete.
    pub const PARSE_COMPLETE: u8 = b'1';
    /// PortalSuspended.
    pub const PORTAL_SUSPENDED: u8 = b's';
    /// ReadyForQuery.
    pub const READY_FOR_QUERY: u8 = b'Z';
    /// RowDescription.
    pub const ROW_DESCRIPTION: u8 = b'T';
}

/// The server's one-byte answer to SSLRequest / GSSENCRequest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncryptionResponse {
    /// 'S': go ahead with the TLS handshake.
    SslAccepted,
    /// 'G': go ahead with GSSAPI encryption.
    GssAccepted,
    /// 'N': no encryption; continue in clear (or give up).
    Refused,
}

impl EncryptionResponse {
    /// The byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            EncryptionResponse::SslAccepted => b'S',
            EncryptionResponse::GssAccepted => b'G',
            EncryptionResponse::Refused => b'N',
        }
    }

    /// Reads the byte; anything but 'S', 'G', 'N' is an error.
    pub fn try_from_byte(b: u8) -> Result<Self, Error> {
        match b {
            b'S' => Ok(EncryptionResponse::SslAccepted),
            b'G' => Ok(EncryptionResponse::GssAccepted),
            b'N' => Ok(EncryptionResponse::Refused),
            _ => Err(Error::remote(
                ErrorKind::InvalidValue,
                0,
                "encryption response",
            )),
        }
    }
}

/// A parsed backend message, borrowing from the decoder's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendMessage<'a> {
    /// The single byte answering SSLRequest / GSSENCRequest.
    EncryptionResponse(EncryptionResponse),
    /// Authentication* ('R').
    Authentication(Authentication<'a>),
    /// ParameterStatus ('S').
    ParameterStatus(ParameterStatus<'a>),
    /// BackendKeyData ('K').
    BackendKeyData(BackendKeyData<'a>),
    /// ReadyForQuery ('Z').
    ReadyForQuery(TransactionStatus),
    /// RowDescription ('T').
    RowDescription(RowDescription<'a>),
    /// DataRow ('D').
    DataRow(DataRow<'a>),
    /// CommandComplete ('C').
    CommandComplete(CommandComplete<'a>),
    /// ErrorResponse ('E').
    ErrorResponse(Fields<'a>),
    /// NoticeResponse ('N').
    NoticeResponse(Fields<'a>),
    /// EmptyQueryResponse ('I').
    EmptyQueryResponse,
    /// ParseComplete ('1').
    ParseComplete,
    /// BindComplete ('2').
    BindComplete,
    /// CloseComplete ('3').
    CloseComplete,
    /// NoData ('n').
    NoData,
    /// ParameterDescription ('t').
    ParameterDescription(ParameterDescription<'a>),
    /// PortalSuspended ('s').
    PortalSuspended,
    /// CopyInResponse ('G').
    CopyInResponse(CopyResponse<'a>),
    /// CopyOutResponse ('H').
    CopyOutResponse(CopyResponse<'a>),
    /// CopyBothResponse ('W').
    CopyBothResponse(CopyResponse<'a>),
    /// CopyData ('d').
    CopyData(CopyData<'a>),
    /// CopyDone ('c').
    CopyDone,
    /// NotificationResponse ('A').
    NotificationResponse(NotificationResponse<'a>),
    /// NegotiateProtocolVersion ('v').
    NegotiateProtocolVersion(NegotiateProtocolVersion<'a>),
    /// FunctionCallResponse ('V').
    FunctionCallResponse(FunctionCallResponse<'a>),
    /// A message type this crate does not interpret: relay it as is.
    Unknown {
        /// Its type byte.
        tag: u8,
        /// Its body.
        body: &'a [u8],
    },
}

impl<'a> BackendMessage<'a> {
    /// Parses a tagged message body. Offsets in errors count from the body.
    pub fn try_parse(tag: u8, body: &'a [u8]) -> Result<Self, Error> {
        Ok(match tag {
            tag::AUTHENTICATION => BackendMessage::Authentication(Authentication::try_parse(body)?),
            tag::PARAMETER_STATUS => {
                BackendMessage::ParameterStatus(ParameterStatus::try_parse(body)?)
            }
            tag::BACKEND_KEY_DATA => {
                BackendMessage::BackendKeyData(BackendKeyData::try_parse(body)?)
            }
            tag::READY_FOR_QUERY => {
                BackendMessage::ReadyForQuery(TransactionStatus::try_parse(body)?)
            }
            tag::ROW_DESCRIPTION => {
                BackendMessage::RowDescription(RowDescription::try_parse(body)?)
            }
            tag::DATA_ROW => BackendMessage::DataRow(DataRow::try_parse(body)?),
            tag::COMMAND_COMPLETE => {
                BackendMessage::CommandComplete(CommandComplete::try_parse(body)?)
            }
            tag::ERROR_RESPONSE => {
                BackendMessage::ErrorResponse(Fields::try_parse(body, "ErrorResponse")?)
            }
            tag::NOTICE_RESPONSE => {
                BackendMessage::NoticeResponse(Fields::try_parse(body, "NoticeResponse")?)
            }
            tag::EMPTY_QUERY_RESPONSE => {
                parse_empty(body, "EmptyQueryResponse")?;
                BackendMessage::EmptyQueryResponse
            }
            tag::PARSE_COMPLETE => {
                parse_empty(body, "ParseComplete")?;
                BackendMessage::ParseComplete
            }
            tag::BIND_COMPLETE => {
                parse_empty(body, "BindComplete")?;
                BackendMessage::BindComplete
            }
            tag::CLOSE_COMPLETE => {
                parse_empty(body, "CloseComplete")?;
                BackendMessage::CloseComplete
            }
            tag::NO_DATA => {
                parse_empty(body, "NoData")?;
                BackendMessage::NoData
            }
            tag::PORTAL_SUSPENDED => {
                parse_empty(body, "PortalSuspended")?;
                BackendMessage::PortalSuspended
            }
            tag::PARAMETER_DESCRIPTION => {
                BackendMessage::ParameterDescription(ParameterDescription::try_parse(body)?)
            }
            tag::COPY_IN_RESPONSE => BackendMessage::CopyInResponse(CopyResponse::try_parse(body)?),
            tag::COPY_OUT_RESPONSE => {
                BackendMessage::CopyOutResponse(CopyResponse::try_parse(body)?)
            }
            tag::COPY_BOTH_RESPONSE => {
                BackendMessage::CopyBothResponse(CopyResponse::try_parse(body)?)
            }
            COPY_DATA_TAG => BackendMessage::CopyData(CopyData { data: body }),
            COPY_DONE_TAG => {
                parse_empty(body, "CopyDone")?;
                BackendMessage::CopyDone
            }
            tag::NOTIFICATION_RESPONSE => {
                BackendMessage::NotificationResponse(NotificationResponse::try_parse(body)?)
            }
            tag::NEGOTIATE_PROTOCOL_VERSION => {
                BackendMessage::NegotiateProtocolVersion(NegotiateProtocolVersion::try_parse(body)?)
            }
            tag::FUNCTION_CALL_RESPONSE => {
                BackendMessage::FunctionCallResponse(FunctionCallResponse::try_parse(body)?)
            }
            other => BackendMessage::Unknown { tag: other, body },
        })
    }

    /// Writes the message in wire form.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let empty = |t: u8, out: &mut Vec<u8>| {
            encode_empty(t, out);
            Ok(())
        };
        match self {
            BackendMessage::EncryptionResponse(r) => {
                out.push(r.byte());
                Ok(())
            }
            BackendMessage::Authentication(m) => m.try_encode(out),
            BackendMessage::ParameterStatus(m) => m.try_encode(out),
            BackendMessage::BackendKeyData(m) => m.try_encode(out),
            BackendMessage::ReadyForQuery(s) => {
                s.encode_ready_for_query(out);
                Ok(())
            }
            BackendMessage::RowDescription(m) => m.try_encode(out),
            BackendMessage::DataRow(m) => m.try_encode(out),
            BackendMessage::CommandComplete(m) => m.try_encode(out),
            BackendMessage::ErrorResponse(f) => raw_message(tag::ERROR_RESPONSE, f.raw(), out),
            BackendMessage::NoticeResponse(f) => raw_message(tag::NOTICE_RESPONSE, f.raw(), out),
            BackendMessage::EmptyQueryResponse => empty(tag::EMPTY_QUERY_RESPONSE, out),
            BackendMessage::ParseComplete => empty(tag::PARSE_COMPLETE, out),
            BackendMessage::BindComplete => empty(tag::BIND_COMPLETE, out),
            BackendMessage::CloseComplete => empty(tag::CLOSE_COMPLETE, out),
            BackendMessage::NoData => empty(tag::NO_DATA, out),
            BackendMessage::PortalSuspended => empty(tag::PORTAL_SUSPENDED, out),
            BackendMessage::ParameterDescription(m) => m.try_encode(out),
            BackendMessage::CopyInResponse(m) => m.try_encode(tag::COPY_IN_RESPONSE, out),
            BackendMessage::CopyOutResponse(m) => m.try_encode(tag::COPY_OUT_RESPONSE, out),
            BackendMessage::CopyBothResponse(m) => m.try_encode(tag::COPY_BOTH_RESPONSE, out),
            BackendMessage::CopyData(m) => m.try_encode(out),
            BackendMessage::CopyDone => empty(COPY_DONE_TAG, out),
            BackendMessage::NotificationResponse(m) => m.try_encode(out),
            BackendMessage::NegotiateProtocolVersion(m) => m.try_encode(out),
            BackendMessage::FunctionCallResponse(m) => m.try_encode(out),
            BackendMessage::Unknown { tag, body } => raw_message(*tag, body, out),
        }
    }
}

fn raw_message(tag: u8, body: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    crate::pg::codec::write_message(out, Some(tag), "message", |o| {
        o.extend_from_slice(body);
        Ok(())
    })
}
