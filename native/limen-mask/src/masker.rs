//! The masker: the public face of the crate (its streams are in
//! `stream.rs`; how a scan decides, and why its work is linear, in
//! `scan.rs`).

use std::collections::HashSet;
use std::sync::Arc;

use regex_automata::meta::Regex;

use crate::anchored::Heads;
use crate::builder::MaskerBuilder;
use crate::groups::Group;
use crate::scan::{CandidatePool, Discard, ScanState, Work};
use crate::stream::Stream;
use crate::trigger::Triggers;
use crate::validate::Validator;

/// Where a finding is: which detector, and the byte range it masked in the
/// input (never the secret bytes themselves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Index into [`Masker::detector_names`].
    pub detector: usize,
    /// Offset of the first masked byte in the input (or stream).
    pub offset: u64,
    /// Number of input bytes replaced.
    pub len: u64,
    /// Replaced by the number `0` rather than `[MASKED:<detector>]`: a
    /// card number written as a JSON number (`{"n":4111111111111111}`),
    /// so the document stays valid JSON.
    pub as_number: bool,
}

/// Facts about one detector.
#[derive(Clone, Debug)]
pub struct DetectorInfo {
    /// The stable name.
    pub name: String,
    /// What it finds.
    pub description: String,
    /// Longest head match in bytes (bounds the stream's hold-back).
    pub max_head_len: usize,
    /// Longest masked span in bytes, counting a tail up to its cap.
    pub max_masked_len: usize,
    /// Built in, or a user rule.
    pub builtin: bool,
    /// The head pattern (regex syntax; built-ins are in byte mode with ASCII
    /// `\b`). For user word lists, the generated alternation.
    pub pattern: String,
}

pub(crate) enum Tail {
    None,
    Class {
        set: Box<[bool; 256]>,
        cap: usize,
    },
    Until {
        re: Regex,
        max_len: usize,
        cap: usize,
    },
}

pub(crate) struct Detector {
    pub(crate) info: DetectorInfo,
    pub(crate) replacement: Box<[u8]>,
    /// The head alone, for anchored capture searches on candidates.
    pub(crate) single: Regex,
    pub(crate) has_groups: bool,
    /// How the secret is found inside a head match (`groups.rs`).
    pub(crate) group: Group,
    /// The built-in card-number detector: head and validator by hand
    /// (`card.rs`).
    pub(crate) card_head: bool,
    pub(crate) validator: Validator,
    pub(crate) tail: Tail,
}

pub(crate) struct Inner {
    pub(crate) triggers: Triggers,
    /// Forward anchored head automata (see `anchored.rs`).
    pub(crate) heads: Heads,
    /// Candidate starts looked for at a time (bounds the candidate list).
    pub(crate) window: usize,
    pub(crate) detectors: Vec<Detector>,
    pub(crate) max_head: usize,
    pub(crate) max_hold: usize,
    pub(crate) columns: HashSet<String>,
    /// Candidate lists reused by large scans (`scan/pool.rs`).
    pub(crate) cands: CandidatePool,
}

/// Masks secrets and personal data in bytes. Cheap to clone (shared).
#[derive(Clone)]
pub struct Masker {
    pub(crate) inner: Arc<Inner>,
}

impl core::fmt::Debug for Masker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Masker")
            .field("detectors", &self.detector_names().collect::<Vec<_>>())
            .field("max_holdback", &self.inner.max_hold)
            .finish()
    }
}

impl Masker {
    /// Every built-in detector.
    #[allow(clippy::panic)] // the built-in set is static and tested to compile
    pub fn new() -> Masker {
        // The built-in set is tested to compile; fall back to an empty
        // builder error only if the automaton cannot be built at all.
        match MaskerBuilder::new().try_build() {
            Ok(m) => m,
            Err(e) => panic!("built-in detectors failed to compile: {e}"),
        }
    }

    /// A builder to select detectors and add rules.
    pub fn builder() -> MaskerBuilder {
        MaskerBuilder::new()
    }

