//! Execute ('E'): run a portal, optionally for at most `max_rows` rows.
use crate::error::Error;
use crate::pg::codec::{put_cstr, put_i32, write_message, Reader};

/// Type byte of Execute.
pub const TAG: u8 = b'E';

/// Execute: portal name and row limit (0 = no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Execute<'a> {
    /// Portal name (empty = unnamed).
    pub portal: &'a [u8],
    /// Maximum rows to return, 0 for all.
    pub max_rows: i32,
}

impl<'a> Execute<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "Execute");
        let portal = r.cstr()?;
        let max_rows = r.i32()?;
        r.finish()?;
        Ok(Execute { portal, max_rows })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "Execute", |o| {
            put_cstr(o, self.portal, "Execute")?;
            put_i32(o, self.max_rows);
            Ok(())
        })
    }
}
