//! Primitive readers and writers shared by every PostgreSQL message file.
//!
//! [`Reader`] walks a message body with bounds checks on every step and
//! reports errors with the offset inside the body (the decoders shift it to
//! the stream offset). The array views ([`I16Array`], [`U32Array`],
//! [`Values`]) are validated once when parsed and then read without
//! allocation or further checks that could fail.
use crate::error::{Error, ErrorKind};

/// A bounds-checked cursor over a message body.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    ctx: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], ctx: &'static str) -> Self {
        Reader { buf, pos: 0, ctx }
    }

    pub(crate) fn err(&self, kind: ErrorKind) -> Error {
        Error::remote(kind, self.pos as u64, self.ctx)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let out = &self.buf[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(self.err(ErrorKind::Truncated)),
        }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn i16(&mut self) -> Result<i16, Error> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, Error> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A non-negative i16 count.
    pub(crate) fn count16(&mut self) -> Result<usize, Error> {
        let at = self.pos;
        let n = self.i16()?;
        usize::try_from(n).map_err(|_| Error::remote(ErrorKind::NegativeCount, at as u64, self.ctx))
    }

    /// A NUL-terminated string, returned without its NUL.
    pub(crate) fn cstr(&mut self) -> Result<&'a [u8], Error> {
        let rest = &self.buf[self.pos..];
        match rest.iter().position(|&b| b == 0) {
            Some(n) => {
                let out = &rest[..n];
                self.pos += n + 1;
                Ok(out)
            }
            None => Err(self.err(ErrorKind::MissingNul)),
        }
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(self.err(ErrorKind::TrailingBytes))
        }
    }

    /// `count` i16 values, as a view.
    pub(crate) fn i16_array(&mut self, count: usize) -> Result<I16Array<'a>, Error> {
        let len = count
            .checked_mul(2)
            .ok_or_else(|| self.err(ErrorKind::Truncated))?;
        Ok(I16Array {
            raw: self.bytes(len)?,
        })
    }

    /// An i16 count followed by that many i16 values.
    pub(crate) fn counted_i16_array(&mut self) -> Result<I16Array<'a>, Error> {
        let n = self.count16()?;
        self.i16_array(n)
    }

    /// An i16 count followed by that many u32 values.
    pub(crate) fn counted_u32_array(&mut self) -> Result<U32Array<'a>, Error> {
        let n = self.count16()?;
        let len = n * 4;
        Ok(U32Array {
            raw: self.bytes(len)?,
        })
    }

    /// An i16 count followed by that many (i32 length, bytes) values, where
    /// a length of -1 is NULL.
    pub(crate) fn values(&mut self) -> Result<Values<'a>, Error> {
        let count = self.count16()?;
        let start = self.pos;
        for _ in 0..count {
            let at = self.pos;
            let len = self.i32()?;
            if len == -1 {
                continue;
            }
            let len = usize::try_from(len)
                .map_err(|_| Error::remote(ErrorKind::NegativeCount, at as u64, self.ctx))?;
            self.bytes(len)?;
        }
        Ok(Values {
            raw: &self.buf[start..self.pos],
            count,
        })
    }
}

/// A validated array of big-endian i16 values (format codes).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct I16Array<'a> {
    raw: &'a [u8],
}

impl<'a> I16Array<'a> {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.raw.len() / 2
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The value at `i`, if any.
    pub fn get(&self, i: usize) -> Option<i16> {
        let b = self
            .raw
            .get(i.checked_mul(2)?..i.checked_mul(2)?.checked_add(2)?)?;
        Some(i16::from_be_bytes([b[0], b[1]]))
    }

    /// The values in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = i16> + 'a {
        self.raw
            .chunks_exact(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
    }

    /// The values as a vector.
    pub fn to_vec(&self) -> Vec<i16> {
        self.iter().collect()
    }
}

impl core::fmt::Debug for I16Array<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A validated array of big-endian u32 values (type OIDs).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct U32Array<'a> {
    raw: &'a [u8],
}

impl<'a> U32Array<'a> {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.raw.len() / 4
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The value at `i`, if any.
    pub fn get(&self, i: usize) -> Option<u32> {
        let start = i.checked_mul(4)?;
        let b = self.raw.get(start..start.checked_add(4)?)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The values in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        self.raw
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The values as a vector.
    pub fn to_vec(&self) -> Vec<u32> {
        self.iter().collect()
    }
}

impl core::fmt::Debug for U32Array<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A validated list of length-prefixed values (Bind parameters, DataRow
/// columns, FunctionCall arguments); `None` is SQL NULL. Borrowed, no copy.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Values<'a> {
    raw: &'a [u8],
    count: usize,
}

impl<'a> Values<'a> {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The values in order.
    pub fn iter(&self) -> ValuesIter<'a> {
        ValuesIter {
            raw: self.raw,
            left: self.count,
        }
    }

