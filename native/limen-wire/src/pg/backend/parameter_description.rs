//! ParameterDescription ('t'): the parameter types of a prepared statement.
use crate::error::Error;
use crate::pg::codec::{put_count, put_u32, write_message, Reader, U32Array};

/// Type byte of ParameterDescription.
pub const TAG: u8 = b't';

/// ParameterDescription: parameter type OIDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParameterDescription<'a> {
    /// Type OIDs.
    pub types: U32Array<'a>,
}

impl<'a> ParameterDescription<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "ParameterDescription");
        let types = r.counted_u32_array()?;
        r.finish()?;
        Ok(ParameterDescription { types })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        Self::encode_types(&self.types.to_vec(), out)
    }

    /// Writes a ParameterDescription from type OIDs.
    pub fn encode_types(types: &[u32], out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "ParameterDescription", |o| {
            put_count(o, types.len(), "ParameterDescription")?;
            for t in types {
                put_u32(o, *t);
            }
            Ok(())
        })
    }
}
