//! Bind ('B'): bind parameter values to a prepared statement, making a portal.
use crate::error::Error;
use crate::pg::codec::{put_cstr, put_i16s, put_values, write_message, I16Array, Reader, Values};

/// Type byte of Bind.
pub const TAG: u8 = b'B';

/// Bind: portal and statement names, parameter formats and values (borrowed,
/// `None` = NULL), and the result column formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bind<'a> {
    /// Destination portal (empty = unnamed).
    pub portal: &'a [u8],
    /// Source prepared statement (empty = unnamed).
    pub statement: &'a [u8],
    /// Parameter format codes: none (all text), one (for all), or one each.
    pub param_formats: I16Array<'a>,
    /// Parameter values.
    pub params: Values<'a>,
    /// Result column format codes, same convention.
    pub result_formats: I16Array<'a>,
}

impl<'a> Bind<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "Bind");
        let portal = r.cstr()?;
        let statement = r.cstr()?;
        let param_formats = r.counted_i16_array()?;
        let params = r.values()?;
        let result_formats = r.counted_i16_array()?;
        r.finish()?;
        Ok(Bind {
            portal,
            statement,
            param_formats,
            params,
            result_formats,
        })
    }

    /// The format code of parameter `i` (0 text, 1 binary), applying the
    /// protocol's "none / one for all / one each" convention.
    pub fn param_format(&self, i: usize) -> Option<i16> {
        format_of(&self.param_formats, i)
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        Self::encode_parts(
            self.portal,
            self.statement,
            &self.param_formats.to_vec(),
            &self.params.to_vec(),
            &self.result_formats.to_vec(),
            out,
        )
    }

    /// Writes a Bind message from its parts.
    pub fn encode_parts(
        portal: &[u8],
        statement: &[u8],
        param_formats: &[i16],
        params: &[Option<&[u8]>],
        result_formats: &[i16],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        write_message(out, Some(TAG), "Bind", |o| {
            put_cstr(o, portal, "Bind")?;
            put_cstr(o, statement, "Bind")?;
            put_i16s(o, param_formats, "Bind")?;
            put_values(o, params, "Bind")?;
            put_i16s(o, result_formats, "Bind")
        })
    }
}

/// Format code `i` under the "none = text, one = all, else one each" rule.
pub(crate) fn format_of(formats: &I16Array<'_>, i: usize) -> Option<i16> {
    match formats.len() {
        0 => Some(0),
        1 => formats.get(0),
        _ => formats.get(i),
    }
}
