//! The server-side relay on hand-built responses: each response shape,
//! masking by content and by column plan (the relay across commands:
//! `relay_commands.rs`).
use std::sync::Arc;

use crate::relay_util::*;
use crate::R;
use limen_wire::mysql::binary::{types::*, BinaryValue};
use limen_wire::mysql::caps::*;
use limen_wire::mysql::relay::SECRET_NAME;
use limen_wire::mysql::{ColumnDefinition, ColumnPlan, Expect, RelayEvent, ServerRelay};

pub(crate) fn relay(caps: u64) -> ServerRelay<TestMasker> {
    ServerRelay::new(Some(TestMasker), caps, 16 << 20)
}

pub(crate) fn plan() -> Arc<ColumnPlan> {
    Arc::new(ColumnPlan::new(
        vec![(
            Some(b"shop".to_vec()),
            b"users".to_vec(),
            b"email".to_vec(),
            b"[E]".to_vec(),
        )],
        Some(b"[D]".to_vec()),
        None,
    ))
}

pub(crate) fn b(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

pub(crate) const USERS: [Col<'static>; 3] = [
    ("shop", "users", "id", LONG),
    ("shop", "USERS", "Email", VAR_STRING),
    ("shop", "users", "note", BLOB),
];

#[test]
fn text_rows_masked_by_content_and_plan_both_eof_modes() -> R {
    for caps in [CAPS, CAPS_DEPRECATE] {
        let mut resp = Resp::new(caps, 0);
        resp.columns(&USERS)
            .text_row(&[Some(b"1"), Some(b"a@b.c"), Some(b"my secret!")])
            .text_row(&[Some(b"2"), None, None])
            .text_row(&[Some(b"3"), Some(b""), Some(b"plain")])
            .rows_end(SERVER_STATUS_AUTOCOMMIT);
        let mut r = relay(caps);
        r.expect(Expect::Query, 0, Some(plan()), None)?;
        let mut out = Vec::new();
        let events = r.try_feed(&resp.bytes, &mut out)?;
        assert!(r.is_done());
        assert_eq!(r.status(), SERVER_STATUS_AUTOCOMMIT);
        assert_eq!(r.masked_values(), 2, "two non-NULL emails replaced");
        let d = decode(&out, caps, Expect::Query, 0, &[])?;
        assert!(d.done);
        assert_eq!(
            d.text_rows,
            vec![
                vec![b("1"), b("[E]"), b("my [MASKED]!")],
                vec![b("2"), None, None],
                vec![b("3"), b("[E]"), b("plain")],
            ]
        );
        assert_eq!(d.seqs, (1..=d.seqs.len() as u8).collect::<Vec<_>>());
        assert!(matches!(
            events.as_slice(),
            [RelayEvent::Ok {
                status: SERVER_STATUS_AUTOCOMMIT,
                ..
            }]
        ));
    }
    Ok(())
}

#[test]
fn derived_columns_and_unlisted_tables() -> R {
    let caps = CAPS_DEPRECATE;
    let mut resp = Resp::new(caps, 0);
    resp.columns(&[
        ("", "", "", VAR_STRING),
        ("shop", "orders", "total", NEWDECIMAL),
        ("shop", "users", "id", LONG),
    ])
    .text_row(&[Some(b"concat"), Some(b"9.50"), Some(b"7")])
    .rows_end(0);
    let strict = Arc::new(ColumnPlan::new(
        vec![],
        Some(b"[D]".to_vec()),
        Some(vec![(b"shop".to_vec(), b"users".to_vec())]),
    ));
    let mut r = relay(caps);
    r.expect(Expect::Query, 0, Some(strict), None)?;
    let mut out = Vec::new();
    r.try_feed(&resp.bytes, &mut out)?;
    let d = decode(&out, caps, Expect::Query, 0, &[])?;
    assert_eq!(d.text_rows, vec![vec![b("[D]"), b("[D]"), b("7")]]);
    Ok(())
}

fn named(cols: &[(&str, &str, &str)]) -> Vec<Vec<u8>> {
    cols.iter()
        .map(|(table, name, org_name)| {
            let mut p = Vec::new();
            ColumnDefinition {
                catalog: b"def",
                table: table.as_bytes(),
                org_table: table.as_bytes(),
                name: name.as_bytes(),
                org_name: org_name.as_bytes(),
                charset: 33,
                column_type: VAR_STRING,
                ..Default::default()
            }
            .encode(&mut p);
            p
        })
        .collect()
}

#[test]
fn column_names_are_masked_and_expression_names_of_secret_statements_replaced() -> R {
    let cols = [
        ("users", "secret_note", "secret_note"),
        ("", "AES_ENCRYPT('a', 'k3y')", ""),
        ("users", "plain", "plain"),
    ];
    for (secret, caps) in [(false, CAPS), (true, CAPS), (true, CAPS_DEPRECATE)] {
        for expect in [Expect::Query, Expect::Prepare] {
            let mut resp = Resp::new(caps, 0);
            if expect == Expect::Prepare {
                resp.packet(&[0, 1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0]);
                for def in named(&cols) {
                    resp.packet(&def);
                }
                if caps & CLIENT_DEPRECATE_EOF == 0 {
                    resp.packet(&[0xfe, 0, 0, 0, 0]);
                }
            } else {
                resp.packet(&[3]);
                for def in named(&cols) {
                    resp.packet(&def);
                }
                if caps & CLIENT_DEPRECATE_EOF == 0 {
                    resp.packet(&[0xfe, 0, 0, 0, 0]);
                }
                resp.text_row(&[Some(b"x"), Some(b"y"), Some(b"z")])
                    .rows_end(0);
            }
            let mut r = relay(caps);
            r.set_secret_statement(secret);
            r.expect(expect, 0, None, None)?;
            let mut out = Vec::new();
            r.try_feed(&resp.bytes, &mut out)?;
            assert!(r.is_done());
            let d = decode(&out, caps, expect, 0, &[])?;
            assert!(d.done);
            assert_eq!(d.seqs, (1..=d.seqs.len() as u8).collect::<Vec<_>>());
            let expr: &[u8] = if secret {
                SECRET_NAME
            } else {
                b"AES_ENCRYPT('a', 'k3y')"
            };
            let names: Vec<(&[u8], &[u8], &[u8])> = d
                .names
                .iter()
                .map(|(t, n, o)| (t.as_slice(), n.as_slice(), o.as_slice()))
                .collect();
            assert_eq!(
                names,
                vec![
                    (&b"users"[..], &b"[MASKED]_note"[..], &b"[MASKED]_note"[..]),
                    (&b""[..], expr, &b""[..]),
                    (&b"users"[..], &b"plain"[..], &b"plain"[..]),
                ],
                "secret={secret} caps={caps:x} {expect:?}"
            );
        }
    }
    // The flag holds for one response only.
    let mut r = relay(CAPS_DEPRECATE);
    r.set_secret_statement(true);
    r.expect(Expect::Query, 0, None, None)?;
    let mut one = Resp::new(CAPS_DEPRECATE, 0);
    one.packet(&[1]);
    one.packet(&named(&cols[1..2])[0]);
    one.text_row(&[Some(b"v")]).rows_end(0);
    let mut out = Vec::new();
    r.try_feed(&one.bytes, &mut out)?;
    r.expect(Expect::Query, 0, None, None)?;
    out.clear();
    r.try_feed(&one.bytes, &mut out)?;
    let d = decode(&out, CAPS_DEPRECATE, Expect::Query, 0, &[])?;
    assert_eq!(d.names[0].1, b"AES_ENCRYPT('a', 'k3y')".to_vec());
    Ok(())
}

#[test]
fn binary_rows_replace_strings_and_null_numbers() -> R {
    for caps in [CAPS, CAPS_DEPRECATE] {
        let cols = [
            ("shop", "users", "id", LONG),
            ("shop", "users", "email", VAR_STRING),
            ("", "", "", LONGLONG),
            ("", "", "", DATETIME),
            ("shop", "users", "note", VAR_STRING),
        ];
        let types: Vec<u8> = cols.iter().map(|c| c.3).collect();
        let mut resp = Resp::new(caps, 0);
        resp.columns(&cols)
            .binary_row(
                &types,
                &[
                    BinaryValue::Fixed(&5u32.to_le_bytes()),
                    BinaryValue::Str(b"x@y.z"),
                    BinaryValue::Fixed(&9u64.to_le_bytes()),
                    BinaryValue::Temporal(&[0xea, 0x07, 12, 24]),
                    BinaryValue::Str(b"a secret"),
                ],
            )
            .binary_row(
                &types,
                &[
                    BinaryValue::Fixed(&6u32.to_le_bytes()),
                    BinaryValue::Null,
                    BinaryValue::Null,
                    BinaryValue::Null,
                    BinaryValue::Str(b"ok"),
                ],
            )
            .rows_end(0);
        let mut r = relay(caps);
        r.expect(Expect::Execute, 0, Some(plan()), Some(1))?;
        let mut out = Vec::new();
        r.try_feed(&resp.bytes, &mut out)?;
        let d = decode(&out, caps, Expect::Execute, 0, &[])?;
        assert!(d.done);
        assert_eq!(
            d.binary_rows,
            vec![
                vec![b("\x05\0\0\0"), b("[E]"), None, None, b("a [MASKED]")],
                vec![b("\x06\0\0\0"), None, None, None, b("ok")],
            ]
        );
        assert_eq!(r.masked_values(), 3);
    }
    Ok(())
}
