//! The validators against known values and the forms they replaced.

use super::*;

#[test]
fn luhn_known_values() {
    assert!(luhn(b"4111111111111111"));
    assert!(luhn(b"79927398713"));
    assert!(!luhn(b"4111111111111112"));
    assert!(!luhn(b""));
}

#[test]
fn card_cut_back_to_valid_prefix() {
    assert_eq!(card(b"4111 1111 1111 1111 12"), Some(19));
    assert_eq!(card(b"4111-1111-1111-1111"), Some(19));
    assert_eq!(card(b"4111 1111-1111 1111"), None);
    assert_eq!(card(b"1234567812345670"), None); // Luhn ok, no issuer
    assert_eq!(card(b"378282246310005"), Some(15));
}

#[test]
fn ssn_rules() {
    assert!(ssn(b"123-45-6789"));
    assert!(!ssn(b"000-45-6789"));
    assert!(!ssn(b"666-45-6789"));
    assert!(!ssn(b"912-45-6789"));
    assert!(!ssn(b"123-00-6789"));
    assert!(!ssn(b"123-45-0000"));
}

#[test]
fn assignment_placeholders() {
    assert!(PLACEHOLDERS.iter().all(|p| p.len() <= PLACEHOLDER_MAX));
    assert!(assignment_value(b"hunter2"));
    assert!(assignment_value(b"s3cr3t-V4lue"));
    assert!(!assignment_value(b"null"));
    assert!(!assignment_value(b"os.environ"));
    assert!(!assignment_value(b"${DB_PASSWORD}"));
    assert!(!assignment_value(b"********"));
    assert!(!unquoted_value(b"nextchar"));
    assert!(!unquoted_value(b"EOF"));
    assert!(unquoted_value(b"Hunter"));
    assert!(unquoted_value(b"hunter2"));
}

/// `unquoted_value` as first written (three passes): the reference.
fn unquoted_reference(value: &[u8]) -> bool {
    let ident = value.iter().all(|b| b.is_ascii_alphabetic() || *b == b'_');
    let lower = value.iter().all(|b| b.is_ascii_lowercase() || *b == b'_');
    let upper = value.iter().all(|b| b.is_ascii_uppercase() || *b == b'_');
    !(ident && (lower || upper))
}

/// `known_issuer` as first written (a fold per prefix): the reference.
fn issuer_reference(digits: &[u8]) -> bool {
    let num = |n: usize| -> u32 {
        digits
            .iter()
            .take(n)
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
    };
    let len = digits.len();
    let (p1, p2, p3, p4, p6) = (num(1), num(2), num(3), num(4), num(6));
    match p1 {
        4 => matches!(len, 13 | 16 | 19),
        5 => (51..=55).contains(&p2) && len == 16,
        2 => (2221..=2720).contains(&p4) && len == 16,
        3 => {
            ((p2 == 34 || p2 == 37) && len == 15)
                || ((3528..=3589).contains(&p4) && (16..=19).contains(&len))
                || (((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39)
                    && (14..=19).contains(&len))
        }
        6 => {
            (p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) || (622126..=622925).contains(&p6))
                && (16..=19).contains(&len)
                || p2 == 62 && (16..=19).contains(&len)
        }
        _ => false,
    }
}

proptest::proptest! {
    /// The one-pass case check equals the three-pass one on any bytes.
    #[test]
    fn unquoted_matches_reference(
        value in proptest::collection::vec(proptest::num::u8::ANY, 0..24),
        letters in proptest::collection::vec(proptest::sample::select(b"aZ_q9X-".to_vec()), 0..24),
    ) {
        proptest::prop_assert_eq!(unquoted_value(&value), unquoted_reference(&value));
        proptest::prop_assert_eq!(unquoted_value(&letters), unquoted_reference(&letters));
    }

    /// The one-pass issuer prefixes equal a fold per prefix.
    #[test]
    fn issuer_matches_reference(
        head in proptest::sample::select(vec![&b"4"[..], b"51", b"55", b"34", b"37", b"36", b"305", b"6011", b"65", b"644", b"622126", b"622925", b"62", b"2221", b"2720", b"3528", b"3589", b""]),
        digits in proptest::collection::vec(proptest::sample::select(b"0123456789".to_vec()), 0..20),
    ) {
        let mut d = head.to_vec();
        d.extend_from_slice(&digits);
        proptest::prop_assert_eq!(known_issuer(&d), issuer_reference(&d));
    }
}

/// The card validator before it stopped allocating, kept as the
/// reference for the differential test below.
fn card_reference(value: &[u8]) -> Option<usize> {
    let sep = value.iter().copied().find(|b| !b.is_ascii_digit());
    if let Some(s) = sep {
        if value.iter().any(|&b| !b.is_ascii_digit() && b != s) {
            return None;
        }
    }
    let mut cuts: Vec<usize> = (0..value.len())
        .filter(|&i| !value[i].is_ascii_digit())
        .collect();
    cuts.push(value.len());
    for &cut in cuts.iter().rev() {
        let digits: Vec<u8> = value[..cut]
            .iter()
            .copied()
            .filter(u8::is_ascii_digit)
            .collect();
        let groups: Vec<usize> = value[..cut]
            .split(|b| !b.is_ascii_digit())
            .map(<[u8]>::len)
            .collect();
        let grouped = groups.len() == 1
            || (groups.len() >= 2
                && groups[0] == 4
                && groups[1..groups.len() - 1]
                    .iter()
                    .all(|&g| g == 4 || g == 6)
                && (1..=6).contains(&groups[groups.len() - 1])
                && groups.len() <= 5);
        if (13..=19).contains(&digits.len()) && grouped && known_issuer(&digits) && luhn(&digits) {
            return Some(cut);
        }
    }
    None
}

proptest::proptest! {
    #[test]
    fn card_matches_reference(
        value in proptest::collection::vec(
            proptest::sample::select(b"0123456789012345678945 - ".to_vec()), 0..48),
        issuer in proptest::sample::select(vec![&b"4"[..], b"51", b"34", b"6011", b"2221", b"3528", b""]),
    ) {
        let mut v = issuer.to_vec();
        v.extend_from_slice(&value);
        proptest::prop_assert_eq!(card(&v), card_reference(&v));
    }
}

#[test]
fn card_groups() {
    assert_eq!(card(b"4111 1111 1111 1111"), Some(19));
    assert_eq!(card(b"4111 1111 1111 1111 1234"), Some(19));
    assert_eq!(card(b"4111-1111-1111-1111"), Some(19));
    assert_eq!(card(b"4111 1111-1111 1111"), None);
    assert_eq!(card(b"4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"), None);
}
