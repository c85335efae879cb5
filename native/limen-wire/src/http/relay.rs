//! The framing of a kept-alive connection's exchanges, sans-IO: the
//! skeleton of the native relay's exchange loop (docs/http.md, "The native
//! relay"). Not wired to any socket yet, and without decisions, recording
//! or masking: the caller looks at each request head and forwards it
//! (with the upstream target it chose) or takes the connection back.
//!
//! - [`ClientSide`]: a client's bytes. Buffered until a request head is
//!   complete (capped by the head limit); after [`ClientSide::forward`]
//!   the head goes upstream as the Python relay writes it and the body
//!   follows, a `Content-Length` body byte for byte, a chunked one decoded
//!   and encoded again (the chunk boundaries are the reads', not the
//!   client's); the bytes after the body wait for the next head.
//! - [`UpstreamSide`]: the upstream's bytes for one response: interim
//!   (`1xx`) heads dropped, the head written for the client, the body
//!   framed again for the client as h11 would frame it.
use crate::error::{Error, ErrorKind};

use super::{
    encode_chunk, encode_last_chunk, find_request_head, find_response_head, parse_request_head,
    parse_response_head, write_request_head, write_response_head, BodyFraming, ChunkedDecoder,
    RequestHead, UpstreamHeaders, MAX_RESPONSE_HEAD,
};

/// What a side did with the bytes it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// More bytes are needed.
    NeedData,
    /// A request head is complete: decide, then forward or take back.
    Head,
    /// The message's body has ended (`keep_alive`: the connection may
    /// carry another exchange).
    Done {
        /// The connection may carry another exchange.
        keep_alive: bool,
    },
}

/// A body on its way: how much of it is left, and how it leaves.
#[derive(Clone, Debug)]
enum Body {
    Length(u128),
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl Body {
    fn new(framing: BodyFraming, limit: usize) -> Self {
        match framing {
            BodyFraming::Length(n) => Body::Length(n),
            BodyFraming::Chunked => Body::Chunked(ChunkedDecoder::new(limit)),
            BodyFraming::UntilClose => Body::UntilClose,
        }
    }

    /// Decodes from `data` into `out`; `(bytes used, ended)`.
    fn take(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(usize, bool), Error> {
        match self {
            Body::Length(left) => {
                let take = usize::try_from(*left).map_or(data.len(), |l| l.min(data.len()));
                out.extend_from_slice(&data[..take]);
                *left -= take as u128;
                Ok((take, *left == 0))
            }
            Body::Chunked(d) => {
                let used = d.decode(data, out)?;
                Ok((used, d.is_done()))
            }
            Body::UntilClose => {
                out.extend_from_slice(data);
                Ok((data.len(), false))
            }
        }
    }
}

/// Writes `data` to `out` as the client (or upstream) framing says.
fn emit(data: &[u8], chunked: bool, out: &mut Vec<u8>) {
    if chunked {
        encode_chunk(data, out);
    } else {
        out.extend_from_slice(data);
    }
}

/// The client side of a connection (see the module docs).
#[derive(Debug)]
pub struct ClientSide {
    buf: Vec<u8>,
    limit: usize,
    body: Option<(Body, bool)>,
    keep_alive: bool,
    scratch: Vec<u8>,
}

impl ClientSide {
    /// A client side whose request heads may not exceed `limit` bytes.
    pub fn new(limit: usize) -> Self {
        ClientSide {
            buf: Vec::new(),
            limit,
            body: None,
            keep_alive: true,
            scratch: Vec::new(),
        }
    }

    /// Feeds client bytes: a forwarded request's body goes to `upstream`;
    /// other bytes wait for [`Step::Head`].
    pub fn feed(&mut self, data: &[u8], upstream: &mut Vec<u8>) -> Result<Step, Error> {
        if self.body.is_some() {
            return self.body_bytes(data, upstream);
        }
        self.buf.extend_from_slice(data);
        match find_request_head(&self.buf, self.limit)? {
            Some(_) => Ok(Step::Head),
            None => Ok(Step::NeedData),
        }
    }

    fn span(&self) -> Result<(usize, usize), Error> {
        find_request_head(&self.buf, self.limit)?
            .ok_or_else(|| Error::local(ErrorKind::UnexpectedMessage, "no request head yet"))
    }

    /// The complete request head (after [`Step::Head`]).
    pub fn head(&self) -> Result<RequestHead<'_>, Error> {
        let (start, end) = self.span()?;
        parse_request_head(&self.buf[start..end])
    }

    /// Sends the head upstream to `target` with the session's headers,
    /// then as much of its body as is here.
    pub fn forward(
        &mut self,
        target: &[u8],
        adds: &UpstreamHeaders,
        upstream: &mut Vec<u8>,
    ) -> Result<Step, Error> {
        let (start, end) = self.span()?;
        let head = parse_request_head(&self.buf[start..end])?;
        write_request_head(upstream, &head, target, adds);
        let chunked = head.framing.chunked;
        let body = Body::new(head.body(), self.limit);
        self.keep_alive = head.keep_alive();
        let rest = self.buf.split_off(end);
        self.buf.clear();
        self.body = Some((body, chunked));
        self.body_bytes(&rest, upstream)
    }

    /// Takes the connection back: every byte not forwarded, in order (a
    /// head not forwarded included).
    pub fn take_back(self) -> Vec<u8> {
        self.buf
    }

    fn body_bytes(&mut self, data: &[u8], upstream: &mut Vec<u8>) -> Result<Step, Error> {
        let Some((body, chunked)) = self.body.as_mut() else {
            return Ok(Step::NeedData);
        };
        self.scratch.clear();
        let (used, ended) = body.take(data, &mut self.scratch)?;
        emit(&self.scratch, *chunked, upstream);
        if !ended {
            return Ok(Step::NeedData);
        }
        if *chunked {
            encode_last_chunk(upstream);
        }
        self.body = None;
        self.buf.extend_from_slice(&data[used..]);
        Ok(Step::Done {
            keep_alive: self.keep_alive,
        })
    }
}

/// The upstream side of one exchange (see the module docs).
#[derive(Debug)]
pub struct UpstreamSide {
    buf: Vec<u8>,
    method: Vec<u8>,
    body: Option<(Body, bool)>,
    keep_alive: bool,
    scratch: Vec<u8>,
}

impl UpstreamSide {
    /// The upstream side of the exchange of a request made with `method`.
    pub fn new(method: &[u8]) -> Self {
        UpstreamSide {
            buf: Vec::new(),
            method: method.to_ascii_uppercase(),
            body: None,
            keep_alive: true,
            scratch: Vec::new(),
        }
    }

