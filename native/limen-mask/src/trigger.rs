//! Candidate starts: one backward pass of one small automaton.
//!
//! Every detector has a *trigger*: a pattern whose language contains every
//! match of the detector's head (often much more), built so that an
//! unanchored automaton for all triggers stays small whatever the input:
//!
//! - a repetition whose longest match exceeds [`relax::KEEP`] bytes
//!   becomes unbounded (`x{8,1024}` becomes `x{8,}`; a minimum above it is
//!   lowered to it), so no long counter is tracked from every position;
//! - capture groups are dropped, Unicode word boundaries become empty (an
//!   ASCII `\b` is kept; the lazy DFA handles it on any byte);
//! - a detector may give a tighter trigger of its own when its validator
//!   rules out most head matches (a card number starts with 13 digits or
//!   a group of 4 then a group of at least 4), or when short near-misses
//!   would make a candidate every few bytes (a GitHub or OpenAI key
//!   prefix asks for 12 bytes of its body: `detectors::trigger_override`).
//!
//! The triggers are compiled *reversed* into one lazy DFA that reports every
//! matching pattern (`MatchKind::All`). Walking it once from the end of a
//! window to its start is one transition per byte, and the DFA is in a
//! match state exactly at the positions where some trigger match starts:
//! those are the candidates, each with the detectors whose trigger matched.
//! Only there does the masker run a detector's anchored head search.

use std::sync::Mutex;

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::hybrid::LazyStateID;
use regex_automata::nfa::thompson;
use regex_automata::{Anchored, Input, MatchKind};
use regex_syntax::hir::Hir;

use crate::error::{Error, ErrorKind};

mod escapes;
mod relax;
pub(crate) use relax::trigger_of;

/// The reversed trigger automaton and a pool of its caches.
pub(crate) struct Triggers {
    dfa: DFA,
    caches: Mutex<Vec<Cache>>,
    patterns: usize,
    /// The same triggers forward, for positions after escapes.
    forward: escapes::Forward,
}

/// Candidate starts found in one window, in increasing order once built.
#[derive(Default)]
pub(crate) struct Candidates {
    /// (position, first index into `pats`, count), in decreasing position
    /// order while the backward pass runs, then reversed.
    at: Vec<(usize, u32, u32)>,
    pats: Vec<u32>,
    next: usize,
    /// Positions below this were searched for candidates (window end).
    pub(crate) upto: usize,
}

impl Candidates {
    /// The next candidate at or after `pos`, with its detectors in priority
    /// order.
    pub(crate) fn next_at(&mut self, pos: usize) -> Option<(usize, &[u32])> {
        while let Some(&(at, first, count)) = self.at.get(self.next) {
            self.next += 1;
            if at >= pos {
                let lo = first as usize;
                return self.pats.get(lo..lo + count as usize).map(|p| (at, p));
            }
        }
        None
    }

    fn clear(&mut self) {
        self.at.clear();
        self.pats.clear();
        self.next = 0;
    }
}

