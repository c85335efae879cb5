#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::head;
use crate::builder::{build_regex, parse_bytes_pattern};
use crate::detectors::BUILTIN;
use proptest::prelude::*;
use regex_automata::meta::Regex;
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input};

/// Pieces that make matches of every branch of the head likely, and its
/// edge cases: every key word in both cases and with and without `_`,
/// quotes, escaped quotes, blanks up to and past the limit of 3, every
/// byte that ends a value, and runs around the 256-byte cap.
const PIECES: &[&str] = &[
    "password",
    "PassWord",
    "passwd",
    "passphrase",
    "pwd",
    "PWD",
    "secret",
    "secret_key",
    "secretkey",
    "SecretKey",
    "client_secret",
    "clientsecret",
    "api_key",
    "apikey",
    "API_KEY",
    "access_token",
    "accesstoken",
    "auth_token",
    "authtoken",
    "refresh_token",
    "refreshtoken",
    "private_key",
    "privatekey",
    "credential",
    "credentials",
    "token",
    "TOKEN",
    "identified",
    "IDENTIFIED",
    " by",
    " BY",
    "by",
    "_",
    "key",
    "s",
    "=",
    ":",
    "==",
    "\"",
    "'",
    "\\",
    "\\\"",
    "\\'",
    " ",
    "  ",
    "    ",
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "(",
    ")",
    ";",
    ",",
    "&",
    "<",
    ">",
    "{",
    "}",
    "[",
    "]",
    "$x",
    "ab",
    "abc",
    "hunter2",
    "S3cr3t!",
    "a b",
    "x",
    ".",
    "/",
    "\u{e9}",
    "\0",
];

fn run(n: usize) -> String {
    "a".repeat(n)
}

/// A haystack of pieces, sometimes with a run near 256 bytes.
fn hay() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        8 => prop::sample::select(PIECES).prop_map(str::to_string),
        1 => (250usize..260).prop_map(run),
    ];
    prop::collection::vec(piece, 0..20).prop_map(|p| p.concat().into_bytes())
}

fn reference() -> (Regex, Captures) {
    let spec = BUILTIN
        .iter()
        .find(|s| s.name == "password-assignment")
        .unwrap();
    let hir = parse_bytes_pattern(spec.name, spec.pattern).unwrap();
    let re = build_regex(std::slice::from_ref(&hir), true).unwrap();
    let caps = re.create_captures();
    (re, caps)
}

/// The meta regex's match at `s` and its first group that took part.
fn want(
    re: &Regex,
    caps: &mut Captures,
    hay: &[u8],
    s: usize,
) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let input = Input::new(hay).span(s..hay.len()).anchored(Anchored::Yes);
    re.search_captures(&input, caps);
    let m = caps.get_match()?.range();
    let g = (1..caps.group_len()).find_map(|g| caps.get_group(g))?;
    Some((m, g.range()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// At every start, the same match and secret as the meta regex with
    /// captures (the byte before the start as look-behind).
    #[test]
    fn same_as_captures(hay in hay()) {
        let (re, mut caps) = reference();
        for s in 0..=hay.len() {
            let before = s.checked_sub(1).map(|i| hay[i]);
            let got = head(&hay, s, before);
            prop_assert_eq!(got.clone(), want(&re, &mut caps, &hay, s), "at {} in {:?}", s,
                String::from_utf8_lossy(&hay));
        }
    }

    /// A look-behind other than the byte before (an escape ends there):
    /// the same as the meta regex on the bytes with that byte put before.
    #[test]
    fn look_behind_given(rest in hay(), pre in prop::sample::select(b"a_ \\\n(0".to_vec())) {
        let (re, mut caps) = reference();
        let mut full = vec![pre];
        full.extend_from_slice(&rest);
        let shift = |(m, g): (std::ops::Range<usize>, std::ops::Range<usize>)| {
            (m.start + 1..m.end + 1, g.start + 1..g.end + 1)
        };
        prop_assert_eq!(
            head(&rest, 0, Some(pre)).map(shift),
            want(&re, &mut caps, &full, 1),
            "after {:?} in {:?}", pre as char, String::from_utf8_lossy(&rest)
        );
    }
}

#[test]
fn examples() {
    let at = |hay: &[u8]| head(hay, 0, None);
    assert_eq!(at(b"password=hunter2;"), Some((0..16, 9..16)));
    assert_eq!(at(b"password: \"a b\""), Some((0..15, 11..14)));
    assert_eq!(at(b"password = 'xy\\'"), Some((0..16, 12..14)));
    assert_eq!(at(b"token==abc"), Some((0..10, 6..10)));
    assert_eq!(at(b"PASSWORD 'x\\y'"), Some((0..14, 10..13)));
    assert_eq!(at(b"token\\\": \\\"abc\\\""), Some((0..16, 11..14)));
    assert_eq!(at(b"secret_key = 'a b'"), Some((0..18, 14..17)));
    assert_eq!(at(b"credentials: xyz"), Some((0..16, 13..16)));
    assert_eq!(at(b"identified \t by  'pw'"), Some((0..21, 18..20)));
    assert_eq!(at(b"password = next_token();"), Some((0..21, 11..21)));
    assert_eq!(at(b"password    = abc"), None);
    assert_eq!(at(b"password =    abc"), None);
    assert_eq!(at(b"password = ab"), None);
    assert_eq!(at(b"password = \"\""), None);
    assert_eq!(head(b"xpassword 'a'", 1, Some(b'x')), None);
    assert_eq!(head(b"(password 'a'", 1, Some(b'(')), Some((1..13, 11..12)));
    let long = [&b"token=\""[..], &[b'a'; 257], b"\""].concat();
    assert_eq!(at(&long), None);
    let cap = [&b"token="[..], &[b'a'; 300]].concat();
    assert_eq!(at(&cap), Some((0..262, 6..262)));
}
