//! Describe ('D') and Close ('C'): both name a prepared statement or a
//! portal, with one kind byte ('S' or 'P') and a name.
use crate::error::{Error, ErrorKind};
use crate::pg::codec::{put_cstr, write_message, Reader};

/// Type byte of Describe.
pub const DESCRIBE_TAG: u8 = b'D';
/// Type byte of Close.
pub const CLOSE_TAG: u8 = b'C';

/// What a Describe or Close refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// A prepared statement ('S').
    Statement,
    /// A portal ('P').
    Portal,
}

impl TargetKind {
    fn byte(self) -> u8 {
        match self {
            TargetKind::Statement => b'S',
            TargetKind::Portal => b'P',
        }
    }
}

/// Describe: ask for the description of a statement or portal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Describe<'a> {
    /// Statement or portal.
    pub kind: TargetKind,
    /// Its name (empty = unnamed).
    pub name: &'a [u8],
}

/// Close: close a statement or portal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Close<'a> {
    /// Statement or portal.
    pub kind: TargetKind,
    /// Its name (empty = unnamed).
    pub name: &'a [u8],
}

fn parse_target<'a>(body: &'a [u8], ctx: &'static str) -> Result<(TargetKind, &'a [u8]), Error> {
    let mut r = Reader::new(body, ctx);
    let kind = match r.u8()? {
        b'S' => TargetKind::Statement,
        b'P' => TargetKind::Portal,
        _ => return Err(Error::remote(ErrorKind::InvalidValue, 0, ctx)),
    };
    let name = r.cstr()?;
    r.finish()?;
    Ok((kind, name))
}

fn encode_target(
    tag: u8,
    kind: TargetKind,
    name: &[u8],
    ctx: &'static str,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    write_message(out, Some(tag), ctx, |o| {
        o.push(kind.byte());
        put_cstr(o, name, ctx)
    })
}

impl<'a> Describe<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let (kind, name) = parse_target(body, "Describe")?;
        Ok(Describe { kind, name })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        encode_target(DESCRIBE_TAG, self.kind, self.name, "Describe", out)
    }
}

impl<'a> Close<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let (kind, name) = parse_target(body, "Close")?;
        Ok(Close { kind, name })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        encode_target(CLOSE_TAG, self.kind, self.name, "Close", out)
    }
}
