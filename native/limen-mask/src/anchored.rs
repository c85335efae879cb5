//! Anchored head searches at candidates, made cheap.
//!
//! A candidate costs one anchored head search per candidate detector, and
//! on repetitive near-misses there is a candidate every few bytes. Going
//! through the meta regex for each one pays for its cache pool, its
//! strategy dispatch and, for heads with capture groups, a capture search
//! (a bounded backtracker) even when the validator then rejects. Instead:
//!
//! - each detector's head also has a forward-only lazy DFA without
//!   captures; at a candidate `s`, an anchored search from `s` finds where
//!   the leftmost-first match ends (the start is `s`), which is all a head
//!   without groups needs. It is the same automaton the meta regex runs
//!   first, so the match is the same;
//! - the DFA caches (and capture slots) are taken once per scan, not once
//!   per candidate;
//! - should a DFA give up (its cache thrashing, or a Unicode word boundary
//!   on non-ASCII bytes), the caller falls back to the meta regex for that
//!   candidate: slower, same answer.

use std::sync::Mutex;

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::captures::Captures;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::Hir;

use crate::card::CardRun;

/// Forward anchored head automata, one per detector (`None` where one could
/// not be built: that detector always uses the meta regex).
pub(crate) struct Heads {
    dfas: Vec<Option<DFA>>,
    spare: Mutex<Vec<Scratch>>,
}

/// Per-scan state: one DFA cache per detector and reusable capture slots.
pub(crate) struct Scratch {
    caches: Vec<Option<Cache>>,
    pub(crate) caps: Vec<Option<Captures>>,
    /// Digit groups of the current run, for the card detector.
    pub(crate) card: CardRun,
}

impl Heads {
    /// Compiles one forward DFA per head (in detector order).
    pub(crate) fn build(heads: &[Hir]) -> Heads {
        let dfas = heads.iter().map(forward_dfa).collect();
        Heads {
            dfas,
            spare: Mutex::new(Vec::new()),
        }
    }

    /// Scratch space for one scan; give it back with [`Heads::put`].
    pub(crate) fn take(&self) -> Scratch {
        let spare = self.spare.lock().ok().and_then(|mut v| v.pop());
        spare.unwrap_or_else(|| Scratch {
            caches: self
                .dfas
                .iter()
                .map(|d| d.as_ref().map(Cache::new))
                .collect(),
            caps: self.dfas.iter().map(|_| None).collect(),
            card: CardRun::default(),
        })
    }

    /// Returns scratch space taken with [`Heads::take`].
    pub(crate) fn put(&self, scratch: Scratch) {
        if let Ok(mut v) = self.spare.lock() {
            // A few are enough (one per concurrent scan); drop the rest, so
            // idle caches stay bounded (detectors x 1 MiB each, at most).
            if v.len() < 4 {
                v.push(scratch);
            }
        }
    }

    /// Where detector `index`'s head match anchored at `start` ends:
    /// `Some(Some(end))`, `Some(None)` when there is no match, `None` when
    /// the DFA cannot tell (the caller asks the meta regex).
    #[cfg(test)]
    pub(crate) fn end(
        &self,
        scratch: &mut Scratch,
        index: usize,
        hay: &[u8],
        start: usize,
    ) -> Option<Option<usize>> {
        let before = start.checked_sub(1).and_then(|i| hay.get(i)).copied();
        self.end_after(scratch, index, hay, start, before)
    }

    /// [`Heads::end`] with the look-behind reading `before` (see
    /// `escape::before`).
    pub(crate) fn end_after(
        &self,
        scratch: &mut Scratch,
        index: usize,
        hay: &[u8],
        start: usize,
        before: Option<u8>,
    ) -> Option<Option<usize>> {
        let dfa = self.dfas.get(index)?.as_ref()?;
        let cache = scratch.caches.get_mut(index)?.as_mut()?;
        walk(dfa, cache, hay, start, before)
    }
}

