//! Any bytes, split anywhere: masking never panics, streaming output equals
//! one-shot output, planned output equals one-shot output, findings agree, the hold-back stays bounded, and the
//! trigger automaton walks each byte about twice at most.
#![no_main]

use libfuzzer_sys::fuzz_target;
use limen_mask::{Masker, Rule};
use std::sync::OnceLock;

fn masker() -> &'static Masker {
    static M: OnceLock<Masker> = OnceLock::new();
    M.get_or_init(|| {
        Masker::builder()
            .rule(Rule::regex("custom", r"id=([0-9a-f]{8})"))
            .rule(Rule::words("words", ["bluebird", "x-ray"], true))
            .try_build()
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

fuzz_target!(|input: &[u8]| {
    // The first two bytes choose the chunk size; the rest is the data.
    let (size, data) = match input {
        [a, b, rest @ ..] => (usize::from(*a) << 8 | usize::from(*b), rest),
        _ => (1, input),
    };
    let m = masker();
    let whole = m.mask(data);
    // Planned masking (the Python binding's path) writes the same bytes.
    let plan = m.plan(data);
    let mut planned = vec![0u8; plan.masked_len()];
    assert!(m.write_plan(data, &plan, &mut planned).is_ok());
    assert_eq!(planned, whole);
    if data.len() <= 4096 {
        // The trigger automaton misses no start: same as trying every
        // detector at every position.
        assert_eq!(whole, m.mask_exhaustive(data));
    }
    let mut s = m.stream();
    let mut out = Vec::new();
    for piece in data.chunks(size.max(1)) {
        s.feed_into(piece, &mut out);
        assert!(s.pending() <= m.max_holdback());
    }
    s.finish_into(&mut out);
    assert_eq!(out, whole);
    // Linear work: the trigger automaton walks each byte about twice at most.
    let walked = s.work().trigger_bytes;
    assert!(walked <= 9 * data.len() as u64 / 4 + m.max_holdback() as u64);
    assert_eq!(s.take_findings(), m.findings(data));
});
