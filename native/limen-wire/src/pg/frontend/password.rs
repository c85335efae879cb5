//! The 'p' family: PasswordMessage, SASLInitialResponse, SASLResponse and
//! GSSResponse share one type byte; which one a 'p' message is depends on
//! what the server asked for ([`AuthContext`]).
use crate::error::{Error, ErrorKind};
use crate::pg::codec::{put_cstr, put_i32, write_message, Reader};

/// Type byte of the 'p' family.
pub const TAG: u8 = b'p';

/// What the server last asked for, which decides how a 'p' body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum AuthContext {
    /// No authentication request was sent: a 'p' message is unexpected.
    #[default]
    None,
    /// AuthenticationCleartextPassword or MD5Password: a PasswordMessage.
    Password,
    /// AuthenticationSASL: a SASLInitialResponse.
    SaslInitial,
    /// AuthenticationSASLContinue: a SASLResponse.
    SaslContinue,
    /// AuthenticationGSS / SSPI / GSSContinue: a GSSResponse.
    Gss,
}

/// PasswordMessage: a cleartext password or an md5 hash ("md5" + 32 hex).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PasswordMessage<'a> {
    /// The password bytes, without the NUL.
    pub password: &'a [u8],
}

impl core::fmt::Debug for PasswordMessage<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PasswordMessage { password: <redacted> }")
    }
}

/// SASLInitialResponse: the chosen mechanism and the client-first message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaslInitialResponse<'a> {
    /// Mechanism name, e.g. `SCRAM-SHA-256`.
    pub mechanism: &'a [u8],
    /// Initial response (`None` when the length is -1).
    pub data: Option<&'a [u8]>,
}

/// SASLResponse: a later SASL message (SCRAM client-final).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaslResponse<'a> {
    /// Mechanism-specific data.
    pub data: &'a [u8],
}

/// GSSResponse: GSSAPI / SSPI token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GssResponse<'a> {
    /// The token.
    pub data: &'a [u8],
}

impl<'a> PasswordMessage<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "PasswordMessage");
        let password = r.cstr()?;
        r.finish()?;
        Ok(PasswordMessage { password })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "PasswordMessage", |o| {
            put_cstr(o, self.password, "PasswordMessage")
        })
    }
}

impl<'a> SaslInitialResponse<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "SASLInitialResponse");
        let mechanism = r.cstr()?;
        let len = r.i32()?;
        let data = if len == -1 {
            None
        } else {
            let n = usize::try_from(len).map_err(|_| r.err(ErrorKind::NegativeCount))?;
            Some(r.bytes(n)?)
        };
        r.finish()?;
        Ok(SaslInitialResponse { mechanism, data })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "SASLInitialResponse", |o| {
            put_cstr(o, self.mechanism, "SASLInitialResponse")?;
            match self.data {
                None => put_i32(o, -1),
                Some(d) => {
                    let n = i32::try_from(d.len()).map_err(|_| {
                        Error::local(ErrorKind::MessageTooLarge, "SASLInitialResponse")
                    })?;
                    put_i32(o, n);
                    o.extend_from_slice(d);
                }
            }
            Ok(())
        })
    }
}

impl<'a> SaslResponse<'a> {
    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "SASLResponse", |o| {
            o.extend_from_slice(self.data);
            Ok(())
        })
    }
}

impl<'a> GssResponse<'a> {
    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "GSSResponse", |o| {
            o.extend_from_slice(self.data);
            Ok(())
        })
    }
}
