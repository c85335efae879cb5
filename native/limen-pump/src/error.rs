//! The pump's error: which side broke the session and how, in words that
//! never quote payload bytes (they can be logged).
use core::fmt;

/// Which peer an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The client (the bot).
    Client,
    /// The upstream server.
    Upstream,
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PumpErrorKind {
    /// The peer on `side` broke the protocol (or sent a message over the cap).
    Protocol(Side),
    /// A record could not be written: the session must end (fail closed).
    Record,
    /// The host misused the pump, or an internal lock failed.
    Local,
}

/// An error of the pump core. See [`PumpErrorKind`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PumpError {
    kind: PumpErrorKind,
    message: String,
}

impl PumpError {
    pub(crate) fn wire(side: Side, e: &limen_wire::Error) -> Self {
        let kind = match e.fault() {
            limen_wire::Fault::Remote => PumpErrorKind::Protocol(side),
            limen_wire::Fault::Local => PumpErrorKind::Local,
        };
        PumpError {
            kind,
            message: e.to_string(),
        }
    }

    pub(crate) fn protocol(side: Side, message: String) -> Self {
        PumpError {
            kind: PumpErrorKind::Protocol(side),
            message,
        }
    }

    pub(crate) fn record(message: String) -> Self {
        PumpError {
            kind: PumpErrorKind::Record,
            message,
        }
    }

    pub(crate) fn local(message: &str) -> Self {
        PumpError {
            kind: PumpErrorKind::Local,
            message: message.to_owned(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> PumpErrorKind {
        self.kind
    }

    /// The message (no payload bytes).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PumpError {}
