//! The masker: every detector's trigger in one automaton, and the scan
//! that one-shot and streaming masking share.
//!
//! # How a scan decides
//!
//! Each detector has a *head* (a bounded pattern; `L` is the longest any
//! head can match) and a *trigger* (`trigger.rs`): a looser pattern that
//! matches wherever a head match (or, for card numbers, a validated one)
//! can start. A match that starts at `s` is *decided* once the input holds
//! `s + L + 1` bytes: the match at `s` then depends only on bytes already
//! seen (one byte of look-ahead covers `\b`, and one byte of context is
//! kept before the position for look-behind). The scan, over the undecided
//! bytes `pos..len`:
//!
//! 1. walks the reversed trigger automaton once from `upto + L + 1` down to
//!    `pos`, which yields every candidate start in `pos..upto`, each with
//!    the detectors whose trigger matched there (a trigger match is a
//!    prefix of the head match, so it ends within `L` bytes, and one byte
//!    of look-ahead decides its `\b`). `upto` is `limit = len - L` (`len`
//!    when the input is complete) or, if sooner, the end of a window of
//!    `W = max(64 KiB, 8 (L + 1))` starts, so the candidate list stays small;
//!    then the next window;
//! 2. takes the candidates in increasing order, skipping those inside a
//!    span already masked; at each one it runs the candidate detectors'
//!    anchored head searches in priority order (a forward lazy DFA per
//!    head, without captures, with caches taken once per scan; captures
//!    only on a match, over its span: `anchored.rs`), and the first whose
//!    validator accepts is the finding. The search continues after the
//!    finding (or its tail, for PEM blocks, JWTs and bearer tokens);
//! 3. emits every byte below `limit` that no finding covers.
//!
//! This is exactly what "the leftmost start where some detector's head
//! matches and is accepted, the highest-priority such detector there, then
//! continue after it" gives, and every step is a pure function of decided
//! bytes, so a stream's output is byte-identical to one-shot masking for
//! any split of the input. A stream scans once its pending bytes reach
//! [`Masker::max_holdback`] (`2 (L + 1)`, more when a PEM terminator is
//! longer) and keeps at most `L + 1` of them afterwards.
//!
//! # Why the work is linear
//!
//! No input makes the scan do more than a constant amount of work per
//! byte, a constant that depends only on the detectors (the [`Work`]
//! counters measure it; `tests/linear.rs` checks it on adversarial input):
//!
//! - The trigger automaton is a lazy DFA that never gives up (no fallback
//!   to a slower engine): one transition per byte walked. One-shot walks
//!   each byte once, plus `L + 1` bytes past each window of at least
//!   `8 (L + 1)`: at most 9/8 per byte. A stream scans when at least
//!   `2 (L + 1)` bytes are pending and keeps at most `L` of them, so each
//!   byte is walked about twice (at most 9/4 times). Triggers keep no long
//!   counters (long repetitions become unbounded, trailing ones are cut),
//!   so the DFA's states do not multiply on encoded blobs and its cache
//!   holds them. The candidate list holds at most one window's starts.
//! - A position is a candidate at most once: a rejected candidate does
//!   not restart any search, and the next scan starts past it. At a
//!   candidate, each detector's anchored head search reads at most its
//!   longest head plus one byte; capture groups and validators run only on
//!   a head match, and are linear in it.
//! - Tails read each byte once; a PEM terminator search re-reads at most
//!   the terminator's length per scan.
//!
//! So the total is at most `n (4 + sum over detectors of (L_d + 1))` plus
//! the tails, for `n` input bytes. In practice triggers are selective and
//! the work is a little over one transition per byte.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};
use regex_syntax::hir::{Capture, Hir, HirKind, Repetition};

use crate::anchored::{Heads, Scratch};
use crate::card_head::card_head;
use crate::detectors::{trigger_override, Spec, TailSpec, BUILTIN};
use crate::error::{Error, ErrorKind};
use crate::trigger::{trigger_of, Candidates, Triggers};
use crate::validate::Validator;

