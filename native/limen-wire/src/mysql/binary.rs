//! Binary-protocol rows (COM_STMT_EXECUTE / COM_STMT_FETCH results) and
//! their rewriter.
//!
//! A binary row is `0x00`, a NULL bitmap of `(columns + 7 + 2) / 8` bytes
//! whose first two bits are unused, then the non-NULL values in the wire
//! form of each column's type (from its ColumnDefinition): length-encoded
//! strings for string, decimal, JSON, enum, set, bit and geometry types; 1,
//! 2, 4 or 8 bytes for integers and floats; a 1-byte length then that many
//! bytes for dates, datetimes, timestamps and times.
//! References: MariaDB "Resultset row" (binary resultset row, NULL bitmap)
//! and "Protocol Data Types"; MySQL `page_protocol_binary_resultset`.
use crate::error::{Error, ErrorKind};
use crate::mysql::codec::{put_lenenc_str, Reader};
use crate::mysql::framing::{write_packet, MAX_PHYSICAL};
use crate::pg::rewrite::{Action, Rewrite};

/// Column type codes (`enum_field_types`).
pub mod types {
    pub const DECIMAL: u8 = 0x00;
    pub const TINY: u8 = 0x01;
    pub const SHORT: u8 = 0x02;
    pub const LONG: u8 = 0x03;
    pub const FLOAT: u8 = 0x04;
    pub const DOUBLE: u8 = 0x05;
    pub const NULL: u8 = 0x06;
    pub const TIMESTAMP: u8 = 0x07;
    pub const LONGLONG: u8 = 0x08;
    pub const INT24: u8 = 0x09;
    pub const DATE: u8 = 0x0a;
    pub const TIME: u8 = 0x0b;
    pub const DATETIME: u8 = 0x0c;
    pub const YEAR: u8 = 0x0d;
    pub const NEWDATE: u8 = 0x0e;
    pub const VARCHAR: u8 = 0x0f;
    pub const BIT: u8 = 0x10;
    pub const JSON: u8 = 0xf5;
    pub const NEWDECIMAL: u8 = 0xf6;
    pub const ENUM: u8 = 0xf7;
    pub const SET: u8 = 0xf8;
    pub const TINY_BLOB: u8 = 0xf9;
    pub const MEDIUM_BLOB: u8 = 0xfa;
    pub const LONG_BLOB: u8 = 0xfb;
    pub const BLOB: u8 = 0xfc;
    pub const VAR_STRING: u8 = 0xfd;
    pub const STRING: u8 = 0xfe;
    pub const GEOMETRY: u8 = 0xff;
}

/// How a value of a column type is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A length-encoded string (replaceable by masking).
    Str,
    /// Fixed width, little-endian.
    Fixed(usize),
    /// A 1-byte length then that many bytes.
    Temporal,
    /// No bytes (the NULL type; always NULL in the bitmap).
    Empty,
}

/// The layout of a column type; `None` for a code the protocol does not
/// define for rows (refused: the row cannot be walked).
pub fn layout(column_type: u8) -> Option<Layout> {
    use types::*;
    Some(match column_type {
        TINY => Layout::Fixed(1),
        SHORT | YEAR => Layout::Fixed(2),
        LONG | INT24 | FLOAT => Layout::Fixed(4),
        LONGLONG | DOUBLE => Layout::Fixed(8),
        DATE | DATETIME | TIMESTAMP | TIME | NEWDATE => Layout::Temporal,
        NULL => Layout::Empty,
        DECIMAL | NEWDECIMAL | VARCHAR | BIT | JSON | ENUM | SET | TINY_BLOB | MEDIUM_BLOB
        | LONG_BLOB | BLOB | VAR_STRING | STRING | GEOMETRY => Layout::Str,
        _ => return None,
    })
}

/// One binary value as it is on the wire (without the length prefix of a
/// string or temporal value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryValue<'a> {
    Null,
    Str(&'a [u8]),
    Fixed(&'a [u8]),
    Temporal(&'a [u8]),
}

fn bitmap_len(columns: usize) -> usize {
    (columns + 7 + 2) / 8
}

fn is_null(bitmap: &[u8], i: usize) -> bool {
    let bit = i + 2;
    bitmap
        .get(bit / 8)
        .is_some_and(|b| b & (1 << (bit % 8)) != 0)
}

/// Walks a binary row: calls `f(index, value, raw_range)` for each column.
fn walk<'a>(
    payload: &'a [u8],
    types: &[u8],
    mut f: impl FnMut(usize, BinaryValue<'a>, (usize, usize)),
) -> Result<(), Error> {
    let mut r = Reader::new(payload, "binary row");
    if r.u8()? != 0 {
        return Err(Error::remote(ErrorKind::InvalidValue, 0, "binary row"));
    }
    let bitmap = r.bytes(bitmap_len(types.len()))?;
    for (i, &t) in types.iter().enumerate() {
        let start = r.position();
        let lay = layout(t).ok_or_else(|| r.err(ErrorKind::InvalidValue))?;
        let value = if is_null(bitmap, i) {
            BinaryValue::Null
        } else {
            match lay {
                Layout::Str => BinaryValue::Str(r.lenenc_str()?),
                Layout::Fixed(n) => BinaryValue::Fixed(r.bytes(n)?),
                Layout::Temporal => {
                    let n = usize::from(r.u8()?);
                    BinaryValue::Temporal(r.bytes(n)?)
                }
                Layout::Empty => BinaryValue::Null,
            }
        };
        f(i, value, (start, r.position()));
    }
    r.finish()
}

/// Validates a binary row against the column types and returns its values.
pub fn parse_binary_row<'a>(
    payload: &'a [u8],
    types: &[u8],
) -> Result<Vec<BinaryValue<'a>>, Error> {
    let mut out = Vec::with_capacity(types.len());
    walk(payload, types, |_, v, _| out.push(v))?;
    Ok(out)
}

