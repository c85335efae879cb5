//! An upstream's response head, read as h11's client side reads it (the
//! gateway's Python relay reads upstreams through h11): lines end with LF
//! or CRLF, obs-fold is unfolded, the status line may lack its reason.
use crate::error::{Error, ErrorKind};

use super::syntax::{header_lines, http_version, normalize, remote};
use super::{BodyFraming, Framing, Header};

/// The length of the first response head in `buf` (through the empty line
/// that ends it: `\n\n` or `\n\r\n`, h11's `maybe_extract_lines`); `None`
/// while it is incomplete. Refused at once, as h11 refuses them: a buffer
/// whose first byte is below `!` (an empty line, whitespace, a TLS record),
/// and an incomplete head past `limit` bytes (h11's
/// `max_incomplete_event_size`, 16 KiB for the gateway's upstreams).
pub fn find_response_head(buf: &[u8], limit: usize) -> Result<Option<usize>, Error> {
    match buf.first() {
        None => return Ok(None),
        Some(&b) if b < 0x21 => return Err(remote("a bad status line")),
        Some(_) => {}
    }
    let mut i = 0;
    while let Some(at) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + at;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\r'), Some(b'\n')) => return Ok(Some(nl + 3)),
            (Some(b'\n'), _) => return Ok(Some(nl + 2)),
            _ => i = nl + 1,
        }
    }
    if buf.len() > limit {
        return Err(Error::remote(
            ErrorKind::MessageTooLarge,
            0,
            "the response head is too long",
        ));
    }
    Ok(None)
}

/// A response head the gateway accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    /// The version's two digits.
    pub version: [u8; 2],
    /// The status code (100–999).
    pub status: u16,
    /// The reason phrase as sent (may be empty).
    pub reason: &'a [u8],
    /// The header fields in order (see [`super::RequestHead::headers`]).
    pub headers: Vec<Header<'a>>,
    /// What `Content-Length` / `Transfer-Encoding` say.
    pub framing: Framing,
}

impl ResponseHead<'_> {
    /// The first value of header `name` (compared without case).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_ref())
    }

    /// An interim (`1xx`) response: no body, another head follows.
    pub fn interim(&self) -> bool {
        self.status < 200
    }

    /// h11 refuses a `101 Switching Protocols` to a request that did not
    /// ask for an upgrade (the native relay forwards no upgrade: there, a
    /// `101` is the upstream breaking HTTP).
    pub fn check_switch(&self, upgrade_asked: bool) -> Result<(), Error> {
        if self.status == 101 && !upgrade_asked {
            return Err(remote("a 101 to a request that asked for no upgrade"));
        }
        Ok(())
    }

    /// The body's framing for a request made with `method`, as h11's
    /// `_body_framing` says (RFC 9112 6.3): none for `HEAD`, `204`, `304`
    /// and a `2xx` to `CONNECT`; then chunked before a length; without
    /// either, the body runs to the connection's end.
    pub fn body(&self, method: &[u8]) -> BodyFraming {
        if matches!(self.status, 204 | 304)
            || method == b"HEAD"
            || (method == b"CONNECT" && (200..300).contains(&self.status))
        {
            BodyFraming::Length(0)
        } else if self.framing.chunked {
            BodyFraming::Chunked
        } else if let Some(n) = self.framing.content_length {
            BodyFraming::Length(n)
        } else {
            BodyFraming::UntilClose
        }
    }

    /// Whether the upstream keeps the connection open after this response
    /// (HTTP/1.1 and no `close` token in `Connection`, h11's `_keep_alive`).
    pub fn keep_alive(&self) -> bool {
        self.version >= *b"11" && !super::has_token(&self.headers, b"connection", b"close")
    }
}

/// Parses a response head (`head` as [`find_response_head`] delimits it).
/// Refused: a status line that is not `HTTP/d.d SP ddd [SP reason]` (a
/// reason of any bytes but NUL, CR, LF, VT and FF) or whose code is below
/// 100, a header line h11 refuses (see [`super::RequestHead`]), a
/// continuation line first, and the `Content-Length` / `Transfer-Encoding`
/// rules (equal lengths repeated are merged, as h11 merges them).
pub fn parse_response_head(head: &[u8]) -> Result<ResponseHead<'_>, Error> {
    let mut lines: Vec<&[u8]> = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    if lines.len() < 3 || lines.iter().rev().take(2).any(|l| !l.is_empty()) {
        return Err(remote("a response head must end with an empty line"));
    }
    lines.truncate(lines.len() - 2);
    let (version, status, reason) = status_line(lines.first().copied().unwrap_or_default())?;
    let mut headers = header_lines(&lines[1..])?;
    let framing = normalize(&mut headers)?;
    Ok(ResponseHead {
        version,
        status,
        reason,
        headers,
        framing,
    })
}

fn status_line(line: &[u8]) -> Result<([u8; 2], u16, &[u8]), Error> {
    let bad = || remote("a bad status line");
    if line.len() < 12 || line[8] != b' ' {
        return Err(bad());
    }
    let version = http_version(&line[..8]).ok_or_else(bad)?;
    let mut status: u16 = 0;
    for &d in &line[9..12] {
        if !d.is_ascii_digit() {
            return Err(bad());
        }
        status = status * 10 + u16::from(d - b'0');
    }
    let reason = match line.get(12) {
        None => &line[12..],
        Some(b' ') => &line[13..],
        Some(_) => return Err(bad()),
    };
    if reason
        .iter()
        .any(|&b| matches!(b, 0x00 | 0x0a | 0x0b | 0x0c | 0x0d))
    {
        return Err(bad());
    }
    if status < 100 {
        return Err(remote("a status code below 100"));
    }
    Ok((version, status, reason))
}
