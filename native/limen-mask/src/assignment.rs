//! The `password-assignment` head by hand: the match and the secret in it
//! in one pass over the bytes, without the head automaton or a capture
//! search.
//!
//! On text full of assignments that are code (`password = next_token();
//! token: ...`) every key is a candidate, its head matches, and the
//! validator then rejects the value. Walking the head's lazy DFA there
//! costs a transition per byte through the key and the value (the value's
//! counter `{3,256}` makes each byte of it its own match state, taken one
//! checked transition at a time), then the secret is found again in the
//! match's bytes (`groups.rs`). The head is simple enough to match
//! directly:
//!
//! ```text
//! KEY \\?["']? [ \t]{0,3} [:=] [ \t]{0,3}
//!     ( \\?"(G1: [^"\\\r\n]{1,256})\\?"
//!     | \\?'(G2: [^'\\\r\n]{1,256})\\?'
//!     | (G3: [^\s"',;&<>{}()\[\]\\]{3,256}) )
//! | \b(?i:password|identified[ \t]{1,3}by)[ \t]{1,3}'(G4: [^'\r\n]{1,256})'
//! ```
//!
//! Leftmost-first (the regex's semantics) takes the first way through the
//! pattern, in priority order, that matches. Here every choice but the
//! key's is decided by the next byte alone, so the first way is found
//! without going back:
//! - at most one KEY word starts at a position (their first letters and
//!   the letters after differ), in at most two lengths (`secret_key` or
//!   `secretkey`, then `secret`; `credentials`, then `credential`). The
//!   longer is preferred, and when it matches the shorter fails at once
//!   (its next byte, `_`, `k` or `s`, cannot follow a key), so the key is
//!   the longest word that matches;
//! - `\\?` and `["']?` take their byte when it is there: not taking it
//!   leaves a backslash or a quote where only a quote, a blank or `[:=]`
//!   may come;
//! - blanks `{0,3}` (and `{1,3}`) take as many as there are, up to 3: fewer
//!   leave a blank where a separator, a value or a word must start (none
//!   starts with a blank), more fail either way;
//! - the value's first byte picks its alternative (`"` or `\"` G1, `'` or
//!   `\'` G2, anything else G3: G3 holds no quote and no backslash). A
//!   quoted value is a run of its class up to 256 bytes, then the closing
//!   `\\?"`: a shorter run would be followed by a byte of the class, which
//!   closes nothing. G3 is the run of its class, cut at 256;
//! - the SQL form is tried only when the first alternative fails; its
//!   `\b` holds where the byte before (as `escape::before` reads it) is not
//!   a word byte.
//!
//! The secret is the group that took part. It reads at most the head's
//! longest match plus one byte from the start, like the automaton. The
//! tests below compare it with the meta regex's captures at every start.

use core::ops::Range;

use crate::escape::word;

/// A quoted value's class: not the quote, a backslash, CR or LF (G1 for
/// `"`, G2 for `'`).
const IN_DQ: u8 = 1;
const IN_SQ: u8 = 2;
/// G3: not ASCII whitespace, a quote, `,;&<>{}()[]` or a backslash.
const BARE: u8 = 4;
/// G4: not `'`, CR or LF.
const IN_SQL: u8 = 8;

