//! CopyInResponse ('G'), CopyOutResponse ('H') and CopyBothResponse ('W'):
//! the server enters a COPY mode, with the overall and per-column formats.
use crate::error::{Error, ErrorKind};
use crate::pg::codec::{put_i16s, write_message, I16Array, Reader};

/// Type byte of CopyInResponse.
pub const COPY_IN_TAG: u8 = b'G';
/// Type byte of CopyOutResponse.
pub const COPY_OUT_TAG: u8 = b'H';
/// Type byte of CopyBothResponse.
pub const COPY_BOTH_TAG: u8 = b'W';

/// The body shared by the three COPY responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyResponse<'a> {
    /// 0 textual, 1 binary.
    pub format: u8,
    /// Per-column format codes.
    pub column_formats: I16Array<'a>,
}

impl<'a> CopyResponse<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "CopyResponse");
        let format = r.u8()?;
        if format > 1 {
            return Err(Error::remote(ErrorKind::InvalidValue, 0, "CopyResponse"));
        }
        let column_formats = r.counted_i16_array()?;
        r.finish()?;
        Ok(CopyResponse {
            format,
            column_formats,
        })
    }

    /// Writes the message with type byte `tag` (one of the three above).
    pub fn try_encode(&self, tag: u8, out: &mut Vec<u8>) -> Result<(), Error> {
        Self::encode_parts(tag, self.format, &self.column_formats.to_vec(), out)
    }

    /// Writes a COPY response from its parts.
    pub fn encode_parts(
        tag: u8,
        format: u8,
        column_formats: &[i16],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if ![COPY_IN_TAG, COPY_OUT_TAG, COPY_BOTH_TAG].contains(&tag) || format > 1 {
            return Err(Error::local(ErrorKind::InvalidValue, "CopyResponse"));
        }
        write_message(out, Some(tag), "CopyResponse", |o| {
            o.push(format);
            put_i16s(o, column_formats, "CopyResponse")
        })
    }
}
