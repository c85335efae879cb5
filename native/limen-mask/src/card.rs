//! The `card-number` detector by hand: head and validator in one step, on
//! digit groups parsed once per run.
//!
//! The head `\b[0-9](?:[ -]?[0-9]){12,22}\b` and the card validator see a
//! run of digit *groups*: maximal digit strings joined by single spaces or
//! dashes. A long run of digit groups (`1234 5678 9012 ...`) has a
//! candidate at every group, and each candidate's answer depends only on
//! the groups from it on, so the groups are parsed once and shared by the
//! candidates of the run (a later candidate drops the groups before it).
//!
//! At a candidate `s` (a digit, no word byte before it), with groups
//! `G0 G1 ...` and `D_j` the digits in `G0..=Gj`:
//! - the head is greedy: from a digit, the next digit of the match is
//!   unique (the next byte, or the one after a single separator), at most
//!   23 digits are taken, and the match ends where an ASCII word boundary
//!   holds, which inside a group it never does. So it ends after the last
//!   group `Gj` with `13 <= D_j <= 23` that no word byte follows;
//! - the validator takes that span: one separator byte throughout, and the
//!   longest prefix that ends at a group, has 13 to 19 digits, is grouped
//!   like a card (one group; or 4, then 4s and 6s, then 1 to 6, at most
//!   five groups), and has a known issuer and a good Luhn sum.
//!
//! The tests below compare it with the head automaton and the validator.

use core::ops::Range;

use crate::escape::{word, CONTEXT};
use crate::validate::{known_issuer, luhn};

/// Most digits the head takes.
const MAX_DIGITS: usize = 23;

/// One group: `len` digits at `start` (`len` is cut short once the run
/// holds more than [`MAX_DIGITS`] digits from the first candidate).
#[derive(Clone, Copy, Debug)]
struct Group {
    start: usize,
    len: usize,
    /// Parsing stopped at the cap: the group may go on.
    cut: bool,
}

impl Group {
    fn end(self) -> usize {
        self.start + self.len
    }
}

/// The groups of the current run from the latest candidate on
/// (`groups[first..]`). Valid for one haystack: [`CardRun::reset`] before
/// each scan.
#[derive(Default)]
pub(crate) struct CardRun {
    groups: Vec<Group>,
    first: usize,
    /// Nothing follows the last group in the run.
    ended: bool,
}

impl CardRun {
    /// Forgets the groups (the haystack changes).
    pub(crate) fn reset(&mut self) {
        self.groups.clear();
        self.first = 0;
        self.ended = false;
    }

    /// The card number the detector masks at `s`, if any.
    /// `before` is what the look-behind reads (`escape::before`).
    pub(crate) fn at(&mut self, hay: &[u8], s: usize, before: Option<u8>) -> Option<Range<usize>> {
        if before.is_some_and(word) {
            return None;
        }
        if !hay.get(s)?.is_ascii_digit() {
            return None;
        }
        while self.groups.get(self.first).is_some_and(|g| g.start < s) {
            self.first += 1;
        }
        if self.groups.get(self.first).map(|g| g.start) != Some(s) {
            self.reset();
            self.groups.push(group_at(hay, s, MAX_DIGITS + 1));
        } else if self.first >= 64 {
            self.groups.drain(..self.first);
            self.first = 0;
        }
        let live = self.groups.get_mut(self.first..)?;
        let mut digits: usize = live.iter().map(|g| g.len).sum();
        // A group cut at the cap may go on: with the groups before this
        // candidate dropped, there is more room for it.
        if let Some(back) = live.last_mut().filter(|g| g.cut) {
            let before = digits - back.len;
            *back = group_at(hay, back.start, MAX_DIGITS + 1 - before);
            digits = before + back.len;
        }
        while digits <= MAX_DIGITS && !self.ended {
            let after = self.groups.last().map_or(s, |g| g.end());
            match (hay.get(after), hay.get(after + 1)) {
                (Some(b' ' | b'-'), Some(d)) if d.is_ascii_digit() => {
                    let g = group_at(hay, after + 1, MAX_DIGITS + 1 - digits);
                    digits += g.len;
                    self.groups.push(g);
                }
                _ => self.ended = true,
            }
        }
        decide(hay, self.groups.get(self.first..)?)
    }
}

/// What replaces a card number that is a JSON number (see
/// [`json_number`]): a number, so the document stays valid JSON.
pub(crate) const NUMBER: &[u8] = b"0";

