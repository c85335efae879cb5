//! The array views a `Reader` gives: validated once when parsed, then
//! read without allocation or further checks that could fail.
use super::Reader;
use crate::error::Error;

/// A validated array of big-endian i16 values (format codes).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct I16Array<'a> {
    pub(super) raw: &'a [u8],
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
    pub(super) raw: &'a [u8],
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
    pub(super) raw: &'a [u8],
    pub(super) count: usize,
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