/// Unbounded repetitions in user rules (`+`, `*`, `{n,}`) are capped at this
/// many repetitions, so that every pattern has a longest match and streams
/// hold back a bounded amount.
pub const USER_REPEAT_CAP: u32 = 1024;

/// Candidate starts are looked for this many at a time (or eight times the
/// longest head, if more): the candidate list stays small, and the bytes
/// re-read past each window (the longest head) cost at most an eighth more.
const WINDOW: usize = 64 << 10;

/// A user rule: a name and either a regular expression or a list of words.
#[derive(Clone, Debug)]
pub struct Rule {
    name: String,
    kind: RuleKind,
}

#[derive(Clone, Debug)]
enum RuleKind {
    Regex(String),
    Words {
        words: Vec<String>,
        case_insensitive: bool,
    },
}

impl Rule {
    /// A rule that masks every match of `pattern` (Rust regex syntax; add a
    /// capture group to mask only part of the match).
    pub fn regex(name: impl Into<String>, pattern: impl Into<String>) -> Rule {
        Rule {
            name: name.into(),
            kind: RuleKind::Regex(pattern.into()),
        }
    }

    /// A rule that masks these literal words (whole words where they start
    /// or end with a word character).
    pub fn words<I, S>(name: impl Into<String>, words: I, case_insensitive: bool) -> Rule
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Rule {
            name: name.into(),
            kind: RuleKind::Words {
                words: words.into_iter().map(Into::into).collect(),
                case_insensitive,
            },
        }
    }

    /// The rule's name, as it appears in `[MASKED:<name>]`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

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

enum Tail {
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

struct Detector {
    info: DetectorInfo,
    replacement: Box<[u8]>,
    /// The head alone, for anchored capture searches on candidates.
    single: Regex,
    has_groups: bool,
    /// The head is the built-in card-number one: matched by hand.
    card_head: bool,
    validator: Validator,
    tail: Tail,
}

struct Inner {
    triggers: Triggers,
    /// Forward anchored head automata (see `anchored.rs`).
    heads: Heads,
    /// Candidate starts looked for at a time (bounds the candidate list).
    window: usize,
    detectors: Vec<Detector>,
    max_head: usize,
    max_hold: usize,
    columns: HashSet<String>,
}

/// Masks secrets and personal data in bytes. Cheap to clone (shared).
#[derive(Clone)]
pub struct Masker {
    inner: Arc<Inner>,
}

impl core::fmt::Debug for Masker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Masker")
            .field("detectors", &self.detector_names().collect::<Vec<_>>())
            .field("max_holdback", &self.inner.max_hold)
            .finish()
    }
}

/// Configures a [`Masker`].
#[derive(Clone, Debug, Default)]
pub struct MaskerBuilder {
    select: Option<Vec<String>>,
    rules: Vec<Rule>,
    columns: Vec<String>,
}

