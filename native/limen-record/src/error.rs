//! Errors and verification problems.
//!
//! [`Error`] is opaque: it carries a private kind, the byte offset in the log
//! and the sequence number of the frame involved when there is one. A
//! [`Problem`] is the public, machine-readable classification that `verify`
//! reports (each has a stable [`Problem::code`]).

use std::fmt;

/// What is wrong with a log, as `verify` and the reader report it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The file does not start with the `LIMENREC` magic.
    NotALog,
    /// The header is shorter than its declared length (a crash before the
    /// header was written out).
    HeaderIncomplete,
    /// The header's checksum, a field or a limit is invalid.
    HeaderDamaged(&'static str),
    /// The format version is not one this reader understands.
    UnsupportedVersion(u16),
    /// A frame header failed its check word, has a nonzero reserved field, an
    /// unknown kind or a length over the cap.
    MalformedFrame(&'static str),
    /// A complete frame whose BLAKE3 checksum does not match its bytes.
    ChecksumMismatch,
    /// The sequence number jumped forward: records are missing.
    Missing { expected: u64, found: u64 },
    /// The sequence number went backwards or repeated: records were
    /// reordered, duplicated or inserted.
    OutOfOrder { expected: u64, found: u64 },
    /// An encrypted batch names the wrong first record number.
    BatchSequence { expected: u64, found: u64 },
    /// The trailer's chain hash is not the chain over the records read.
    ChainMismatch,
    /// The trailer's counts are not the counts of the records read.
    CountsMismatch,
    /// The trailer's signature does not verify under the log's signing key.
    BadSignature,
    /// The trailer is validly signed, but by a key other than the expected one.
    WrongSigner { found: [u8; 8], expected: [u8; 8] },
    /// Bytes follow the trailer.
    TrailingData,
    /// An encrypted batch does not authenticate under the given private key.
    DecryptFailed,
    /// A payload split across records is interrupted, or too large to rejoin.
    BrokenSplit(&'static str),
    /// The log ends without a trailer (a crash, or the writer is still open).
    Truncated { torn_bytes: u64 },
}

fn hex8(id: &[u8; 8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

impl Problem {
    /// A short stable identifier (`checksum`, `missing`, `truncated`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Problem::NotALog => "not-a-log",
            Problem::HeaderIncomplete => "header-incomplete",
            Problem::HeaderDamaged(_) => "header",
            Problem::UnsupportedVersion(_) => "version",
            Problem::MalformedFrame(_) => "malformed",
            Problem::ChecksumMismatch => "checksum",
            Problem::Missing { .. } => "missing",
            Problem::OutOfOrder { .. } => "out-of-order",
            Problem::BatchSequence { .. } => "batch-sequence",
            Problem::ChainMismatch => "chain",
            Problem::CountsMismatch => "counts",
            Problem::BadSignature => "signature",
            Problem::WrongSigner { .. } => "wrong-signer",
            Problem::TrailingData => "trailing-data",
            Problem::DecryptFailed => "decrypt",
            Problem::BrokenSplit(_) => "split",
            Problem::Truncated { .. } => "truncated",
        }
    }

    /// True for a log cut short by a crash (as opposed to altered).
    pub fn is_truncation(&self) -> bool {
        matches!(self, Problem::Truncated { .. } | Problem::HeaderIncomplete)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotALog => write!(f, "not a limen session log (bad magic)"),
            Problem::HeaderIncomplete => write!(f, "the header is incomplete"),
            Problem::HeaderDamaged(what) => write!(f, "header damaged: {what}"),
            Problem::UnsupportedVersion(v) => write!(
                f,
                "unsupported format version {v} (this reader reads versions {} to {})",
                crate::format::MIN_VERSION,
                crate::format::VERSION
            ),
            Problem::MalformedFrame(what) => write!(f, "malformed record: {what}"),
            Problem::ChecksumMismatch => {
                write!(f, "checksum mismatch: the record's bytes were changed")
            }
            Problem::Missing { expected, found } => write!(
                f,
                "record {expected} is missing (found record {found} in its place): records were deleted"
            ),
            Problem::OutOfOrder { expected, found } => write!(
                f,
                "expected record {expected}, found record {found}: records were reordered or inserted"
            ),
            Problem::BatchSequence { expected, found } => write!(
                f,
                "encrypted batch starts at record {found}, expected {expected}"
            ),
            Problem::ChainMismatch => {
                write!(f, "the trailer's chain hash does not match the records")
            }
            Problem::CountsMismatch => write!(f, "the trailer's counts do not match the records"),
            Problem::BadSignature => write!(f, "the trailer's signature is invalid"),
            Problem::WrongSigner { found, expected } => write!(
                f,
                "signed by another key (key id {}, expected {})",
                hex8(found),
                hex8(expected)
            ),
            Problem::TrailingData => write!(f, "data follows the trailer"),
            Problem::DecryptFailed => write!(
                f,
                "an encrypted batch does not authenticate (wrong key or changed bytes)"
            ),
            Problem::BrokenSplit(what) => write!(f, "split payload: {what}"),
            Problem::Truncated { torn_bytes } => write!(
                f,
                "truncated: no trailer ({torn_bytes} bytes of torn tail); every earlier record is intact"
            ),
        }
    }
}

#[derive(Debug)]
enum Kind {
    Io(std::io::Error),
    Config(String),
    Crypto(&'static str),
    Closed,
    Problem(Problem),
}

/// The error type of this crate: what went wrong, and where (byte offset in
/// the log, sequence number) when that is known.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    offset: Option<u64>,
    seq: Option<u64>,
}

impl Error {
    pub(crate) fn io(e: std::io::Error) -> Self {
        Error {
            kind: Kind::Io(e),
            offset: None,
            seq: None,
        }
    }
    pub(crate) fn config(msg: impl Into<String>) -> Self {
        Error {
            kind: Kind::Config(msg.into()),
            offset: None,
            seq: None,
        }
    }
    pub(crate) fn crypto(msg: &'static str) -> Self {
        Error {
            kind: Kind::Crypto(msg),
            offset: None,
            seq: None,
        }
    }
    pub(crate) fn closed() -> Self {
        Error {
            kind: Kind::Closed,
            offset: None,
            seq: None,
        }
    }
    pub(crate) fn problem(p: Problem, offset: u64, seq: Option<u64>) -> Self {
        Error {
            kind: Kind::Problem(p),
            offset: Some(offset),
            seq,
        }
    }

    /// The verification problem, when this error is one.
    pub fn problem_ref(&self) -> Option<&Problem> {
        match &self.kind {
            Kind::Problem(p) => Some(p),
            _ => None,
        }
    }
    /// Byte offset in the log where the problem was found.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }
    /// Sequence number of the first bad record, when known.
    pub fn seq(&self) -> Option<u64> {
        self.seq
    }
    /// True for bad arguments (a key of the wrong length, a bad limit).
    pub fn is_config(&self) -> bool {
        matches!(self.kind, Kind::Config(_) | Kind::Crypto(_))
    }
    /// True for an operating-system I/O error.
    pub fn is_io(&self) -> bool {
        matches!(self.kind, Kind::Io(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Io(e) => write!(f, "I/O error: {e}")?,
            Kind::Config(m) => write!(f, "{m}")?,
            Kind::Crypto(m) => write!(f, "{m}")?,
            Kind::Closed => write!(f, "the session log is closed")?,
            Kind::Problem(p) => {
                if let Some(seq) = self.seq {
                    write!(f, "record {seq}: ")?;
                }
                write!(f, "{p}")?;
            }
        }
        if let Some(off) = self.offset {
            write!(f, " (at byte {off})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io(e)
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
