//! Linear time, measured by work counters (never by wall time): for
//! generated adversarial inputs (repeated near-misses of the detectors,
//! digit groups, encoded blobs), the work per input byte stays within a
//! fixed factor as the input grows 16-fold, one-shot and streaming, and
//! under the bound the module docs derive.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use limen_mask::{Masker, Rule, Work};
use proptest::prelude::*;

/// Units that repeated make near-misses (and some hits) of every detector.
const UNITS: &[&str] = &[
    "1.2.3.",
    "1 ",
    "12",
    "1234 ",
    "1234-",
    "4111 ",
    "+1 ",
    "+44 20 ",
    "a@",
    "a@a.",
    "a.",
    "@",
    "eyJ",
    "eyJabcdefgh",
    ".",
    "-",
    "_",
    "eyJhbGciOi.",
    "AKIA",
    "ghp_",
    "sk-",
    "sk-proj-",
    "xoxb-",
    "glpat-",
    "AIza",
    "sk_live_",
    "github_pat_",
    "GR1348941",
    "password",
    "token",
    "=",
    ": ",
    "\"",
    "'",
    "(",
    "https://",
    "://",
    "a:b",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END",
    "Bearer ",
    "Authorization: ",
    "DE89",
    "GB12 ",
    "3704 ",
    "123-45-",
    "aws_secret_access_key=",
    "\\n",
    "\\t",
    "\\u00e9",
    "\\\\",
    "\\\"",
    "abcdefgh",
    "ABCDEFGH",
    "0123456789",
    "+/",
    "\n",
    " ",
    "\u{e9}",
    "\0",
    "TICKET-",
    "x-ray",
    "bluebird",
];

fn masker() -> Masker {
    Masker::builder()
        .rule(Rule::regex("ticket", r"TICKET-[0-9]{4,12}"))
        .rule(Rule::regex("spanning", r"\w{8,}X"))
        .rule(Rule::words("codewords", ["bluebird", "x-ray"], true))
        .columns(["users.ssn"])
        .try_build()
        .unwrap()
}

/// The per-byte bound of the module docs: three trigger transitions, one
/// candidate, every detector's longest head plus one byte of look-ahead,
/// and two tail bytes.
fn bound_per_byte(m: &Masker) -> u64 {
    6 + m
        .detector_info()
        .map(|d| d.max_head_len as u64 + 1)
        .sum::<u64>()
}

fn stream_work(m: &Masker, data: &[u8], chunk: usize) -> Work {
    let mut s = m.stream();
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        s.feed_into(piece, &mut out);
    }
    s.finish_into(&mut out);
    s.work()
}

fn repeated(unit: &[u8], size: usize) -> Vec<u8> {
    unit.iter().copied().cycle().take(size).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn work_per_byte_does_not_grow(
        unit in prop::collection::vec(prop::sample::select(UNITS), 1..6),
        chunk in 64usize..5000,
    ) {
        let m = masker();
        let unit: Vec<u8> = unit.concat().into_bytes();
        let small = repeated(&unit, 2 << 10);
        let large = repeated(&unit, 32 << 10);
        let per = |w: Work, n: usize| w.total() as f64 / n as f64;
        let w_small = per(m.mask_work(&small, &mut Vec::new()), small.len());
        let w_large = per(m.mask_work(&large, &mut Vec::new()), large.len());
        // Repetition makes the work per byte the same at any size, up to
        // the edges; a superlinear scan would grow ~16-fold here.
        prop_assert!(w_large <= 1.5 * w_small + 1.0, "one-shot: {w_small} -> {w_large} per byte");
        let bound = bound_per_byte(&m) as f64;
        prop_assert!(w_large <= bound, "one-shot {w_large} per byte over the bound {bound}");
        let s_large = stream_work(&m, &large, chunk);
        let s_per = per(s_large, large.len());
        prop_assert!(s_per <= bound, "stream {s_per} per byte over the bound {bound}");
        // Streaming walks each byte at most about twice (see the docs).
        prop_assert!(
            s_large.trigger_bytes <= 9 * large.len() as u64 / 4 + m.max_holdback() as u64,
            "stream walked {} trigger bytes for {}", s_large.trigger_bytes, large.len()
        );
    }
}

#[test]
fn one_shot_walks_each_byte_about_once() {
    let m = masker();
    let data = repeated(b"AKIA 1234 5678 a@b.c eyJx.eyJy password=(", 1 << 20);
    let w = m.mask_work(&data, &mut Vec::new());
    // Once, plus the longest head past each window of at least eight times it.
    assert!(w.trigger_bytes >= data.len() as u64);
    assert!(w.trigger_bytes <= 9 * data.len() as u64 / 8 + m.max_holdback() as u64);
}

#[test]
fn streaming_with_tiny_chunks_stays_linear() {
    let m = masker();
    let data = repeated(b"1234 5678 9012 3456 ", 64 << 10);
    let one = stream_work(&m, &data, 1);
    let big = stream_work(&m, &data, 64 << 10);
    assert!(one.trigger_bytes <= 9 * data.len() as u64 / 4 + m.max_holdback() as u64);
    assert!(one.total() <= 2 * big.total() + m.max_holdback() as u64);
}

#[test]
fn escape_ends_stay_linear() {
    // An escape ending before a word byte is asked of the triggers again
    // (`src/trigger/escapes.rs`): at every third byte here.
    let m = masker();
    for unit in [
        &b"\\na"[..],
        b"\\u00e9x",
        b"\\\\\\\\\\\\\\\\\\n",
        b"x\\nAKIA",
        b"\\tpassword=",
    ] {
        let small = repeated(unit, 4 << 10);
        let large = repeated(unit, 64 << 10);
        let per = |d: &[u8]| m.mask_work(d, &mut Vec::new()).total() as f64 / d.len() as f64;
        let (s, l) = (per(&small), per(&large));
        assert!(l <= 1.5 * s + 1.0, "{unit:?}: {s} -> {l} per byte");
        assert!(l <= bound_per_byte(&m) as f64);
        let st = stream_work(&m, &large, 1000).total() as f64 / large.len() as f64;
        assert!(
            st <= bound_per_byte(&m) as f64,
            "{unit:?}: stream {st} per byte"
        );
    }
}
