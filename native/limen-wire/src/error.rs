//! The one error type of the crate.
//!
//! [`Error`] is opaque: callers ask it for its [`ErrorKind`], the byte offset
//! in the stream where the problem was found, and whose fault it was
//! ([`Fault::Remote`] for bytes a peer sent, [`Fault::Local`] for values the
//! caller asked us to encode or for misuse of a decoder). Messages never quote
//! payload bytes, so an error can be logged without leaking a secret.
use core::fmt;

/// Whose fault an error is, in the sense of h11's local/remote protocol errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The peer sent bytes that break the protocol: close that connection.
    Remote,
    /// The caller passed a value that cannot be encoded, or used the API out
    /// of order: a bug or a configuration problem on this side.
    Local,
}

/// What went wrong. New kinds may be added; match with a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A length field is smaller than the 4 bytes it covers itself, or too
    /// small for the message it announces.
    BadLength,
    /// A message announces more bytes than the configured cap.
    MessageTooLarge,
    /// More bytes were fed while complete messages were still waiting, past
    /// what the decoder is allowed to buffer.
    BufferFull,
    /// A message body ended before a field it must contain.
    Truncated,
    /// A message body has bytes left over after its last field.
    TrailingBytes,
    /// A string field has no terminating NUL byte.
    MissingNul,
    /// A count or a length field is negative where it may not be.
    NegativeCount,
    /// A field holds a value the protocol does not define here.
    InvalidValue,
    /// The startup packet asks for a protocol version this crate does not speak.
    UnsupportedProtocol,
    /// A message arrived that is not allowed in the current phase.
    UnexpectedMessage,
    /// A decoder that already failed was used again (it stays failed).
    Poisoned,
    /// A value to encode contains a NUL byte where the protocol forbids one.
    InteriorNul,
    /// A SCRAM or md5 authentication exchange failed or was malformed.
    Auth,
    /// The server did not prove that it knows the password (SCRAM server
    /// signature mismatch, or success reported without the final message).
    ServerNotVerified,
    /// A MySQL packet's sequence id is not the one expected next.
    BadSequence,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::BadLength => "length field too small for the message",
            ErrorKind::MessageTooLarge => "message larger than the configured cap",
            ErrorKind::BufferFull => "decoder buffer full: drain messages before feeding more",
            ErrorKind::Truncated => "message body ends before a required field",
            ErrorKind::TrailingBytes => "message body has bytes after its last field",
            ErrorKind::MissingNul => "string field without its terminating NUL",
            ErrorKind::NegativeCount => "negative count or length",
            ErrorKind::InvalidValue => "field value not defined by the protocol",
            ErrorKind::UnsupportedProtocol => "unsupported protocol version",
            ErrorKind::UnexpectedMessage => "message not allowed in this phase",
            ErrorKind::Poisoned => "decoder already failed",
            ErrorKind::InteriorNul => "NUL byte inside a string to encode",
            ErrorKind::Auth => "authentication exchange failed",
            ErrorKind::ServerNotVerified => "server did not prove knowledge of the password",
            ErrorKind::BadSequence => "packet sequence id out of order",
        }
    }
}

/// An error with its kind, whose fault it is, and the byte offset where it
/// was found (counted from the start of the stream fed to a decoder, or from
/// the start of the body given to a parsing function).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    fault: Fault,
    offset: u64,
    context: &'static str,
}

impl Error {
    pub(crate) fn remote(kind: ErrorKind, offset: u64, context: &'static str) -> Self {
        Error {
            kind,
            fault: Fault::Remote,
            offset,
            context,
        }
    }

    pub(crate) fn local(kind: ErrorKind, context: &'static str) -> Self {
        Error {
            kind,
            fault: Fault::Local,
            offset: 0,
            context,
        }
    }

    /// Returns the same error moved by `base` bytes (used when a body parser
    /// that counts from 0 runs on a message found at `base` in the stream).
    pub(crate) fn shifted(mut self, base: u64) -> Self {
        if self.fault == Fault::Remote {
            self.offset = self.offset.saturating_add(base);
        }
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whose fault it is.
    pub fn fault(&self) -> Fault {
        self.fault
    }

    /// True when the peer broke the protocol (close that connection).
    pub fn is_remote(&self) -> bool {
        self.fault == Fault::Remote
    }

    /// Byte offset where the problem was found (0 for local errors).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The message or field being handled, e.g. `"Bind"` (never payload bytes).
    pub fn context(&self) -> &'static str {
        self.context
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.fault {
            Fault::Remote => write!(
                f,
                "remote protocol error in {} at byte {}: {}",
                self.context,
                self.offset,
                self.kind.describe()
            ),
            Fault::Local => {
                write!(
                    f,
                    "local error in {}: {}",
                    self.context,
                    self.kind.describe()
                )
            }
        }
    }
}

impl std::error::Error for Error {}
