//! Text full of `key = value` assignments (the `password-assignment`
//! head, matched by hand in `assignment.rs`): masking equals the
//! definition (every detector's meta regex with captures at every
//! position), planned output and any stream split equal one-shot output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use limen_mask::Masker;
use std::sync::OnceLock;

/// Each input byte becomes one of these: key words in both cases, the
/// SQL forms, separators, quotes and escaped quotes, blanks, the bytes
/// that end a value, value bytes, and a run of 238 value bytes (values
/// are cut at 256).
const PIECES: &[&[u8]] = &[
    b"password",
    b"PASSWD",
    b"pwd",
    b"passphrase",
    b"secret",
    b"secret_key",
    b"SecretKey",
    b"client_secret",
    b"api_key",
    b"access_token",
    b"authtoken",
    b"refresh_token",
    b"private_key",
    b"credential",
    b"credentials",
    b"token",
    b"identified",
    b" by ",
    b"_",
    b"s",
    b"=",
    b":",
    b"\"",
    b"'",
    b"\\",
    b"\\\"",
    b"\\'",
    b"\\n",
    b" ",
    b"\t",
    b"\n",
    b"\r",
    b"(",
    b";",
    b",",
    b"{",
    b"$",
    b"a",
    b"x1",
    b"hunter2",
    b"S3cr3t",
    b"next_token",
    b"os.environ",
    b"\xc3\xa9",
    b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

fuzz_target!(|input: &[u8]| {
    static M: OnceLock<Masker> = OnceLock::new();
    let m = M.get_or_init(Masker::new);
    let (cut, data) = match input {
        [c, rest @ ..] => (usize::from(*c).max(1), rest),
        [] => (1, input),
    };
    let text: Vec<u8> = data
        .iter()
        .flat_map(|&b| PIECES[usize::from(b) % PIECES.len()].iter().copied())
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
    assert_eq!(s.take_findings(), m.findings(&text));
});
