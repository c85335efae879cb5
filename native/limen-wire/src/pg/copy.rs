//! CopyData ('d') and CopyDone ('c'): the same layout in both directions,
//! so both decoders share them. Plus the helpers for messages whose body is
//! empty (Sync, Flush, Terminate, ParseComplete, ...).
use crate::error::{Error, ErrorKind};
use crate::pg::codec::write_message;

/// Type byte of CopyData.
pub const COPY_DATA_TAG: u8 = b'd';
/// Type byte of CopyDone.
pub const COPY_DONE_TAG: u8 = b'c';

/// CopyData: a chunk of COPY payload, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyData<'a> {
    /// The payload.
    pub data: &'a [u8],
}

impl CopyData<'_> {
    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(COPY_DATA_TAG), "CopyData", |o| {
            o.extend_from_slice(self.data);
            Ok(())
        })
    }
}

/// Checks that a body which must be empty is.
pub(crate) fn parse_empty(body: &[u8], ctx: &'static str) -> Result<(), Error> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(Error::remote(ErrorKind::TrailingBytes, 0, ctx))
    }
}

/// Writes a message with an empty body: the type byte and length 4.
pub fn encode_empty(tag: u8, out: &mut Vec<u8>) {
    out.push(tag);
    out.extend_from_slice(&4i32.to_be_bytes());
}
