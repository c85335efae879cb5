//! Assignments (`password = ...`, `token: "..."`, `IDENTIFIED BY '...'`):
//! the `password-assignment` head matched by hand (`assignment.rs`)
//! against the definition (`Masker::mask_exhaustive`: every detector's
//! meta regex with captures at every position), on text made of keys,
//! separators, quotes, escapes, blanks and values of every kind, code
//! among them; planned output and any stream cut against one-shot.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use limen_mask::{Masker, Rule};
use proptest::prelude::*;

const PIECES: &[&str] = &[
    "password",
    "Password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "secret_key",
    "SECRETKEY",
    "client_secret",
    "api_key",
    "apikey",
    "access_token",
    "auth_token",
    "refresh_token",
    "private_key",
    "credential",
    "credentials",
    "token",
    "identified",
    "IDENTIFIED",
    " by ",
    " BY\t",
    "_",
    "=",
    ":",
    " = ",
    ": ",
    "\"",
    "'",
    "\\",
    "\\\"",
    "\\'",
    "\\n",
    " ",
    "    ",
    "\t",
    "\n",
    "\r",
    "(",
    ");",
    ",",
    "{",
    "}",
    "$HOME",
    "<x>",
    "null",
    "xxxx",
    "os.environ",
    "next_token",
    "EOF",
    "hunter2",
    "S3cr3t!",
    "a b",
    "x",
    "ab",
    "4111 1111 1111 1111",
    "AKIAIOSFODNN7EXAMPLE",
    "\u{e9}",
];

fn hay() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        12 => prop::sample::select(PIECES).prop_map(str::to_string),
        1 => (250usize..262).prop_map(|n| "v".repeat(n)),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|p| p.concat().into_bytes())
}

fn maskers() -> [Masker; 2] {
    [
        Masker::new(),
        Masker::builder()
            .rule(Rule::regex("ticket", r"TICKET-[0-9]{4,12}"))
            .rule(Rule::words("codewords", ["hunter2", "x-ray"], true))
            .try_build()
            .unwrap(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// Fast = definition = planned = any stream cut, with and without user
    /// rules.
    #[test]
    fn assignments_fast_equals_definition(hay in hay(), cut in 1usize..80) {
        for m in maskers() {
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
}

#[test]
fn values_are_masked_and_code_is_not() {
    let m = Masker::new();
    let cases: &[(&str, &str)] = &[
        (
            "password=hunter2;",
            "password=[MASKED:password-assignment];",
        ),
        (
            "{\"api_key\": \"S3cr3t!\"}",
            "{\"api_key\": \"[MASKED:password-assignment]\"}",
        ),
        (
            "ALTER USER bob IDENTIFIED BY 'pw1'",
            "ALTER USER bob IDENTIFIED BY '[MASKED:password-assignment]'",
        ),
        ("password = next_token();", "password = next_token();"),
        ("token: password", "token: password"),
        ("secret_key = os.environ", "secret_key = os.environ"),
    ];
    for (input, want) in cases {
        let got = String::from_utf8(m.mask(input.as_bytes())).unwrap();
        assert_eq!(&got, want, "{input}");
    }
}
