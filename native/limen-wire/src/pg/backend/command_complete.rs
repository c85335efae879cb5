//! CommandComplete ('C'): a statement finished, with its command tag
//! (`SELECT 5`, `INSERT 0 1`, ...).
use crate::error::Error;
use crate::pg::codec::{put_cstr, write_message, Reader};

/// Type byte of CommandComplete.
pub const TAG: u8 = b'C';

/// CommandComplete: the command tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandComplete<'a> {
    /// The command tag.
    pub tag: &'a [u8],
}

impl<'a> CommandComplete<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "CommandComplete");
        let tag = r.cstr()?;
        r.finish()?;
        Ok(CommandComplete { tag })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "CommandComplete", |o| {
            put_cstr(o, self.tag, "CommandComplete")
        })
    }
}
