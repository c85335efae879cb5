//! Planned masking (`Masker::plan` + `Masker::write_plan`, what the Python
//! binding uses for large inputs) writes exactly what `Masker::mask` does,
//! which in turn equals the exhaustive reference; a plan written against
//! other data or another buffer length fails instead of writing.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use limen_mask::{Masker, PlanMismatch, Rule};
use proptest::prelude::*;

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
    "123-45-6789",
    "DE89 3704 0044 0532 0130 00",
    "alice@example.com",
    "a@b.co",
    "+1 415 555 2671",
    "custom-SECRET-42",
    "id=",
    " ", "\n", ",", "\"", "=", ":", "@", "+", "-", "4", "a", "\u{e9}", "\0",
    "plain words here ",
];

fn masker() -> Masker {
    static MASKER: std::sync::OnceLock<Masker> = std::sync::OnceLock::new();
    MASKER
        .get_or_init(|| {
            Masker::builder()
                .rule(Rule::regex("custom", r"custom-SECRET-[0-9]+"))
                .rule(Rule::words("words", ["bluebird", "x-ray"], true))
                .try_build()
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .clone()
}

fn planned(m: &Masker, data: &[u8]) -> Vec<u8> {
    let plan = m.plan(data);
    let mut out = vec![0u8; plan.masked_len()];
    m.write_plan(data, &plan, &mut out).unwrap();
    assert_eq!(plan.findings(), m.findings(data).as_slice());
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn plan_equals_mask_and_reference(
        pieces in prop::collection::vec(prop::sample::select(PIECES), 0..40),
    ) {
        let m = masker();
        let input = pieces.concat().into_bytes();
        let out = planned(&m, &input);
        prop_assert_eq!(&out, &m.mask(&input));
        prop_assert_eq!(&out, &m.mask_exhaustive(&input));
    }

    #[test]
    fn plan_equals_mask_on_bytes(input in prop::collection::vec(any::<u8>(), 0..400)) {
        let m = masker();
        prop_assert_eq!(planned(&m, &input), m.mask(&input));
    }
}

#[test]
fn replacements_longer_and_shorter_than_secrets() {
    let m = masker();
    // "a@b.co" grows to "[MASKED:email]"; a PEM block shrinks.
    let data =
        b"x a@b.co y -----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- z";
    let plan = m.plan(data);
    assert!(plan.findings().len() >= 2, "{:?}", plan.findings());
    let out = planned(&m, data);
    assert_eq!(out, m.mask(data));
    assert!(!out.windows(6).any(|w| w == b"a@b.co"));
}

#[test]
fn mismatched_plan_fails_closed() {
    let m = masker();
    let data = b"key AKIAIOSFODNN7EXAMPLE and alice@example.com".to_vec();
    let plan = m.plan(&data);
    assert_eq!(plan.findings().len(), 2);
    // Wrong output length, either way.
    let mut short = vec![0u8; plan.masked_len() - 1];
    assert_eq!(m.write_plan(&data, &plan, &mut short), Err(PlanMismatch));
    let mut long = vec![0u8; plan.masked_len() + 1];
    assert_eq!(m.write_plan(&data, &plan, &mut long), Err(PlanMismatch));
    // Other data of another length.
    let mut out = vec![0u8; plan.masked_len()];
    assert_eq!(m.write_plan(&data[1..], &plan, &mut out), Err(PlanMismatch));
    // A plan from a masker with more detectors, written by one with fewer.
    let few = Masker::builder().detectors(["email"]).try_build().unwrap();
    let other = masker().plan(b"custom-SECRET-7");
    let mut buf = vec![0u8; other.masked_len()];
    assert_eq!(
        few.write_plan(b"custom-SECRET-7", &other, &mut buf),
        Err(PlanMismatch)
    );
}

#[test]
fn large_input_with_many_findings() {
    let m = masker();
    let mut data = Vec::new();
    for i in 0..20_000 {
        data.extend_from_slice(format!("row {i} a@b.co 4111 1111 1111 1111 ok\n").as_bytes());
    }
    let plan = m.plan(&data);
    assert_eq!(plan.findings().len(), 40_000);
    assert!(plan.masked_len() > data.len());
    assert_eq!(planned(&m, &data), m.mask(&data));
}