impl MaskerBuilder {
    /// Every built-in detector and no rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Use only these detectors: built-in names, rule names, or `builtin`
    /// for every built-in one. Without this, every built-in detector and
    /// every rule is used.
    pub fn detectors<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.select = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a user rule.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Masks whole values of these columns (`table.column` or `column`),
    /// see [`Masker::column_replacement`].
    pub fn columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.columns
            .extend(columns.into_iter().map(|c| c.into().to_ascii_lowercase()));
        self
    }

    /// Compiles the masker.
    pub fn try_build(self) -> Result<Masker, Error> {
        let mut names: HashSet<String> = HashSet::new();
        let mut chosen: Vec<(Hir, DetectorInfo, Validator, TailSpec)> = Vec::new();

        let wanted = |name: &str, builtin: bool| -> bool {
            match &self.select {
                None => true,
                Some(sel) => sel.iter().any(|s| s == name || (builtin && s == "builtin")),
            }
        };
        if let Some(sel) = &self.select {
            for s in sel {
                let known = s == "builtin"
                    || BUILTIN.iter().any(|b| b.name == s)
                    || self.rules.iter().any(|r| &r.name == s);
                if !known {
                    return Err(Error::new(ErrorKind::UnknownDetector { name: s.clone() }));
                }
            }
        }
        for spec in BUILTIN {
            if !wanted(spec.name, true) {
                continue;
            }
            names.insert(spec.name.to_string());
            let hir = parse_builtin(spec)?;
            let info = DetectorInfo {
                name: spec.name.to_string(),
                description: spec.description.to_string(),
                max_head_len: 0,
                max_masked_len: 0,
                builtin: true,
                pattern: spec.pattern.to_string(),
            };
            chosen.push((hir, info, spec.validator, spec.tail));
        }
        for rule in &self.rules {
            check_name(&rule.name)?;
            if BUILTIN.iter().any(|b| b.name == rule.name) || !names.insert(rule.name.clone()) {
                return Err(Error::new(ErrorKind::DuplicateName {
                    name: rule.name.clone(),
                }));
            }
            if !wanted(&rule.name, false) {
                continue;
            }
            let (hir, description, pattern) = parse_rule(rule)?;
            let info = DetectorInfo {
                name: rule.name.clone(),
                description,
                max_head_len: 0,
                max_masked_len: 0,
                builtin: false,
                pattern,
            };
            chosen.push((hir, info, Validator::None, TailSpec::None));
        }

        let mut detectors = Vec::with_capacity(chosen.len());
        let mut triggers = Vec::with_capacity(chosen.len());
        let mut heads = Vec::with_capacity(chosen.len());
        let mut max_head = 0usize;
        let mut max_hold = 0usize;
        for (hir, mut info, validator, tail_spec) in chosen {
            let props = hir.properties();
            let head = props.maximum_len().ok_or_else(|| {
                Error::new(ErrorKind::Build {
                    message: format!("{}: no longest match", info.name),
                })
            })?;
            let has_groups = props.explicit_captures_len() > 0;
            let card_head = info.builtin && info.name == "card-number";
            let single = build_regex(std::slice::from_ref(&hir), true)?;
            heads.push(hir.clone());
            let tail = match tail_spec {
                TailSpec::None => Tail::None,
                TailSpec::Class(ranges, cap) => {
                    let mut set = Box::new([false; 256]);
                    for &(lo, hi) in ranges {
                        for b in lo..=hi {
                            set[usize::from(b)] = true;
                        }
                    }
                    Tail::Class { set, cap }
                }
                TailSpec::Until(pattern, cap) => {
                    let hir = parse_bytes_pattern(info.name.as_str(), pattern)?;
                    let max_len = hir.properties().maximum_len().unwrap_or(usize::MAX);
                    let re = build_regex(std::slice::from_ref(&hir), false)?;
                    max_hold = max_hold.max(max_len.saturating_add(1));
                    Tail::Until { re, max_len, cap }
                }
            };
            info.max_head_len = head;
            info.max_masked_len = head.saturating_add(match &tail {
                Tail::None => 0,
                Tail::Class { cap, .. } | Tail::Until { cap, .. } => *cap,
            });
            max_head = max_head.max(head);
            let replacement = format!("[MASKED:{}]", info.name)
                .into_bytes()
                .into_boxed_slice();
            detectors.push(Detector {
                info,
                replacement,
                single,
                has_groups,
                card_head,
                validator,
                tail,
            });
            let builtin_name = detectors
                .last()
                .filter(|d| d.info.builtin)
                .map(|d| d.info.name.as_str());
            let trigger = match builtin_name.and_then(trigger_override) {
                Some(pattern) => parse_bytes_pattern("trigger", pattern)?,
                None => trigger_of(&hir),
            };
            triggers.push(trigger);
        }
        let triggers = Triggers::build(&triggers)?;
        max_hold = max_hold.max(max_head.saturating_add(1));
        Ok(Masker {
            inner: Arc::new(Inner {
                triggers,
                heads: Heads::build(&heads),
                window: WINDOW.max(8 * (max_head + 1)),
                detectors,
                max_head,
                max_hold,
                columns: self.columns.into_iter().collect(),
            }),
        })
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::new(ErrorKind::BadName {
            name: name.to_string(),
        }))
    }
}

pub(crate) fn parse_bytes_pattern(name: &str, pattern: &str) -> Result<Hir, Error> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| {
            Error::new(ErrorKind::Build {
                message: format!("{name}: {e}"),
            })
        })
}

