//! FunctionCall ('F'): the legacy fast-path function call.
use crate::error::Error;
use crate::pg::codec::{
    put_i16, put_i16s, put_u32, put_values, write_message, I16Array, Reader, Values,
};

/// Type byte of FunctionCall.
pub const TAG: u8 = b'F';

/// FunctionCall: function OID, argument formats and values, result format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionCall<'a> {
    /// OID of the function to call.
    pub function_oid: u32,
    /// Argument format codes.
    pub arg_formats: I16Array<'a>,
    /// Argument values (`None` = NULL).
    pub args: Values<'a>,
    /// Result format code.
    pub result_format: i16,
}

impl<'a> FunctionCall<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "FunctionCall");
        let function_oid = r.u32()?;
        let arg_formats = r.counted_i16_array()?;
        let args = r.values()?;
        let result_format = r.i16()?;
        r.finish()?;
        Ok(FunctionCall {
            function_oid,
            arg_formats,
            args,
            result_format,
        })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        Self::encode_parts(
            self.function_oid,
            &self.arg_formats.to_vec(),
            &self.args.to_vec(),
            self.result_format,
            out,
        )
    }

    /// Writes a FunctionCall from its parts.
    pub fn encode_parts(
        function_oid: u32,
        arg_formats: &[i16],
        args: &[Option<&[u8]>],
        result_format: i16,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        write_message(out, Some(TAG), "FunctionCall", |o| {
            put_u32(o, function_oid);
            put_i16s(o, arg_formats, "FunctionCall")?;
            put_values(o, args, "FunctionCall")?;
            put_i16(o, result_format);
            Ok(())
        })
    }
}
