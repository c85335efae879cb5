//! At a candidate: a detector's head and validator (`scan.rs` calls these
//! in priority order), the fast way or, for the reference scan, by
//! definition.

use std::ops::Range;

use regex_automata::{Anchored, Input};

use crate::anchored::Scratch;
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
    ) -> Option<Accepted> {
        let det = self.inner.detectors.get(index)?;
        work.verify_bytes += (hay.len() - start).min(det.info.max_head_len + 1) as u64;
        if det.card_head && !reference {
            // Head and validator in one, on groups shared along the run.
            let secret = scratch.card.at(hay, start)?;
            return Some(Accepted {
                detector: index,
                end: secret.end,
                secret,
            });
        }
        if det.validator == Validator::Iban
            && !reference
            && !iban_possible(hay, start, det.info.max_head_len)
        {
            return None;
        }
        let (m, secret) = if reference {
            reference_head(det, hay, start)?
        } else {
            self.fast_head(det, index, hay, start, scratch)?
        };
        let checked = det.validator.check(hay, secret)?;
        // A group detector resumes after its whole match (`password=` and a
        // closing quote are kept); otherwise after the (possibly cut) secret.
        let end = if det.has_groups { m.end } else { checked.end };
        if checked.is_empty() {
            return None;
        }
        Some(Accepted {
            detector: index,
            secret: checked,
            end,
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
        scratch: &mut Scratch,
    ) -> Option<(Range<usize>, Range<usize>)> {
        let m = match self.inner.heads.end(scratch, index, hay, start) {
            Some(end) => start..end?,
            None => {
                let input = Input::new(hay)
                    .span(start..hay.len())
                    .anchored(Anchored::Yes);
                det.single.search(&input)?.range()
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
        let span = Input::new(hay).span(m.clone()).anchored(Anchored::Yes);
        det.single.search_captures(&span, caps);
        if caps.get_match().map(|c| c.range()) != Some(m.clone()) {
            // Not expected (same automaton); the definition decides.
            return reference_head(det, hay, start);
        }
        let secret = (1..caps.group_len())
            .find_map(|g| caps.get_group(g))
            .map_or(m.clone(), |g| g.range());
        Some((m, secret))
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
) -> Option<(Range<usize>, Range<usize>)> {
    let input = Input::new(hay)
        .span(start..hay.len())
        .anchored(Anchored::Yes);
    if !det.has_groups {
        let m = det.single.search(&input)?.range();
        return Some((m.clone(), m));
    }
    let mut caps = det.single.create_captures();
    det.single.search_captures(&input, &mut caps);
    let m = caps.get_match()?.range();
    let secret = (1..caps.group_len())
        .find_map(|g| caps.get_group(g))
        .map_or(m.clone(), |g| g.range());
    Some((m, secret))
}
