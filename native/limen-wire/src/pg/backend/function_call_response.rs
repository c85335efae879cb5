//! FunctionCallResponse ('V'): the result of a fast-path FunctionCall.
use crate::error::{Error, ErrorKind};
use crate::pg::codec::{put_value, write_message, Reader};

/// Type byte of FunctionCallResponse.
pub const TAG: u8 = b'V';

/// FunctionCallResponse: the result value (`None` = NULL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionCallResponse<'a> {
    /// The value.
    pub value: Option<&'a [u8]>,
}

impl<'a> FunctionCallResponse<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "FunctionCallResponse");
        let len = r.i32()?;
        let value = if len == -1 {
            None
        } else {
            let n = usize::try_from(len)
                .map_err(|_| Error::remote(ErrorKind::NegativeCount, 0, "FunctionCallResponse"))?;
            Some(r.bytes(n)?)
        };
        r.finish()?;
        Ok(FunctionCallResponse { value })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "FunctionCallResponse", |o| {
            put_value(o, self.value, "FunctionCallResponse")
        })
    }
}
