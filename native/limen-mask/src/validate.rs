//! Validators: cheap checks that run only on candidates the automaton found.
//!
//! A validator sees the whole candidate match and the span the detector wants
//! to mask, and answers with the span to mask (possibly shorter: a card
//! number followed by another group of digits is cut back to a valid card)
//! or `None` to reject the candidate. Validators are pure functions of the
//! candidate's bytes, so one-shot and streaming masking agree.

use core::ops::Range;

use crate::iban::iban;

/// What to check before a candidate counts as a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Validator {
    /// Every candidate is a finding.
    None,
    /// Payment card: 13 to 19 digits, Luhn checksum, a known issuer prefix,
    /// and separators (space or dash) used consistently.
    Card,
    /// IBAN: known country, the country's length, ISO 7064 mod-97 check.
    Iban,
    /// US SSN: area not 000, 666 or 9xx; group not 00; serial not 0000.
    Ssn,
    /// International phone number: 8 to 15 digits after the `+`.
    Phone,
    /// `key = value` assignments: the value is not code or a placeholder.
    Assignment,
}

impl Validator {
    /// Checks `hay[secret]`; answers with the span to mask.
    pub(crate) fn check(self, hay: &[u8], secret: Range<usize>) -> Option<Range<usize>> {
        let value = hay.get(secret.clone())?;
        match self {
            Validator::None => Some(secret),
            Validator::Card => card(value).map(|len| secret.start..secret.start + len),
            Validator::Iban => iban(value).map(|len| secret.start..secret.start + len),
            Validator::Ssn => ssn(value).then_some(secret),
            Validator::Phone => phone(value).then_some(secret),
            Validator::Assignment => {
                let quoted =
                    secret.start > 0 && matches!(hay.get(secret.start - 1), Some(b'"' | b'\''));
                // One byte after the match is decided (see masker.rs), so a
                // call like `token = next_token()` can be told from a value.
                let called = hay.get(secret.end) == Some(&b'(');
                // The cheap tests first (code is common: `token = next()`).
                ((quoted || (!called && unquoted_value(value))) && assignment_value(value))
                    .then_some(secret)
            }
        }
    }
}

/// Luhn checksum over ASCII digits (other bytes are skipped).
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    let mut count = 0usize;
    for &b in digits.iter().rev() {
        if !b.is_ascii_digit() {
            continue;
        }
        let mut d = u32::from(b - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
        count += 1;
    }
    count > 0 && sum.is_multiple_of(10)
}

/// Issuer prefixes of the major card networks (IIN ranges).
pub(crate) fn known_issuer(digits: &[u8]) -> bool {
    // The numbers made by the first 1 to 6 digits (all of them when there
    // are fewer), in one pass.
    let mut prefix = [0u32; 7];
    let mut acc = 0u32;
    for (k, slot) in prefix.iter_mut().enumerate().skip(1) {
        if let Some(&d) = digits.get(k - 1) {
            acc = acc * 10 + u32::from(d.wrapping_sub(b'0'));
        }
        *slot = acc;
    }
    let len = digits.len();
    let [_, p1, p2, p3, p4, _, p6] = prefix;
    match p1 {
        4 => matches!(len, 13 | 16 | 19),              // Visa
        5 => (51..=55).contains(&p2) && len == 16,     // Mastercard
        2 => (2221..=2720).contains(&p4) && len == 16, // Mastercard 2-series
        3 => {
            ((p2 == 34 || p2 == 37) && len == 15)                             // Amex
                || ((3528..=3589).contains(&p4) && (16..=19).contains(&len))  // JCB
                || (((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39)
                    && (14..=19).contains(&len)) // Diners
        }
        6 => {
            (p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) || (622126..=622925).contains(&p6))
                && (16..=19).contains(&len) // Discover
                || p2 == 62 && (16..=19).contains(&len) // UnionPay
        }
        _ => false,
    }
}

/// Returns the length of the longest valid card number at the start of
/// `value`, cut only where a separator (or the end) follows. One pass and
/// no allocation: this runs at every group of a long run of digit groups.
fn card(value: &[u8]) -> Option<usize> {
    const MAX: usize = 64;
    if value.len() > MAX {
        return None; // the head is at most 45 bytes
    }
    // The separator, if any, must be the same everywhere.
    let sep = value.iter().copied().find(|b| !b.is_ascii_digit());
    if let Some(s) = sep {
        if value.iter().any(|&b| !b.is_ascii_digit() && b != s) {
            return None;
        }
    }
    // Digits, and each group's length and end (a cut point).
    let mut digits = [0u8; MAX];
    let mut groups = [(0usize, 0usize); MAX + 1];
    let (mut nd, mut ng, mut run) = (0usize, 0usize, 0usize);
    for (i, &b) in value.iter().enumerate() {
        if b.is_ascii_digit() {
            *digits.get_mut(nd)? = b;
            nd += 1;
            run += 1;
        } else {
            *groups.get_mut(ng)? = (run, i);
            ng += 1;
            run = 0;
        }
    }
    *groups.get_mut(ng)? = (run, value.len());
    ng += 1;
    // Candidate cuts, longest first: the end, then before each separator.
    let mut count = nd;
    for k in (0..ng).rev() {
        let (len, cut) = groups[k];
        if (13..=19).contains(&count) && grouping(&groups[..=k]) {
            let d = &digits[..count];
            if known_issuer(d) && luhn(d) {
                return Some(cut);
            }
        }
        count -= len;
    }
    None
}

