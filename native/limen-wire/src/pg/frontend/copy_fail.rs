//! CopyFail ('f'): the client aborts a COPY FROM STDIN with a message.
use crate::error::Error;
use crate::pg::codec::{put_cstr, write_message, Reader};

/// Type byte of CopyFail.
pub const TAG: u8 = b'f';

/// CopyFail: why the client gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyFail<'a> {
    /// The error message.
    pub message: &'a [u8],
}

impl<'a> CopyFail<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "CopyFail");
        let message = r.cstr()?;
        r.finish()?;
        Ok(CopyFail { message })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "CopyFail", |o| {
            put_cstr(o, self.message, "CopyFail")
        })
    }
}