/// Whether the card number at `span` (after `escape::fit`) is a JSON
/// number in a value position, as in `{"n":4111111111111111}` or
/// `[1, 4111111111111111]`: its bytes are all digits (an optional `-`
/// before them), the nearest byte before that is not JSON whitespace is
/// `[`, `,` or a `:` that follows a `"` (a key's end), and the nearest
/// after it is `,`, `}` or `]`. The bare token there would make the
/// document invalid, so such a card is replaced by [`NUMBER`] instead.
///
/// The look-behind reads at most [`CONTEXT`] bytes before the span (what a
/// stream keeps) and the look-ahead at most [`CONTEXT`] bytes after it
/// (well within the bytes a decided start has after it), so streaming
/// still equals one-shot masking.
pub(crate) fn json_number(hay: &[u8], span: &Range<usize>) -> bool {
    let Some(digits) = hay.get(span.clone()) else {
        return false;
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let floor = span.start.saturating_sub(CONTEXT);
    let mut i = span.start;
    if i > floor && hay.get(i - 1) == Some(&b'-') {
        i -= 1;
    }
    let back = |mut i: usize| -> Option<(usize, u8)> {
        while i > floor {
            i -= 1;
            match *hay.get(i)? {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b => return Some((i, b)),
            }
        }
        None
    };
    let opened = match back(i) {
        Some((_, b'[' | b',')) => true,
        Some((colon, b':')) => matches!(back(colon), Some((_, b'"'))),
        _ => false,
    };
    if !opened {
        return false;
    }
    let ahead = hay.get(span.end..).unwrap_or_default();
    ahead
        .iter()
        .take(CONTEXT)
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|b| matches!(b, b',' | b'}' | b']'))
}

/// Head and validator over the groups from the candidate on.
fn decide(hay: &[u8], live: &[Group]) -> Option<Range<usize>> {
    // The head: after the last group with 13 to 23 digits so far that no
    // word byte follows.
    let mut digits = 0;
    let mut last = None;
    for (j, g) in live.iter().enumerate() {
        digits += g.len;
        if digits > MAX_DIGITS {
            break;
        }
        if digits >= 13 && !hay.get(g.end()).is_some_and(|&b| word(b)) {
            last = Some((j, digits));
        }
    }
    let (last, mut count) = last?;
    let head = live.get(..=last)?;
    // One separator byte throughout the head's span.
    if let Some((first, rest)) = head.split_first() {
        let sep = hay.get(first.end());
        let inner = rest.len().saturating_sub(1);
        if rest.iter().take(inner).any(|g| hay.get(g.end()) != sep) {
            return None;
        }
    }
    // The longest good prefix that ends at a group. Its digits are the
    // first `count` of the head's digits, gathered once (`count` is at
    // most `MAX_DIGITS`) when a prefix first needs them: each prefix
    // checks a slice of them.
    let mut buf = [0u8; MAX_DIGITS + 1];
    let mut n = 0;
    for k in (0..head.len()).rev() {
        let g = head.get(k)?;
        if (13..=19).contains(&count) && grouping(head.get(..=k)?) {
            if n == 0 {
                for g in head {
                    let src = hay.get(g.start..g.end())?;
                    buf.get_mut(n..n + g.len)?.copy_from_slice(src);
                    n += g.len;
                }
            }
            let d = buf.get(..count)?;
            if known_issuer(d) && luhn(d) {
                return Some(g.start.min(head.first()?.start)..g.end());
            }
        }
        count -= g.len;
    }
    None
}

/// Groups as a card writes them: one group, or 4, then 4s and 6s, then 1
/// to 6 digits, at most five groups.
fn grouping(groups: &[Group]) -> bool {
    match groups {
        [_] => true,
        [first, middle @ .., last] => {
            groups.len() <= 5
                && first.len == 4
                && middle.iter().all(|g| matches!(g.len, 4 | 6))
                && (1..=6).contains(&last.len)
        }
        [] => false,
    }
}

/// The digits at `start`, at most `cap` of them.
fn group_at(hay: &[u8], start: usize, cap: usize) -> Group {
    let rest = hay.get(start..).unwrap_or_default();
    let window = rest.get(..cap).unwrap_or(rest);
    let len = digits_at(window);
    Group {
        start,
        len,
        cut: len == cap,
    }
}