fn parse_builtin(spec: &Spec) -> Result<Hir, Error> {
    parse_bytes_pattern(spec.name, spec.pattern)
}

fn parse_rule(rule: &Rule) -> Result<(Hir, String, String), Error> {
    let bad = |message: String| {
        Error::new(ErrorKind::BadPattern {
            rule: rule.name.clone(),
            message,
        })
    };
    let (hir, description, source) = match &rule.kind {
        RuleKind::Regex(pattern) => {
            let hir = regex_syntax::ParserBuilder::new()
                .utf8(false)
                .build()
                .parse(pattern)
                .map_err(|e| bad(first_line(&e.to_string())))?;
            (
                cap_repetitions(hir),
                "user rule: regex".to_string(),
                pattern.clone(),
            )
        }
        RuleKind::Words {
            words,
            case_insensitive,
        } => {
            if words.is_empty() || words.iter().any(String::is_empty) {
                return Err(Error::new(ErrorKind::EmptyWords {
                    rule: rule.name.clone(),
                }));
            }
            let alts: Vec<String> = words
                .iter()
                .map(|w| {
                    let starts_word = w
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_');
                    let ends_word = w
                        .chars()
                        .last()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_');
                    format!(
                        "{}{}{}",
                        if starts_word { r"\b" } else { "" },
                        regex_syntax::escape(w),
                        if ends_word { r"\b" } else { "" }
                    )
                })
                .collect();
            let flags = if *case_insensitive { "(?i)" } else { "" };
            let pattern = format!("{flags}(?:{})", alts.join("|"));
            let hir = regex_syntax::ParserBuilder::new()
                .utf8(false)
                .build()
                .parse(&pattern)
                .map_err(|e| bad(first_line(&e.to_string())))?;
            (hir, format!("user rule: {} words", words.len()), pattern)
        }
    };
    if hir.properties().minimum_len() == Some(0) {
        return Err(Error::new(ErrorKind::EmptyMatch {
            rule: rule.name.clone(),
        }));
    }
    Ok((hir, description, source))
}

fn first_line(s: &str) -> String {
    // regex-syntax errors are multi-line drawings; keep them, but trimmed.
    s.trim().to_string()
}

/// Bounds every unbounded repetition at [`USER_REPEAT_CAP`].
fn cap_repetitions(hir: Hir) -> Hir {
    match hir.into_kind() {
        HirKind::Repetition(rep) => {
            let max = match rep.max {
                Some(m) => m,
                None => rep.min.max(USER_REPEAT_CAP),
            };
            Hir::repetition(Repetition {
                min: rep.min,
                max: Some(max),
                greedy: rep.greedy,
                sub: Box::new(cap_repetitions(*rep.sub)),
            })
        }
        HirKind::Capture(cap) => Hir::capture(Capture {
            index: cap.index,
            name: cap.name,
            sub: Box::new(cap_repetitions(*cap.sub)),
        }),
        HirKind::Concat(subs) => Hir::concat(subs.into_iter().map(cap_repetitions).collect()),
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.into_iter().map(cap_repetitions).collect())
        }
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(lit) => Hir::literal(lit.0),
        HirKind::Class(class) => Hir::class(class),
        HirKind::Look(look) => Hir::look(look),
    }
}

pub(crate) fn build_regex(hirs: &[Hir], captures: bool) -> Result<Regex, Error> {
    let which = if captures {
        regex_automata::nfa::thompson::WhichCaptures::All
    } else {
        regex_automata::nfa::thompson::WhichCaptures::Implicit
    };
    let config = meta::Config::new()
        .match_kind(MatchKind::LeftmostFirst)
        .utf8_empty(false)
        .which_captures(which)
        .nfa_size_limit(Some(64 << 20))
        .hybrid_cache_capacity(32 << 20)
        // A full DFA over all detectors would take long to build and is
        // rarely smaller than the lazy one's working set: lazy DFA only.
        .dfa(false);
    meta::Builder::new()
        .configure(config)
        .syntax(syntax::Config::new().utf8(false))
        .build_many_from_hir(hirs)
        .map_err(|e| {
            Error::new(ErrorKind::Build {
                message: e.to_string(),
            })
        })
}

