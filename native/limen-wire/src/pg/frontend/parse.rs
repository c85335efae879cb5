//! Parse ('P'): prepare a statement (extended protocol).
use crate::error::Error;
use crate::pg::codec::{put_count, put_cstr, put_u32, write_message, Reader, U32Array};

/// Type byte of Parse.
pub const TAG: u8 = b'P';

/// Parse: statement name (empty = unnamed), query text, parameter type OIDs
/// (0 = let the server infer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parse<'a> {
    /// Prepared statement name.
    pub name: &'a [u8],
    /// The query text.
    pub query: &'a [u8],
    /// Parameter type OIDs.
    pub param_types: U32Array<'a>,
}

impl<'a> Parse<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "Parse");
        let name = r.cstr()?;
        let query = r.cstr()?;
        let param_types = r.counted_u32_array()?;
        r.finish()?;
        Ok(Parse {
            name,
            query,
            param_types,
        })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        Self::encode_parts(self.name, self.query, &self.param_types.to_vec(), out)
    }

    /// Writes a Parse message from its parts.
    pub fn encode_parts(
        name: &[u8],
        query: &[u8],
        param_types: &[u32],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        write_message(out, Some(TAG), "Parse", |o| {
            put_cstr(o, name, "Parse")?;
            put_cstr(o, query, "Parse")?;
            put_count(o, param_types.len(), "Parse")?;
            for t in param_types {
                put_u32(o, *t);
            }
            Ok(())
        })
    }
}
