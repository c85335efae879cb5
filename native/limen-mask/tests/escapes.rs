//! Backslash escapes (`src/escape.rs`): an escape is a boundary, so a
//! secret right after `\n`, `\t` or `\u00e9` is masked; a masked span
//! never starts or ends inside an escape and never swallows a string's
//! quote, so valid JSON in is valid JSON out, with the same structure.
//! Checked on examples, on random JSON documents with a secret of every
//! built-in detector after random escapes, and differentially (the fast
//! scan against the definition, streams against one-shot) on escape-heavy
//! byte soup.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use limen_mask::{Masker, Rule};
use proptest::prelude::*;
use serde_json::Value;

/// One secret per built-in detector (raw text, before JSON escaping), and
/// the part of it that must not survive masking.
const SECRETS: &[(&str, &str)] = &[
    ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    (
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "16C7e42F292c6912E7710c838347Ae178B4a",
    ),
    (
        "github_pat_11ABCDEFG0123456789abc_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456",
        "11ABCDEFG0123456789abc_abcdefghijkl",
    ),
    ("glpat-xxYY1234567890abcdEF", "xxYY1234567890abcdEF"),
    (
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "1234567890123-AbCdEfGhIjKl",
    ),
    (
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "T00000000/B00000000",
    ),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    (
        "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
        "SyD-9tSrke72PouQMnMX",
    ),
    (
        "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCD",
    ),
    (
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ-_abcdefghijklmnopqrstuvwxyzAB-CDEFGAA",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ",
    ),
    (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV",
    ),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc+/=\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA7",
    ),
    ("postgresql://app:s3cretpw@db.internal:5432/app", "s3cretpw"),
    ("password=hunter22", "hunter22"),
    (
        "Authorization: Bearer abcdef0123456789abcdef.ghij-klm",
        "abcdef0123456789",
    ),
    ("4111 1111 1111 1111", "4111 1111 1111 1111"),
    ("123-45-6789", "123-45-6789"),
    ("DE89 3704 0044 0532 0130 00", "3704 0044 0532"),
    ("alice.smith+ci@example.co.uk", "alice.smith+ci@example"),
    ("+1 415 555 2671", "415 555 2671"),
];

/// Escapes as they appear in JSON text.
const ESCAPES: &[&str] = &[
    r"\n",
    r"\r",
    r"\t",
    r"\b",
    r"\f",
    r"\/",
    r#"\""#,
    r"\\",
    r"\u001f",
    r"\u00e9",
    r"\u0041",
    r"\uD83D\uDE00",
    r"\\\n",
    r"\\\\",
];

