//! Card numbers among digit groups: the tightened card trigger
//! (`detectors::trigger_override`) and the hand-written card check against
//! the definition (`Masker::mask_exhaustive`, every detector at every
//! position), on text made of digit groups of every length, both
//! separators, real card numbers of every issuer in every grouping the
//! validator accepts, and IBAN-like near-misses; streams against one-shot.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use limen_mask::Masker;
use proptest::prelude::*;

/// Valid numbers (Luhn and issuer), written in the groupings a card can
/// have, and pieces that make near-misses of them.
const PIECES: &[&str] = &[
    "4111111111111111",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "4222222222222",
    "4222 2222 2222 2",
    "4222 2222 22222",
    "378282246310005",
    "3782 822463 10005",
    "3782-822463-10005",
    "3782 8224 6310 005",
    "3782 8224 631000 5",
    "3782 822463 1000 5",
    "371449635398431",
    "3714 496353 98431",
    "5555 5555 5555 4444",
    "2223 0031 2200 3222",
    "6011 1111 1111 1117",
    "3566 0020 2036 0505",
    "3056 9309 0259 04",
    "3056 930902 5904",
    "6200 0000 0000 0005",
    "DE89 3704 0044 0532 0130 00",
    "GB12 ",
    "XX",
    "3704 ",
    "0044 ",
    "1234",
    "12345",
    "123456",
    "12",
    "7",
    " ",
    "-",
    "  ",
    "\n",
    "a",
    ".",
    ",",
    "[",
    "]",
    "{\"n\":",
    "}",
];

fn hay() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(PIECES), 0..16).prop_map(|p| p.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Fast = definition = planned = any stream cut.
    #[test]
    fn cards_fast_equals_definition(hay in hay(), cut in 1usize..64) {
        let m = Masker::new();
        let fast = m.mask(&hay);
        let slow = m.mask_exhaustive(&hay);
        prop_assert_eq!(
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&slow),
            "on {:?}", String::from_utf8_lossy(&hay)
        );
        let plan = m.plan(&hay);
        let mut planned = vec![0u8; plan.masked_len()];
        prop_assert!(m.write_plan(&hay, &plan, &mut planned).is_ok());
        prop_assert_eq!(&planned, &fast);
        let mut s = m.stream();
        let mut out = Vec::new();
        for c in hay.chunks(cut) {
            s.feed_into(c, &mut out);
        }
        s.finish_into(&mut out);
        prop_assert_eq!(&out, &fast);
        prop_assert_eq!(s.take_findings(), m.findings(&hay));
    }
}

/// Every accepted grouping of each issuer is still masked (the trigger
/// must start every span the validator accepts).
#[test]
fn every_grouping_is_masked() {
    let m = Masker::new();
    for card in PIECES.iter().take(21) {
        for text in [card.to_string(), format!("x {card} y"), format!("({card})")] {
            let out = String::from_utf8(m.mask(text.as_bytes())).unwrap();
            assert!(out.contains("[MASKED:card-number]"), "{text} -> {out}");
        }
    }
    // Amex has 15 digits: 16 in its groupings is no card.
    let out = m.mask(b"3782 8224 6310 0050");
    assert_eq!(out, b"3782 8224 6310 0050");
}
