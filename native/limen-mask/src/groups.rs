//! The secret inside a head match, without a capture search.
//!
//! A head with capture groups masks the first group that took part in the
//! match (`password=hunter2` keeps `password=`). A capture search costs far
//! more than the lazy DFA that found the match (the bounded backtracker
//! clears a visited set the size of the NFA times the span), and on text
//! full of assignments that are code (`password = next_token()`) it runs at
//! every match, before the validator rejects it. For the built-in heads
//! with groups the group follows from the match's bytes alone, by the
//! pattern's structure (each rule below says why); the
//! `password-assignment` head goes further and is matched with its secret
//! by hand (`assignment.rs`); user rules still use captures. Tested
//! against the captures of the meta regex (below).

use core::ops::Range;

/// How a detector's secret is found inside its head match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Group {
    /// By a capture search (user rules, and any head not listed here).
    Captures,
    /// The last `n` bytes: the head ends with its one group, of fixed
    /// length (`aws-secret-access-key`: 40, `bearer-token`: 12).
    Suffix(usize),
    /// `url-credentials`: between the `:` after the user and the final `@`.
    UrlPassword,
    /// `password-assignment`: its match and secret are found together by
    /// hand (`assignment.rs`), never from the match here.
    Assignment,
}

impl Group {
    /// The rule for a built-in detector.
    pub(crate) fn of_builtin(name: &str) -> Group {
        match name {
            "aws-secret-access-key" => Group::Suffix(40),
            "bearer-token" => Group::Suffix(12),
            "url-credentials" => Group::UrlPassword,
            "password-assignment" => Group::Assignment,
            _ => Group::Captures,
        }
    }

    /// The secret's range inside the head match `m` (relative to it), or
    /// `None` to ask the capture search.
    pub(crate) fn secret(self, m: &[u8]) -> Option<Range<usize>> {
        match self {
            Group::Captures => None,
            Group::Suffix(n) => m.len().checked_sub(n).map(|s| s..m.len()),
            Group::UrlPassword => url_password(m),
            Group::Assignment => None,
        }
    }
}

/// `\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/?#@"'<>]{1,128}:([^\s/?#@"'<>]{1,256})@`:
/// the scheme holds no `:`, so the first `:` of the match starts `://`; the
/// user holds no `:`, so the next `:` ends it; the group holds no `@`, so
/// it ends before the match's last byte.
fn url_password(m: &[u8]) -> Option<Range<usize>> {
    let scheme = m.iter().position(|&b| b == b':')?;
    if m.get(scheme..scheme + 3) != Some(b"://") {
        return None;
    }
    let user = scheme + 3;
    let colon = user + m.get(user..)?.iter().position(|&b| b == b':')?;
    let end = m.len().checked_sub(1)?;
    (m.get(end) == Some(&b'@') && colon < end).then_some(colon + 1..end)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::Group;
    use crate::builder::{build_regex, parse_bytes_pattern};
    use crate::detectors::BUILTIN;
    use proptest::prelude::*;
    use regex_automata::{Anchored, Input};

    /// Pieces that make matches of every head with groups likely, and
    /// their edge cases (escaped and mixed quotes, separators inside
    /// values, SQL forms, colons inside URL passwords).
    const PIECES: &[&str] = &[
        "password",
        "PassWord",
        "passwd",
        "pwd",
        "secret_key",
        "client_secret",
        "api_key",
        "token",
        "credentials",
        "identified",
        "IDENTIFIED",
        " by",
        "aws_secret_access_key",
        "secret_access_key",
        "Authorization",
        "authorization",
        "Bearer",
        "basic",
        "https://",
        "ftp://",
        "user",
        "host",
        "@",
        ":",
        "=",
        ">",
        "\"",
        "'",
        "\\",
        "\\\"",
        "\\'",
        " ",
        "\t",
        "\n",
        "(",
        ";",
        ",",
        "=x",
        ":y",
        "abc",
        "hunter2",
        "S3cr3t",
        "AKIAIOSFODNN7EXAMPLEwJalrXUtnFEMIK7MDENG",
        "bPxRfiCYEXAMPLEKEY/+",
        "0123456789",
        "eyJhbGciOiJIUzI1NiJ9",
        ".",
        "/",
        "+",
        "~",
        "\u{e9}",
    ];

    fn hay() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(PIECES), 0..24)
            .prop_map(|p| p.concat().into_bytes())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// At every start where a built-in head with groups matches, the
        /// hand-found secret is the first group that took part in the
        /// meta regex's capture search.
        #[test]
        fn same_secret_as_captures(hay in hay()) {
            for spec in BUILTIN {
                let group = Group::of_builtin(spec.name);
                // The assignment head has its own test (`assignment.rs`).
                if matches!(group, Group::Captures | Group::Assignment) {
                    continue;
                }
                let hir = parse_bytes_pattern(spec.name, spec.pattern).unwrap();
                let re = build_regex(std::slice::from_ref(&hir), true).unwrap();
                let mut caps = re.create_captures();
                for s in 0..=hay.len() {
                    let input = Input::new(&hay).span(s..hay.len()).anchored(Anchored::Yes);
                    re.search_captures(&input, &mut caps);
                    let Some(m) = caps.get_match() else { continue };
                    let want = (1..caps.group_len())
                        .find_map(|g| caps.get_group(g))
                        .map(|g| g.start - s..g.end - s);
                    let got = group.secret(&hay[m.range()]);
                    prop_assert_eq!(got, want, "{} at {} in {:?}", spec.name, s,
                        String::from_utf8_lossy(&hay));
                }
            }
        }
    }

    #[test]
    fn examples() {
        let u = Group::UrlPassword;
        assert_eq!(u.secret(b"https://bob:s3:cret@"), Some(12..19));
        assert_eq!(
            Group::Suffix(12).secret(b"Bearer abcdefghijkl"),
            Some(7..19)
        );
    }
}