    /// The names of the detectors in use, in priority order.
    pub fn detector_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.inner.detectors.iter().map(|d| d.info.name.as_str())
    }

    /// The name of detector `index` (as in [`Finding::detector`]).
    pub fn detector_name(&self, index: usize) -> Option<&str> {
        self.inner
            .detectors
            .get(index)
            .map(|d| d.info.name.as_str())
    }

    /// Facts about each detector in use.
    pub fn detector_info(&self) -> impl Iterator<Item = &DetectorInfo> + '_ {
        self.inner.detectors.iter().map(|d| &d.info)
    }

    /// What replaces `finding` in the masked output (`None` for a detector
    /// this masker does not have).
    pub(crate) fn replacement(&self, finding: &Finding) -> Option<&[u8]> {
        if finding.as_number {
            return Some(crate::card::NUMBER);
        }
        self.inner
            .detectors
            .get(finding.detector)
            .map(|d| &*d.replacement)
    }

    /// The most bytes a stream holds back between calls.
    pub fn max_holdback(&self) -> usize {
        2 * (self.inner.max_hold + 1)
    }

    /// The replacement for a whole value of `column` (`table.column`, matched
    /// case-insensitively against the configured columns, which may also name
    /// a bare column), or `None` when no column rule covers it.
    pub fn column_replacement(&self, table: Option<&str>, column: &str) -> Option<Vec<u8>> {
        let column = column.to_ascii_lowercase();
        let qualified = table.map(|t| format!("{}.{column}", t.to_ascii_lowercase()));
        if let Some(q) = qualified.filter(|q| self.inner.columns.contains(q)) {
            return Some(format!("[MASKED:column:{q}]").into_bytes());
        }
        self.inner
            .columns
            .contains(&column)
            .then(|| format!("[MASKED:column:{column}]").into_bytes())
    }

    /// Masks `data` in one call.
    pub fn mask(&self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        self.mask_into(data, &mut out);
        out
    }

    /// Masks `data`, appending to `out`; returns the number of findings.
    pub fn mask_into(&self, data: &[u8], out: &mut Vec<u8>) -> usize {
        let mut count = 0usize;
        let mut state = ScanState::default();
        self.scan(&mut state, data, 0, true, 0, out, &mut |_| count += 1);
        count
    }

    /// Masks `data` like [`Masker::mask_into`] and reports the work done
    /// (for tests and benchmarks of the linear-time bound).
    pub fn mask_work(&self, data: &[u8], out: &mut Vec<u8>) -> Work {
        let mut state = ScanState::default();
        self.scan(&mut state, data, 0, true, 0, out, &mut |_| {});
        state.work
    }

    /// Masks `data` trying every detector at every position, without the
    /// trigger automaton: the definition the fast scan must agree with
    /// (quadratic-ish; for tests only).
    #[doc(hidden)]
    pub fn mask_exhaustive(&self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        let mut state = ScanState {
            exhaustive: true,
            ..ScanState::default()
        };
        self.scan(&mut state, data, 0, true, 0, &mut out, &mut |_| {});
        out
    }

    /// Where the secrets in `data` are, without masking.
    pub fn findings(&self, data: &[u8]) -> Vec<Finding> {
        let mut found = Vec::new();
        let mut state = ScanState::default();
        self.scan(&mut state, data, 0, true, 0, &mut Discard, &mut |f| {
            found.push(f)
        });
        found
    }

    /// Masks many short values (a row's fields) in one call. `None` stays
    /// `None`. Returns the masked values and the number of findings.
    pub fn mask_many<'a, I>(&self, values: I) -> (Vec<Option<Vec<u8>>>, usize)
    where
        I: IntoIterator<Item = Option<&'a [u8]>>,
    {
        let mut count = 0;
        let out = values
            .into_iter()
            .map(|v| {
                v.map(|v| {
                    let mut o = Vec::with_capacity(v.len());
                    count += self.mask_into(v, &mut o);
                    o
                })
            })
            .collect();
        (out, count)
    }

    /// A stream: feed chunks, get masked bytes out, finish at the end.
    pub fn stream(&self) -> Stream {
        Stream::new(self.clone())
    }
}

impl Default for Masker {
    fn default() -> Self {
        Masker::new()
    }
}
