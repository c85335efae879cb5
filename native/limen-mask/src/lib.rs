//! limen-mask: a streaming masker for secrets and personal data.
//!
//! Every detector's pattern is compiled into one automaton
//! (regex-automata's meta regex: literal prefilters where a detector has
//! them, a lazy DFA otherwise). Validators (Luhn, IBAN mod-97, SSN rules)
//! run only on candidates. Each finding is replaced by `[MASKED:<detector>]`.
//!
//! ```
//! use limen_mask::Masker;
//! let masker = Masker::new();
//! let out = masker.mask(b"key AKIAIOSFODNN7EXAMPLE in a log");
//! assert_eq!(out, b"key [MASKED:aws-access-key-id] in a log");
//! ```
//!
//! Streaming gives the same bytes for any split of the input, including a
//! secret split across chunks, and holds back at most
//! [`Masker::max_holdback`] bytes:
//!
//! ```
//! use limen_mask::Masker;
//! let masker = Masker::new();
//! let mut s = masker.stream();
//! let mut out = s.feed(b"token ghp_0123456789abcdefghij");
//! out.extend(s.feed(b"klmnopqrstuvwxyz done"));
//! out.extend(s.finish());
//! assert_eq!(out, b"token [MASKED:github-token] done");
//! ```
//!
//! Masking never fails: invalid UTF-8, NUL bytes and binary data are masked
//! where a detector matches and passed through otherwise. Building a masker
//! with a user rule that does not compile is an [`Error`] naming the rule.

#![forbid(unsafe_code)]

mod detectors;
mod error;
mod masker;
mod trigger;
mod validate;

pub use error::{Error, ErrorKind};
pub use masker::{
    DetectorInfo, Finding, Masker, MaskerBuilder, Rule, Stream, Work, USER_REPEAT_CAP,
};
pub use validate::luhn;

/// The names of the built-in detectors, in priority order.
pub fn builtin_detector_names() -> impl Iterator<Item = &'static str> {
    detectors::BUILTIN.iter().map(|s| s.name)
}
