//! The literal-insensitive key of a statement: spans, twins, bounds.
use proptest::prelude::*;

use super::{check_twin, constants, literal_key, proven};

const PIECES: &[&str] = &[
    "SELECT ",
    " FROM t",
    " WHERE ",
    "a",
    "b1",
    "=",
    " ",
    "'",
    "''",
    "--",
    "/*",
    "(",
    ")",
    ",",
    ";",
    "-",
    ".",
    "$1",
    "\"",
    "\\",
    "E",
    "x",
    "EXPLAIN (ANALYZE ",
    "\n",
    "é",
    "_",
];

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(PIECES).prop_map(str::to_owned),
        (0u64..10_000_000_000_000).prop_map(|n| n.to_string()),
        "[a-z '\\\\.;-]{0,6}".prop_map(|t| format!("'{}'", t.replace('\'', "''"))),
    ]
}

proptest! {
    #[test]
    fn a_key_is_its_text_but_the_constants(
        parts in proptest::collection::vec(piece(), 0..16),
        seed in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let sql = parts.concat();
        prop_assert_eq!(check_twin(sql.as_bytes(), &seed), Ok(()));
    }
}

#[test]
fn constants_are_where_the_key_marks_them() {
    let sql = b"SELECT 'a''b', 12 FROM t WHERE x = - 3";
    let (key, spans) = constants(sql).unwrap();
    assert_eq!(Some(key), literal_key(sql));
    let texts: Vec<&[u8]> = spans.iter().map(|&(a, b)| &sql[a..b]).collect();
    assert_eq!(texts, [&b"'a''b'"[..], b"12", b"3"]);
}

#[test]
fn proven_only_when_every_constant_is_an_a_const() {
    let sql = b"SELECT 'a', 12 FROM t WHERE x = - 3";
    // 'a' at 7, 12 at 12, the sign of 3 at 32
    assert!(proven(sql, &[7, 12, 32]));
    assert!(proven(sql, &[7, 12, 34, 99]));
    assert!(!proven(sql, &[7, 12]));
    assert!(!proven(sql, &[12, 32]));
    assert!(proven(b"SELECT a FROM t", &[]));
    assert!(!proven(b"SELECT 1 -- c", &[7]));
    assert!(!proven(b"SELECT -(3)", &[7]));
}

fn key(s: &str) -> Option<Vec<u8>> {
    literal_key(s.as_bytes())
}

#[test]
fn literals_of_one_kind_share_a_key() {
    let a = key("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;");
    assert!(a.is_some());
    assert_eq!(
        a,
        key("SELECT abalance FROM pgbench_accounts WHERE aid = 7;")
    );
    assert_eq!(key("SELECT 'it''s', 1"), key("SELECT 'x', 2147483647"));
    assert_eq!(key("SELECT t1.c2 FROM t1"), key("SELECT t1.c2 FROM t1"));
}

#[test]
fn kinds_and_everything_else_stay_apart() {
    assert_ne!(key("SELECT 1"), key("SELECT 2147483648"));
    assert_ne!(key("SELECT 1"), key("SELECT '1'"));
    assert_ne!(
        key("SELECT a FROM t WHERE id = 1"),
        key("SELECT a FROM t WHERE id  = 1")
    );
    assert_ne!(key("SELECT a FROM t"), key("SELECT b FROM t"));
    assert_eq!(key("SELECT 00000000000000000001"), key("SELECT 5"));
}

#[test]
fn gives_up_on_what_it_does_not_track() {
    for s in [
        "SELECT 1 -- c",
        "SELECT /* c */ 1",
        "SELECT $1",
        "SELECT $$x$$",
        "SELECT \"Id\" FROM t",
        "SELECT E'a'",
        "SELECT x'1f'",
        "SELECT U&'a'",
        "SELECT 'a\\'",
        "SELECT 1.5",
        "SELECT .5",
        "SELECT 1e5",
        "SELECT 0x1f",
        "SELECT 1_000",
        "SELECT 'open",
        "SELECT 'é'",
        "SELECT \u{1}1",
    ] {
        assert_eq!(key(s), None, "{s}");
    }
}
