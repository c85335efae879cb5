//! IBANs: the country lengths, the ISO 7064 mod-97 check, the validator,
//! and a pre-check that rejects most near-misses before the head is walked.

/// IBAN lengths by country (ISO 13616 registry), sorted by country (a
/// test checks).
const COUNTRIES: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

/// The same lengths indexed by `(first - b'A') * 26 + (second - b'A')`
/// (0: no such country): one load per lookup, no search.
const LENGTHS: [u8; 26 * 26] = lengths();

const fn lengths() -> [u8; 26 * 26] {
    let mut t = [0u8; 26 * 26];
    let mut i = 0;
    while i < COUNTRIES.len() {
        let (c, n) = COUNTRIES[i];
        t[(c[0] - b'A') as usize * 26 + (c[1] - b'A') as usize] = n as u8;
        i += 1;
    }
    t
}

/// The IBAN length of a country code (two upper-case letters).
pub(crate) fn iban_length(country: &[u8]) -> Option<usize> {
    let &[a, b] = country else {
        return None;
    };
    let (a, b) = (a.wrapping_sub(b'A'), b.wrapping_sub(b'A'));
    if a >= 26 || b >= 26 {
        return None;
    }
    match LENGTHS.get(usize::from(a) * 26 + usize::from(b)) {
        Some(&n) if n > 0 => Some(usize::from(n)),
        _ => None,
    }
}

/// ISO 7064 mod 97-10 over an IBAN without spaces. The remainder is taken
/// only when the running value grows large (the same residue, far fewer
/// divisions).
fn iban_mod97(compact: &[u8]) -> bool {
    if compact.len() < 5 {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u64 = 0;
    for &b in tail.iter().chain(head) {
        rem = match b {
            b'0'..=b'9' => rem * 10 + u64::from(b - b'0'),
            b'A'..=b'Z' => rem * 100 + u64::from(b - b'A' + 10),
            _ => return false,
        };
        if rem >= 1 << 50 {
            rem %= 97;
        }
    }
    rem % 97 == 1
}

/// Whether an IBAN can be accepted at `s`, from the bytes alone: the
/// validator takes the first `want` bytes of the head match that are not
/// spaces (`want` from the country), and the match is at most `max_len`
/// bytes, so if the first `want` non-space bytes within `max_len` bytes of
/// `s` do not pass mod-97, or a word byte follows them (the match would
/// have to end there, where its final `\b` fails, or go on past a byte that
/// is not a space), no head match at `s` can be accepted. A near-miss (a
/// wrong check digit, a group too many) is then rejected without walking
/// the head automaton.
///
/// This runs at every IBAN-like candidate, so the common rejection is
/// cheap: the end of the `want`-th non-space byte is found eight bytes at a
/// time, the byte after it decides most near-misses, and the non-space
/// bytes are gathered for mod-97 only when it does not.
pub(crate) fn iban_possible(hay: &[u8], s: usize, max_len: usize) -> bool {
    let Some(want) = hay.get(s..s.saturating_add(2)).and_then(iban_length) else {
        return false;
    };
    let rest = hay.get(s..).unwrap_or_default();
    let window = rest.get(..max_len).unwrap_or(rest);
    let Some(end) = non_space_end(window, want) else {
        return false;
    };
    // The validator also wants a space or the match's end next, and the
    // match cannot end before a word byte (its `\b`).
    if rest
        .get(end)
        .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return false;
    }
    // `want` is at most 34 (the registry's longest is 32): `buf` holds the
    // `want` non-space bytes of `window[..end]`.
    let mut buf = [0u8; 34];
    let mut n = 0usize;
    for &b in window.get(..end).unwrap_or_default() {
        if b != b' ' {
            let Some(slot) = buf.get_mut(n) else {
                return false;
            };
            *slot = b;
            n += 1;
        }
    }
    iban_mod97(buf.get(..n).unwrap_or_default())
}

/// The end (exclusive) of the `want`-th byte of `window` that is not a
/// space, if there are that many (`want` at least 1). Whole words of eight
/// bytes are counted at once (SWAR: a byte's high bit is set when it is
/// not a space); the last word is then walked byte by byte.
fn non_space_end(window: &[u8], want: usize) -> Option<usize> {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const SPACES: u64 = 0x2020_2020_2020_2020;
    let mut seen = 0usize;
    let mut at = 0usize;
    while let Some(word) = window.get(at..at + 8) {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let x = u64::from_le_bytes(word) ^ SPACES;
        // The high bit of each byte of `x` that is not zero, exactly (no
        // carry crosses a byte: each byte's low seven bits plus 0x7f).
        let kept = (((x & LOW7) + LOW7) | x) & HIGH;
        // One per such byte, summed into the top byte.
        let k = ((kept >> 7).wrapping_mul(0x0101_0101_0101_0101) >> 56) as usize;
        if seen + k >= want {
            break;
        }
        seen += k;
        at += 8;
    }
    for (i, &b) in window.get(at..)?.iter().enumerate() {
        if b != b' ' {
            seen += 1;
            if seen == want {
                return Some(at + i + 1);
            }
        }
    }
    None
}

/// Returns the length of the IBAN at the start of `value` (groups of four
/// separated by single spaces, or none), if its checksum holds.
pub(crate) fn iban(value: &[u8]) -> Option<usize> {
    let want = iban_length(value.get(..2)?)?;
    // No allocation per candidate: IBANs are at most 34 characters.
    let mut buf = [0u8; 34];
    let mut n = 0usize;
    let mut end = 0;
    for (i, &b) in value.iter().enumerate() {
        if b == b' ' {
            continue;
        }
        *buf.get_mut(n)? = b;
        n += 1;
        if n == want {
            end = i + 1;
            break;
        }
    }
    if n != want {
        return None;
    }
    let compact = &buf[..n];
    // The IBAN must end at a group boundary: the end of the candidate or a space.
    if end < value.len() && value[end] != b' ' {
        return None;
    }
    iban_mod97(compact).then_some(end)
}

#[cfg(test)]
mod tests;