/// A candidate that a detector accepted.
struct Accepted {
    detector: usize,
    /// What to replace.
    secret: Range<usize>,
    /// Where the scan continues (or the tail starts).
    end: usize,
}

/// How much work a scan did, in units that bound its running time: each
/// unit is one automaton transition or one byte a validator or tail looks
/// at (see the module docs for why the total is at most a constant times
/// the input length).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Transitions of the trigger automaton (one per byte of each window).
    pub trigger_bytes: u64,
    /// Candidate starts examined.
    pub candidates: u64,
    /// Bytes the anchored head searches at candidates may read (each at
    /// most the detector's longest head plus one byte of look-ahead).
    pub verify_bytes: u64,
    /// Bytes consumed by tails (PEM blocks, JWTs, bearer tokens).
    pub tail_bytes: u64,
}

impl Work {
    /// All units together.
    pub fn total(&self) -> u64 {
        self.trigger_bytes + self.candidates + self.verify_bytes + self.tail_bytes
    }
}

/// Where a scan is between calls.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ScanState {
    mode: Mode,
    work: Work,
    /// Every position is a candidate for every detector (the reference).
    exhaustive: bool,
    /// A finding whose tail is still being masked: (detector, start offset).
    open: Option<(usize, u64)>,
}

#[derive(Clone, Copy, Debug, Default)]
enum Mode {
    #[default]
    Normal,
    /// Masking while bytes are in the detector's class; `left` bytes of cap.
    Class { detector: usize, left: usize },
    /// Masking until the detector's terminator; `left` bytes of cap.
    Until { detector: usize, left: usize },
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
        let mut sink = Vec::new();
        self.scan(&mut state, data, 0, true, 0, &mut sink, &mut |f| {
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
        Stream {
            masker: self.clone(),
            buf: Vec::new(),
            pos: 0,
            base: 0,
            state: ScanState::default(),
            findings: Vec::new(),
            finished: false,
        }
    }

    fn try_detector(
        &self,
        hay: &[u8],
        start: usize,
        index: usize,
        work: &mut Work,
        scratch: &mut Scratch,
    ) -> Option<Accepted> {
        let det = self.inner.detectors.get(index)?;
        work.verify_bytes += (hay.len() - start).min(det.info.max_head_len + 1) as u64;
        let input = Input::new(hay)
            .span(start..hay.len())
            .anchored(Anchored::Yes);
        let mut m;
        let mut secret;
        if det.card_head {
            let end = card_head(hay, start)?;
            m = regex_automata::Match::must(0, start..end);
            secret = m.range();
        } else {
            // The lazy DFA says where the match ends (or that there is
            // none) without captures; the meta regex only when it cannot.
            let found = match self.inner.heads.end(scratch, index, hay, start) {
                Some(end) => end.map(|end| regex_automata::Match::must(0, start..end)),
                None => det.single.search(&input),
            };
            m = found?;
            secret = m.range();
            if det.has_groups {
                // Captures only on a match, and only over its span.
                let slot = scratch.caps.get_mut(index)?;
                let caps = slot.get_or_insert_with(|| det.single.create_captures());
                let span = Input::new(hay).span(m.range()).anchored(Anchored::Yes);
                det.single.search_captures(&span, caps);
                if caps.get_match() != Some(m) {
                    // Not expected (same automaton); the full search decides.
                    det.single.search_captures(&input, caps);
                    m = caps.get_match()?;
                    secret = m.range();
                }
                for g in 1..caps.group_len() {
                    if let Some(span) = caps.get_group(g) {
                        secret = span.range();
                        break;
                    }
                }
            }
        }
        let checked = det.validator.check(hay, secret.clone())?;
        // A group detector resumes after its whole match (`password=` and a
        // closing quote are kept); otherwise after the (possibly cut) secret.
        let end = if det.has_groups { m.end() } else { checked.end };
        secret = checked;
        if secret.is_empty() {
            return None;
        }
        Some(Accepted {
            detector: index,
            secret,
            end,
        })
    }

    /// The one scan behind `mask`, `findings` and streams. Consumes
    /// `hay[pos..]` as far as it is decided, appending output to `out`, and
    /// returns the new position. `hay[..pos]` is context only; `base` is the
    /// stream offset of `hay[0]`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn scan(
        &self,
        st: &mut ScanState,
        hay: &[u8],
        pos: usize,
        eof: bool,
        base: u64,
        out: &mut Vec<u8>,
        sink: &mut dyn FnMut(Finding),
    ) -> usize {
        let mut scratch = self.inner.heads.take();
        let pos = self.scan_with(st, hay, pos, eof, base, out, sink, &mut scratch);
        self.inner.heads.put(scratch);
        pos
    }