/// The anchored leftmost-first search of `hay[start..]`, by hand: what
/// `try_search_fwd` does, without its per-call setup (a candidate every
/// few bytes makes that setup the main cost). `None` when the DFA gave up.
fn walk(
    dfa: &DFA,
    cache: &mut Cache,
    hay: &[u8],
    start: usize,
    before: Option<u8>,
) -> Option<Option<usize>> {
    let config = start::Config::new()
        .anchored(Anchored::Yes)
        .look_behind(before);
    let mut sid = dfa.start_state(cache, &config).ok()?;
    let bytes = hay.get(start..)?;
    let mut last = None;
    cache.search_start(start);
    let mut i = 0;
    while i < bytes.len() {
        // Runs of untagged, already computed states: one table load each.
        if !sid.is_tagged() {
            let mut next = sid;
            for &b in bytes.get(i..)? {
                next = dfa.next_state_untagged(cache, sid, b);
                if next.is_tagged() {
                    break;
                }
                sid = next;
                i += 1;
            }
            if i == bytes.len() {
                break;
            }
            if !next.is_unknown() {
                sid = next;
            } else {
                cache.search_update(start + i);
                sid = dfa.next_state(cache, sid, *bytes.get(i)?).ok()?;
            }
        } else {
            cache.search_update(start + i);
            sid = dfa.next_state(cache, sid, *bytes.get(i)?).ok()?;
        }
        if sid.is_tagged() {
            if sid.is_match() {
                // Matches are reported one byte late: it ended before byte `i`.
                last = Some(start + i);
                i += 1;
                // The rest of a run of match states (a value after
                // `password=`), one checked transition each, without going
                // back to the loop's head.
                while let Some(&b) = bytes.get(i) {
                    cache.search_update(start + i);
                    sid = dfa.next_state(cache, sid, b).ok()?;
                    if !sid.is_match() {
                        break;
                    }
                    last = Some(start + i);
                    i += 1;
                }
                if i == bytes.len() {
                    break;
                }
            }
            if sid.is_dead() {
                cache.search_finish(start + i);
                return Some(last);
            } else if sid.is_quit() {
                cache.search_finish(start + i);
                return None;
            }
        }
        i += 1;
    }
    sid = dfa.next_eoi_state(cache, sid).ok()?;
    cache.search_finish(hay.len());
    if sid.is_match() {
        last = Some(hay.len());
    } else if sid.is_quit() {
        return None;
    }
    Some(last)
}

