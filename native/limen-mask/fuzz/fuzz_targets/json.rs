//! Valid JSON in, valid JSON out: a JSON document built from the input
//! (strings of escapes, secrets and bytes; nested arrays and objects)
//! masks to valid JSON of the same structure; the fast scan equals the
//! definition (`mask_exhaustive`) and a stream cut anywhere equals
//! one-shot masking. Raw input that happens to be valid JSON is checked
//! the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use limen_mask::{Masker, Rule};
use serde_json::Value;
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

/// String content pieces, as JSON text.
const PIECES: &[&str] = &[
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
    " ",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "john@example.com",
    "4111 1111 1111 1111",
    "123-45-6789",
    "+1 415 555 2671",
    "DE89 3704 0044 0532 0130 00",
    "password=hunter22",
    r#"password: \"hunter22\""#,
    "PASSWORD 'abc",
    "'",
    "-----BEGIN PRIVATE KEY-----",
    r"\nMIIEow\n",
    "-----END PRIVATE KEY-----",
    "Bearer abcdef0123456789abcdef",
    "postgresql://u:pw@h/db",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
    "id=0123abcd",
    "bluebird",
    "x",
];

/// Builds a document from `data`: 0xF0.. open/close containers, other
/// bytes pick string pieces; returns the JSON text.
fn build(data: &[u8]) -> String {
    let mut out = String::new();
    let mut stack: Vec<(u8, usize)> = Vec::new();
    let mut in_string = false;
    let mut items = 0usize;
    let item_sep = |out: &mut String, stack: &mut Vec<(u8, usize)>| {
        if let Some((kind, n)) = stack.last_mut() {
            if *n > 0 {
                out.push(',');
            }
            if *kind == b'{' {
                out.push_str(&format!("\"k{n}\":"));
            }
            *n += 1;
        }
    };
    for &b in data {
        match b {
            0xF0..=0xF3 => {
                if in_string {
                    out.push('"');
                    in_string = false;
                }
                if b == 0xF2 || b == 0xF3 {
                    if let Some((kind, _)) = stack.pop() {
                        out.push(if kind == b'[' { ']' } else { '}' });
                    }
                    continue;
                }
                if stack.is_empty() && items > 0 {
                    continue;
                }
                item_sep(&mut out, &mut stack);
                items += 1;
                let kind = if b == 0xF0 { b'[' } else { b'{' };
                out.push(kind as char);
                stack.push((kind, 0));
            }
            0xF4 => {
                if in_string {
                    out.push('"');
                    in_string = false;
                }
            }
            _ => {
                if !in_string {
                    if stack.is_empty() && items > 0 {
                        continue;
                    }
                    item_sep(&mut out, &mut stack);
                    items += 1;
                    out.push('"');
                    in_string = true;
                }
                let piece = PIECES[usize::from(b) % PIECES.len()];
                out.push_str(piece);
            }
        }
    }
    if in_string {
        out.push('"');
    }
    while let Some((kind, _)) = stack.pop() {
        out.push(if kind == b'[' { ']' } else { '}' });
    }
    if out.is_empty() {
        out.push_str("null");
    }
    out
}

fn shape(v: &Value) -> String {
    match v {
        Value::String(_) => "s".into(),
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

/// A number long enough to be a card number: masked like any text, which
/// leaves a bare token outside a string (the one known exception, see
/// docs/interface.md, "Masked values").
fn long_number(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.to_string().bytes().filter(u8::is_ascii_digit).count() >= 13,
        Value::Array(a) => a.iter().any(long_number),
        Value::Object(o) => o.values().any(long_number),
        _ => false,
    }
}

fn check(m: &Masker, doc: &[u8], size: usize) {
    let Ok(before) = serde_json::from_slice::<Value>(doc) else {
        return;
    };
    if long_number(&before) {
        return;
    }
    let whole = m.mask(doc);
    let after: Value = serde_json::from_slice(&whole).unwrap_or_else(|e| {
        panic!(
            "{e}: {:?} -> {:?}",
            String::from_utf8_lossy(doc),
            String::from_utf8_lossy(&whole)
        )
    });
    assert_eq!(shape(&before), shape(&after));
    if doc.len() <= 4096 {
        assert_eq!(whole, m.mask_exhaustive(doc));
    }
    let mut s = m.stream();
    let mut out = Vec::new();
    for piece in doc.chunks(size.max(1)) {
        s.feed_into(piece, &mut out);
    }
    s.finish_into(&mut out);
    assert_eq!(out, whole);
}

fuzz_target!(|input: &[u8]| {
    // The first byte chooses the chunk size; the rest is the data.
    let (size, data) = match input {
        [a, rest @ ..] => (usize::from(*a), rest),
        _ => (1, input),
    };
    let m = masker();
    check(m, build(data).as_bytes(), size);
    check(m, data, size);
});