    /// The value at `i` (walks the list: O(i)).
    pub fn get(&self, i: usize) -> Option<Option<&'a [u8]>> {
        self.iter().nth(i)
    }

    /// The values as a vector of borrowed slices.
    pub fn to_vec(&self) -> Vec<Option<&'a [u8]>> {
        self.iter().collect()
    }

    /// The encoded values, without the leading count.
    pub(crate) fn raw(&self) -> &'a [u8] {
        self.raw
    }
}

impl core::fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|v| v.map(<[u8]>::len)))
            .finish()
    }
}

/// Iterator over [`Values`]. The list was validated when parsed, so the
/// walk cannot fail; a malformed tail (impossible by construction) ends it.
#[derive(Clone, Debug)]
pub struct ValuesIter<'a> {
    raw: &'a [u8],
    left: usize,
}

impl<'a> Iterator for ValuesIter<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let (len, rest) = split_i32(self.raw)?;
        self.left -= 1;
        if len < 0 {
            self.raw = rest;
            return Some(None);
        }
        let len = usize::try_from(len).ok()?;
        let value = rest.get(..len)?;
        self.raw = &rest[len..];
        Some(Some(value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

fn split_i32(b: &[u8]) -> Option<(i32, &[u8])> {
    let head = b.get(..4)?;
    Some((
        i32::from_be_bytes([head[0], head[1], head[2], head[3]]),
        &b[4..],
    ))
}

/// A list of NUL-terminated strings ended by an empty string (SASL
/// mechanism lists). Validated when parsed.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct StrList<'a> {
    raw: &'a [u8],
}

impl<'a> StrList<'a> {
    pub(crate) fn try_parse(r: &mut Reader<'a>) -> Result<Self, Error> {
        let start_rest = r.rest_peek();
        let mut used = 0usize;
        loop {
            let s = r.cstr()?;
            used += s.len() + 1;
            if s.is_empty() {
                break;
            }
        }
        Ok(StrList {
            raw: &start_rest[..used],
        })
    }

    /// The strings in order (without the empty terminator).
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.raw.split(|&b| b == 0).take_while(|s| !s.is_empty())
    }

    /// True when `s` is in the list.
    pub fn contains(&self, s: &[u8]) -> bool {
        self.iter().any(|x| x == s)
    }

    pub(crate) fn raw(&self) -> &'a [u8] {
        self.raw
    }
}

impl core::fmt::Debug for StrList<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn rest_peek(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
}

/// Writes one message: tag (if any), a length placeholder, the body written
/// by `body`, then the patched length. On error, `out` is left as it was.
pub(crate) fn write_message(
    out: &mut Vec<u8>,
    tag: Option<u8>,
    ctx: &'static str,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
) -> Result<(), Error> {
    let start = out.len();
    if let Some(t) = tag {
        out.push(t);
    }
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let result = body(out).and_then(|()| {
        let len = out.len() - len_at;
        let len = i32::try_from(len).map_err(|_| Error::local(ErrorKind::MessageTooLarge, ctx))?;
        out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Writes `s` and its NUL terminator; `s` may not contain a NUL.
pub(crate) fn put_cstr(out: &mut Vec<u8>, s: &[u8], ctx: &'static str) -> Result<(), Error> {
    if s.contains(&0) {
        return Err(Error::local(ErrorKind::InteriorNul, ctx));
    }
    out.extend_from_slice(s);
    out.push(0);
    Ok(())
}

pub(crate) fn put_i16(out: &mut Vec<u8>, v: i16) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// An i16 count, failing (locally) above i16::MAX.
pub(crate) fn put_count(out: &mut Vec<u8>, n: usize, ctx: &'static str) -> Result<(), Error> {
    let n = i16::try_from(n).map_err(|_| Error::local(ErrorKind::InvalidValue, ctx))?;
    put_i16(out, n);
    Ok(())
}

/// An i16 count and the values, each as (i32 length, bytes) or -1 for NULL.
pub(crate) fn put_values(
    out: &mut Vec<u8>,
    values: &[Option<&[u8]>],
    ctx: &'static str,
) -> Result<(), Error> {
    put_count(out, values.len(), ctx)?;
    for v in values {
        put_value(out, *v, ctx)?;
    }
    Ok(())
}

/// One (i32 length, bytes) value, -1 for NULL.
pub(crate) fn put_value(
    out: &mut Vec<u8>,
    v: Option<&[u8]>,
    ctx: &'static str,
) -> Result<(), Error> {
    match v {
        None => put_i32(out, -1),
        Some(b) => {
            let n = i32::try_from(b.len())
                .map_err(|_| Error::local(ErrorKind::MessageTooLarge, ctx))?;
            put_i32(out, n);
            out.extend_from_slice(b);
        }
    }
    Ok(())
}

pub(crate) fn put_i16s(out: &mut Vec<u8>, v: &[i16], ctx: &'static str) -> Result<(), Error> {
    put_count(out, v.len(), ctx)?;
    for x in v {
        put_i16(out, *x);
    }
    Ok(())
}

impl Reader<'_> {
    /// Current position in the body.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }
}
