//! The relay's memo of masked column definitions (`relay/names.rs`), a
//! fast path: the same bytes and events as the relay without it
//! (differential, over scripts of result sets whose definitions repeat,
//! with secret statements and masker changes in between), and the names
//! the client decodes are those the current masker makes.
use crate::relay_util::*;
use limen_wire::mysql::binary::types::VAR_STRING;
use limen_wire::mysql::relay::SECRET_NAME;
use limen_wire::mysql::{ColumnDefinition, ContentMasker, Expect, ServerRelay};
use proptest::prelude::*;

/// Replaces every "secret" with `[M<n>]`: maskers that differ by `n`.
#[derive(Clone, Copy, Debug)]
struct Mark(u8);

impl ContentMasker for Mark {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        let mut n = 0;
        let mut rest = value;
        while !rest.is_empty() {
            if rest.starts_with(b"secret") {
                out.extend_from_slice(format!("[M{}]", self.0).as_bytes());
                rest = &rest[6..];
                n += 1;
            } else {
                out.push(rest[0]);
                rest = &rest[1..];
            }
        }
        n
    }
}

/// (table, name, org_name) of a column; an empty org_name is an expression.
type Names = (String, String, String);

fn def(n: &Names) -> Vec<u8> {
    let mut p = Vec::new();
    ColumnDefinition {
        catalog: b"def",
        schema: b"db",
        table: n.0.as_bytes(),
        org_table: n.0.as_bytes(),
        name: n.1.as_bytes(),
        org_name: n.2.as_bytes(),
        charset: 33,
        column_type: VAR_STRING,
        ..Default::default()
    }
    .encode(&mut p);
    p
}

/// A result set of these columns and one row.
fn response(seq: u8, cols: &[Names]) -> Vec<u8> {
    let mut resp = Resp::new(CAPS_DEPRECATE, seq);
    resp.packet(&[cols.len() as u8]);
    for c in cols {
        resp.packet(&def(c));
    }
    let row: Vec<Option<&[u8]>> = cols.iter().map(|_| Some(&b"v"[..])).collect();
    resp.text_row(&row);
    resp.rows_end(0);
    resp.bytes
}

/// One statement of a script: its columns, whether it held a secret, and
/// the masker to switch to first (None: keep).
type Step = (Vec<Names>, bool, Option<Option<u8>>);

fn word() -> impl Strategy<Value = String> {
    // Few words: definitions repeat, so the memo is hit.
    prop_oneof![
        Just(String::new()),
        Just("c".to_owned()),
        Just("secret".to_owned()),
        Just("a_secret_b".to_owned()),
        Just("[MASKED:sql-secret]".to_owned()),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let col = (word(), word(), word());
    let step = (
        proptest::collection::vec(col, 1..4),
        any::<bool>(),
        prop_oneof![3 => Just(None), 1 => proptest::option::of(0u8..3).prop_map(Some)],
    );
    proptest::collection::vec(step, 1..12)
}

/// Runs the script; the client's bytes per statement.
fn run(script: &[Step], memo: bool) -> Result<(Vec<Vec<u8>>, usize), String> {
    let mut relay = ServerRelay::new(Some(Mark(0)), CAPS_DEPRECATE, 1 << 20);
    relay.set_name_memo(memo);
    let mut outs = Vec::new();
    for (i, (cols, secret, masker)) in script.iter().enumerate() {
        if let Some(m) = masker {
            relay.set_masker(m.map(Mark));
        }
        let seq = i as u8;
        relay.set_secret_statement(*secret);
        relay
            .expect(Expect::Query, seq, None, None)
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        relay
            .try_feed(&response(seq, cols), &mut out)
            .map_err(|e| e.to_string())?;
        if !relay.is_done() {
            return Err("the response did not end".into());
        }
        outs.push(out);
    }
    Ok((outs, relay.remembered_names()))
}

fn masked(m: Option<u8>, s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    match m {
        Some(n) => {
            Mark(n).mask_into(s.as_bytes(), &mut out);
        }
        None => out.extend_from_slice(s.as_bytes()),
    }
    out
}

proptest! {
    #[test]
    fn the_memo_changes_no_byte(script in steps()) {
        let (with, _) = run(&script, true).map_err(TestCaseError::fail)?;
        let (without, none) = run(&script, false).map_err(TestCaseError::fail)?;
        prop_assert_eq!(none, 0);
        prop_assert_eq!(&with, &without);
        // And the names are the current masker's (or the secret name).
        let mut current = Some(0u8);
        for (i, ((cols, secret, masker), out)) in script.iter().zip(&with).enumerate() {
            if let Some(m) = masker {
                current = *m;
            }
            let d = decode(out, CAPS_DEPRECATE, Expect::Query, i as u8, &[])
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(d.done);
            let expected: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = cols
                .iter()
                .map(|(t, n, o)| {
                    let rename = *secret && o.is_empty() && n.as_bytes() != SECRET_NAME;
                    let name = if rename { SECRET_NAME.to_vec() } else { masked(current, n) };
                    (masked(current, t), name, masked(current, o))
                })
                .collect();
            prop_assert_eq!(d.names, expected);
        }
    }
}

/// A statement run again hits the memo; a new masker empties it, and the
/// names are then masked by the new one.
#[test]
fn repeats_are_remembered_until_the_masker_changes() -> crate::R {
    let cols = vec![("t".to_owned(), "secret".to_owned(), "secret".to_owned())];
    let mut relay = ServerRelay::new(Some(Mark(1)), CAPS_DEPRECATE, 1 << 20);
    let mut names = Vec::new();
    for (seq, masker) in [(0u8, None), (1, None), (2, Some(Mark(2))), (3, None)] {
        if let Some(m) = masker {
            relay.set_masker(Some(m));
            assert_eq!(relay.remembered_names(), 0);
        }
        relay.expect(Expect::Query, seq, None, None)?;
        let mut out = Vec::new();
        relay.try_feed(&response(seq, &cols), &mut out)?;
        assert_eq!(relay.remembered_names(), 1);
        let d = decode(&out, CAPS_DEPRECATE, Expect::Query, seq, &[])?;
        names.push(d.names[0].1.clone());
    }
    assert_eq!(names, [&b"[M1]"[..], b"[M1]", b"[M2]", b"[M2]"]);
    Ok(())
}

/// An expression column of a secret statement is renamed, and not
/// remembered (its bytes alone do not say what it becomes).
#[test]
fn secret_statements_bypass_the_memo() -> crate::R {
    let cols = vec![("".to_owned(), "HEX(x)".to_owned(), "".to_owned())];
    let mut relay = ServerRelay::new(Some(Mark(1)), CAPS_DEPRECATE, 1 << 20);
    let mut names = Vec::new();
    for (seq, secret) in [(0u8, false), (1, true), (2, false)] {
        relay.set_secret_statement(secret);
        relay.expect(Expect::Query, seq, None, None)?;
        let mut out = Vec::new();
        relay.try_feed(&response(seq, &cols), &mut out)?;
        let d = decode(&out, CAPS_DEPRECATE, Expect::Query, seq, &[])?;
        names.push(d.names[0].1.clone());
    }
    assert_eq!(names, [&b"HEX(x)"[..], SECRET_NAME, b"HEX(x)"]);
    Ok(())
}
