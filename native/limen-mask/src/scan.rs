//! The scan that one-shot and streaming masking share.
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
//!    anchored head searches in priority order (`scan/verify.rs`: a
//!    forward lazy DFA per head, walked by hand, without captures, with
//!    caches taken once per scan: `anchored.rs`; the secret inside a built-in head's match from
//!    the match's bytes, `groups.rs`; captures only for user rules with
//!    groups, only on a match, over its span), and the first whose
//!    validator accepts is the finding. Three detectors skip the
//!    automaton: card numbers are decided by hand on digit groups parsed
//!    once per run (`card.rs`), the `password-assignment` head and its
//!    secret are matched by hand in one pass (`assignment.rs`), and an
//!    IBAN whose first characters fail mod-97 is rejected before its head
//!    is walked (`iban::iban_possible`). The
//!    search continues after the finding (or its tail, for PEM blocks,
//!    JWTs and bearer tokens);
//! 3. emits every byte below `limit` that no finding covers.
//!
//! This is exactly what "the leftmost start where some detector's head
//! matches and is accepted, the highest-priority such detector there, then
//! continue after it" gives ([`Masker::mask_exhaustive`] computes that
//! definition directly, every detector's meta regex with captures at every
//! position; tests, proptests and the `stream` fuzz target compare the two),
//! and every step is a pure function of decided bytes, so a stream's output is byte-identical to one-shot masking for
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
//!   counters (long repetitions become unbounded, trailing ones are cut to
//!   at most 3 bytes), so the DFA's states do not multiply on encoded blobs
//!   and its cache holds them. The candidate list holds at most one
//!   window's starts; a candidate's detector list is shared with every
//!   other candidate of the same automaton state.
//! - A position is a candidate at most once: a rejected candidate does
//!   not restart any search, and the next scan starts past it. At a
//!   candidate, each detector's anchored head search reads at most its
//!   longest head plus one byte (the hand-matched assignment head too: 16
//!   bytes at the start for its key, then each byte of its match a bounded
//!   number of times); the IBAN pre-check reads at most the IBAN
//!   head; the card check reads at most 24 digits and 23 separators past
//!   the candidate (groups parsed for an earlier candidate of the run are
//!   reused, a group cut at the 24-digit cap is parsed again), and looks at
//!   most 24 groups; secrets inside a match, capture groups and validators
//!   run only on a head match, and are linear in it.
//! - Tails read each byte once; a PEM terminator search re-reads at most
//!   the terminator's length per scan.
//!
//! So the total is at most `n (4 + sum over detectors of (L_d + 1))` plus
//! the tails, for `n` input bytes. In practice triggers are selective and
//! the work is a little over one transition per byte.

use regex_automata::Input;

use crate::anchored::Scratch;
use crate::escape;
use crate::masker::{Finding, Masker, Tail};
use crate::trigger::Candidates;

mod pool;
mod verify;

pub(crate) use pool::CandidatePool;

/// Where a scan's output goes: appended to a buffer, or nowhere (a scan
/// for findings only, see `plan.rs`).
pub(crate) trait Emit {
    fn emit(&mut self, bytes: &[u8]);
}

