//! Digit-group text (the card trigger's and card check's ground): masking
//! equals the definition (every detector at every position), planned
//! output and any stream split equal one-shot output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use limen_mask::Masker;
use std::sync::OnceLock;

/// Each input byte becomes one of these: digits (weighted towards issuer
/// prefixes), separators, a letter and JSON punctuation.
const ALPHABET: &[u8] = b"0123456789344555666 - -  aX,[]:\"{}\n";

fuzz_target!(|input: &[u8]| {
    static M: OnceLock<Masker> = OnceLock::new();
    let m = M.get_or_init(Masker::new);
    let (cut, data) = match input {
        [c, rest @ ..] => (usize::from(*c).max(1), rest),
        [] => (1, input),
    };
    let text: Vec<u8> = data
        .iter()
        .map(|&b| ALPHABET[usize::from(b) % ALPHABET.len()])
        .collect();
    let whole = m.mask(&text);
    if text.len() <= 4096 {
        assert_eq!(whole, m.mask_exhaustive(&text));
    }
    let plan = m.plan(&text);
    let mut planned = vec![0u8; plan.masked_len()];
    assert!(m.write_plan(&text, &plan, &mut planned).is_ok());
    assert_eq!(planned, whole);
    let mut s = m.stream();
    let mut out = Vec::new();
    for piece in text.chunks(cut) {
        s.feed_into(piece, &mut out);
    }
    s.finish_into(&mut out);
    assert_eq!(out, whole);
});
