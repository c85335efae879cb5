//! Query ('Q'): a simple-protocol query string, possibly several statements.
use crate::error::Error;
use crate::pg::codec::{put_cstr, write_message, Reader};

/// Type byte of Query.
pub const TAG: u8 = b'Q';

/// Query: the SQL text (without its NUL), in the client encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query<'a> {
    /// The query string.
    pub sql: &'a [u8],
}

impl<'a> Query<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "Query");
        let sql = r.cstr()?;
        r.finish()?;
        Ok(Query { sql })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "Query", |o| put_cstr(o, self.sql, "Query"))
    }
}