/// One column's plan: action, raw byte range, replacement range in scratch.
type Step = (Action, (usize, usize), (usize, usize));

/// Rewrites binary rows, reusing buffers across rows.
#[derive(Debug)]
pub struct BinaryRowRewriter {
    scratch: Vec<u8>,
    payload: Vec<u8>,
    /// The plan of the row being rewritten and one value's replacement
    /// (kept, like the buffers above, so a row allocates nothing).
    plan: Vec<Step>,
    one: Vec<u8>,
    max_packet_size: usize,
}

impl BinaryRowRewriter {
    /// A rewriter that refuses to build a payload over `max_packet_size`.
    pub fn new(max_packet_size: usize) -> Self {
        BinaryRowRewriter {
            scratch: Vec::new(),
            payload: Vec::new(),
            plan: Vec::new(),
            one: Vec::new(),
            max_packet_size,
        }
    }

    /// Rewrites the binary row `payload` whose columns have `types`, as
    /// [`crate::mysql::TextRowRewriter::try_rewrite`] does for text rows.
    /// [`Action::Replace`] is only possible on string-typed columns (a
    /// replacement of a number or a date is a local error: use
    /// [`Action::Null`] there); [`Action::Null`] sets the column's bit in
    /// the NULL bitmap and drops its bytes.
    pub fn try_rewrite<F>(
        &mut self,
        payload: &[u8],
        types: &[u8],
        seq: u8,
        out: &mut Vec<u8>,
        mut f: F,
    ) -> Result<(Rewrite, u8), Error>
    where
        F: FnMut(usize, BinaryValue<'_>, &mut Vec<u8>) -> Action,
    {
        // Per column: what to do, its raw range, and the replacement
        // (offset and length in `self.scratch`, which collects them all).
        let plan = &mut self.plan;
        plan.clear();
        let mut bad = false;
        let mut changed = false;
        let one = &mut self.one;
        let all = &mut self.scratch;
        all.clear();
        walk(payload, types, |i, v, range| {
            one.clear();
            let action = f(i, v, one);
            let differs = match (action, v) {
                (Action::Keep, _) | (Action::Null, BinaryValue::Null) => false,
                (Action::Null, _) => true,
                (Action::Replace, BinaryValue::Str(s)) => s != one.as_slice(),
                (Action::Replace, BinaryValue::Null) if layout(types[i]) == Some(Layout::Str) => {
                    true
                }
                (Action::Replace, _) => {
                    bad = true;
                    false
                }
            };
            changed |= differs;
            let rep = (all.len(), one.len());
            if differs && action == Action::Replace {
                all.extend_from_slice(one);
            }
            plan.push((if differs { action } else { Action::Keep }, range, rep));
        })?;
        if bad {
            return Err(Error::local(ErrorKind::InvalidValue, "binary row rewrite"));
        }
        if !changed {
            let parts = (payload.len() / MAX_PHYSICAL + 1) as u8;
            return Ok((Rewrite::Unchanged, seq.wrapping_add(parts)));
        }
        let head = 1 + bitmap_len(types.len());
        self.payload.clear();
        self.payload.extend_from_slice(&payload[..head]);
        for (i, &(action, (start, end), (at, len))) in self.plan.iter().enumerate() {
            let (byte, mask) = (1 + (i + 2) / 8, 1u8 << ((i + 2) % 8));
            match action {
                Action::Keep => self.payload.extend_from_slice(&payload[start..end]),
                Action::Null => self.payload[byte] |= mask,
                Action::Replace => {
                    self.payload[byte] &= !mask;
                    put_lenenc_str(&mut self.payload, &self.scratch[at..at + len]);
                }
            }
            if self.payload.len() > self.max_packet_size {
                return Err(Error::local(
                    ErrorKind::MessageTooLarge,
                    "binary row rewrite",
                ));
            }
        }
        let next = write_packet(out, seq, &self.payload);
        Ok((Rewrite::Changed, next))
    }
}

/// Appends a binary row of `values` for columns of `types` (for tests and
/// for rows the gateway makes itself). A value whose form does not fit its
/// column's layout is a local error.
pub fn encode_binary_row(
    out: &mut Vec<u8>,
    types: &[u8],
    values: &[BinaryValue<'_>],
) -> Result<(), Error> {
    let bad = || Error::local(ErrorKind::InvalidValue, "binary row encode");
    if types.len() != values.len() {
        return Err(bad());
    }
    out.push(0);
    let map_at = out.len();
    out.resize(map_at + bitmap_len(types.len()), 0);
    for (i, (&t, v)) in types.iter().zip(values).enumerate() {
        match (layout(t).ok_or_else(bad)?, *v) {
            (_, BinaryValue::Null) | (Layout::Empty, _) => {
                out[map_at + (i + 2) / 8] |= 1 << ((i + 2) % 8);
            }
            (Layout::Str, BinaryValue::Str(s)) => put_lenenc_str(out, s),
            (Layout::Fixed(n), BinaryValue::Fixed(b)) if b.len() == n => out.extend_from_slice(b),
            (Layout::Temporal, BinaryValue::Temporal(b)) if b.len() < 256 => {
                out.push(b.len() as u8);
                out.extend_from_slice(b);
            }
            _ => return Err(bad()),
        }
    }
    Ok(())
}
