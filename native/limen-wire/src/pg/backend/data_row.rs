//! DataRow ('D'): one result row, column values borrowed (`None` = NULL).
//! Rewriting a row for masking lives in [`crate::pg::rewrite`].
use crate::error::Error;
use crate::pg::codec::{put_values, write_message, Reader, Values};

/// Type byte of DataRow.
pub const TAG: u8 = b'D';

/// DataRow: a validated view over the column values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataRow<'a> {
    /// The column values.
    pub values: Values<'a>,
}

impl<'a> DataRow<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "DataRow");
        let values = r.values()?;
        r.finish()?;
        Ok(DataRow { values })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "DataRow", |o| {
            crate::pg::codec::put_count(o, self.values.len(), "DataRow")?;
            o.extend_from_slice(self.values.raw());
            Ok(())
        })
    }

    /// Writes a DataRow from column values.
    pub fn encode_values(values: &[Option<&[u8]>], out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "DataRow", |o| {
            put_values(o, values, "DataRow")
        })
    }
}