impl Triggers {
    /// Compiles the triggers (one per detector, in priority order).
    pub(crate) fn build(triggers: &[Hir]) -> Result<Triggers, Error> {
        let build_err = |message: String| Error::new(ErrorKind::Build { message });
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .reverse(true)
                    .shrink(true)
                    .which_captures(thompson::WhichCaptures::None)
                    .nfa_size_limit(Some(64 << 20)),
            )
            .build_many_from_hir(triggers)
            .map_err(|e| build_err(e.to_string()))?;
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(MatchKind::All)
                    .cache_capacity(8 << 20)
                    .skip_cache_capacity_check(true)
                    // Never give up: a cleared cache costs time, never
                    // correctness, and no fallback engine is slower.
                    .minimum_cache_clear_count(None),
            )
            .build_from_nfa(nfa)
            .map_err(|e| build_err(e.to_string()))?;
        Ok(Triggers {
            dfa,
            caches: Mutex::new(Vec::new()),
            patterns: triggers.len(),
            forward: escapes::Forward::build(triggers)?,
        })
    }

    /// Finds the candidates in `hay[lo..limit)`, looking at bytes up to
    /// `hi` (`limit <= hi <= hay.len()`); one transition per byte of
    /// `hay[lo..hi]`, and a few more where an escape ends (`escapes.rs`;
    /// `carry` as in `escape::escaped`). Returns the number of transitions
    /// of each.
    pub(crate) fn find(
        &self,
        hay: &[u8],
        lo: usize,
        limit: usize,
        hi: usize,
        carry: bool,
        cands: &mut Candidates,
    ) -> (u64, u64) {
        let walked = self.find_plain(hay, lo, limit, hi, cands);
        let escapes = self.escape_starts(hay, lo, limit, hi, carry, cands);
        (walked, escapes)
    }

    /// The reversed walk alone. Not inlined: its inner loop compiles to
    /// fewer instructions per byte on its own.
    #[inline(never)]
    fn find_plain(
        &self,
        hay: &[u8],
        lo: usize,
        limit: usize,
        hi: usize,
        cands: &mut Candidates,
    ) -> u64 {
        cands.clear();
        cands.upto = limit;
        if lo >= limit {
            return 0;
        }
        let mut cache = self
            .caches
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_else(|| self.dfa.create_cache());
        let walked = self.walk(&mut cache, hay, lo, limit, hi, cands);
        if walked.is_none() {
            // Cannot happen with the configuration above; if it does, every
            // position is a candidate for every detector (slow, never wrong).
            self.all(lo, limit, cands);
        } else {
            cands.at.reverse();
        }
        if let Ok(mut v) = self.caches.lock() {
            if v.len() < 16 {
                v.push(cache);
            }
        }
        walked.unwrap_or((limit - lo) as u64)
    }

    /// Every position in `lo..limit` a candidate for every detector: what
    /// the triggers narrow down (the reference the tests compare with).
    pub(crate) fn all(&self, lo: usize, limit: usize, cands: &mut Candidates) {
        cands.clear();
        cands.upto = limit;
        let all: Vec<u32> = (0..self.patterns)
            .filter_map(|p| u32::try_from(p).ok())
            .collect();
        for at in lo..limit {
            push(cands, at, &all);
        }
    }

    fn walk(
        &self,
        cache: &mut Cache,
        hay: &[u8],
        lo: usize,
        limit: usize,
        hi: usize,
        cands: &mut Candidates,
    ) -> Option<u64> {
        let dfa = &self.dfa;
        let input = Input::new(hay).span(lo..hi).anchored(Anchored::No);
        let mut sid = dfa.start_state_reverse(cache, &input).ok()?;
        let window = hay.get(lo..hi)?;
        let mut seen = Seen::default();
        // `i` counts the bytes of the window not yet walked: the next one
        // is `window[i - 1]`, at `lo + i - 1`.
        let mut i = window.len();
        while i > 0 {
            // Most transitions go from an untagged state to an untagged,
            // already computed one: one table load each, nothing else.
            if !sid.is_tagged() {
                // Four bytes per step while no state is tagged: one check of
                // the loop's bound per four transitions. A tagged state
                // stops the step before its byte, which the loop below then
                // reads again (one transition more, per tagged state).
                while let Some(&[b0, b1, b2, b3]) = i.checked_sub(4).and_then(|j| window.get(j..i))
                {
                    let s3 = dfa.next_state_untagged(cache, sid, b3);
                    if s3.is_tagged() {
                        break;
                    }
                    let s2 = dfa.next_state_untagged(cache, s3, b2);
                    if s2.is_tagged() {
                        sid = s3;
                        i -= 1;
                        break;
                    }
                    let s1 = dfa.next_state_untagged(cache, s2, b1);
                    if s1.is_tagged() {
                        sid = s2;
                        i -= 2;
                        break;
                    }
                    let s0 = dfa.next_state_untagged(cache, s1, b0);
                    if s0.is_tagged() {
                        sid = s1;
                        i -= 3;
                        break;
                    }
                    sid = s0;
                    i -= 4;
                }
                let mut next = sid;
                let mut rest = window.get(..i)?;
                while let Some((&b, before)) = rest.split_last() {
                    next = dfa.next_state_untagged(cache, sid, b);
                    if next.is_tagged() {
                        break;
                    }
                    sid = next;
                    rest = before;
                }
                i = rest.len();
                if i == 0 {
                    break;
                }
                if !next.is_unknown() {
                    sid = next;
                    i -= 1;
                    if !self.tagged(cache, sid, lo + i, limit, cands, &mut seen)? {
                        return Some((hi - (lo + i)) as u64);
                    }
                    continue;
                }
            }
            i -= 1;
            sid = dfa.next_state(cache, sid, *window.get(i)?).ok()?;
            if sid.is_tagged() && !self.tagged(cache, sid, lo + i, limit, cands, &mut seen)? {
                return Some((hi - (lo + i)) as u64);
            }
        }
        sid = match lo.checked_sub(1).and_then(|i| hay.get(i)) {
            Some(&b) => dfa.next_state(cache, sid, b).ok()?,
            None => dfa.next_eoi_state(cache, sid).ok()?,
        };
        if sid.is_match() {
            self.record(cache, sid, lo, cands, &mut seen);
        } else if sid.is_quit() {
            return None;
        }
        Some((hi - lo) as u64)
    }

    /// Handles a tagged state reached by reading the byte at `at`:
    /// `Some(true)` to go on, `Some(false)` when the automaton is dead (no
    /// candidate further left), `None` when it quit.
    fn tagged(
        &self,
        cache: &Cache,
        sid: LazyStateID,
        at: usize,
        limit: usize,
        cands: &mut Candidates,
        seen: &mut Seen,
    ) -> Option<bool> {
        if sid.is_match() {
            // Matches are reported one byte late: this one starts just
            // after the byte that was read.
            if at + 1 < limit {
                self.record(cache, sid, at + 1, cands, seen);
            }
            Some(true)
        } else if sid.is_dead() {
            Some(false)
        } else if sid.is_quit() {
            None
        } else {
            Some(true)
        }
    }

    /// Adds a candidate at `at` with the patterns of match state `sid`.
    /// Repetitive input reaches the same few match states again and again:
    /// their pattern lists are stored once and shared (valid while the
    /// cache is not cleared, which `seen` checks).
    fn record(
        &self,
        cache: &Cache,
        sid: LazyStateID,
        at: usize,
        cands: &mut Candidates,
        seen: &mut Seen,
    ) {
        if seen.clears != Some(cache.clear_count()) {
            *seen = Seen {
                clears: Some(cache.clear_count()),
                ..Seen::default()
            };
        }
        let known = seen
            .slots
            .iter()
            .flatten()
            .find(|(known, _, _)| *known == sid);
        if let Some(&(_, first, count)) = known {
            cands.at.push((at, first, count));
            return;
        }
        let first = u32::try_from(cands.pats.len()).unwrap_or(u32::MAX);
        let dfa = &self.dfa;
        let start = cands.pats.len();
        for i in 0..dfa.match_len(cache, sid) {
            cands.pats.push(dfa.match_pattern(cache, sid, i).as_u32());
        }
        if let Some(p) = cands.pats.get_mut(start..) {
            p.sort_unstable();
        }
        let count = u32::try_from(cands.pats.len() - start).unwrap_or(0);
        cands.at.push((at, first, count));
        let slot = seen.next % seen.slots.len();
        if let Some(s) = seen.slots.get_mut(slot) {
            *s = Some((sid, first, count));
        }
        seen.next = seen.next.wrapping_add(1);
    }
}

/// Pattern lists of recently seen match states (see [`Triggers::record`]).
#[derive(Default)]
struct Seen {
    /// The cache's clear count when the slots were filled.
    clears: Option<usize>,
    slots: [Option<(LazyStateID, u32, u32)>; 8],
    /// The slot to fill next (round robin).
    next: usize,
}

fn push(cands: &mut Candidates, at: usize, pats: &[u32]) {
    let first = u32::try_from(cands.pats.len()).unwrap_or(u32::MAX);
    let count = u32::try_from(pats.len()).unwrap_or(0);
    cands.pats.extend_from_slice(pats);
    cands.at.push((at, first, count));
}