/// Each byte's classes (bits above).
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if !matches!(b, b'"' | b'\\' | b'\r' | b'\n') {
            c |= IN_DQ;
        }
        if !matches!(b, b'\'' | b'\\' | b'\r' | b'\n') {
            c |= IN_SQ;
        }
        // `\s` in byte mode: `[\t\n\v\f\r ]`.
        let space = matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
        let stop = matches!(
            b,
            b'"' | b'\''
                | b','
                | b';'
                | b'&'
                | b'<'
                | b'>'
                | b'{'
                | b'}'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'\\'
        );
        if !space && !stop {
            c |= BARE;
        }
        if !matches!(b, b'\'' | b'\r' | b'\n') {
            c |= IN_SQL;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Longest value a group takes.
const VALUE_MAX: usize = 256;

/// A word compared with 16 bytes at once: the bytes, read as two
/// little-endian `u64`s, ORed with `case` (0x20 at the word's letters, so
/// an ASCII letter of either case becomes lower case: no other byte turns
/// into a lower-case letter that way) and ANDed with `mask` (the word's
/// bytes) must equal `val` (the word in lower case).
#[derive(Clone, Copy)]
struct Word {
    len: usize,
    case: [u64; 2],
    mask: [u64; 2],
    val: [u64; 2],
}

impl Word {
    const fn new(w: &[u8]) -> Word {
        let mut case = [0u64; 2];
        let mut mask = [0u64; 2];
        let mut val = [0u64; 2];
        let mut i = 0;
        while i < w.len() {
            let b = w[i].to_ascii_lowercase();
            let shift = (i % 8) * 8;
            if b.is_ascii_lowercase() {
                case[i / 8] |= 0x20 << shift;
            }
            mask[i / 8] |= 0xff << shift;
            val[i / 8] |= (b as u64) << shift;
            i += 1;
        }
        Word {
            len: w.len(),
            case,
            mask,
            val,
        }
    }

    fn at(&self, x: [u64; 2]) -> bool {
        (x[0] | self.case[0]) & self.mask[0] == self.val[0]
            && (x[1] | self.case[1]) & self.mask[1] == self.val[1]
    }
}

// The KEY words, by first letter, each list in the order to try (a word
// before any word it starts with).
const KEYS_P: [Word; 6] = [
    Word::new(b"password"),
    Word::new(b"passwd"),
    Word::new(b"passphrase"),
    Word::new(b"pwd"),
    Word::new(b"private_key"),
    Word::new(b"privatekey"),
];
const KEYS_S: [Word; 3] = [
    Word::new(b"secret_key"),
    Word::new(b"secretkey"),
    Word::new(b"secret"),
];
const KEYS_C: [Word; 4] = [
    Word::new(b"client_secret"),
    Word::new(b"clientsecret"),
    Word::new(b"credentials"),
    Word::new(b"credential"),
];
const KEYS_A: [Word; 6] = [
    Word::new(b"api_key"),
    Word::new(b"apikey"),
    Word::new(b"access_token"),
    Word::new(b"accesstoken"),
    Word::new(b"auth_token"),
    Word::new(b"authtoken"),
];
const KEYS_R: [Word; 2] = [Word::new(b"refresh_token"), Word::new(b"refreshtoken")];
const KEYS_T: [Word; 1] = [Word::new(b"token")];

/// The SQL form's words.
const PASSWORD: Word = Word::new(b"password");
const IDENTIFIED: Word = Word::new(b"identified");

/// The 16 bytes at `s` (zeros past the end) as two little-endian `u64`s.
fn load16(hay: &[u8], s: usize) -> [u64; 2] {
    let word = |i: usize| -> u64 {
        match hay.get(i..i + 8) {
            Some(h) => u64::from_le_bytes(h.try_into().unwrap_or([0; 8])),
            None => {
                let mut buf = [0u8; 8];
                for (d, &b) in buf.iter_mut().zip(hay.get(i..).unwrap_or_default()) {
                    *d = b;
                }
                u64::from_le_bytes(buf)
            }
        }
    };
    [word(s), word(s + 8)]
}

/// The head match anchored at `s` and its secret (the first group that
/// took part), as the head's meta regex with captures finds them; `None`
/// when the head does not match there. `before` is what the look-behind
/// reads (`escape::before`).
pub(crate) fn head(
    hay: &[u8],
    s: usize,
    before: Option<u8>,
) -> Option<(Range<usize>, Range<usize>)> {
    // `(?i)` in byte mode folds ASCII letters only.
    let first = *hay.get(s)? | 0x20;
    let x = load16(hay, s);
    let words: &[Word] = match first {
        b'p' => &KEYS_P,
        b's' => &KEYS_S,
        b'c' => &KEYS_C,
        b'a' => &KEYS_A,
        b'r' => &KEYS_R,
        b't' => &KEYS_T,
        _ => &[],
    };
    let key = words.iter().find(|w| w.at(x));
    if let Some(secret) = key.and_then(|k| assigned(hay, s + k.len)) {
        return Some((s..secret.1, secret.0));
    }
    sql(hay, s, x, before)
}

/// The rest of the first alternative after a key ending at `i`: the
/// secret and where the match ends.
fn assigned(hay: &[u8], mut i: usize) -> Option<(Range<usize>, usize)> {
    if hay.get(i) == Some(&b'\\') {
        i += 1;
    }
    if matches!(hay.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    i += blanks(hay, i);
    if !matches!(hay.get(i), Some(b':' | b'=')) {
        return None;
    }
    i += 1;
    i += blanks(hay, i);
    match *hay.get(i)? {
        b'"' => quoted(hay, i + 1, b'"', IN_DQ),
        b'\'' => quoted(hay, i + 1, b'\'', IN_SQ),
        b'\\' => match *hay.get(i + 1)? {
            b'"' => quoted(hay, i + 2, b'"', IN_DQ),
            b'\'' => quoted(hay, i + 2, b'\'', IN_SQ),
            _ => None,
        },
        _ => {
            let n = run(hay, i, BARE, VALUE_MAX);
            (n >= 3).then_some((i..i + n, i + n))
        }
    }
}

/// A value from `q` up to its closing `\\?<quote>`.
fn quoted(hay: &[u8], q: usize, quote: u8, class: u8) -> Option<(Range<usize>, usize)> {
    let n = run(hay, q, class, VALUE_MAX);
    if n == 0 {
        return None;
    }
    let e = q + n;
    // After 256 bytes of the class the next byte, if of the class too, is
    // neither a quote nor a backslash: no match, as for the regex.
    match *hay.get(e)? {
        b if b == quote => Some((q..e, e + 1)),
        b'\\' if hay.get(e + 1) == Some(&quote) => Some((q..e, e + 2)),
        _ => None,
    }
}

/// The SQL form: `\b(?i:password|identified[ \t]{1,3}by)[ \t]{1,3}'G4'`.
fn sql(
    hay: &[u8],
    s: usize,
    x: [u64; 2],
    before: Option<u8>,
) -> Option<(Range<usize>, Range<usize>)> {
    // The first byte is a letter, so `\b` needs a non-word byte (or none)
    // before it.
    if before.is_some_and(word) {
        return None;
    }
    let mut i = if PASSWORD.at(x) {
        s + 8
    } else if IDENTIFIED.at(x) {
        let gap = blanks(hay, s + 10);
        let by = hay.get(s + 10 + gap..s + 12 + gap)?;
        if gap == 0 || !by.eq_ignore_ascii_case(b"by") {
            return None;
        }
        s + 12 + gap
    } else {
        return None;
    };
    let gap = blanks(hay, i);
    if gap == 0 || hay.get(i + gap) != Some(&b'\'') {
        return None;
    }
    i += gap + 1;
    let n = run(hay, i, IN_SQL, VALUE_MAX);
    (n > 0 && hay.get(i + n) == Some(&b'\'')).then_some((s..i + n + 1, i..i + n))
}

/// Blanks (space, tab) at `i`, at most 3.
fn blanks(hay: &[u8], i: usize) -> usize {
    let mut n = 0;
    while n < 3 && matches!(hay.get(i + n), Some(b' ' | b'\t')) {
        n += 1;
    }
    n
}

/// Bytes of `class` at `i`, at most `max`.
fn run(hay: &[u8], i: usize, class: u8, max: usize) -> usize {
    let bytes = hay.get(i..).unwrap_or_default();
    let bytes = bytes.get(..max).unwrap_or(bytes);
    let mut n = 0;
    while let Some(&b) = bytes.get(n) {
        if CLASS[usize::from(b)] & class == 0 {
            break;
        }
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests;
