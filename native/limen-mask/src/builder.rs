//! Building a masker: the chosen detectors' heads, triggers, validators
//! and tails compiled once, shared by every scan and stream.

use std::collections::HashSet;
use std::sync::Arc;

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::MatchKind;
use regex_syntax::hir::Hir;

use crate::anchored::Heads;
use crate::detectors::{trigger_override, Spec, TailSpec, BUILTIN};
use crate::error::{Error, ErrorKind};
use crate::escape::CONTEXT;
use crate::groups::Group;
use crate::masker::{Detector, DetectorInfo, Inner, Masker, Tail};
use crate::rules::{check_name, parse_rule, Rule};
use crate::trigger::{trigger_of, Triggers};
use crate::validate::Validator;

/// Candidate starts are looked for this many at a time (or eight times the
/// longest head, if more): the candidate list stays small, and the bytes
/// re-read past each window (the longest head) cost at most an eighth more.
const WINDOW: usize = 64 << 10;

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
            let group = if info.builtin {
                Group::of_builtin(&info.name)
            } else {
                Group::Captures
            };
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
                group,
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
        // A span's end may move on to the end of an escape (`escape.rs`):
        // that much more look-ahead decides it.
        let max_head = max_head.saturating_add(CONTEXT);
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
                cands: Default::default(),
            }),
        })
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
