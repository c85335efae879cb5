//! The chunked transfer coding, read and written as h11 reads and writes
//! it (h11's `ChunkedReader` and `ChunkedWriter`).
//!
//! A chunk-size line is 1 to 20 hex digits, then either `;` and any bytes
//! but LF (extensions, ignored) or SP / HTAB, then CRLF; each chunk's data
//! is followed by exactly CRLF; the trailer after the last chunk is header
//! lines as an upstream's head has them (LF or CRLF, obs-fold unfolded,
//! h11's `Content-Length` / `Transfer-Encoding` rules), checked and
//! dropped. A line the decoder must wait for is capped: past `limit` bytes
//! still incomplete, it is refused (h11's `max_incomplete_event_size`).
use crate::error::{Error, ErrorKind};

use super::syntax::{header_lines, normalize, remote};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line (bytes so far in `line`).
    Size,
    /// This many data bytes of the chunk are still to come.
    Data(u128),
    /// The CRLF after a chunk's data; this many of its bytes seen.
    DataEnd(u8),
    /// Reading the trailer (bytes so far in `line`).
    Trailer,
    /// The last chunk and the trailer were read.
    Done,
    /// A refused body: the decoder stays failed.
    Failed,
}

/// A streaming decoder of one chunked body (sans-IO).
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
    limit: usize,
}

impl ChunkedDecoder {
    /// A decoder whose incomplete chunk-size line or trailer may not
    /// exceed `limit` bytes.
    pub fn new(limit: usize) -> Self {
        ChunkedDecoder {
            state: State::Size,
            line: Vec::new(),
            limit,
        }
    }

    /// True once the body has ended (the last chunk and its trailer read).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes held between calls (an incomplete line).
    pub fn pending(&self) -> usize {
        self.line.len()
    }

    /// Decodes `input`, appending the body's data to `out`; returns how
    /// many bytes of `input` belong to the body: all of them until the
    /// body ends, then the rest is the next message's. After an error the
    /// decoder stays failed.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, Error> {
        let r = self.step(input, out);
        if r.is_err() {
            self.state = State::Failed;
            self.line = Vec::new();
        }
        r
    }

    fn step(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, Error> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Failed => {
                    return Err(Error::remote(ErrorKind::Poisoned, 0, "a chunked body"))
                }
                State::Done => return Ok(pos),
                State::Size => match self.size_line(&input[pos..])? {
                    (used, Some(size)) => {
                        pos += used;
                        self.state = if size == 0 {
                            State::Trailer
                        } else {
                            State::Data(size)
                        };
                    }
                    (_, None) => return Ok(input.len()),
                },
                State::Data(left) => {
                    let avail = input.len() - pos;
                    if avail == 0 {
                        return Ok(pos);
                    }
                    let take = usize::try_from(left).map_or(avail, |l| l.min(avail));
                    out.extend_from_slice(&input[pos..pos + take]);
                    pos += take;
                    let left = left - take as u128;
                    self.state = if left == 0 {
                        State::DataEnd(0)
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd(seen) => {
                    let Some(&b) = input.get(pos) else {
                        return Ok(pos);
                    };
                    let want = if seen == 0 { b'\r' } else { b'\n' };
                    if b != want {
                        return Err(remote("a chunk's data not followed by CRLF"));
                    }
                    pos += 1;
                    self.state = if seen == 0 {
                        State::DataEnd(1)
                    } else {
                        State::Size
                    };
                }
                State::Trailer => match self.trailer(&input[pos..])? {
                    Some(used) => {
                        pos += used;
                        self.state = State::Done;
                    }
                    None => return Ok(input.len()),
                },
            }
        }
    }

    /// Reads the chunk-size line from `input` (after what `line` holds):
    /// `(bytes used, Some(size))` when it is complete, `(all, None)` when
    /// more is needed.
    fn size_line(&mut self, input: &[u8]) -> Result<(usize, Option<u128>), Error> {
        let end = if self.line.last() == Some(&b'\r') && input.first() == Some(&b'\n') {
            Some(1)
        } else {
            super::request::find(input, b"\r\n").map(|at| at + 2)
        };
        let Some(end) = end else {
            self.line.extend_from_slice(input);
            if self.line.len() > self.limit {
                return Err(Error::remote(
                    ErrorKind::MessageTooLarge,
                    0,
                    "a chunk-size line too long",
                ));
            }
            return Ok((input.len(), None));
        };
        let size = if self.line.is_empty() {
            chunk_size(&input[..end - 2])?
        } else {
            self.line.extend_from_slice(&input[..end]);
            let line = std::mem::take(&mut self.line);
            chunk_size(&line[..line.len() - 2])?
        };
        Ok((end, Some(size)))
    }

    /// Reads the trailer: `Some(bytes of input used)` when it is complete.
    fn trailer(&mut self, input: &[u8]) -> Result<Option<usize>, Error> {
        let before = self.line.len();
        self.line.extend_from_slice(input);
        let end = match self.line.as_slice() {
            [b'\n', ..] => Some(1),
            [b'\r', b'\n', ..] => Some(2),
            all => blank_line_end(all),
        };
        let Some(end) = end else {
            if self.line.len() > self.limit {
                return Err(Error::remote(
                    ErrorKind::MessageTooLarge,
                    0,
                    "a chunked trailer too long",
                ));
            }
            return Ok(None);
        };
        let block = std::mem::take(&mut self.line);
        let block = &block[..end];
        if end > 2 {
            let mut lines: Vec<&[u8]> = block
                .split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .collect();
            lines.truncate(lines.len().saturating_sub(2));
            let mut fields = header_lines(&lines)?;
            normalize(&mut fields)?;
        }
        // a blank line within `before` would have ended the trailer then
        Ok(Some(end.saturating_sub(before)))
    }
}

/// The end of the first `\n\n` or `\n\r\n` in `buf` (h11's blank line).
fn blank_line_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(at) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + at;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\r'), Some(b'\n')) => return Some(nl + 3),
            (Some(b'\n'), _) => return Some(nl + 2),
            _ => i = nl + 1,
        }
    }
    None
}

/// A chunk-size line without its CRLF: 1–20 hex digits, then `;` and
/// anything but LF, or only SP / HTAB.
fn chunk_size(line: &[u8]) -> Result<u128, Error> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 20 {
        return Err(remote("a bad chunk size"));
    }
    let rest = &line[digits..];
    let ok = match rest.first() {
        Some(b';') => !rest.contains(&b'\n'),
        _ => rest.iter().all(|&b| b == b' ' || b == b'\t'),
    };
    if !ok {
        return Err(remote("a bad chunk-size line"));
    }
    let mut size: u128 = 0;
    for &d in &line[..digits] {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => d.wrapping_sub(b'A').wrapping_add(10),
        };
        size = (size << 4) | u128::from(v & 0x0f);
    }
    Ok(size)
}

/// Writes `data` as one chunk (nothing for empty data, as h11).
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    use std::io::Write;
    // writing to a Vec cannot fail
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Writes the last chunk and an empty trailer.
pub fn encode_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}
