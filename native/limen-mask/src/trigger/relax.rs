//! Triggers from heads: each head's pattern relaxed and cut short (see the
//! module docs of `trigger.rs`), so the automaton of all triggers stays
//! small on any input.

use regex_syntax::hir::{Hir, HirKind, Repetition};

/// Repetitions that can match more than this many bytes are made unbounded
/// in triggers, and their minimum count is capped at this.
pub(crate) const KEEP: usize = 64;

/// Trailing items longer than this are cut from triggers.
const TAIL_KEEP: usize = 16;

/// Makes a trigger from a head: the head relaxed, then cut short (see the
/// module docs). Every start of a head match starts a trigger match.
pub(crate) fn trigger_of(head: &Hir) -> Hir {
    let relaxed = relax(head);
    match relaxed.kind() {
        HirKind::Repetition(rep) if long(&relaxed) && rep.min >= 1 => first_copies(rep),
        _ => trim_tail(&relaxed),
    }
}

fn long(hir: &Hir) -> bool {
    hir.properties().maximum_len().is_none_or(|m| m > TAIL_KEEP)
}

/// A prefix of `hir`'s matches: trailing look-arounds, optional items and
/// long repetitions are dropped (a long repetition that must match once is
/// kept as one copy of its body, itself trimmed). In reverse, the trigger
/// then starts with a literal or a short item rather than a counter that
/// every position would start.
fn trim_tail(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Concat(items) => {
            let mut items: Vec<Hir> = items.clone();
            while let Some(last) = items.pop() {
                let droppable = matches!(last.kind(), HirKind::Look(_))
                    || last.properties().minimum_len() == Some(0)
                    || (long(&last) && matches!(last.kind(), HirKind::Repetition(_)));
                if !droppable {
                    items.push(trim_tail(&last));
                    break;
                }
                if let HirKind::Repetition(rep) = last.kind() {
                    if rep.min >= 1 {
                        items.push(first_copies(rep));
                        break;
                    }
                }
            }
            Hir::concat(items)
        }
        HirKind::Alternation(subs) => Hir::alternation(subs.iter().map(trim_tail).collect()),
        HirKind::Repetition(rep) if long(hir) && rep.min >= 1 => first_copies(rep),
        _ => hir.clone(),
    }
}

/// Trailing copies of a repetition's body kept in a trigger, at most this
/// many bytes of them: `[A-Za-z]{2,24}` ends a trigger as `[A-Za-z]{2}`
/// (one letter would make `a@a.a` a candidate of the email head), while a
/// short counter keeps the reversed automaton small on long runs.
const TAIL_COPY_BYTES: usize = 3;

/// The first copies of a long repetition's body that every match of it
/// starts with (at most its minimum, and [`TAIL_COPY_BYTES`]), the last one
/// trimmed.
fn first_copies(rep: &Repetition) -> Hir {
    let body = rep
        .sub
        .properties()
        .maximum_len()
        .unwrap_or(usize::MAX)
        .max(1);
    let fit = u32::try_from(TAIL_COPY_BYTES / body).unwrap_or(1);
    let copies = rep.min.min(fit).max(1);
    let mut items: Vec<Hir> = (1..copies).map(|_| (*rep.sub).clone()).collect();
    items.push(trim_tail(&rep.sub));
    Hir::concat(items)
}

/// A superset of `hir`'s language (see the module docs), with no capture
/// groups.
fn relax(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(lit) => Hir::literal(lit.0.clone()),
        HirKind::Class(class) => Hir::class(class.clone()),
        HirKind::Look(look) => {
            if format!("{look:?}").contains("Unicode") {
                Hir::empty()
            } else {
                Hir::look(*look)
            }
        }
        HirKind::Repetition(rep) => {
            let sub = relax(&rep.sub);
            let long = hir.properties().maximum_len().is_none_or(|m| m > KEEP);
            let keep = u32::try_from(KEEP).unwrap_or(u32::MAX);
            Hir::repetition(Repetition {
                min: if long { rep.min.min(keep) } else { rep.min },
                max: if long { None } else { rep.max },
                greedy: rep.greedy,
                sub: Box::new(sub),
            })
        }
        HirKind::Capture(cap) => relax(&cap.sub),
        HirKind::Concat(subs) => Hir::concat(subs.iter().map(relax).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.iter().map(relax).collect()),
    }
}
