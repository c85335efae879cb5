//! Streaming equals one-shot: for any input and any split into chunks, the
//! concatenated stream output (and its findings) is byte-identical to
//! `Masker::mask` (and `Masker::findings`), and the stream never holds back
//! more than `Masker::max_holdback` bytes.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use limen_mask::{Masker, Rule};
use proptest::prelude::*;

/// Secrets and near-misses that the inputs are built from.
const PIECES: &[&str] = &[
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc+/=\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----\nunterminated",
    "postgresql://app:s3cret@db:5432/app",
    "password=\"hunter22\"",
    "Authorization: Bearer abcdef0123456789abcdef.ghij",
    "4111 1111 1111 1111",
    "4111111111111112",
    "123-45-6789",
    "DE89 3704 0044 0532 0130 00",
    "alice@example.com",
    "+1 415 555 2671",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKl",
    "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "custom-SECRET-42",
    " ", "\n", ",", "\"", "=", ":", "@", "+", "-", "4", "a", "\u{e9}", "\0", "\u{ff}",
    "plain words here ",
    "9fceb02d0ae598e95dc970b74767f19372d61af8",
];

fn masker() -> Masker {
    static MASKER: std::sync::OnceLock<Masker> = std::sync::OnceLock::new();
    MASKER
        .get_or_init(|| {
            Masker::builder()
                .rule(Rule::regex("custom", r"custom-SECRET-[0-9]+"))
                .try_build()
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .clone()
}

fn check(masker: &Masker, input: &[u8], cuts: &[usize]) -> Result<(), TestCaseError> {
    let whole = masker.mask(input);
    let whole_findings = masker.findings(input);
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut s = masker.stream();
    let mut out = Vec::new();
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        s.feed_into(&input[last..c], &mut out);
        prop_assert!(
            s.pending() <= masker.max_holdback(),
            "held {} > {}",
            s.pending(),
            masker.max_holdback()
        );
        last = c;
    }
    s.finish_into(&mut out);
    prop_assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&whole)
    );
    prop_assert_eq!(s.take_findings(), whole_findings);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn chunked_equals_one_shot(
        pieces in prop::collection::vec(prop::sample::select(PIECES), 0..24),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let input: Vec<u8> = pieces.concat().into_bytes();
        check(&masker(), &input, &cuts)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_agree(
        input in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        check(&masker(), &input, &cuts)?;
    }
}

#[test]
fn byte_at_a_time_equals_one_shot() {
    let masker = masker();
    let input: Vec<u8> = PIECES.concat().into_bytes();
    let mut s = masker.stream();
    let mut out = Vec::new();
    for b in &input {
        s.feed_into(std::slice::from_ref(b), &mut out);
    }
    s.finish_into(&mut out);
    assert_eq!(out, masker.mask(&input));
    assert!(out.windows(8).any(|w| w == b"[MASKED:"));
}

#[test]
fn unterminated_pem_block_is_masked_to_its_cap() {
    let masker = Masker::new();
    let mut input = b"x -----BEGIN EC PRIVATE KEY-----\n".to_vec();
    input.extend(std::iter::repeat_n(b'A', 100_000));
    input.extend(b"\nvisible");
    let out = masker.mask(&input);
    // The block has no END: 64 KiB after its head stay masked, the rest shows.
    assert!(out.starts_with(b"x [MASKED:pem-private-key]AAAA"));
    assert!(out.ends_with(b"\nvisible"));
    assert_eq!(
        out.len(),
        2 + "[MASKED:pem-private-key]".len() + 1 + 100_000 - 64 * 1024 + 8
    );
    // (the tail starts at the newline after the head)
}

#[test]
fn stream_memory_is_bounded_on_long_input() {
    let masker = Masker::new();
    let mut s = masker.stream();
    let chunk = vec![b'a'; 64 * 1024];
    let mut out = Vec::new();
    for _ in 0..64 {
        out.clear();
        s.feed_into(&chunk, &mut out);
        assert!(s.buffered() <= masker.max_holdback() + 1);
    }
}