fn forward_dfa(hir: &Hir) -> Option<DFA> {
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .utf8(false)
                .which_captures(thompson::WhichCaptures::None)
                .nfa_size_limit(Some(64 << 20)),
        )
        .build_from_hir(hir)
        .ok()?;
    DFA::builder()
        .configure(
            DFA::config()
                .match_kind(MatchKind::LeftmostFirst)
                .unicode_word_boundary(true)
                .cache_capacity(1 << 20)
                .specialize_start_states(false)
                .minimum_cache_clear_count(Some(3))
                .minimum_bytes_per_state(Some(10)),
        )
        .build_from_nfa(nfa)
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::Heads;
    use crate::builder::{build_regex, parse_bytes_pattern};
    use crate::detectors::BUILTIN;
    use proptest::prelude::*;
    use regex_automata::{Anchored, Input};

    /// Bytes that make partial and whole head matches of every built-in
    /// detector likely.
    const ALPHABET: &[u8] =
        b"aA0123456789 -_.@:/=+'\"(\\\neyJghp_skAKIAproj-xoxb-glpat-passwordtoken=\
        https://user:pw@hostBearer DE89GB12-----BEGIN PRIVATE KEY-----";

    fn builtin_heads() -> (Vec<regex_syntax::hir::Hir>, Heads) {
        let hirs: Vec<_> = BUILTIN
            .iter()
            .map(|s| parse_bytes_pattern(s.name, s.pattern).unwrap())
            .collect();
        let heads = Heads::build(&hirs);
        (hirs, heads)
    }

    fn hay() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(ALPHABET.to_vec()), 0..160)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// The forward DFA ends every anchored head match where the meta
        /// regex does, and captures over the match span alone equal those
        /// of the full search.
        #[test]
        fn same_matches_as_the_meta_regex(hay in hay(), starts in prop::collection::vec(0usize..160, 8)) {
            let (hirs, heads) = builtin_heads();
            let mut scratch = heads.take();
            for (i, hir) in hirs.iter().enumerate() {
                let re = build_regex(std::slice::from_ref(hir), true).unwrap();
                for &s in &starts {
                    let s = s.min(hay.len());
                    let input = Input::new(&hay).span(s..hay.len()).anchored(Anchored::Yes);
                    let want = re.search(&input).map(|m| m.end());
                    if let Some(got) = heads.end(&mut scratch, i, &hay, s) {
                        prop_assert_eq!(got, want, "detector {}", BUILTIN[i].name);
                    }
                    if let Some(end) = want {
                        let mut full = re.create_captures();
                        re.search_captures(&input, &mut full);
                        let mut part = re.create_captures();
                        let span = Input::new(&hay).span(s..end).anchored(Anchored::Yes);
                        re.search_captures(&span, &mut part);
                        for g in 0..full.group_len() {
                            prop_assert_eq!(full.get_group(g), part.get_group(g));
                        }
                    }
                }
            }
            heads.put(scratch);
        }
    }

    /// Heads whose matches end in long runs of match states (a value
    /// after `password=`, a token body), cut anywhere, so a run may reach
    /// the end of the input: the walk (which takes such runs in an inner
    /// loop) ends every match where the meta regex does.
    fn runs() -> impl Strategy<Value = Vec<u8>> {
        let head = prop::sample::select(vec![
            &b"password="[..],
            b"token: ",
            b"secret = \"",
            b"api_key='",
            b"ghp_",
            b"glpat-",
            b"xoxb-",
            b"sk-proj-",
            b"Bearer ",
            b"PASSWORD '",
            b"4111",
            b"a@b.",
        ]);
        let body =
            prop::collection::vec(prop::sample::select(b"aZ09_-.x(\"' =;\n".to_vec()), 0..12);
        let len = 0usize..320;
        (head, body, len, any::<u8>()).prop_map(|(h, body, len, end)| {
            let mut hay = h.to_vec();
            // A run of value bytes, then a few mixed ones (which may end it).
            hay.extend(std::iter::repeat_n(b'a' + end % 26, len));
            hay.extend(body);
            hay
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn runs_of_match_states_end_where_the_meta_regex_does(hay in runs(), cut in 0usize..400) {
            let (hirs, heads) = builtin_heads();
            let hay = &hay[..cut.min(hay.len())];
            let mut scratch = heads.take();
            for (i, hir) in hirs.iter().enumerate() {
                let re = build_regex(std::slice::from_ref(hir), true).unwrap();
                for s in 0..hay.len().min(12) {
                    let input = Input::new(hay).span(s..hay.len()).anchored(Anchored::Yes);
                    let want = re.search(&input).map(|m| m.end());
                    if let Some(got) = heads.end(&mut scratch, i, hay, s) {
                        prop_assert_eq!(got, want, "detector {} at {}", BUILTIN[i].name, s);
                    }
                }
            }
            heads.put(scratch);
        }
    }

    #[test]
    fn ends_of_known_heads() {
        let (_, heads) = builtin_heads();
        let mut scratch = heads.take();
        let at = |name: &str| BUILTIN.iter().position(|s| s.name == name).unwrap();
        let hay = b"x password=hunter22; y";
        let pw = at("password-assignment");
        assert_eq!(heads.end(&mut scratch, pw, hay, 2), Some(Some(19)));
        assert_eq!(heads.end(&mut scratch, pw, hay, 3), Some(None));
        let url = b"see https://bob:s3cret@db.example";
        let uc = at("url-credentials");
        assert_eq!(heads.end(&mut scratch, uc, url, 4), Some(Some(23)));
        heads.put(scratch);
    }
}
