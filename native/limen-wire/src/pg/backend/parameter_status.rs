//! ParameterStatus ('S'): a run-time parameter's current value.
use crate::error::Error;
use crate::pg::codec::{put_cstr, write_message, Reader};

/// Type byte of ParameterStatus.
pub const TAG: u8 = b'S';

/// ParameterStatus: name and value (e.g. `server_version`, `TimeZone`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParameterStatus<'a> {
    /// Parameter name.
    pub name: &'a [u8],
    /// Its value.
    pub value: &'a [u8],
}

impl<'a> ParameterStatus<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "ParameterStatus");
        let name = r.cstr()?;
        let value = r.cstr()?;
        r.finish()?;
        Ok(ParameterStatus { name, value })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "ParameterStatus", |o| {
            put_cstr(o, self.name, "ParameterStatus")?;
            put_cstr(o, self.value, "ParameterStatus")
        })
    }
}