impl Emit for Vec<u8> {
    fn emit(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Output dropped: the scan reports findings only.
pub(crate) struct Discard;

impl Emit for Discard {
    fn emit(&mut self, _bytes: &[u8]) {}
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
    pub(crate) mode: Mode,
    pub(crate) work: Work,
    /// Every position is a candidate for every detector (the reference).
    pub(crate) exhaustive: bool,
    /// A finding whose tail is still being masked: (detector, start offset).
    pub(crate) open: Option<(usize, u64)>,
    /// The run of backslashes just before the input's first byte is odd
    /// (a stream carries it across the bytes it drops; `escape.rs`).
    pub(crate) carry: bool,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) enum Mode {
    #[default]
    Normal,
    /// Masking while bytes are in the detector's class; `left` bytes of cap.
    Class { detector: usize, left: usize },
    /// Masking until the detector's terminator; `left` bytes of cap.
    Until { detector: usize, left: usize },
}

impl Masker {
    /// The one scan behind `mask`, `findings` and streams. Consumes
    /// `hay[pos..]` as far as it is decided, appending output to `out`, and
    /// returns the new position. `hay[..pos]` is context only; `base` is the
    /// stream offset of `hay[0]`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn scan<O: Emit>(
        &self,
        st: &mut ScanState,
        hay: &[u8],
        pos: usize,
        eof: bool,
        base: u64,
        out: &mut O,
        sink: &mut dyn FnMut(Finding),
    ) -> usize {
        let mut scratch = self.inner.heads.take();
        scratch.card.reset();
        let bytes = hay.len().saturating_sub(pos);
        let mut cands = self.inner.cands.take(bytes);
        let pos = self.scan_with(st, hay, pos, eof, base, out, sink, &mut scratch, &mut cands);
        self.inner.cands.put(cands, bytes);
        self.inner.heads.put(scratch);
        pos
    }

    #[allow(clippy::too_many_arguments)]
    fn scan_with<O: Emit>(
        &self,
        st: &mut ScanState,
        hay: &[u8],
        mut pos: usize,
        eof: bool,
        base: u64,
        out: &mut O,
        sink: &mut dyn FnMut(Finding),
        scratch: &mut Scratch,
        cands: &mut Candidates,
    ) -> usize {
        let inner = &*self.inner;
        let len = hay.len();
        let off = |i: usize| base + i as u64;
        loop {
            match st.mode {
                Mode::Normal => {
                    if pos >= len {
                        return pos;
                    }
                    // Starts below `limit` are decided (see the module docs);
                    // emission never stops inside an escape (`escape.rs`).
                    let limit = if eof {
                        len
                    } else {
                        escape::outside(hay, len.saturating_sub(inner.max_head), st.carry)
                    };
                    if pos >= limit {
                        return pos;
                    }
                    if pos >= cands.upto {
                        // The next window of candidates: at most `window`
                        // starts, found from the bytes they can depend on.
                        let upto = limit.min(pos.saturating_add(inner.window));
                        let upto = escape::outside(hay, upto, st.carry).max(pos + 1);
                        let hi = len.min(upto.saturating_add(inner.max_head + 1));
                        if st.exhaustive {
                            inner.triggers.all(pos, upto, cands);
                        } else {
                            let (walked, escapes) =
                                inner.triggers.find(hay, pos, upto, hi, st.carry, cands);
                            st.work.trigger_bytes += walked;
                            st.work.verify_bytes += escapes;
                        }
                    }
                    let upto = cands.upto;
                    let mut accepted = None;
                    while let Some((at, dets)) = cands.next_at(pos) {
                        st.work.candidates += 1;
                        accepted = dets.iter().find_map(|&d| {
                            self.try_detector(
                                hay,
                                at,
                                d as usize,
                                &mut st.work,
                                scratch,
                                st.exhaustive,
                                st.carry,
                            )
                        });
                        if accepted.is_some() {
                            break;
                        }
                    }
                    let Some(acc) = accepted else {
                        out.emit(&hay[pos..upto]);
                        pos = upto;
                        if upto == limit {
                            return limit;
                        }
                        continue;
                    };
                    // Never before `pos`: emission stops outside escapes
                    // (`escape.rs`), so a widened start stays at or after it.
                    let start = acc.secret.start.max(pos);
                    out.emit(&hay[pos..start]);
                    let det = &inner.detectors[acc.detector];
                    out.emit(if acc.number {
                        crate::card::NUMBER
                    } else {
                        &det.replacement
                    });
                    // A secret cut at a raw quote has no tail (`escape::fit`).
                    let tail = if acc.cut { &Tail::None } else { &det.tail };
                    match tail {
                        Tail::None => {
                            sink(Finding {
                                detector: acc.detector,
                                offset: off(start),
                                len: (acc.secret.end - start) as u64,
                                as_number: acc.number,
                            });
                            out.emit(&hay[acc.secret.end..acc.end]);
                        }
                        Tail::Class { cap, .. } => {
                            st.open = Some((acc.detector, off(start)));
                            st.mode = Mode::Class {
                                detector: acc.detector,
                                left: *cap,
                            };
                        }
                        Tail::Until { cap, .. } => {
                            st.open = Some((acc.detector, off(start)));
                            st.mode = Mode::Until {
                                detector: acc.detector,
                                left: *cap,
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
                    // A raw quote (a JSON string's end) ends the span too,
                    // and a span cut at its cap takes a whole escape
                    // (`escape.rs`).
                    let quote = escape::raw_quote(hay, pos..end, st.carry);
                    let found = re.search(&Input::new(hay).span(pos..quote.unwrap_or(end)));
                    match (found, quote) {
                        (Some(m), q)
                            if eof
                                || q.is_some()
                                || m.start().saturating_add(max_len + 1) <= len =>
                        {
                            pos = m.end();
                            self.close(st, off(pos), sink);
                        }
                        (None, Some(q)) => {
                            pos = q;
                            self.close(st, off(pos), sink);
                        }
                        (None, None) if eof || cap_end.saturating_add(escape::CONTEXT) <= len => {
                            pos = escape::inside(hay, end, st.carry).map_or(end, |e| e.end);
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
                as_number: false,
            });
        }
        st.mode = Mode::Normal;
    }
}
