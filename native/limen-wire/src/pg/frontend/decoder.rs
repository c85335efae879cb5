//! [`FrontendDecoder`]: the client's byte stream, framed and parsed
//! incrementally, following the phase (startup packets, an encryption
//! request's answer, regular messages, closed).
use super::{tag, AuthContext, FrontendMessage};
use crate::error::{Error, ErrorKind};
use crate::pg::framing::{Frame, Framer, Header, Limits};

/// Where the frontend stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrontendPhase {
    /// Untagged startup packets.
    Startup,
    /// An SSLRequest or GSSENCRequest was read; no byte may arrive until the
    /// caller has answered it and calls [`FrontendDecoder::resume_startup`]
    /// (bytes sent before the answer could be injected by a man in the middle).
    AwaitingEncryptionAnswer,
    /// Regular tagged messages.
    Regular,
    /// After CancelRequest or Terminate: no more bytes are accepted.
    Closed,
}

/// Incremental, sans-IO decoder of the client's byte stream.
#[derive(Debug)]
pub struct FrontendDecoder {
    framer: Framer,
    phase: FrontendPhase,
    auth: AuthContext,
    authenticated: bool,
    failed: Option<Error>,
}

impl Default for FrontendDecoder {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl FrontendDecoder {
    /// A decoder in the startup phase.
    pub fn new(limits: Limits) -> Self {
        FrontendDecoder {
            framer: Framer::new(limits),
            phase: FrontendPhase::Startup,
            auth: AuthContext::None,
            authenticated: false,
            failed: None,
        }
    }

    /// A decoder that starts in the regular phase with an authenticated
    /// client (e.g. to read a stream captured after the handshake).
    pub fn new_regular(limits: Limits) -> Self {
        let mut d = Self::new(limits);
        d.phase = FrontendPhase::Regular;
        d.authenticated = true;
        d
    }

    /// Call once the client is authenticated: until then, regular messages
    /// are capped at `limits().max_unauthenticated_size`.
    pub fn set_authenticated(&mut self) {
        self.authenticated = true;
    }

    /// True once [`FrontendDecoder::set_authenticated`] was called.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        self.framer.limits()
    }

    /// The current phase.
    pub fn phase(&self) -> FrontendPhase {
        self.phase
    }

    /// Sets what the next 'p' message answers (the caller, acting as the
    /// server, knows which authentication request it sent).
    pub fn set_auth_context(&mut self, auth: AuthContext) {
        self.auth = auth;
    }

    /// The auth context in force.
    pub fn auth_context(&self) -> AuthContext {
        self.auth
    }

    /// Call after answering an SSLRequest/GSSENCRequest (and after the TLS
    /// handshake when it was accepted): startup packets are read again.
    pub fn resume_startup(&mut self) -> Result<(), Error> {
        if self.phase != FrontendPhase::AwaitingEncryptionAnswer {
            return Err(Error::local(ErrorKind::UnexpectedMessage, "resume_startup"));
        }
        self.phase = FrontendPhase::Startup;
        Ok(())
    }

    /// Bytes received but not yet returned as messages.
    pub fn pending(&self) -> usize {
        self.framer.pending()
    }

    /// Stream offset of the next byte to decode.
    pub fn offset(&self) -> u64 {
        self.framer.offset()
    }

    /// Feeds bytes from the client. At most `limits().max_chunk` per call.
    pub fn receive_data(&mut self, data: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if !data.is_empty()
            && matches!(
                self.phase,
                FrontendPhase::AwaitingEncryptionAnswer | FrontendPhase::Closed
            )
        {
            let e = Error::remote(
                ErrorKind::UnexpectedMessage,
                self.framer.end_offset(),
                "data after request",
            );
            self.failed = Some(e.clone());
            return Err(e);
        }
        self.framer.receive(data)
    }

    /// The next complete message as a raw frame, or `None` if more bytes
    /// are needed. Startup packets are parsed (to follow the phase);
    /// regular messages are not.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        Ok(self.next_inner(false)?.map(|(f, _)| f))
    }

    /// The next complete message: the raw frame and its parsed view.
    pub fn next_message(&mut self) -> Result<Option<(Frame<'_>, FrontendMessage<'_>)>, Error> {
        match self.next_inner(true)? {
            Some((f, Some(m))) => Ok(Some((f, m))),
            Some((_, None)) => Err(Error::local(ErrorKind::Poisoned, "next_message")),
            None => Ok(None),
        }
    }

    fn next_inner(
        &mut self,
        parse: bool,
    ) -> Result<Option<(Frame<'_>, Option<FrontendMessage<'_>>)>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let header = match self.phase {
            FrontendPhase::Startup => Header::Untagged,
            FrontendPhase::Regular => Header::Tagged,
            FrontendPhase::AwaitingEncryptionAnswer | FrontendPhase::Closed => {
                if self.framer.pending() > 0 {
                    let e = Error::remote(
                        ErrorKind::UnexpectedMessage,
                        self.framer.offset(),
                        "data after request",
                    );
                    self.failed = Some(e.clone());
                    return Err(e);
                }
                return Ok(None);
            }
        };
        let cap = if self.authenticated {
            None
        } else {
            Some(self.framer.limits().max_unauthenticated_size)
        };
        let frame = match self.framer.next(header, cap) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.failed = Some(e.clone());
                return Err(e);
            }
        };
        let body_offset = frame.body_offset();
        let parsed = if header == Header::Untagged || parse {
            let r = match frame.tag() {
                None => FrontendMessage::try_parse_startup(frame.body()),
                Some(t) => FrontendMessage::try_parse(t, frame.body(), self.auth),
            };
            match r {
                Ok(m) => Some(m),
                Err(e) => {
                    let e = e.shifted(body_offset);
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            }
        } else {
            None
        };
        match (&parsed, frame.tag()) {
            (Some(FrontendMessage::Startup(_)), _) => self.phase = FrontendPhase::Regular,
            (Some(FrontendMessage::SslRequest | FrontendMessage::GssEncRequest), _) => {
                self.phase = FrontendPhase::AwaitingEncryptionAnswer
            }
            (Some(FrontendMessage::CancelRequest(_)), _) | (_, Some(tag::TERMINATE)) => {
                self.phase = FrontendPhase::Closed
            }
            _ => {}
        }
        Ok(Some((frame, parsed)))
    }
}
