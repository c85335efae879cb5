//! IBANs: the country lengths, the ISO 7064 mod-97 check, the validator,
//! and a pre-check that rejects most near-misses before the head is walked.

/// IBAN lengths by country (ISO 13616 registry).
pub(crate) fn iban_length(country: &[u8]) -> Option<usize> {
    const TABLE: &[(&[u8; 2], usize)] = &[
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
    // Sorted by country (a test checks): a binary search.
    TABLE
        .binary_search_by(|(c, _)| c.as_slice().cmp(country))
        .ok()
        .and_then(|i| TABLE.get(i))
        .map(|&(_, n)| n)
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
pub(crate) fn iban_possible(hay: &[u8], s: usize, max_len: usize) -> bool {
    let Some(want) = hay.get(s..s + 2).and_then(iban_length) else {
        return false;
    };
    let mut buf = [0u8; 34];
    let mut n = 0usize;
    let rest = hay.get(s..).unwrap_or_default();
    let window = rest.get(..max_len).unwrap_or(rest);
    // A plain index loop over the window (no iterator adapters: this runs
    // at every IBAN-like candidate). `want` is at most 34, so `buf` has
    // room for every character before the check.
    let mut i = 0;
    while let Some(&b) = window.get(i) {
        i += 1;
        if b == b' ' {
            continue;
        }
        let Some(slot) = buf.get_mut(n) else {
            return true;
        };
        *slot = b;
        n += 1;
        if n == want {
            // The validator also wants a space or the match's end next,
            // and the match cannot end before a word byte (its `\b`).
            let next_word = rest
                .get(i)
                .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_');
            return !next_word && iban_mod97(&buf[..n]);
        }
    }
    false
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
mod tests {
    use super::*;

    /// The country lookup is a binary search: it finds every country of
    /// the registry (so the table is sorted) and nothing else.
    #[test]
    fn iban_countries_found() {
        const KNOWN: &str =
            "AD AE AL AT AZ BA BE BG BH BR BY CH CR CY CZ DE DK DO EE EG ES FI FO FR \
            GB GE GI GL GR GT HR HU IE IL IQ IS IT JO KW KZ LB LC LI LT LU LV MC MD ME MK MR MT MU \
            NL NO PK PL PS PT QA RO RS SA SC SE SI SK SM ST SV TL TN TR UA VA VG XK";
        for c in b'A'..=b'Z' {
            for d in b'A'..=b'Z' {
                let code = [c, d];
                let known = KNOWN.split_whitespace().any(|k| k.as_bytes() == code);
                assert_eq!(
                    iban_length(&code).is_some(),
                    known,
                    "{}{}",
                    c as char,
                    d as char
                );
            }
        }
    }

    #[test]
    fn iban_checks() {
        assert!(iban_possible(b"DE89 3704 0044 0532 0130 00", 0, 44));
        assert!(!iban_possible(b"DE89 3704 0044 0532 0130 01", 0, 44));
        assert!(!iban_possible(b"ZZ89 3704 0044 0532 0130 00", 0, 44));
        assert!(!iban_possible(b"DE89 3704 0044 0532 0130 00XX", 0, 44));
        assert!(iban_possible(b"DE89 3704 0044 0532 0130 00.", 0, 44));
        assert_eq!(iban(b"DE89370400440532013000"), Some(22));
        assert_eq!(iban(b"DE89 3704 0044 0532 0130 00"), Some(27));
        assert_eq!(iban(b"GB82 WEST 1234 5698 7654 32"), Some(27));
        assert_eq!(iban(b"DE89370400440532013001"), None);
        assert_eq!(iban(b"ZZ89370400440532013000"), None);
    }

    /// `iban_possible` as first written (iterator adapters): the
    /// reference for the index loop.
    fn possible_reference(hay: &[u8], s: usize, max_len: usize) -> bool {
        let Some(want) = hay.get(s..s + 2).and_then(iban_length) else {
            return false;
        };
        let mut buf = [0u8; 34];
        let mut n = 0usize;
        let rest = hay.get(s..).unwrap_or_default();
        for (i, &b) in rest.iter().enumerate().take(max_len) {
            if b == b' ' {
                continue;
            }
            let Some(slot) = buf.get_mut(n) else {
                return true;
            };
            *slot = b;
            n += 1;
            if n == want {
                let next_word = rest
                    .get(i + 1)
                    .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_');
                return !next_word && iban_mod97(&buf[..n]);
            }
        }
        false
    }

    /// Valid IBANs of a few countries, a few bytes changed, bytes after.
    fn near_ibans() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let valid = prop::sample::select(vec![
            &b"DE89 3704 0044 0532 0130 00"[..],
            b"GB82 WEST 1234 5698 7654 32",
            b"NO9386011117947",
            b"FR1420041010050500013M02606",
        ]);
        (
            valid,
            prop::collection::vec(proptest::num::u8::ANY, 0..3),
            prop::collection::vec(prop::sample::select(b"0123456789AZ _.-a".to_vec()), 0..6),
            0usize..40,
        )
            .prop_map(|(v, edits, tail, at)| {
                let mut out = v.to_vec();
                for (k, e) in edits.iter().enumerate() {
                    if let Some(b) = out.get_mut((at + 7 * k) % v.len()) {
                        *b = *e;
                    }
                }
                out.extend_from_slice(&tail);
                out
            })
    }

    proptest::proptest! {
        /// The index loop equals the adapter loop on near-IBANs and on
        /// arbitrary bytes, at every start and for several caps.
        #[test]
        fn possible_matches_reference(
            hay in near_ibans(),
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            max_len in proptest::sample::select(vec![0usize, 5, 20, 27, 44, 60]),
        ) {
            let mut accepted = 0;
            for h in [&hay, &noise] {
                for s in 0..=h.len() {
                    let fast = iban_possible(h, s, max_len);
                    proptest::prop_assert_eq!(fast, possible_reference(h, s, max_len));
                    accepted += usize::from(fast);
                }
            }
            std::hint::black_box(accepted);
        }
    }

    #[test]
    fn near_ibans_include_possible_ones() {
        assert!(iban_possible(b"NO9386011117947 x", 0, 60));
        assert!(!iban_possible(b"NO9386011117947", 0, 14));
    }

    /// The remainder after every character: the definition.
    fn mod97_reference(compact: &[u8]) -> bool {
        if compact.len() < 5 {
            return false;
        }
        let (head, tail) = compact.split_at(4);
        let mut rem: u32 = 0;
        for &b in tail.iter().chain(head) {
            match b {
                b'0'..=b'9' => rem = (rem * 10 + u32::from(b - b'0')) % 97,
                b'A'..=b'Z' => rem = (rem * 100 + u32::from(b - b'A' + 10)) % 97,
                _ => return false,
            }
        }
        rem == 1
    }

    proptest::proptest! {
        #[test]
        fn mod97_matches_reference(
            v in proptest::collection::vec(proptest::sample::select(b"0123456789ABCZ-".to_vec()), 0..40),
        ) {
            proptest::prop_assert_eq!(iban_mod97(&v), mod97_reference(&v));
        }
    }
}
