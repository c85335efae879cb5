//! [`BackendDecoder`]: the server's byte stream, framed and parsed
//! incrementally, with the one-byte answer to SSLRequest / GSSENCRequest.
use super::{tag, BackendMessage, EncryptionResponse};
use crate::error::{Error, ErrorKind};
use crate::pg::framing::{Frame, Framer, Header, Limits};

/// Incremental, sans-IO decoder of the server's byte stream.
#[derive(Debug)]
pub struct BackendDecoder {
    framer: Framer,
    expect_encryption: bool,
    failed: Option<Error>,
}

impl Default for BackendDecoder {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl BackendDecoder {
    /// A decoder reading tagged messages.
    pub fn new(limits: Limits) -> Self {
        BackendDecoder {
            framer: Framer::new(limits),
            expect_encryption: false,
            failed: None,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        self.framer.limits()
    }

    /// Call after sending SSLRequest or GSSENCRequest: the next byte is the
    /// one-byte answer. Any byte buffered after it is refused (it would have
    /// been sent before the TLS handshake, where a man in the middle could
    /// inject it).
    pub fn expect_encryption_response(&mut self) {
        self.expect_encryption = true;
    }

    /// Bytes received but not yet returned as messages.
    pub fn pending(&self) -> usize {
        self.framer.pending()
    }

    /// Stream offset of the next byte to decode.
    pub fn offset(&self) -> u64 {
        self.framer.offset()
    }

    /// Feeds bytes from the server. At most `limits().max_chunk` per call.
    pub fn receive_data(&mut self, data: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.framer.receive(data)
    }

    /// The next complete message as a raw frame (not parsed).
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        Ok(self.next_inner(false)?.map(|(f, _)| f))
    }

    /// The next complete message: the raw frame and its parsed view.
    pub fn next_message(&mut self) -> Result<Option<(Frame<'_>, BackendMessage<'_>)>, Error> {
        match self.next_inner(true)? {
            Some((f, Some(m))) => Ok(Some((f, m))),
            Some((_, None)) => Err(Error::local(ErrorKind::Poisoned, "next_message")),
            None => Ok(None),
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        self.failed = Some(e.clone());
        e
    }

    fn next_inner(
        &mut self,
        parse: bool,
    ) -> Result<Option<(Frame<'_>, Option<BackendMessage<'_>>)>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut header = Header::Tagged;
        let mut encryption = None;
        if self.expect_encryption {
            let Some(first) = self.framer.peek() else {
                return Ok(None);
            };
            if first == tag::ERROR_RESPONSE {
                // A server that does not support the request may answer with
                // an ErrorResponse: read it as a regular message.
                self.expect_encryption = false;
            } else {
                let answer = EncryptionResponse::try_from_byte(first)
                    .map_err(|e| e.shifted(self.framer.offset()));
                let answer = match answer {
                    Ok(a) => a,
                    Err(e) => return Err(self.fail(e)),
                };
                if self.framer.pending() > 1 {
                    let e = Error::remote(
                        ErrorKind::UnexpectedMessage,
                        self.framer.offset() + 1,
                        "data after encryption response",
                    );
                    return Err(self.fail(e));
                }
                self.expect_encryption = false;
                header = Header::SingleByte;
                encryption = Some(answer);
            }
        }
        let frame = match self.framer.next(header, None) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.failed = Some(e.clone());
                return Err(e);
            }
        };
        if let Some(answer) = encryption {
            return Ok(Some((
                frame,
                Some(BackendMessage::EncryptionResponse(answer)),
            )));
        }
        if !parse {
            return Ok(Some((frame, None)));
        }
        let t = frame.tag().unwrap_or(0);
        match BackendMessage::try_parse(t, frame.body()) {
            Ok(m) => Ok(Some((frame, Some(m)))),
            Err(e) => {
                let e = e.shifted(frame.body_offset());
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }
}
