//! Candidates where a backslash escape ends.
//!
//! An escape is a boundary (`escape.rs`): after `\n` the look-behind of a
//! head reads a backslash, not the `n`. The reversed automaton reads the
//! real bytes, so at those positions (rare: an escape whose last byte is a
//! word byte) the triggers are asked again, by a forward anchored
//! automaton of the same triggers started with a backslash as look-behind,
//! and the detectors it names join the candidates there.

use std::sync::Mutex;

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::Hir;

use super::{Candidates, Triggers};
use crate::error::{Error, ErrorKind};
use crate::escape;

/// The triggers, forward and anchored, reporting every pattern that
/// matches. Only triggers that can start with a look-around read the byte
/// before them; the others (`password=`, `-----BEGIN`) match at a
/// position whatever precedes it, so the reversed walk found them already,
/// and they are left out here (a pattern that never matches).
pub(crate) struct Forward {
    dfa: DFA,
    caches: Mutex<Vec<Cache>>,
    /// The bytes some trigger here can start with (after a backslash).
    first: Box<[bool; 256]>,
}

impl Forward {
    pub(super) fn build(triggers: &[Hir]) -> Result<Forward, Error> {
        let build_err = |message: String| Error::new(ErrorKind::Build { message });
        let triggers: Vec<Hir> = triggers
            .iter()
            .map(|h| {
                if h.properties().look_set_prefix_any().is_empty() {
                    Hir::fail()
                } else {
                    h.clone()
                }
            })
            .collect();
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .utf8(false)
                    .which_captures(thompson::WhichCaptures::None)
                    .nfa_size_limit(Some(64 << 20)),
            )
            .build_many_from_hir(&triggers)
            .map_err(|e| build_err(e.to_string()))?;
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(MatchKind::All)
                    .cache_capacity(1 << 20)
                    .skip_cache_capacity_check(true)
                    .minimum_cache_clear_count(None),
            )
            .build_from_nfa(nfa)
            .map_err(|e| build_err(e.to_string()))?;
        let mut first = Box::new([true; 256]);
        let mut cache = dfa.create_cache();
        if let Ok(start) = dfa.start_state(&mut cache, &after_backslash()) {
            for (b, slot) in (0..=255u8).zip(first.iter_mut()) {
                if let Ok(next) = dfa.next_state(&mut cache, start, b) {
                    *slot = !next.is_dead();
                }
            }
        }
        Ok(Forward {
            dfa,
            caches: Mutex::new(vec![cache]),
            first,
        })
    }

    /// Adds to `out` the patterns whose trigger matches at `p` with a
    /// backslash as look-behind, reading `hay[p..hi]` (and the byte at
    /// `hi` as look-ahead). Returns the transitions, `None` if the
    /// automaton quit.
    fn patterns_at(
        &self,
        cache: &mut Cache,
        hay: &[u8],
        p: usize,
        hi: usize,
        out: &mut Vec<u32>,
    ) -> Option<u64> {
        let dfa = &self.dfa;
        if !hay.get(p).is_some_and(|&b| self.first[usize::from(b)]) {
            return Some(1);
        }
        let mut sid = dfa.start_state(cache, &after_backslash()).ok()?;
        let bytes = hay.get(p..hi)?;
        let mut walked = 0u64;
        let mut matched = |cache: &Cache, sid| {
            for i in 0..dfa.match_len(cache, sid) {
                out.push(dfa.match_pattern(cache, sid, i).as_u32());
            }
        };
        for &b in bytes {
            sid = dfa.next_state(cache, sid, b).ok()?;
            walked += 1;
            if sid.is_match() {
                matched(cache, sid);
            } else if sid.is_dead() {
                return Some(walked);
            } else if sid.is_quit() {
                return None;
            }
        }
        sid = match hay.get(hi) {
            Some(&b) => dfa.next_state(cache, sid, b).ok()?,
            None => dfa.next_eoi_state(cache, sid).ok()?,
        };
        if sid.is_match() {
            matched(cache, sid);
        } else if sid.is_quit() {
            return None;
        }
        Some(walked + 1)
    }
}

/// An anchored start with a backslash as look-behind.
fn after_backslash() -> start::Config {
    start::Config::new()
        .anchored(Anchored::Yes)
        .look_behind(Some(b'\\'))
}

impl Triggers {
    /// Joins to `cands` (built for `lo..limit`, increasing) the detectors
    /// whose triggers match where an escape with a word byte ends (see the
    /// module docs). Returns the transitions walked.
    pub(super) fn escape_starts(
        &self,
        hay: &[u8],
        lo: usize,
        limit: usize,
        hi: usize,
        carry: bool,
        cands: &mut Candidates,
    ) -> u64 {
        let mut ends = Vec::new();
        escape::word_escape_ends(hay, lo, limit, carry, &mut ends);
        if ends.is_empty() {
            return 0;
        }
        let mut cache = self
            .forward
            .caches
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_else(|| self.forward.dfa.create_cache());
        let mut walked = 0u64;
        let mut added = Vec::new();
        let mut set = Vec::new();
        for p in ends {
            set.clear();
            match self.forward.patterns_at(&mut cache, hay, p, hi, &mut set) {
                Some(w) => walked += w,
                // Cannot happen (the automaton never gives up); if it
                // does, every detector is a candidate here.
                None => set.extend((0..self.patterns).filter_map(|i| u32::try_from(i).ok())),
            }
            if set.is_empty() {
                continue;
            }
            let known = cands.at.binary_search_by_key(&p, |e| e.0).ok();
            if let Some(&(_, first, count)) = known.and_then(|i| cands.at.get(i)) {
                let lo = first as usize;
                set.extend_from_slice(cands.pats.get(lo..lo + count as usize).unwrap_or_default());
            }
            set.sort_unstable();
            set.dedup();
            let first = u32::try_from(cands.pats.len()).unwrap_or(u32::MAX);
            let count = u32::try_from(set.len()).unwrap_or(0);
            cands.pats.extend_from_slice(&set);
            match known.and_then(|i| cands.at.get_mut(i)) {
                Some(entry) => *entry = (p, first, count),
                None => added.push((p, first, count)),
            }
        }
        if !added.is_empty() {
            // Both lists increase: merge them.
            let old = std::mem::take(&mut cands.at);
            let mut merged = Vec::with_capacity(old.len() + added.len());
            let (mut a, mut b) = (old.into_iter().peekable(), added.into_iter().peekable());
            loop {
                let next = match (a.peek(), b.peek()) {
                    (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
                    (_, Some(_)) => b.next(),
                    (Some(_), None) => a.next(),
                    (None, None) => break,
                };
                merged.extend(next);
            }
            cands.at = merged;
        }
        if let Ok(mut v) = self.forward.caches.lock() {
            if v.len() < 16 {
                v.push(cache);
            }
        }
        walked
    }
}
