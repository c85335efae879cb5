//! At a candidate: a detector's head and validator (`scan.rs` calls these
//! in priority order), the fast way or, for the reference scan, by
//! definition.

use std::ops::Range;

use regex_automata::{Anchored, Input};

use crate::anchored::Scratch;
use crate::card::json_number;
use crate::escape;
use crate::groups::Group;
use crate::iban::iban_possible;
use crate::masker::{Detector, Masker};
use crate::scan::Work;
use crate::validate::Validator;

/// A candidate that a detector accepted.
pub(crate) struct Accepted {
    pub(super) detector: usize,
    /// What to replace.
    pub(super) secret: Range<usize>,
    /// Where the scan continues (or the tail starts).
    pub(super) end: usize,
    /// The secret was cut at a raw quote (`escape::fit`): no tail.
    pub(super) cut: bool,
    /// A card number that is a JSON number: replaced by `0` (`card.rs`).
    pub(super) number: bool,
}

impl Masker {
    /// Whether detector `index`'s head matches at `start` and its
    /// validator accepts: the finding, if so. `reference` takes the slow,
    /// obviously right path (the meta regex, with captures over the rest of
    /// the input) that `mask_exhaustive` uses to check the fast one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn try_detector(
        &self,
        hay: &[u8],
        start: usize,
        index: usize,
        work: &mut Work,
        scratch: &mut Scratch,
        reference: bool,
        carry: bool,
    ) -> Option<Accepted> {
        let det = self.inner.detectors.get(index)?;
        work.verify_bytes += (hay.len() - start).min(det.info.max_head_len + 1) as u64;
        // What the head's look-behind reads: an escape ending here is a
        // boundary (`escape.rs`).
        let before = escape::before(hay, start, carry);
        if det.card_head && !reference {
            // Head and validator in one, on groups shared along the run.
            let secret = scratch.card.at(hay, start, before)?;
            let (secret, cut) = escape::fit(hay, secret, carry)?;
            return Some(Accepted {
                detector: index,
                end: secret.end,
                number: json_number(hay, &secret),
                secret,
                cut,
            });
        }
        if det.validator == Validator::Iban
            && !reference
            && !iban_possible(hay, start, det.info.max_head_len)
        {
            return None;
        }
        let (m, secret) = if reference {
            reference_head(det, hay, start, before)?
        } else if matches!(det.group, Group::Assignment) {
            // The built-in password-assignment head: match and secret in
            // one pass over the bytes.
            crate::assignment::head(hay, start, before)?
        } else {
            self.fast_head(det, index, hay, start, before, scratch)?
        };
        let checked = det.validator.check(hay, secret)?;
        if checked.is_empty() {
            return None;
        }
        // Escapes and strings kept whole (`escape.rs`).
        let (checked, cut) = escape::fit(hay, checked, carry)?;
        // A group detector resumes after its whole match (`password=` and a
        // closing quote are kept); otherwise after the (possibly cut)
        // secret. A secret cut at a raw quote resumes at the quote.
        let end = if det.has_groups && !cut {
            let end = m.end.max(checked.end);
            escape::inside(hay, end, carry).map_or(end, |e| e.end)
        } else {
            checked.end
        };
        Some(Accepted {
            detector: index,
            number: det.card_head && json_number(hay, &checked),
            secret: checked,
            end,
            cut,
        })
    }

    /// The head match at `start` and the secret in it, the fast way: the
    /// head by its anchored lazy DFA (the meta
    /// regex only when it gives up), the secret of a built-in head with
    /// groups from the match's bytes (`groups.rs`), captures only for user
    /// rules with groups, and only over the match.
    fn fast_head(
        &self,
        det: &Detector,
        index: usize,
        hay: &[u8],
        start: usize,
        before: Option<u8>,
        scratch: &mut Scratch,
    ) -> Option<(Range<usize>, Range<usize>)> {
        let m = match self
            .inner
            .heads
            .end_after(scratch, index, hay, start, before)
        {
            Some(end) => start..end?,
            None => {
                let v = View::new(hay, start, det.info.max_head_len, before);
                let input = Input::new(&*v.hay)
                    .span(v.at(start)..v.hay.len())
                    .anchored(Anchored::Yes);
                v.back(det.single.search(&input)?.range())
            }
        };
        if !det.has_groups {
            return Some((m.clone(), m));
        }
        if let Some(s) = det.group.secret(hay.get(m.clone())?) {
            return Some((m.clone(), m.start + s.start..m.start + s.end));
        }
        let slot = scratch.caps.get_mut(index)?;
        let caps = slot.get_or_insert_with(|| det.single.create_captures());
        // Over the match and one byte of look-ahead.
        let v = View::new(hay, start, m.len(), before);
        let span = Input::new(&*v.hay)
            .span(v.at(m.start)..v.at(m.end))
            .anchored(Anchored::Yes);
        det.single.search_captures(&span, caps);
        if caps.get_match().map(|c| v.back(c.range())) != Some(m.clone()) {
            // Not expected (same automaton); the definition decides.
            return reference_head(det, hay, start, before);
        }
        let secret = (1..caps.group_len())
            .find_map(|g| caps.get_group(g))
            .map_or(m.clone(), |g| v.back(g.range()));
        Some((m, secret))
    }
}

/// The input from a head's start as the meta regex should see it: the
/// input itself, or, where the look-behind reads another byte than the one
/// before the start (an escape ends there), a copy of `len` bytes and one
/// of look-ahead behind that byte. Positions map with [`View::at`] and
/// [`View::back`].
struct View<'a> {
    hay: std::borrow::Cow<'a, [u8]>,
    /// Input position minus view position.
    shift: usize,
}

impl<'a> View<'a> {
    fn new(hay: &'a [u8], start: usize, len: usize, before: Option<u8>) -> View<'a> {
        let real = start.checked_sub(1).and_then(|i| hay.get(i)).copied();
        match before {
            Some(b) if real != before => {
                let end = hay.len().min(start.saturating_add(len).saturating_add(1));
                let mut copy = Vec::with_capacity(end.saturating_sub(start) + 1);
                copy.push(b);
                copy.extend_from_slice(hay.get(start..end).unwrap_or_default());
                View {
                    hay: copy.into(),
                    shift: start.saturating_sub(1),
                }
            }
            _ => View {
                hay: hay.into(),
                shift: 0,
            },
        }
    }

    fn at(&self, i: usize) -> usize {
        i - self.shift
    }

    fn back(&self, r: Range<usize>) -> Range<usize> {
        r.start + self.shift..r.end + self.shift
    }
}

/// The head match at `start` and the secret in it, by definition: the
/// head's meta regex, anchored at `start`, with captures over the rest of
/// the input when the head has groups (the first group that took part is
/// the secret).
fn reference_head(
    det: &Detector,
    hay: &[u8],
    start: usize,
    before: Option<u8>,
) -> Option<(Range<usize>, Range<usize>)> {
    let v = View::new(hay, start, det.info.max_head_len, before);
    let input = Input::new(&*v.hay)
        .span(v.at(start)..v.hay.len())
        .anchored(Anchored::Yes);
    if !det.has_groups {
        let m = v.back(det.single.search(&input)?.range());
        return Some((m.clone(), m));
    }
    let mut caps = det.single.create_captures();
    det.single.search_captures(&input, &mut caps);
    let m = v.back(caps.get_match()?.range());
    let secret = (1..caps.group_len())
        .find_map(|g| caps.get_group(g))
        .map_or(m.clone(), |g| v.back(g.range()));
    Some((m, secret))
}
