//! The byte classes and line rules of HTTP/1.1 heads, as h11 0.16 reads
//! them (its `_abnf.py` regular expressions, written out as loops), and the
//! `Content-Length` / `Transfer-Encoding` rules of its
//! `normalize_and_validate`.
use std::borrow::Cow;

use crate::error::{Error, ErrorKind};

use super::Header;

/// `tchar` (RFC 9110 5.6.2): what a method or a header name is made of.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `VCHAR`: what a request target is made of.
pub(crate) fn is_vchar(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
}

/// h11's `field_vchar`, `[^\x00\s]` on bytes: anything but NUL and the
/// ASCII whitespace of Python's `re` (`\t \n \v \f \r` and space). Control
/// bytes, DEL and obs-text pass (h11 lets them through).
pub(crate) fn is_field_vchar(b: u8) -> bool {
    !matches!(b, 0x00 | 0x09..=0x0d | 0x20)
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `s` without leading and trailing SP / HTAB.
pub(crate) fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_ows(b)).map_or(start, |i| i + 1);
    &s[start..end.max(start)]
}

/// A header field value h11 accepts (OWS already trimmed): field-vchars,
/// with SP / HTAB only between them (the trim leaves none at the ends).
fn is_field_value(v: &[u8]) -> bool {
    v.iter().all(|&b| is_field_vchar(b) || is_ows(b))
}

pub(crate) fn remote(context: &'static str) -> Error {
    Error::remote(ErrorKind::InvalidValue, 0, context)
}

/// One header line (`name ":" OWS value OWS`), as h11's `header_field`
/// regex matches it: the name as sent and the value without its OWS.
pub(crate) fn field_line(line: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| remote("a header line without a colon"))?;
    let (name, rest) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(remote("a header name that is not a token"));
    }
    let value = trim_ows(rest);
    if !is_field_value(value) {
        return Err(remote("a header value with a byte HTTP forbids"));
    }
    Ok((name, value))
}

/// h11's `_obsolete_line_fold` and `_decode_header_lines`: a line that
/// starts with SP / HTAB continues the previous one (joined by one SP,
/// its leading whitespace dropped); each resulting line is a header field.
/// (Request heads never get here with a fold: [`super::request`] refuses
/// obs-fold first.)
pub(crate) fn header_lines<'a>(lines: &[&'a [u8]]) -> Result<Vec<Header<'a>>, Error> {
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.first().copied().is_some_and(is_ows) {
            return Err(remote("a continuation line at the start of the headers"));
        }
        let mut j = i + 1;
        while j < lines.len() && lines[j].first().copied().is_some_and(is_ows) {
            j += 1;
        }
        if j == i + 1 {
            let (name, value) = field_line(line)?;
            out.push(Header {
                name: Cow::Borrowed(name),
                value: Cow::Borrowed(value),
            });
        } else {
            let mut joined = line.to_vec();
            for cont in &lines[i + 1..j] {
                let skip = cont.iter().position(|&b| !is_ows(b)).unwrap_or(cont.len());
                joined.push(b' ');
                joined.extend_from_slice(&cont[skip..]);
            }
            let (name, value) = field_line(&joined)?;
            out.push(Header {
                name: Cow::Owned(name.to_vec()),
                value: Cow::Owned(value.to_vec()),
            });
        }
        i = j;
    }
    Ok(out)
}

/// What a head's `Content-Length` and `Transfer-Encoding` say, after
/// h11's `normalize_and_validate`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Framing {
    /// The `Content-Length` (up to 20 digits: wider than `u64`, as h11).
    pub content_length: Option<u128>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

/// h11's `normalize_and_validate` on parsed headers: a `Content-Length`
/// is one run of 1 to 20 digits (a comma list of equal values, or the same
/// header again with an equal value, is merged into the first; unequal
/// values are refused); `Transfer-Encoding` at most once and only
/// `chunked` (its value lowered). `headers` is rewritten as h11 keeps it.
pub(crate) fn normalize(headers: &mut Vec<Header<'_>>) -> Result<Framing, Error> {
    let mut framing = Framing::default();
    let mut seen_length: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < headers.len() {
        let h = &mut headers[i];
        if h.name.eq_ignore_ascii_case(b"content-length") {
            let mut parts = h.value.split(|&b| b == b',').map(trim_ascii_space);
            let first = parts.next().unwrap_or_default();
            if parts.any(|p| p != first) {
                return Err(remote("conflicting Content-Length headers"));
            }
            if first.is_empty() || first.len() > 20 || !first.iter().all(u8::is_ascii_digit) {
                return Err(remote("a bad Content-Length"));
            }
            let first = first.to_vec();
            match &seen_length {
                None => {
                    let mut n: u128 = 0;
                    for &d in &first {
                        n = n * 10 + u128::from(d - b'0');
                    }
                    framing.content_length = Some(n);
                    h.value = Cow::Owned(first.clone());
                    seen_length = Some(first);
                }
                Some(seen) if *seen == first => {
                    headers.remove(i);
                    continue;
                }
                Some(_) => return Err(remote("conflicting Content-Length headers")),
            }
        } else if h.name.eq_ignore_ascii_case(b"transfer-encoding") {
            if framing.chunked {
                return Err(remote("more than one Transfer-Encoding"));
            }
            if !h.value.eq_ignore_ascii_case(b"chunked") {
                return Err(remote("the only Transfer-Encoding accepted is chunked"));
            }
            if h.value.as_ref() != b"chunked" {
                h.value = Cow::Owned(b"chunked".to_vec());
            }
            framing.chunked = true;
        }
        i += 1;
    }
    Ok(framing)
}

/// Python's `bytes.strip()` (values hold no whitespace but SP / HTAB).
fn trim_ascii_space(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// `HTTP/` DIGIT `.` DIGIT: the version's two digits.
pub(crate) fn http_version(s: &[u8]) -> Option<[u8; 2]> {
    match s {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Some([*major, *minor])
        }
        _ => None,
    }
}
