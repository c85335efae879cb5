//! The IBAN checks against the forms they replaced and the definitions.

use super::*;

/// The country lookup finds every country of the registry and nothing
/// else.
#[test]
fn iban_countries_found() {
    const KNOWN: &str = "AD AE AL AT AZ BA BE BG BH BR BY CH CR CY CZ DE DK DO EE EG ES FI FO FR \
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

/// The country lookup as it was (a binary search of the sorted
/// registry): the direct table agrees on every pair of bytes and on
/// codes of other lengths.
#[test]
fn country_table_matches_binary_search() {
    let search = |country: &[u8]| {
        COUNTRIES
            .binary_search_by(|(c, _)| c.as_slice().cmp(country))
            .ok()
            .and_then(|i| COUNTRIES.get(i))
            .map(|&(_, n)| n)
    };
    for a in 0..=255u8 {
        for b in 0..=255u8 {
            assert_eq!(iban_length(&[a, b]), search(&[a, b]), "{a} {b}");
        }
        assert_eq!(iban_length(&[a]), None);
        assert_eq!(iban_length(&[a, b'E', b'E']), None);
    }
    assert_eq!(iban_length(b""), None);
    assert_eq!(iban_length(b"DE"), Some(22));
}

/// `iban_possible` as the previous version wrote it (an index loop
/// that gathers the non-space bytes as it counts them).
fn possible_index_loop(hay: &[u8], s: usize, max_len: usize) -> bool {
    let Some(want) = hay.get(s..s + 2).and_then(iban_length) else {
        return false;
    };
    let mut buf = [0u8; 34];
    let mut n = 0usize;
    let rest = hay.get(s..).unwrap_or_default();
    let window = rest.get(..max_len).unwrap_or(rest);
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
            let next_word = rest
                .get(i)
                .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_');
            return !next_word && iban_mod97(&buf[..n]);
        }
    }
    false
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

/// Country codes, digits, letters and runs of spaces (where counting
/// eight bytes at a time can go wrong).
fn spaced() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    prop::collection::vec(
        prop::sample::select(vec![
            &b"DE"[..],
            b"NO",
            b"GB",
            b"89",
            b"0",
            b"7",
            b"A",
            b"x",
            b"_",
            b" ",
            b"  ",
            b"        ",
            b"\x80",
            b"\xa0",
            b"\x00",
        ]),
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest::proptest! {
    /// The word-at-a-time pre-check equals the index loop it replaced
    /// and the adapter loop before it, on near-IBANs, spaced text and
    /// arbitrary bytes, at every start and for several caps.
    #[test]
    fn possible_matches_reference(
        hay in near_ibans(),
        spaced in spaced(),
        noise in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        max_len in proptest::sample::select(vec![0usize, 5, 8, 20, 27, 44, 60]),
    ) {
        let mut accepted = 0;
        for h in [&hay, &spaced, &noise] {
            for s in 0..=h.len() {
                let fast = iban_possible(h, s, max_len);
                proptest::prop_assert_eq!(fast, possible_index_loop(h, s, max_len));
                proptest::prop_assert_eq!(fast, possible_reference(h, s, max_len));
                accepted += usize::from(fast);
            }
        }
        std::hint::black_box(accepted);
    }

    /// The SWAR count equals counting byte by byte.
    #[test]
    fn non_space_end_matches_bytewise(
        window in proptest::collection::vec(
            proptest::sample::select(b" A \x20\xa0\x00\xff0".to_vec()), 0..70),
        want in 1usize..40,
    ) {
        let bytewise = window
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b != b' ')
            .nth(want - 1)
            .map(|(i, _)| i + 1);
        proptest::prop_assert_eq!(non_space_end(&window, want), bytewise);
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
