//! ErrorResponse ('E') and NoticeResponse ('N'): a list of (code byte,
//! string) fields ended by a zero byte. [`Fields`] reads them;
//! [`ErrorNotice`] builds the ones the gateway sends itself.
use crate::error::{Error, ErrorKind};
use crate::pg::codec::{put_cstr, write_message, Reader};

/// Type byte of ErrorResponse.
pub const ERROR_TAG: u8 = b'E';
/// Type byte of NoticeResponse.
pub const NOTICE_TAG: u8 = b'N';

/// Field codes of ErrorResponse / NoticeResponse.
pub mod field {
    /// Severity, possibly localized.
    pub const SEVERITY: u8 = b'S';
    /// Severity, never localized (9.6+).
    pub const SEVERITY_NONLOCALIZED: u8 = b'V';
    /// SQLSTATE code.
    pub const CODE: u8 = b'C';
    /// Primary message.
    pub const MESSAGE: u8 = b'M';
    /// Detail.
    pub const DETAIL: u8 = b'D';
    /// Hint.
    pub const HINT: u8 = b'H';
    /// Cursor position in the query string.
    pub const POSITION: u8 = b'P';
    /// Position in an internal query.
    pub const INTERNAL_POSITION: u8 = b'p';
    /// The internal query.
    pub const INTERNAL_QUERY: u8 = b'q';
    /// Context (call stack).
    pub const WHERE: u8 = b'W';
    /// Schema name.
    pub const SCHEMA: u8 = b's';
    /// Table name.
    pub const TABLE: u8 = b't';
    /// Column name.
    pub const COLUMN: u8 = b'c';
    /// Data type name.
    pub const DATA_TYPE: u8 = b'd';
    /// Constraint name.
    pub const CONSTRAINT: u8 = b'n';
    /// Source file.
    pub const FILE: u8 = b'F';
    /// Source line.
    pub const LINE: u8 = b'L';
    /// Source routine.
    pub const ROUTINE: u8 = b'R';
}

/// The fields of an ErrorResponse or NoticeResponse, validated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fields<'a> {
    raw: &'a [u8],
}

impl<'a> Fields<'a> {
    pub(crate) fn try_parse(body: &'a [u8], ctx: &'static str) -> Result<Self, Error> {
        let mut r = Reader::new(body, ctx);
        loop {
            let code = r.u8()?;
            if code == 0 {
                break;
            }
            r.cstr()?;
        }
        r.finish()?;
        Ok(Fields { raw: body })
    }

    /// The fields as (code, value) in order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &'a [u8])> + 'a {
        let mut rest = self.raw;
        core::iter::from_fn(move || {
            let (&code, tail) = rest.split_first()?;
            if code == 0 {
                return None;
            }
            let n = tail.iter().position(|&b| b == 0)?;
            rest = &tail[n + 1..];
            Some((code, &tail[..n]))
        })
    }

    /// The first field with `code`.
    pub fn get(&self, code: u8) -> Option<&'a [u8]> {
        self.iter().find(|(c, _)| *c == code).map(|(_, v)| v)
    }

    /// The SQLSTATE code.
    pub fn code(&self) -> Option<&'a [u8]> {
        self.get(field::CODE)
    }

    /// The primary message.
    pub fn message(&self) -> Option<&'a [u8]> {
        self.get(field::MESSAGE)
    }

    /// The severity (non-localized if present).
    pub fn severity(&self) -> Option<&'a [u8]> {
        self.get(field::SEVERITY_NONLOCALIZED)
            .or_else(|| self.get(field::SEVERITY))
    }

    pub(crate) fn raw(&self) -> &'a [u8] {
        self.raw
    }
}

impl core::fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(c, v)| (c as char, String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

/// Writes an ErrorResponse ('E') or NoticeResponse ('N') from raw fields.
pub fn encode_fields(tag: u8, fields: &[(u8, &[u8])], out: &mut Vec<u8>) -> Result<(), Error> {
    if tag != ERROR_TAG && tag != NOTICE_TAG {
        return Err(Error::local(ErrorKind::InvalidValue, "ErrorResponse"));
    }
    write_message(out, Some(tag), "ErrorResponse", |o| {
        for (code, value) in fields {
            if *code == 0 {
                return Err(Error::local(ErrorKind::InvalidValue, "ErrorResponse"));
            }
            o.push(*code);
            put_cstr(o, value, "ErrorResponse")?;
        }
        o.push(0);
        Ok(())
    })
}

/// An error or notice the gateway sends itself (a denied statement, a bad
/// token, ...). Severity, SQLSTATE and message are required by the protocol.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ErrorNotice<'a> {
    /// `ERROR`, `FATAL`, `WARNING`, `NOTICE`, ... (sent as both S and V).
    pub severity: &'a str,
    /// Five-character SQLSTATE, e.g. `42501`.
    pub code: &'a str,
    /// Primary message.
    pub message: &'a str,
    /// Optional detail.
    pub detail: Option<&'a str>,
    /// Optional hint.
    pub hint: Option<&'a str>,
    /// Optional 1-based cursor position in the query.
    pub position: Option<u32>,
    /// Optional further fields as (code, value).
    pub extra: Vec<(u8, &'a str)>,
}

impl ErrorNotice<'_> {
    fn encode_with(&self, tag: u8, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.code.len() != 5 || !self.code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::local(ErrorKind::InvalidValue, "ErrorResponse"));
        }
        let position = self.position.map(|p| p.to_string());
        let mut fields: Vec<(u8, &[u8])> = vec![
            (field::SEVERITY, self.severity.as_bytes()),
            (field::SEVERITY_NONLOCALIZED, self.severity.as_bytes()),
            (field::CODE, self.code.as_bytes()),
            (field::MESSAGE, self.message.as_bytes()),
        ];
        if let Some(d) = self.detail {
            fields.push((field::DETAIL, d.as_bytes()));
        }
        if let Some(h) = self.hint {
            fields.push((field::HINT, h.as_bytes()));
        }
        if let Some(p) = &position {
            fields.push((field::POSITION, p.as_bytes()));
        }
        fields.extend(self.extra.iter().map(|(c, v)| (*c, v.as_bytes())));
        encode_fields(tag, &fields, out)
    }

    /// Writes it as an ErrorResponse.
    pub fn try_encode_error(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.encode_with(ERROR_TAG, out)
    }

    /// Writes it as a NoticeResponse.
    pub fn try_encode_notice(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.encode_with(NOTICE_TAG, out)
    }
}