    #[allow(clippy::too_many_arguments)]
    fn scan_with(
        &self,
        st: &mut ScanState,
        hay: &[u8],
        mut pos: usize,
        eof: bool,
        base: u64,
        out: &mut Vec<u8>,
        sink: &mut dyn FnMut(Finding),
        scratch: &mut Scratch,
    ) -> usize {
        let inner = &*self.inner;
        let len = hay.len();
        let off = |i: usize| base + i as u64;
        let mut cands = Candidates::default();
        let mut tried: Vec<u32> = Vec::new();
        loop {
            match st.mode {
                Mode::Normal => {
                    if pos >= len {
                        return pos;
                    }
                    // Starts below `limit` are decided (see the module docs).
                    let limit = if eof {
                        len
                    } else {
                        len.saturating_sub(inner.max_head)
                    };
                    if pos >= limit {
                        return pos;
                    }
                    if pos >= cands.upto {
                        // The next window of candidates: at most `window`
                        // starts, found from the bytes they can depend on.
                        let upto = limit.min(pos.saturating_add(inner.window));
                        let hi = len.min(upto.saturating_add(inner.max_head + 1));
                        if st.exhaustive {
                            inner.triggers.all(pos, upto, &mut cands);
                        } else {
                            st.work.trigger_bytes +=
                                inner.triggers.find(hay, pos, upto, hi, &mut cands);
                        }
                    }
                    let upto = cands.upto;
                    let mut accepted = None;
                    while let Some((at, dets)) = cands.next_at(pos) {
                        tried.clear();
                        tried.extend_from_slice(dets);
                        st.work.candidates += 1;
                        accepted = tried.iter().find_map(|&d| {
                            self.try_detector(hay, at, d as usize, &mut st.work, scratch)
                        });
                        if accepted.is_some() {
                            break;
                        }
                    }
                    let Some(acc) = accepted else {
                        out.extend_from_slice(&hay[pos..upto]);
                        pos = upto;
                        if upto == limit {
                            return limit;
                        }
                        continue;
                    };
                    out.extend_from_slice(&hay[pos..acc.secret.start]);
                    let det = &inner.detectors[acc.detector];
                    out.extend_from_slice(&det.replacement);
                    match det.tail {
                        Tail::None => {
                            sink(Finding {
                                detector: acc.detector,
                                offset: off(acc.secret.start),
                                len: (acc.secret.end - acc.secret.start) as u64,
                            });
                            out.extend_from_slice(&hay[acc.secret.end..acc.end]);
                        }
                        Tail::Class { cap, .. } => {
                            st.open = Some((acc.detector, off(acc.secret.start)));
                            st.mode = Mode::Class {
                                detector: acc.detector,
                                left: cap,
                            };
                        }
                        Tail::Until { cap, .. } => {
                            st.open = Some((acc.detector, off(acc.secret.start)));
                            st.mode = Mode::Until {
                                detector: acc.detector,
                                left: cap,
                            };
                        }
                    }
                    pos = acc.end;
                }
                Mode::Class { detector, left } => {
                    let Some(Tail::Class { set, .. }) =
                        inner.detectors.get(detector).map(|d| &d.tail)
                    else {
                        st.mode = Mode::Normal;
                        continue;
                    };
                    let avail = &hay[pos..len.min(pos.saturating_add(left))];
                    let run = avail.iter().take_while(|&&b| set[usize::from(b)]).count();
                    st.work.tail_bytes += run as u64 + 1;
                    pos += run;
                    let left = left - run;
                    if pos == len && left > 0 && !eof {
                        st.mode = Mode::Class { detector, left };
                        return pos;
                    }
                    self.close(st, off(pos), sink);
                }
                Mode::Until { detector, left } => {
                    let Some(Tail::Until { re, max_len, .. }) =
                        inner.detectors.get(detector).map(|d| &d.tail)
                    else {
                        st.mode = Mode::Normal;
                        continue;
                    };
                    let cap_end = pos.saturating_add(left);
                    let end = len.min(cap_end);
                    st.work.tail_bytes += (end - pos) as u64 + 1;
                    let found = re.search(&Input::new(hay).span(pos..end));
                    match found {
                        Some(m) if eof || m.start().saturating_add(max_len + 1) <= len => {
                            pos = m.end();
                            self.close(st, off(pos), sink);
                        }
                        None if eof || cap_end < len => {
                            pos = end;
                            self.close(st, off(pos), sink);
                        }
                        _ => {
                            let keep = len.saturating_sub(max_len + 1).max(pos).min(end);
                            st.mode = Mode::Until {
                                detector,
                                left: left - (keep - pos),
                            };
                            return keep;
                        }
                    }
                }
            }
        }
    }

