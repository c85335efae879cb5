//! A client's request head: found in the connection's buffer and checked
//! as the gateway's Python reader checks it — the raw refusals of
//! `limen.gateway.http.head` (`split_head`, `check_head`) and then h11's
//! grammar and header rules — in one pass.
use crate::error::{Error, ErrorKind};

use super::syntax::{field_line, http_version, is_tchar, is_vchar, normalize, remote, trim_ows};
use super::{BodyFraming, Framing, Header};

const END: &[u8] = b"\r\n\r\n";

/// `(start, end)` of the first request head in `buf` (`end` past its
/// CRLFCRLF), skipping the empty lines a client may send first; `None`
/// while it is incomplete. A head (or the incomplete rest of the buffer)
/// longer than `limit` bytes is refused: the buffer never needs to hold
/// more than `limit` bytes and one read.
pub fn find_request_head(buf: &[u8], limit: usize) -> Result<Option<(usize, usize)>, Error> {
    let mut start = 0;
    while buf[start..].starts_with(b"\r\n") {
        start += 2;
    }
    let too_long = || {
        Error::remote(
            ErrorKind::MessageTooLarge,
            0,
            "the request head is too long",
        )
    };
    match find(&buf[start..], END) {
        None if buf.len() - start > limit => Err(too_long()),
        None => Ok(None),
        Some(at) if at + 4 > limit => Err(too_long()),
        Some(at) => Ok(Some((start, start + at + 4))),
    }
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A request head the gateway accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// The method as sent (a token; the gateway compares it upper-cased).
    pub method: &'a [u8],
    /// The request target as sent (visible ASCII).
    pub target: &'a [u8],
    /// The version's two digits (`*b"11"` for HTTP/1.1).
    pub version: [u8; 2],
    /// The header fields in order: names as sent, values without their
    /// surrounding whitespace (`Transfer-Encoding` lowered, as h11 keeps it).
    pub headers: Vec<Header<'a>>,
    /// What `Content-Length` / `Transfer-Encoding` say.
    pub framing: Framing,
}

impl RequestHead<'_> {
    /// The first value of header `name` (compared without case).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_ref())
    }

    /// The request body's framing: chunked, a length, or none.
    pub fn body(&self) -> BodyFraming {
        if self.framing.chunked {
            BodyFraming::Chunked
        } else {
            BodyFraming::Length(self.framing.content_length.unwrap_or(0))
        }
    }

    /// Whether the connection may stay open after this exchange (the
    /// Python reader's `keep_alive`: HTTP/1.1 and no `close` token in any
    /// `Connection` header).
    pub fn keep_alive(&self) -> bool {
        self.version == *b"11" && !super::has_token(&self.headers, b"connection", b"close")
    }
}

/// Parses a request head (`head` ends with CRLFCRLF and starts at the
/// request line, as [`find_request_head`] finds it). Refused, as the Python
/// reader refuses them: a bare CR or LF, obs-fold, a header line without a
/// colon or with whitespace before it, a name that is not a token, a value
/// with a forbidden byte, `Content-Length` twice, as a list or not 1–20
/// digits, `Transfer-Encoding` twice or other than `chunked`, both of them,
/// `Host` twice, or missing in HTTP/1.1, and a request line that is not
/// `token SP visible-ASCII SP HTTP/d.d`.
pub fn parse_request_head(head: &[u8]) -> Result<RequestHead<'_>, Error> {
    let body = head
        .strip_suffix(END)
        .ok_or_else(|| remote("a request head must end with an empty line"))?;
    check_line_ends(body)?;
    let mut lines = body
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or_default();
    let (method, target, version) = request_line(first)?;
    let mut headers = Vec::new();
    let (mut lengths, mut encodings, mut hosts) = (0usize, 0usize, 0usize);
    for line in lines {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(remote("obsolete line folding (obs-fold) is not accepted"));
        }
        let (name, value) = field_line(line)?;
        if name.eq_ignore_ascii_case(b"content-length") {
            lengths += 1;
            if value.contains(&b',') {
                return Err(remote("a Content-Length list is ambiguous"));
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            encodings += 1;
            if !trim_ows(value).eq_ignore_ascii_case(b"chunked") {
                return Err(remote("the only Transfer-Encoding accepted is chunked"));
            }
        } else if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        }
        headers.push(Header::borrowed(name, value));
    }
    if lengths > 1 {
        return Err(remote("more than one Content-Length"));
    }
    if encodings > 1 {
        return Err(remote("more than one Transfer-Encoding"));
    }
    if lengths > 0 && encodings > 0 {
        return Err(remote("both Content-Length and Transfer-Encoding"));
    }
    if hosts > 1 {
        return Err(remote("more than one Host"));
    }
    if hosts == 0 && version == *b"11" {
        return Err(remote("an HTTP/1.1 request without Host"));
    }
    let framing = normalize(&mut headers)?;
    Ok(RequestHead {
        method,
        target,
        version,
        headers,
        framing,
    })
}

/// Every CR is followed by LF and every LF follows a CR.
fn check_line_ends(body: &[u8]) -> Result<(), Error> {
    let bare = || remote("a header line must end with CRLF (bare CR or LF)");
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'\r' if body.get(i + 1) != Some(&b'\n') => return Err(bare()),
            b'\n' if i == 0 || body[i - 1] != b'\r' => return Err(bare()),
            _ => {}
        }
    }
    Ok(())
}

/// A request line's method, target and version digits.
type RequestLine<'a> = (&'a [u8], &'a [u8], [u8; 2]);

/// `method SP target SP HTTP/d.d`, single spaces.
fn request_line(line: &[u8]) -> Result<RequestLine<'_>, Error> {
    let bad = || remote("a bad request line");
    let sp = line.iter().position(|&b| b == b' ').ok_or_else(bad)?;
    let method = &line[..sp];
    let rest = &line[sp + 1..];
    let sp2 = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
    let target = &rest[..sp2];
    let version = http_version(&rest[sp2 + 1..]).ok_or_else(bad)?;
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(bad());
    }
    if target.is_empty() || !target.iter().all(|&b| is_vchar(b)) {
        return Err(bad());
    }
    Ok((method, target, version))
}
