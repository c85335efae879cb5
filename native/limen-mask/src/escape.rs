//! Backslash escapes (JSON's, which most other formats share): where they
//! are, the boundary they make, and masked spans that keep them whole.
//!
//! An *escape* is a backslash that is not itself escaped (an even run of
//! backslashes before it, counting none) followed by one of `n r t b f / "
//! \` or by `u` and four hex digits. JSON bodies are full of them, and two
//! things must hold around one:
//!
//! - **An escape is a boundary.** In `x\nAKIA...` the `n` is not a letter
//!   glued to the key. Wherever a head's look-behind is read (the anchored
//!   head automata, the meta regex, the card check, the triggers), the byte
//!   before a position where an escape ends reads as a backslash, a
//!   non-word byte: [`before`] is that one rule. Matches that start
//!   anywhere else are found exactly as before (this only adds findings).
//! - **A masked span keeps escapes and string quotes whole.** [`fit`]
//!   widens a span that starts or ends inside an escape to the whole
//!   escape, and cuts a span at its first *raw* quote (a `"` that no escape
//!   covers: in JSON, a string's end), so the replacement never leaves a
//!   dangling backslash and never joins two strings. For valid JSON in,
//!   the masked output is valid JSON with the same structure.
//!
//! A stream sees its input in pieces: it keeps [`CONTEXT`] bytes of
//! look-behind (the longest escape) and carries the parity of the
//! backslash run that ends just before its buffer (`carry` below).

use core::ops::Range;

/// The longest escape (`\uXXXX`).
const ESCAPE: usize = 6;

/// The longest unit a span keeps whole (a surrogate pair, `\uD83D\uDE00`:
/// half of one is no character, and strict parsers refuse it), and so the
/// look-behind a stream keeps and the look-ahead a span's end may need.
pub(crate) const CONTEXT: usize = 2 * ESCAPE;

