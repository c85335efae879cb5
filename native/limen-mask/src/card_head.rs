//! The `card-number` head, `\b[0-9](?:[ -]?[0-9]){12,22}\b`, matched by
//! hand at a candidate start. Long runs of digit groups make a candidate
//! of every group, and this is the detector's whole cost there; the
//! automaton it replaces gives the same end (tested below against it).
//!
//! From a digit, the next digit of the match is unique: the next byte if it
//! is a digit, else the one after a single space or dash. The pattern's
//! greedy repetition then prefers the most digits (13 to 23) after which an
//! ASCII word boundary holds.

fn word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The end of the head match starting at `s`, if there is one.
pub(crate) fn card_head(hay: &[u8], s: usize) -> Option<usize> {
    if s > 0 && hay.get(s - 1).is_some_and(|&b| word(b)) {
        return None;
    }
    let mut q = s;
    if !hay.get(q)?.is_ascii_digit() {
        return None;
    }
    let mut end = None;
    for k in 1..=22 {
        q = match hay.get(q + 1) {
            Some(b) if b.is_ascii_digit() => q + 1,
            Some(b' ' | b'-') if hay.get(q + 2).is_some_and(u8::is_ascii_digit) => q + 2,
            _ => break,
        };
        if k >= 12 && hay.get(q + 1).is_none_or(|&b| !word(b)) {
            end = Some(q + 1);
        }
    }
    end
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::card_head;
    use crate::detectors::BUILTIN;
    use crate::masker::{build_regex, parse_bytes_pattern};
    use proptest::prelude::*;
    use regex_automata::{Anchored, Input};

    fn automaton() -> regex_automata::meta::Regex {
        let spec = BUILTIN.iter().find(|s| s.name == "card-number").unwrap();
        let hir = parse_bytes_pattern(spec.name, spec.pattern).unwrap();
        build_regex(std::slice::from_ref(&hir), false).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn same_end_as_the_automaton(
            hay in prop::collection::vec(prop::sample::select(b"0123456789012345678901234567890123456789  --a_.".to_vec()), 0..64),
            s in 0usize..64,
        ) {
            let re = automaton();
            let s = s.min(hay.len());
            let input = Input::new(&hay).span(s..hay.len()).anchored(Anchored::Yes);
            let want = re.search(&input).map(|m| m.end());
            prop_assert_eq!(card_head(&hay, s), want);
        }
    }

    #[test]
    fn examples() {
        assert_eq!(card_head(b"4111 1111 1111 1111", 0), Some(19));
        assert_eq!(card_head(b"x4111111111111111", 1), None);
        assert_eq!(card_head(b"4111-1111-1111-1111-1111-1111", 0), Some(29 - 5));
        assert_eq!(card_head(b"411111111111", 0), None);
    }
}