    fn close(&self, st: &mut ScanState, end: u64, sink: &mut dyn FnMut(Finding)) {
        if let Some((detector, start)) = st.open.take() {
            sink(Finding {
                detector,
                offset: start,
                len: end - start,
            });
        }
        st.mode = Mode::Normal;
    }
}

impl Default for Masker {
    fn default() -> Self {
        Masker::new()
    }
}

/// Masks a stream fed in chunks of any size. Output is byte-identical to
/// [`Masker::mask`] on the concatenated input; at most
/// [`Masker::max_holdback`] bytes are held between calls.
pub struct Stream {
    masker: Masker,
    buf: Vec<u8>,
    /// `buf[pos..]` is not yet consumed; `buf[..pos]` is look-behind context.
    pos: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    state: ScanState,
    findings: Vec<Finding>,
    finished: bool,
}

impl Stream {
    /// Feeds a chunk; appends what is now safe to emit to `out`.
    pub fn feed_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.finished {
            // A finished stream passes nothing more through: fail closed.
            return;
        }
        self.buf.extend_from_slice(chunk);
        // Scan only once the pending bytes reach the hold-back bound: a scan
        // re-reads what the previous one held back (at most the longest head),
        // so each scan then decides at least as many new bytes as it re-reads.
        if self.pending() < self.masker.max_holdback() {
            return;
        }
        let findings = &mut self.findings;
        self.pos = self.masker.scan(
            &mut self.state,
            &self.buf,
            self.pos,
            false,
            self.base,
            out,
            &mut |f| findings.push(f),
        );
        // Keep only what is pending plus one byte of look-behind context.
        if self.pos > 1 {
            let drop = self.pos - 1;
            self.buf.drain(..drop);
            self.base += drop as u64;
            self.pos = 1;
        }
    }

    /// Feeds a chunk and returns what is now safe to emit.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len());
        self.feed_into(chunk, &mut out);
        out
    }

    /// Ends the stream; appends the rest to `out`.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        let findings = &mut self.findings;
        self.pos = self.masker.scan(
            &mut self.state,
            &self.buf,
            self.pos,
            true,
            self.base,
            out,
            &mut |f| findings.push(f),
        );
        self.finished = true;
        self.buf = Vec::new();
        self.pos = 0;
    }

    /// Ends the stream and returns the rest.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.finish_into(&mut out);
        out
    }

    /// Findings since the last call (offsets are stream offsets).
    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    /// Bytes currently held back (not yet emitted).
    pub fn pending(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The work done so far (see [`Work`]).
    pub fn work(&self) -> Work {
        self.state.work
    }

    /// Bytes buffered, including look-behind context.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The masker this stream uses.
    pub fn masker(&self) -> &Masker {
        &self.masker
    }
}