fn masker() -> Masker {
    static M: std::sync::OnceLock<Masker> = std::sync::OnceLock::new();
    M.get_or_init(|| {
        Masker::builder()
            .rule(Rule::regex("custom", r"custom-SECRET-[0-9]+"))
            .rule(Rule::regex("quoted", r#"q="([^=]{1,40})=q"#))
            .rule(Rule::words("words", ["bluebird"], true))
            .try_build()
            .unwrap_or_else(|e| panic!("{e}"))
    })
    .clone()
}

/// Card numbers written as JSON numbers (masked to `0`).
const CARD_NUMBERS: &[&str] = &["4111111111111111", "-378282246310005", "5555555555554444"];

/// The structure of a JSON value: string contents dropped, all else kept
/// (a card number as the `0` it is masked to).
fn shape(v: &Value) -> String {
    match v {
        Value::String(_) => "s".into(),
        // `-0` reads back as the float `-0.0`.
        Value::Number(n)
            if CARD_NUMBERS.contains(&n.to_string().as_str()) || n.as_f64() == Some(0.0) =>
        {
            "0".into()
        }
        Value::Array(a) => format!("[{}]", a.iter().map(shape).collect::<Vec<_>>().join(",")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{k:?}:{}", shape(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

/// A secret as JSON string content (quotes, backslashes, newlines escaped).
fn json_content(raw: &str) -> String {
    let quoted = serde_json::to_string(raw).unwrap();
    quoted[1..quoted.len() - 1].to_string()
}

/// One-shot, the definition, and a stream cut at `cuts` all agree.
fn agree(m: &Masker, input: &[u8], cuts: &[usize]) -> Result<Vec<u8>, TestCaseError> {
    let whole = m.mask(input);
    let slow = m.mask_exhaustive(input);
    prop_assert_eq!(
        String::from_utf8_lossy(&whole),
        String::from_utf8_lossy(&slow),
        "fast != exhaustive on {:?}",
        String::from_utf8_lossy(input)
    );
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut s = m.stream();
    let mut out = Vec::new();
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        s.feed_into(&input[last..c], &mut out);
        prop_assert!(s.pending() <= m.max_holdback());
        last = c;
    }
    s.finish_into(&mut out);
    prop_assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&whole),
        "stream != one-shot"
    );
    prop_assert_eq!(s.take_findings(), m.findings(input));
    Ok(whole)
}

#[derive(Clone, Debug)]
enum Piece {
    Escape(usize),
    Secret(usize),
    Word(&'static str),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        3 => (0..ESCAPES.len()).prop_map(Piece::Escape),
        2 => (0..SECRETS.len()).prop_map(Piece::Secret),
        1 => prop::sample::select(vec![" ", "word", "x", ": ", "=", "ok", "\u{e9}"]).prop_map(Piece::Word),
    ]
}

/// String content: pieces, where every secret follows an escape or ` | `
/// (so it is a secret by its detector's own boundary rules) and is
/// followed by an escape, a blank or the string's end.
fn content() -> impl Strategy<Value = (String, Vec<usize>)> {
    prop::collection::vec(piece(), 0..8).prop_map(|pieces| {
        let mut s = String::new();
        let mut secrets = Vec::new();
        let mut after_secret = false;
        for p in pieces {
            match p {
                Piece::Escape(i) => {
                    s.push_str(ESCAPES[i]);
                    after_secret = false;
                }
                Piece::Secret(i) => {
                    // Not glued to a word, nor to a number a card or an
                    // IBAN would run on into.
                    if !(s.is_empty() || ends_with_escape(&s)) || after_secret {
                        s.push_str(" | ");
                    }
                    s.push_str(&json_content(SECRETS[i].0));
                    secrets.push(i);
                    after_secret = true;
                }
                Piece::Word(w) => {
                    if after_secret {
                        s.push(' ');
                    }
                    s.push_str(w);
                    after_secret = false;
                }
            }
        }
        (s, secrets)
    })
}

fn ends_with_escape(s: &str) -> bool {
    ESCAPES.iter().any(|e| s.ends_with(e))
        && s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 0
}

/// A JSON document: nested objects and arrays of such strings, numbers
/// and literals.
fn document() -> impl Strategy<Value = (String, Vec<usize>)> {
    let leaf = prop_oneof![
        3 => content().prop_map(|(s, secrets)| (format!("\"{s}\""), secrets)),
        1 => (-1000i64..1000).prop_map(|n| (n.to_string(), vec![])),
        1 => prop::sample::select(CARD_NUMBERS).prop_map(|n| (n.to_string(), vec![])),
        1 => prop::sample::select(vec!["true", "false", "null"]).prop_map(|l| (l.to_string(), vec![])),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|items| {
                let secrets = items.iter().flat_map(|(_, s)| s.clone()).collect();
                let body: Vec<String> = items.into_iter().map(|(t, _)| t).collect();
                (format!("[{}]", body.join(", ")), secrets)
            }),
            prop::collection::vec(inner, 0..5).prop_map(|items| {
                let secrets = items.iter().flat_map(|(_, s)| s.clone()).collect();
                let body: Vec<String> = items
                    .into_iter()
                    .enumerate()
                    .map(|(i, (t, _))| format!("\"k{i}\":{t}"))
                    .collect();
                (format!("{{{}}}", body.join(",")), secrets)
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    /// Valid JSON in, valid JSON out: same structure, every secret gone;
    /// the fast scan, the definition and streams agree.
    #[test]
    fn json_stays_json_and_secrets_go(
        (doc, secrets) in document(),
        cuts in prop::collection::vec(0usize..4096, 0..6),
    ) {
        // A bare card number as the whole document is a whole value (as a
        // column is): it is masked to the token, by design.
        prop_assume!(!CARD_NUMBERS.contains(&doc.as_str()));
        let m = masker();
        let before: Value = serde_json::from_str(&doc)
            .unwrap_or_else(|e| panic!("generated bad JSON {doc:?}: {e}"));
        let out = agree(&m, doc.as_bytes(), &cuts)?;
        let text = String::from_utf8(out).unwrap();
        let after: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => return Err(TestCaseError::fail(format!("{e}: {doc}\n  -> {text}"))),
        };
        prop_assert_eq!(shape(&before), shape(&after), "{} -> {}", doc, text);
        for n in CARD_NUMBERS {
            prop_assert!(!text.contains(n.trim_start_matches('-')), "{} survived: {} -> {}", n, doc, text);
        }
        for i in secrets {
            let needle = json_content(SECRETS[i].1);
            prop_assert!(!text.contains(&needle), "{} survived: {} -> {}", SECRETS[i].1, doc, text);
        }
    }

    /// Escape-heavy soup (not JSON): the fast scan equals the definition,
    /// streams equal one-shot, for any split.
    #[test]
    fn escape_soup_fast_equals_definition(
        pieces in prop::collection::vec(prop_oneof![
            (0..ESCAPES.len()).prop_map(|i| ESCAPES[i].to_string()),
            (0..SECRETS.len()).prop_map(|i| SECRETS[i].0.to_string()),
            prop::sample::select(vec!["\\", "\"", "u", "00", "e9", "n", " ", "q=\"a\\\"b=q", "custom-SECRET-7", "BlueBird", "-----BEGIN PRIVATE KEY-----\\n"]).prop_map(str::to_string),
        ], 0..20),
        cuts in prop::collection::vec(0usize..2048, 0..8),
    ) {
        let input = pieces.concat();
        agree(&masker(), input.as_bytes(), &cuts)?;
    }
}

#[test]
fn secrets_after_every_escape_are_masked() {
    let m = Masker::new();
    for esc in [
        r"\n", r"\r", r"\t", r"\b", r"\f", r"\/", r#"\""#, r"\\", r"\u001f", r"\u00e9",
    ] {
        for (secret, needle) in SECRETS {
            let doc = format!(r#"{{"a":"x{esc}{}"}}"#, json_content(secret));
            let out = String::from_utf8(m.mask(doc.as_bytes())).unwrap();
            let needle = json_content(needle);
            assert!(!out.contains(&needle), "{esc} {secret}: {out}");
            let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
            assert!(v["a"].is_string(), "{out}");
        }
    }
}

#[test]
fn the_reported_cases() {
    let m = Masker::new();
    assert_eq!(
        m.mask(br#"{"a":"x\nAKIAIOSFODNN7EXAMPLE"}"#),
        br#"{"a":"x\n[MASKED:aws-access-key-id]"}"#
    );
    assert_eq!(
        m.mask(br#"{"a":"\tghp_16C7e42F292c6912E7710c838347Ae178B4a"}"#),
        br#"{"a":"\t[MASKED:github-token]"}"#
    );
    // The email head matches from the `u` on: the span takes the whole escape.
    assert_eq!(
        m.mask(br#"{"a":"\u001fjohn@example.com"}"#),
        br#"{"a":"[MASKED:email]"}"#
    );
    // A backslash that is itself escaped makes no escape of the `n`.
    assert_eq!(
        m.mask(br#"{"a":"x\\nAKIAIOSFODNN7EXAMPLE"}"#),
        br#"{"a":"x\\nAKIAIOSFODNN7EXAMPLE"}"#
    );
    assert_eq!(
        m.mask(br#"{"a":"x\\\nAKIAIOSFODNN7EXAMPLE"}"#),
        br#"{"a":"x\\\n[MASKED:aws-access-key-id]"}"#
    );
    // Plain text keeps its old meaning: a word glued to the key is no key.
    assert_eq!(m.mask(b"xnAKIAIOSFODNN7EXAMPLE"), b"xnAKIAIOSFODNN7EXAMPLE");
}

#[test]
fn spans_stop_at_string_ends() {
    let m = Masker::new();
    // An unterminated PEM block ends with its string.
    let doc = br#"{"k":"-----BEGIN PRIVATE KEY-----\nMIIEow","n":"x"}"#;
    let out = m.mask(doc);
    assert_eq!(out, br#"{"k":"[MASKED:pem-private-key]","n":"x"}"#);
    // A quoted SQL password that would run over a string's end.
    let doc = br#"{"q":"PASSWORD 'abc","r":"d'"}"#;
    let out = String::from_utf8(m.mask(doc)).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(shape(&v), r#"{"q":s,"r":s}"#);
}

#[test]
fn streams_carry_backslash_runs_across_chunks() {
    let m = Masker::new();
    let mut doc = String::from(r#"{"a":"x"#);
    for run in 0..9 {
        doc.push_str(&"\\".repeat(2 * run + 1));
        doc.push_str("nAKIAIOSFODNN7EXAMPLE ");
        doc.push_str(&"\\".repeat(2 * run));
        doc.push_str("nAKIAIOSFODNN7EXAMPLE ");
    }
    doc.push_str(&"x".repeat(300));
    doc.push_str("\"}");
    let whole = m.mask(doc.as_bytes());
    for size in [1, 2, 3, 5, 7, 64, 333] {
        let mut s = m.stream();
        let mut out = Vec::new();
        for c in doc.as_bytes().chunks(size) {
            s.feed_into(c, &mut out);
        }
        s.finish_into(&mut out);
        assert_eq!(out, whole, "chunks of {size}");
    }
    let text = String::from_utf8(whole).unwrap();
    assert_eq!(text.matches("[MASKED:aws-access-key-id]").count(), 9);
    serde_json::from_str::<Value>(&text).unwrap();
}

#[test]
fn card_numbers_as_json_numbers_stay_numbers() {
    let m = Masker::new();
    let cases: &[(&[u8], &[u8])] = &[
        (br#"{"n":4111111111111111}"#, br#"{"n":0}"#),
        (
            br#"{"n": -4111111111111111 , "m":1}"#,
            br#"{"n": -0 , "m":1}"#,
        ),
        (b"[1, 4111111111111111]", b"[1, 0]"),
        (b"[4111111111111111,\n 2]", b"[0,\n 2]"),
        (b"{\"n\" :\n\t4111111111111111\r\n}", b"{\"n\" :\n\t0\r\n}"),
        // Not a JSON number: the token, as before.
        (b"4111111111111111", b"[MASKED:card-number]"),
        (
            br#"{"n":"4111111111111111"}"#,
            br#"{"n":"[MASKED:card-number]"}"#,
        ),
        (
            b"card: 4111111111111111, ok",
            b"card: [MASKED:card-number], ok",
        ),
        (b"[4111 1111 1111 1111]", b"[[MASKED:card-number]]"),
        (b"1,4111111111111111\n", b"1,[MASKED:card-number]\n"),
    ];
    for (input, want) in cases {
        let got = m.mask(input);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "{}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(got, m.mask_exhaustive(input));
        let plan = m.plan(input);
        let mut planned = vec![0u8; plan.masked_len()];
        m.write_plan(input, &plan, &mut planned).unwrap();
        assert_eq!(planned, got);
        for size in 1..input.len() {
            let mut s = m.stream();
            let mut out = Vec::new();
            for c in input.chunks(size) {
                s.feed_into(c, &mut out);
            }
            s.finish_into(&mut out);
            assert_eq!(out, got);
        }
    }
    let found = m.findings(br#"{"n":4111111111111111}"#);
    assert_eq!(found.len(), 1);
    assert!(found[0].as_number);
    assert_eq!((found[0].offset, found[0].len), (5, 16));
}
