//! Errors from building a masker. Masking itself cannot fail: any input,
//! valid UTF-8 or not, is masked or passed through.

use core::fmt;

/// Why a masker could not be built. The message names the detector or rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A detector name that is neither built in nor a user rule.
    UnknownDetector { name: String },
    /// Two detectors or rules with the same name.
    DuplicateName { name: String },
    /// A rule name that is empty or has characters other than `[a-z0-9_.:-]`.
    BadName { name: String },
    /// A user rule's pattern does not compile.
    BadPattern { rule: String, message: String },
    /// A user rule that can match the empty string would mask nothing useful.
    EmptyMatch { rule: String },
    /// A word list with no words, or an empty word.
    EmptyWords { rule: String },
    /// The combined automaton could not be built (too large).
    Build { message: String },
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error { kind }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::UnknownDetector { name } => write!(f, "unknown detector {name:?}"),
            ErrorKind::DuplicateName { name } => {
                write!(f, "detector or rule {name:?} is defined twice")
            }
            ErrorKind::BadName { name } => write!(
                f,
                "rule name {name:?} must be 1 to 64 characters of a-z, 0-9, '_', '.', ':' or '-'"
            ),
            ErrorKind::BadPattern { rule, message } => {
                write!(f, "rule {rule:?}: pattern does not compile: {message}")
            }
            ErrorKind::EmptyMatch { rule } => {
                write!(f, "rule {rule:?}: pattern can match the empty string")
            }
            ErrorKind::EmptyWords { rule } => {
                write!(f, "rule {rule:?}: word list is empty or has an empty word")
            }
            ErrorKind::Build { message } => {
                write!(f, "could not build the masking automaton: {message}")
            }
        }
    }
}

impl std::error::Error for Error {}