    /// Feeds upstream bytes; what the client gets goes to `client`.
    /// Refused (the exchange ends with a `502`): a head h11 refuses, a
    /// `101`, a head with both `Content-Length` and `Transfer-Encoding`.
    pub fn feed(&mut self, data: &[u8], client: &mut Vec<u8>) -> Result<Step, Error> {
        if self.body.is_some() {
            return self.body_bytes(data, client);
        }
        self.buf.extend_from_slice(data);
        loop {
            let Some(end) = find_response_head(&self.buf, MAX_RESPONSE_HEAD)? else {
                return Ok(Step::NeedData);
            };
            let head = parse_response_head(&self.buf[..end])?;
            head.check_switch(false)?;
            if head.interim() {
                self.buf.drain(..end);
                continue;
            }
            if head.framing.chunked && head.framing.content_length.is_some() {
                return Err(Error::remote(
                    ErrorKind::InvalidValue,
                    0,
                    "both Content-Length and Transfer-Encoding in a response",
                ));
            }
            let framing = head.body(&self.method);
            let to_client = write_response_head(client, &head, &self.method, false, None);
            self.keep_alive = head.keep_alive() && framing != BodyFraming::UntilClose;
            let rest = self.buf.split_off(end);
            self.buf.clear();
            self.body = Some((
                Body::new(framing, MAX_RESPONSE_HEAD),
                to_client == BodyFraming::Chunked,
            ));
            return self.body_bytes(&rest, client);
        }
    }

    /// The upstream closed its connection: the end of a body that runs to
    /// the close; for any other, a body cut short (refused).
    pub fn eof(&mut self, client: &mut Vec<u8>) -> Result<Step, Error> {
        match self.body.take() {
            Some((Body::UntilClose, chunked)) => {
                if chunked {
                    encode_last_chunk(client);
                }
                Ok(Step::Done { keep_alive: false })
            }
            _ => Err(Error::remote(
                ErrorKind::Truncated,
                0,
                "the upstream closed before the end of its response",
            )),
        }
    }

    /// Bytes the upstream sent after the response (none from a sound upstream).
    pub fn rest(&self) -> &[u8] {
        &self.buf
    }

    fn body_bytes(&mut self, data: &[u8], client: &mut Vec<u8>) -> Result<Step, Error> {
        let Some((body, chunked)) = self.body.as_mut() else {
            return Ok(Step::NeedData);
        };
        self.scratch.clear();
        let (used, ended) = body.take(data, &mut self.scratch)?;
        emit(&self.scratch, *chunked, client);
        if !ended {
            return Ok(Step::NeedData);
        }
        if *chunked {
            encode_last_chunk(client);
        }
        self.body = None;
        self.buf.extend_from_slice(&data[used..]);
        Ok(Step::Done {
            keep_alive: self.keep_alive,
        })
    }
}
