//! Incremental framing: bytes in, complete frames out.
//!
//! The `Framer` keeps one buffer. Each frame's length field is checked
//! against [`Limits`] as soon as its header is buffered and before anything
//! else happens with it; nothing is ever allocated from a length field, the
//! buffer only grows with bytes actually received, and its capacity never
//! passes [`Limits::max_buffer`]. Frames are handed out as borrowed slices of
//! the buffer, raw bytes and body side by side, so a relay can forward a
//! message untouched.
use crate::error::{Error, ErrorKind};

/// Size limits for one decoder. Every limit is configuration with a default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted, counting the 4-byte length field but not
    /// the type byte (the value of the length field). Default 64 MiB.
    pub max_message_size: usize,
    /// Largest startup-phase packet (StartupMessage, CancelRequest, ...).
    /// Default 10 000 bytes, the cap PostgreSQL itself applies.
    pub max_startup_size: usize,
    /// Largest chunk the caller feeds in one `receive_data` call. The buffer
    /// never holds more than `max_message_size + 5 + max_chunk` bytes.
    /// Default 1 MiB.
    pub max_chunk: usize,
    /// Largest client message before the caller marks the client
    /// authenticated ([`crate::pg::FrontendDecoder::set_authenticated`]):
    /// an unauthenticated peer cannot make the gateway buffer more than
    /// this. Default 64 KiB (room for a large token as the password).
    pub max_unauthenticated_size: usize,
}

impl Limits {
    /// Default message cap: 64 MiB.
    pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;
    /// Default startup packet cap (PostgreSQL's own).
    pub const DEFAULT_MAX_STARTUP_SIZE: usize = 10_000;
    /// Default largest chunk per feed: 1 MiB.
    pub const DEFAULT_MAX_CHUNK: usize = 1 << 20;
    /// Default cap on a client message before authentication: 64 KiB.
    pub const DEFAULT_MAX_UNAUTHENTICATED_SIZE: usize = 64 << 10;

    /// The most bytes a decoder buffer will ever hold.
    pub fn max_buffer(&self) -> usize {
        self.max_message_size
            .max(self.max_startup_size)
            .saturating_add(5)
            .saturating_add(self.max_chunk)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            max_startup_size: Self::DEFAULT_MAX_STARTUP_SIZE,
            max_chunk: Self::DEFAULT_MAX_CHUNK,
            max_unauthenticated_size: Self::DEFAULT_MAX_UNAUTHENTICATED_SIZE,
        }
    }
}

/// One complete message as it was received: the raw bytes (type byte if
/// any, length, body) and where it started in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    tag: Option<u8>,
    raw: &'a [u8],
    header: usize,
    offset: u64,
}

impl<'a> Frame<'a> {
    /// The type byte; `None` for startup-phase packets (no type byte) and
    /// for the single-byte encryption response.
    pub fn tag(&self) -> Option<u8> {
        self.tag
    }

    /// The whole message exactly as received: forward this untouched.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The body after the type byte and length field.
    pub fn body(&self) -> &'a [u8] {
        &self.raw[self.header..]
    }

    /// Offset of the message's first byte in the stream.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Offset of the body's first byte in the stream.
    pub fn body_offset(&self) -> u64 {
        self.offset + self.header as u64
    }
}

/// How the next frame's header looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// Type byte then i32 length (the regular phase).
    Tagged,
    /// i32 length only (startup packets).
    Untagged,
    /// One byte, no length (the reply to SSLRequest / GSSENCRequest).
    SingleByte,
}

/// Tells, from the start of `buf`, whether a complete frame is there and how
/// long it is. Checks the length field against the limits before anything.
/// `offset` is the stream offset of `buf[0]`, used for errors; `cap`, when
/// given, lowers the cap for tagged messages.
pub(crate) fn frame_len(
    buf: &[u8],
    header: Header,
    limits: &Limits,
    cap: Option<usize>,
    offset: u64,
) -> Result<Option<(usize, usize)>, Error> {
    let (len_at, max, min, ctx) = match header {
        Header::SingleByte => return Ok(if buf.is_empty() { None } else { Some((1, 1)) }),
        Header::Tagged => {
            let max = cap.map_or(limits.max_message_size, |c| c.min(limits.max_message_size));
            (1usize, max, 4usize, "message header")
        }
        Header::Untagged => (
            0usize,
            limits.max_startup_size,
            8usize,
            "startup packet header",
        ),
    };
    let Some(len_bytes) = buf.get(len_at..len_at + 4) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    let at = offset + len_at as u64;
    let len = usize::try_from(len).map_err(|_| Error::remote(ErrorKind::BadLength, at, ctx))?;
    if len < min {
        return Err(Error::remote(ErrorKind::BadLength, at, ctx));
    }
    if len > max {
        return Err(Error::remote(ErrorKind::MessageTooLarge, at, ctx));
    }
    let total = len_at + len;
    Ok(if buf.len() >= total {
        Some((total, len_at + 4))
    } else {
        None
    })
}

/// The buffer and stream position shared by the frontend and backend decoders.
#[derive(Debug)]
pub(crate) struct Framer {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out as frames.
    pos: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    limits: Limits,
}

impl Framer {
    pub(crate) fn new(limits: Limits) -> Self {
        Framer {
            buf: Vec::new(),
            pos: 0,
            base: 0,
            limits,
        }
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Bytes received but not yet handed out as frames.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Stream offset of the next byte to frame.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Stream offset just past the last byte received.
    pub(crate) fn end_offset(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    pub(crate) fn receive(&mut self, data: &[u8]) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        if data.len() > self.limits.max_chunk {
            return Err(Error::local(ErrorKind::BufferFull, "receive_data"));
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        let bound = self.limits.max_buffer();
        let needed = self.buf.len() + data.len();
        if needed > bound {
            return Err(Error::local(ErrorKind::BufferFull, "receive_data"));
        }
        if needed > self.buf.capacity() {
            // Grow geometrically, but never past the bound.
            let target = needed.max(self.buf.capacity().saturating_mul(2)).min(bound);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The first byte waiting, if any (to choose a header mode).
    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub(crate) fn next(
        &mut self,
        header: Header,
        cap: Option<usize>,
    ) -> Result<Option<Frame<'_>>, Error> {
        let rest = &self.buf[self.pos..];
        let offset = self.base + self.pos as u64;
        let Some((total, head)) = frame_len(rest, header, &self.limits, cap, offset)? else {
            return Ok(None);
        };
        let raw = &rest[..total];
        let tag = match header {
            Header::Tagged => Some(raw[0]),
            Header::Untagged | Header::SingleByte => None,
        };
        self.pos += total;
        Ok(Some(Frame {
            tag,
            raw,
            header: head,
            offset,
        }))
    }
}