/// Separated card numbers come in groups of 4 (or Amex 4-6-5, Diners 4-6-4);
/// a single separator between every digit is not a card number. `groups`
/// holds (length, end) per group.
fn grouping(groups: &[(usize, usize)]) -> bool {
    let Some(((first, _), rest)) = groups.split_first() else {
        return false;
    };
    let Some(((last, _), middle)) = rest.split_last() else {
        return true; // one group: no separator
    };
    *first == 4
        && middle.iter().all(|&(g, _)| g == 4 || g == 6)
        && (1..=6).contains(last)
        && groups.len() <= 5
}

fn ssn(value: &[u8]) -> bool {
    let d: Vec<u32> = value
        .iter()
        .filter(|b| b.is_ascii_digit())
        .map(|&b| u32::from(b - b'0'))
        .collect();
    if d.len() != 9 {
        return false;
    }
    let area = d[0] * 100 + d[1] * 10 + d[2];
    let group = d[3] * 10 + d[4];
    let serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

fn phone(value: &[u8]) -> bool {
    let digits = value.iter().filter(|b| b.is_ascii_digit()).count();
    let opens = value.iter().filter(|&&b| b == b'(').count();
    let closes = value.iter().filter(|&&b| b == b')').count();
    (8..=15).contains(&digits) && opens == closes && opens <= 1
}

/// Assigned values that are placeholders, not secrets.
const PLACEHOLDERS: &[&[u8]] = &[
    b"null",
    b"none",
    b"nil",
    b"true",
    b"false",
    b"undefined",
    b"required",
    b"optional",
    b"string",
    b"str",
    b"bytes",
    b"secret",
    b"password",
    b"token",
    b"changeme",
    b"redacted",
    b"masked",
    b"hidden",
    b"empty",
    b"unset",
    b"xxx",
    b"xxxx",
    b"todo",
    b"example",
];

/// The longest of [`PLACEHOLDERS`] (longer values skip the list).
const PLACEHOLDER_MAX: usize = 9;

/// Whether an assigned value may be a secret (not code, not a placeholder).
fn assignment_value(value: &[u8]) -> bool {
    if value.is_empty() {
        return false;
    }
    // Already masked, templated or a reference to something else.
    let first = value[0];
    if matches!(first, b'$' | b'%' | b'<' | b'{' | b'*' | b'[' | b'@') {
        return false;
    }
    if value
        .iter()
        .all(|&b| b == b'*' || b == b'x' || b == b'X' || b == b'.' || b == b'#')
    {
        return false;
    }
    if value.len() <= PLACEHOLDER_MAX && PLACEHOLDERS.iter().any(|p| p.eq_ignore_ascii_case(value))
    {
        return false;
    }
    // A dotted identifier (`os.environ`, `self.password`, `config.db.pass`) is code.
    let dotted_ident = value.split(|&b| b == b'.').all(|part| {
        part.first()
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
            && part.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
    }) && value.contains(&b'.');
    !dotted_ident
}

/// Unquoted values that are identifiers (`token = nextchar`,
/// `TOKEN=EOF`) are code, not secrets: a secret has a digit, mixed case or
/// punctuation.
fn unquoted_value(value: &[u8]) -> bool {
    // One pass: the classes every byte so far is in, as bits (an
    // identifier byte, lower case or `_`, upper case or `_`), ANDed.
    let mut all = IDENT | LOWER | UPPER;
    for &b in value {
        all &= CASE_CLASS[usize::from(b)];
        if all == 0 {
            break;
        }
    }
    !(all & IDENT != 0 && all & (LOWER | UPPER) != 0)
}

const IDENT: u8 = 1;
const LOWER: u8 = 2;
const UPPER: u8 = 4;

/// Each byte's classes for [`unquoted_value`].
const CASE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c == b'_' {
            IDENT | LOWER | UPPER
        } else if c.is_ascii_lowercase() {
            IDENT | LOWER
        } else if c.is_ascii_uppercase() {
            IDENT | UPPER
        } else {
            0
        };
        b += 1;
    }
    t
};

#[cfg(test)]
mod tests;
