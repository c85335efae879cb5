//! Authentication ('R'): the server's authentication requests and results.
use crate::error::{Error, ErrorKind};
use crate::pg::codec::{put_cstr, put_i32, write_message, Reader, StrList};

/// Type byte of the Authentication family.
pub const TAG: u8 = b'R';

/// One Authentication message, by its i32 code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authentication<'a> {
    /// 0: authentication succeeded.
    Ok,
    /// 2: Kerberos V5 (unsupported by modern servers).
    KerberosV5,
    /// 3: send the password in clear text.
    CleartextPassword,
    /// 5: send md5(md5(password + user) + salt).
    Md5Password {
        /// The 4-byte salt.
        salt: [u8; 4],
    },
    /// 7: GSSAPI.
    Gss,
    /// 8: GSSAPI or SSPI continuation data.
    GssContinue(&'a [u8]),
    /// 9: SSPI.
    Sspi,
    /// 10: SASL, with the mechanisms the server offers.
    Sasl(StrList<'a>),
    /// 11: SASL challenge (SCRAM server-first).
    SaslContinue(&'a [u8]),
    /// 12: SASL outcome (SCRAM server-final).
    SaslFinal(&'a [u8]),
}

impl<'a> Authentication<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "Authentication");
        let code = r.i32()?;
        let out = match code {
            0 => Authentication::Ok,
            2 => Authentication::KerberosV5,
            3 => Authentication::CleartextPassword,
            5 => Authentication::Md5Password { salt: r.array()? },
            7 => Authentication::Gss,
            8 => Authentication::GssContinue(r.rest()),
            9 => Authentication::Sspi,
            10 => Authentication::Sasl(StrList::try_parse(&mut r)?),
            11 => Authentication::SaslContinue(r.rest()),
            12 => Authentication::SaslFinal(r.rest()),
            _ => return Err(Error::remote(ErrorKind::InvalidValue, 0, "Authentication")),
        };
        r.finish()?;
        Ok(out)
    }

    /// The request code.
    pub fn code(&self) -> i32 {
        match self {
            Authentication::Ok => 0,
            Authentication::KerberosV5 => 2,
            Authentication::CleartextPassword => 3,
            Authentication::Md5Password { .. } => 5,
            Authentication::Gss => 7,
            Authentication::GssContinue(_) => 8,
            Authentication::Sspi => 9,
            Authentication::Sasl(_) => 10,
            Authentication::SaslContinue(_) => 11,
            Authentication::SaslFinal(_) => 12,
        }
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "Authentication", |o| {
            put_i32(o, self.code());
            match self {
                Authentication::Md5Password { salt } => o.extend_from_slice(salt),
                Authentication::GssContinue(d)
                | Authentication::SaslContinue(d)
                | Authentication::SaslFinal(d) => o.extend_from_slice(d),
                Authentication::Sasl(list) => o.extend_from_slice(list.raw()),
                _ => {}
            }
            Ok(())
        })
    }

    /// Writes AuthenticationSASL offering `mechanisms` (e.g. `SCRAM-SHA-256`).
    pub fn encode_sasl(mechanisms: &[&[u8]], out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "AuthenticationSASL", |o| {
            put_i32(o, 10);
            for m in mechanisms {
                if m.is_empty() {
                    return Err(Error::local(ErrorKind::InvalidValue, "AuthenticationSASL"));
                }
                put_cstr(o, m, "AuthenticationSASL")?;
            }
            o.push(0);
            Ok(())
        })
    }
}