/// Near-misses and hits of every detector, for the trigger differential.
const NEAR: &[&str] = &[
    "1.2.3.4",
    "4111",
    " 1111",
    "-1111",
    "4111111111111111",
    "378282246310005",
    "3782",
    " 822463",
    "-822463",
    " 10005",
    "5555",
    " 4444",
    "6011",
    "1234 ",
    "1 ",
    "+1 415 ",
    "(0)20 ",
    "555 2671",
    "+44 ",
    "a@",
    "b.c",
    "alice@example",
    ".com",
    "eyJ",
    "hbGciOi",
    "JIUzI1NiJ9",
    ".",
    "_",
    "-",
    "AKIA",
    "IOSFODNN7EXAMPLE",
    "ghp_",
    "16C7e42F292c6912E7710c838347Ae178B4a",
    "sk-",
    "proj-",
    "abcdefghij0123456789ABCD",
    "T3BlbkFJ",
    "xoxb-",
    "123456789012-",
    "glpat-",
    "AIza",
    "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "sk_live_",
    "4eC39HqLyjWDarjtT1zdp7dc",
    "github_pat_",
    "sk-ant-api03-",
    "password",
    "token",
    "=",
    ": ",
    "\"",
    "'",
    "(",
    "hunter22",
    "https://",
    "://",
    "app:",
    "s3cret@",
    "db:5432",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "Bearer ",
    "Authorization: ",
    "Basic ",
    "DE89",
    " 3704",
    " 0044",
    " 0532",
    " 0130",
    " 00",
    "GB82 WEST",
    "DE89370400440532013000",
    "XX",
    " GB12",
    "password = next_token();",
    "\\\"",
    "\\'",
    "123-45-",
    "6789",
    "aws_secret_access_key",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "https://hooks.slack.com/services/",
    "T000/B000/XXXX",
    "custom-SECRET-",
    "42",
    " ",
    "\n",
    "\t",
    "\u{e9}",
    "\0",
    "IDENTIFIED BY ",
    "whsec_",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    /// The trigger automaton only narrows where detectors are tried: masking
    /// equals trying every detector at every position.
    #[test]
    fn triggers_miss_nothing(
        pieces in prop::collection::vec(prop::sample::select(NEAR), 0..40),
    ) {
        let m = masker();
        let input: Vec<u8> = pieces.concat().into_bytes();
        let (fast, reference) = (m.mask(&input), m.mask_exhaustive(&input));
        prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&reference));
    }

    #[test]
    fn triggers_miss_nothing_on_bytes(input in prop::collection::vec(any::<u8>(), 0..300)) {
        let m = masker();
        prop_assert_eq!(m.mask(&input), m.mask_exhaustive(&input));
    }
}

#[test]
fn secrets_across_candidate_windows_are_masked() {
    // One-shot looks for candidates 64 KiB at a time: put secrets across
    // those boundaries, and compare with streams cut elsewhere.
    let m = masker();
    let mut input = Vec::new();
    let secrets: [&[u8]; 3] = [
        b"AKIAIOSFODNN7EXAMPLE",
        b"4111 1111 1111 1111",
        b"alice@example.com",
    ];
    for k in 1..=4usize {
        let secret = secrets[k % secrets.len()];
        while input.len() < k * (64 << 10) - secret.len() / 2 {
            input.extend_from_slice(b"plain words 1.2.3 ");
        }
        input.truncate(k * (64 << 10) - secret.len() / 2);
        input.push(b' ');
        input.extend_from_slice(secret);
        input.push(b' ');
    }
    let whole = m.mask(&input);
    for secret in secrets {
        assert!(!whole.windows(secret.len()).any(|w| w == secret));
    }
    assert_eq!(m.findings(&input).len(), 4);
    for chunk in [1000usize, 7 << 10, 70_000] {
        let mut s = m.stream();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            s.feed_into(piece, &mut out);
        }
        s.finish_into(&mut out);
        assert_eq!(out, whole, "chunk {chunk}");
    }
}
