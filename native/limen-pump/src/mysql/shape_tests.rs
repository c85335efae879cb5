use proptest::prelude::*;

use super::{check_twin, constants, literal_key, Kind};

const PIECES: &[&str] = &[
    "SELECT ", " FROM t", " WHERE ", "a", "b1", "=", " ", "'", "''", "--", "-- ", "#", "/*", "/*!",
    "*/", "(", ")", ",", ";", "-", ".", "@", "?", "\"", "\\", "`", "``", "_utf8", "x", "0x", "b",
    "N", "e", "\n", "é", "_", "$", "{",
];

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(PIECES).prop_map(str::to_owned),
        (0u64..10_000_000_000_000).prop_map(|n| n.to_string()),
        "[a-z '\\\\.;#`-]{0,6}".prop_map(|t| format!("'{}'", t.replace('\'', "''"))),
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

fn key(s: &str) -> Option<Vec<u8>> {
    literal_key(s.as_bytes())
}

#[test]
fn constants_are_where_the_key_marks_them() {
    let sql = b"SELECT 'a''b', 12 FROM `t 1` WHERE x = - 3";
    let (k, spans) = constants(sql).unwrap();
    assert_eq!(Some(k), literal_key(sql));
    let texts: Vec<(&[u8], Kind)> = spans.iter().map(|&(a, b, k)| (&sql[a..b], k)).collect();
    assert_eq!(
        texts,
        [
            (&b"'a''b'"[..], Kind::Str),
            (b"12", Kind::Int),
            (b"3", Kind::Int)
        ]
    );
}

#[test]
fn sysbench_texts_share_a_key() {
    let a = key("SELECT c FROM sbtest1 WHERE id=5023");
    assert!(a.is_some());
    assert_eq!(a, key("SELECT c FROM sbtest1 WHERE id=7"));
    assert_eq!(
        key("SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 100"),
        key("SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 4985 AND 5084")
    );
    assert_eq!(
        key("SELECT 'it''s', 1"),
        key("SELECT 'x', 99999999999999999999")
    );
}

#[test]
fn kinds_and_everything_else_stay_apart() {
    assert_ne!(key("SELECT 1"), key("SELECT '1'"));
    assert_ne!(
        key("SELECT a FROM t WHERE id = 1"),
        key("SELECT a FROM t WHERE id  = 1")
    );
    assert_ne!(key("SELECT a FROM t"), key("SELECT b FROM t"));
    assert_ne!(key("SELECT `a` FROM t"), key("SELECT a FROM t"));
    assert_ne!(key("SELECT t1.c FROM t1"), key("SELECT t2.c FROM t1"));
}

#[test]
fn gives_up_on_what_it_does_not_track() {
    for s in [
        "SELECT 1 -- c",
        "SELECT 1--1",
        "SELECT 1 # c",
        "SELECT /* c */ 1",
        "SELECT /*! 1 */",
        "SELECT /*!50000 1 */",
        "SELECT /*M! 1 */",
        "SELECT 1 */",
        "SELECT \"a\"",
        "SELECT `a``b` FROM t",
        "SELECT `open",
        "SELECT 'a\\'b'",
        "SELECT 'a\\\\'",
        "SELECT _utf8'a'",
        "SELECT _binary'a'",
        "SELECT N'a'",
        "SELECT X'1f'",
        "SELECT x'1f'",
        "SELECT b'101'",
        "SELECT 0x1f",
        "SELECT 0b101",
        "SELECT 1e5",
        "SELECT 1.5",
        "SELECT .5",
        "SELECT 1abc FROM t",
        "SELECT t.1c FROM t",
        "SELECT 'a' 'b'",
        "SELECT 'a''",
        "SELECT 'open",
        "SELECT @a",
        "SELECT @'a'",
        "SELECT ?",
        "SELECT 1; DROP TABLE t",
        "SELECT {d '2020-01-01'}",
        "SELECT 'é'",
        "SELECT \u{1}1",
        "SELECT 5'a'",
        "SELECT 'a'5",
    ] {
        assert_eq!(key(s), None, "{s}");
    }
}

#[test]
fn introducers_with_a_space_and_words_with_digits_have_a_key() {
    // `_utf8 'a'` is a constant with a character set: a string token.
    let (_, spans) = constants(b"SELECT _utf8 'a', t1.c2, x$3 FROM t1").unwrap();
    assert_eq!(spans.len(), 1);
}