/// An ASCII word byte (`\b`'s notion).
pub(crate) fn word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether the run of backslashes just before `i` is odd (so `hay[i]` is
/// escaped). `carry` is that parity for the run just before `hay[0]`.
pub(crate) fn escaped(hay: &[u8], i: usize, carry: bool) -> bool {
    let head = hay.get(..i).unwrap_or(hay);
    let run = head.iter().rev().take_while(|&&b| b == b'\\').count();
    (run % 2 == 1) ^ (run == head.len() && carry)
}

/// The length of the escape that starts at `b` (2 or 6), if one does.
pub(crate) fn escape_at(hay: &[u8], b: usize, carry: bool) -> Option<usize> {
    if hay.get(b) != Some(&b'\\') {
        return None;
    }
    let len = match *hay.get(b + 1)? {
        b'n' | b'r' | b't' | b'b' | b'f' | b'/' | b'"' | b'\\' => 2,
        b'u' if hay.get(b + 2..b + 6)?.iter().all(u8::is_ascii_hexdigit) => 6,
        _ => return None,
    };
    (!escaped(hay, b, carry)).then_some(len)
}

/// The unit (an escape, or a surrogate pair of two) that holds position
/// `i` strictly inside it, as a range.
pub(crate) fn inside(hay: &[u8], i: usize, carry: bool) -> Option<Range<usize>> {
    // An escape's backslash is at most five bytes back; the nearest first
    // (escapes do not overlap, so at most one holds `i`).
    let held = (i.saturating_sub(ESCAPE - 1)..i)
        .rev()
        .filter(|&b| hay.get(b) == Some(&b'\\'))
        .find_map(|b| {
            let len = escape_at(hay, b, carry)?;
            (b + len > i).then_some(b..b + len)
        });
    let surrogate = |b: usize, low: bool| {
        escape_at(hay, b, carry) == Some(ESCAPE)
            && matches!(hay.get(b + 2..b + 4), Some([b'd' | b'D', x])
                if matches!(x.to_ascii_lowercase(), b'c'..=b'f') == low
                    && matches!(x.to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f'))
    };
    let high_before = |b: usize| b.checked_sub(ESCAPE).filter(|&h| surrogate(h, false));
    match held {
        Some(e) if e.len() == ESCAPE && surrogate(e.start, false) && surrogate(e.end, true) => {
            Some(e.start..e.end + ESCAPE)
        }
        Some(e) if e.len() == ESCAPE && surrogate(e.start, true) => match high_before(e.start) {
            Some(h) => Some(h..e.end),
            None => Some(e),
        },
        Some(e) => Some(e),
        // Between the halves of a pair.
        None if surrogate(i, true) => high_before(i).map(|h| h..i + ESCAPE),
        None => None,
    }
}

/// `i`, or the start of the escape that holds it strictly inside.
pub(crate) fn outside(hay: &[u8], i: usize, carry: bool) -> usize {
    inside(hay, i, carry).map_or(i, |e| e.start)
}

/// Whether an escape ends exactly at `p` (its last byte is `hay[p - 1]`).
fn escape_ends_at(hay: &[u8], p: usize, carry: bool) -> bool {
    let ends = |len: usize| p.checked_sub(len).and_then(|b| escape_at(hay, b, carry)) == Some(len);
    ends(2) || ends(6)
}

/// The byte a head's look-behind reads before position `p`: the byte
/// itself, except a backslash (a non-word byte) where an escape ends at
/// `p` with a word byte (`\n`, `\t`, `\u00e9`...). `None` at the start of
/// the input.
pub(crate) fn before(hay: &[u8], p: usize, carry: bool) -> Option<u8> {
    let b = *hay.get(p.checked_sub(1)?)?;
    if word(b) && escape_ends_at(hay, p, carry) {
        Some(b'\\')
    } else {
        Some(b)
    }
}

/// The positions in `lo..limit` where an escape with a word byte last ends
/// (where [`before`] differs from the byte before), in increasing order.
/// Linear: each run of backslashes is looked at once.
pub(crate) fn word_escape_ends(
    hay: &[u8],
    lo: usize,
    limit: usize,
    carry: bool,
    out: &mut Vec<usize>,
) {
    let from = lo.saturating_sub(CONTEXT);
    let Some(window) = hay.get(from..limit) else {
        return;
    };
    let mut at = 0;
    while let Some(k) = window.get(at..).and_then(|w| memchr::memchr(b'\\', w)) {
        let b = from + at + k;
        let run = hay
            .get(b..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&c| c == b'\\')
            .count();
        // Inside the run, backslashes pair up from its start; only the
        // last one can begin an escape of a byte other than a backslash.
        let last = b + run - 1;
        if let Some(len) = escape_at(hay, last, carry) {
            let p = last + len;
            if (lo..limit).contains(&p) && hay.get(p - 1).is_some_and(|&c| word(c)) {
                out.push(p);
            }
        }
        at += k + run;
    }
}

/// Where `span` is masked so that escapes and strings stay whole: its start
/// moved back to the start of an escape it begins inside, then either cut
/// at its first raw quote (`(span, true)`) or its end moved on to the end
/// of an escape (or surrogate pair) it ends inside. `None` when the cut
/// leaves nothing. The end may move at most [`CONTEXT`] - 1 bytes on.
pub(crate) fn fit(hay: &[u8], span: Range<usize>, carry: bool) -> Option<(Range<usize>, bool)> {
    let start = inside(hay, span.start, carry).map_or(span.start, |e| e.start);
    if let Some(q) = raw_quote(hay, start..span.end, carry) {
        return (q > start).then_some((start..q, true));
    }
    let end = inside(hay, span.end, carry).map_or(span.end, |e| e.end);
    Some((start..end, false))
}

/// The first raw quote (one no escape covers) in `span`.
pub(crate) fn raw_quote(hay: &[u8], span: Range<usize>, carry: bool) -> Option<usize> {
    let bytes = hay.get(span.clone())?;
    let mut at = 0;
    while let Some(k) = bytes.get(at..).and_then(|w| memchr::memchr(b'"', w)) {
        let q = span.start + at + k;
        if !escaped(hay, q, carry) {
            return Some(q);
        }
        at += k + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn escapes_and_runs() {
        assert_eq!(escape_at(br"a\nb", 1, false), Some(2));
        assert_eq!(escape_at(br"\\n", 1, false), None);
        assert_eq!(escape_at(br"\\n", 0, false), Some(2));
        assert_eq!(escape_at(br"\\\n", 2, false), Some(2));
        assert_eq!(escape_at(br"\u00e9", 0, false), Some(6));
        assert_eq!(escape_at(br"\u00g9", 0, false), None);
        assert_eq!(escape_at(br"\u00e", 0, false), None);
        assert_eq!(escape_at(br"\n", 0, true), None);
        assert_eq!(escape_at(br"\x", 0, false), None);
    }

    #[test]
    fn look_behind() {
        assert_eq!(before(br"x\nA", 3, false), Some(b'\\'));
        assert_eq!(before(br"x\\nA", 4, false), Some(b'n'));
        assert_eq!(before(br"x\u001fA", 7, false), Some(b'\\'));
        assert_eq!(before(br#"x\"A"#, 3, false), Some(b'"'));
        assert_eq!(before(b"xnA", 2, false), Some(b'n'));
        assert_eq!(before(b"nA", 1, true), Some(b'n'));
        assert_eq!(before(b"\\nA", 2, true), Some(b'n'));
        assert_eq!(before(b"A", 0, false), None);
        let mut ends = Vec::new();
        word_escape_ends(br#"a\nb\\c\\\tx\"y\u00e9z"#, 0, 22, false, &mut ends);
        assert_eq!(ends, vec![3, 11, 21]);
    }

    #[test]
    fn spans() {
        let hay = br#"{"a":"\u001fjohn@x.io"}"#;
        assert_eq!(fit(hay, 7..21, false), Some((6..21, false)));
        let hay = br#"{"a":"ab\"cd"}"#;
        assert_eq!(fit(hay, 6..9, false), Some((6..10, false)));
        let hay = br#"{"a":"ab", "b":"cd"}"#;
        assert_eq!(fit(hay, 6..17, false), Some((6..8, true)));
        assert_eq!(fit(hay, 8..17, false), None);
        let hay = br#"{"a":"\uD83D\uDE00john@x.io"}"#;
        assert_eq!(fit(hay, 13..27, false), Some((6..27, false)));
        assert_eq!(fit(hay, 12..27, false), Some((6..27, false)));
        assert_eq!(inside(hay, 9, false), Some(6..18));
        assert_eq!(fit(hay, 7..9, false), Some((6..18, false)));
        let hay = br#"\\"x"#;
        assert_eq!(raw_quote(hay, 0..4, false), Some(2));
        assert_eq!(raw_quote(hay, 0..4, true), None);
    }
}