/// The number of ASCII digits `window` starts with. Eight bytes at a time
/// (this runs for every group): a byte is a digit when its high nibble is
/// 3 and its low nibble plus 6 stays under 16; the first byte that is not
/// is the lowest non-zero byte of `bad` (no carry crosses a byte: a low
/// nibble plus 6 is at most 0x15).
fn digits_at(window: &[u8]) -> usize {
    const HIGH: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    const LOW: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    const SIXES: u64 = 0x0606_0606_0606_0606;
    const SIXTEEN: u64 = 0x1010_1010_1010_1010;
    let mut at = 0;
    while let Some(word) = window.get(at..at + 8) {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let x = u64::from_le_bytes(word);
        let bad = ((x & HIGH) ^ THREES) | (((x & LOW) + SIXES) & SIXTEEN);
        if bad != 0 {
            return at + (bad.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let tail = window.get(at..).unwrap_or_default();
    at + tail.iter().take_while(|b| b.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::CardRun;
    use crate::builder::{build_regex, parse_bytes_pattern};
    use crate::detectors::BUILTIN;
    use crate::validate::Validator;
    use proptest::prelude::*;
    use regex_automata::{Anchored, Input};

    /// The definition: the head automaton, then the card validator.
    fn reference(re: &regex_automata::meta::Regex, hay: &[u8], s: usize) -> Option<(usize, usize)> {
        let input = Input::new(hay).span(s..hay.len()).anchored(Anchored::Yes);
        let m = re.search(&input)?;
        let r = Validator::Card.check(hay, m.range())?;
        Some((r.start, r.end))
    }

    fn automaton() -> regex_automata::meta::Regex {
        let spec = BUILTIN.iter().find(|s| s.name == "card-number").unwrap();
        let hir = parse_bytes_pattern(spec.name, spec.pattern).unwrap();
        build_regex(std::slice::from_ref(&hir), false).unwrap()
    }

    /// Digit groups of every length, both separators, doubled separators,
    /// word bytes after groups, and real card numbers (so that the Luhn
    /// and issuer checks pass as well as fail).
    fn hay() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop::sample::select(vec![
            "4111",
            "1111",
            "4111111111111111",
            "378282246310005",
            "5555555555554444",
            "6011",
            "0000",
            "000000",
            "12",
            "7",
            "1234567",
            " ",
            "-",
            "  ",
            "--",
            "a",
            "_",
            ".",
            "4242 4242 4242 4242",
            "3782 822463 10005",
            "4111-1111-1111-1111",
            "\n",
            "99999999999999999999999999",
        ]);
        prop::collection::vec(piece, 0..14).prop_map(|p| p.concat().into_bytes())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Every start, in increasing order on one run (as a scan asks, so
        /// groups are shared), and each start alone: the same answer as
        /// the head automaton and the validator.
        #[test]
        fn same_as_head_and_validator(hay in hay(), stride in 1usize..7) {
            let re = automaton();
            let mut run = CardRun::default();
            for s in (0..=hay.len()).step_by(stride) {
                let want = reference(&re, &hay, s);
                let got = run.at(&hay, s, s.checked_sub(1).map(|i| hay[i])).map(|r| (r.start, r.end));
                prop_assert_eq!(got, want, "at {} in {:?}", s, String::from_utf8_lossy(&hay));
                let mut fresh = CardRun::default();
                let alone = fresh.at(&hay, s, s.checked_sub(1).map(|i| hay[i])).map(|r| (r.start, r.end));
                prop_assert_eq!(alone, want);
            }
        }
    }

    proptest! {
        /// The eight-at-a-time digit count equals the byte-by-byte one.
        #[test]
        fn digits_at_counts_leading_digits(bytes in prop::collection::vec(any::<u8>(), 0..40), digits in 0usize..30) {
            let mut window = vec![b'7'; digits];
            window.extend(bytes);
            let want = window.iter().take_while(|b| b.is_ascii_digit()).count();
            prop_assert_eq!(super::digits_at(&window), want);
        }
    }

    #[test]
    fn examples() {
        let mut run = CardRun::default();
        assert_eq!(run.at(b"4111 1111 1111 1111", 0, None), Some(0..19));
        assert_eq!(run.at(b"x4111111111111111", 1, Some(b'x')), None);
        assert_eq!(run.at(b"4111 1111 1111 1111 1234", 0, None), Some(0..19));
        assert_eq!(run.at(b"4111 1111-1111 1111", 0, None), None);
        assert_eq!(run.at(b"411111111111", 0, None), None);
        // Several prefixes qualify: the longest (19 digits) fails Luhn, a
        // shorter one passes (the digits gathered once serve both).
        let re = automaton();
        for hay in [
            &b"4111 1111 1111 1111 123"[..],
            b"4111-1111-1111-1111-1",
            b"4111 1111 1111 1111 4242",
            b"3782 822463 10005 1",
        ] {
            run.reset();
            let got = run.at(hay, 0, None).map(|r| (r.start, r.end));
            assert_eq!(got, reference(&re, hay, 0), "{hay:?}");
        }
        run.reset();
        assert_eq!(run.at(b"4111 1111 1111 1111 123", 0, None), Some(0..19));
        run.reset();
        let groups = b"1234 4111 1111 1111 1111 9";
        run.reset();
        assert_eq!(run.at(groups, 0, None), None);
        assert_eq!(run.at(groups, 5, Some(b' ')), Some(5..24));
    }
}
