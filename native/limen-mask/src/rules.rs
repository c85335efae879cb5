//! User rules: a name and a regular expression or a list of words, parsed
//! and checked (a name, no empty match, every repetition bounded).

use regex_syntax::hir::{Capture, Hir, HirKind, Repetition};

use crate::error::{Error, ErrorKind};

/// many repetitions, so that every pattern has a longest match and streams
/// hold back a bounded amount.
pub const USER_REPEAT_CAP: u32 = 1024;

/// A user rule: a name and either a regular expression or a list of words.
#[derive(Clone, Debug)]
pub struct Rule {
    pub(crate) name: String,
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

pub(crate) fn check_name(name: &str) -> Result<(), Error> {
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

pub(crate) fn parse_rule(rule: &Rule) -> Result<(Hir, String, String), Error> {
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
