//! limen-mask: a streaming masker for secrets and personal data.
//!
//! Every detector's *trigger* (a loose form of its pattern) is compiled into
//! one reversed lazy DFA that finds candidate starts in one pass; only at
//! candidates does a detector's anchored pattern run, and validators (Luhn,
//! IBAN mod-97, SSN rules) run only on its matches. Each finding is replaced
//! by `[MASKED:<detector>]` (a card number written as a JSON number by
//! `0`, so the document stays valid JSON: `card.rs`). Card numbers, IBANs and the secrets inside
//! built-in heads with groups have hand-written fast paths, each tested
//! against the definition (`Masker::mask_exhaustive`, the meta regex of
//! every detector at every position). The work is linear in the input
//! whatever it holds (the module docs of `scan.rs` say why; [`Work`]
//! counts it).
//!
//! ```
//! use limen_mask::Masker;
//! let masker = Masker::new();
//! let out = masker.mask(b"key AKIAIOSFODNN7EXAMPLE in a log");
//! assert_eq!(out, b"key [MASKED:aws-access-key-id] in a log");
//! ```
//!
//! Streaming gives the same bytes for any split of the input, including a
//! secret split across chunks, and holds back fewer than
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

mod anchored;
mod assignment;
mod builder;
mod card;
mod detectors;
mod error;
mod escape;
mod groups;
mod iban;
mod masker;
mod plan;
mod rules;
mod scan;
mod stream;
mod trigger;
mod validate;

pub use builder::MaskerBuilder;
pub use error::{Error, ErrorKind};
pub use masker::{DetectorInfo, Finding, Masker};
pub use plan::{MaskPlan, PlanMismatch};
pub use rules::{Rule, USER_REPEAT_CAP};
pub use scan::Work;
pub use stream::Stream;
pub use validate::luhn;

/// The names of the built-in detectors, in priority order.
pub fn builtin_detector_names() -> impl Iterator<Item = &'static str> {
    detectors::BUILTIN.iter().map(|s| s.name)
}
