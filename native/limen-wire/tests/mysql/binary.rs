//! Binary-protocol rows: a hand-built row in the layout of MariaDB's
//! "Binary resultset row" page, and the rewriter against decode, change,
//! encode (proptest).
use crate::R;
use limen_wire::mysql::binary::{
    encode_binary_row, parse_binary_row, types::*, BinaryRowRewriter, BinaryValue,
};
use limen_wire::mysql::resultset::{Action, Rewrite};
use limen_wire::mysql::write_packet;
use proptest::prelude::*;

#[test]
fn a_row_of_each_layout() -> R {
    let types = [LONGLONG, VAR_STRING, NULL, DATE, DOUBLE, TINY];
    // 0x00, bitmap (6 + 9) / 8 = 1 byte: column 2 NULL -> bit 4.
    let mut row = vec![0x00, 0b0001_0000];
    row.extend_from_slice(&7u64.to_le_bytes());
    row.extend_from_slice(b"\x03abc");
    row.extend_from_slice(&[4, 0xea, 0x07, 12, 24]); // 2026-12-24
    row.extend_from_slice(&1.5f64.to_le_bytes());
    row.push(0xff);
    let v = parse_binary_row(&row, &types)?;
    assert_eq!(v[0], BinaryValue::Fixed(&7u64.to_le_bytes()));
    assert_eq!(v[1], BinaryValue::Str(b"abc"));
    assert_eq!(v[2], BinaryValue::Null);
    assert_eq!(v[3], BinaryValue::Temporal(&[0xea, 0x07, 12, 24]));
    let mut again = Vec::new();
    encode_binary_row(&mut again, &types, &v)?;
    assert_eq!(again, row);
    // Truncated, trailing, wrong header, undefined type: errors.
    assert!(parse_binary_row(&row[..row.len() - 1], &types).is_err());
    assert!(parse_binary_row(&[row.as_slice(), &[0]].concat(), &types).is_err());
    assert!(parse_binary_row(&[&[1u8][..], &row[1..]].concat(), &types).is_err());
    assert!(parse_binary_row(&row, &[0x20, 0, 0, 0, 0, 0]).is_err());
    // Masking: the string replaced, the integer made NULL.
    let mut rw = BinaryRowRewriter::new(1 << 20);
    let mut out = Vec::new();
    let (r, next) = rw.try_rewrite(&row, &types, 5, &mut out, |i, _, buf| match i {
        0 => Action::Null,
        1 => {
            buf.extend_from_slice(b"[MASKED]");
            Action::Replace
        }
        _ => Action::Keep,
    })?;
    assert_eq!((r, next), (Rewrite::Changed, 6));
    let masked = parse_binary_row(&out[4..], &types)?;
    assert_eq!(masked[0], BinaryValue::Null);
    assert_eq!(masked[1], BinaryValue::Str(b"[MASKED]"));
    assert_eq!(masked[3..], v[3..]);
    // Replacing a number is refused; nothing is written.
    let mut out = Vec::new();
    let e = rw
        .try_rewrite(&row, &types, 5, &mut out, |i, _, buf| {
            buf.push(b'0');
            if i == 0 {
                Action::Replace
            } else {
                Action::Keep
            }
        })
        .err()
        .ok_or("replaced a number")?;
    assert!(!e.is_remote());
    assert!(out.is_empty());
    Ok(())
}

fn column() -> impl Strategy<Value = (u8, Option<Vec<u8>>)> {
    prop_oneof![
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|v| (VAR_STRING, v)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 8)).prop_map(|v| (LONGLONG, v)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12))
            .prop_map(|v| (DATETIME, v)),
        Just((NULL, None)),
    ]
}

fn value(t: u8, v: &Option<Vec<u8>>) -> BinaryValue<'_> {
    match (t, v) {
        (_, None) | (NULL, _) => BinaryValue::Null,
        (VAR_STRING, Some(b)) => BinaryValue::Str(b),
        (LONGLONG, Some(b)) => BinaryValue::Fixed(b),
        (_, Some(b)) => BinaryValue::Temporal(b),
    }
}

proptest! {
    #[test]
    fn rewriter_matches_decode_change_encode(
        cols in proptest::collection::vec(column(), 0..20),
        plan in proptest::collection::vec(0u8..3, 20),
    ) {
        let types: Vec<u8> = cols.iter().map(|c| c.0).collect();
        let values: Vec<BinaryValue<'_>> = cols.iter().map(|(t, v)| value(*t, v)).collect();
        let mut row = Vec::new();
        encode_binary_row(&mut row, &types, &values).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let parsed = parse_binary_row(&row, &types).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&parsed, &values);
        // 1: NULL; 2: replace strings with "#" + value.
        let expected: Vec<Vec<u8>> = values.iter().map(|v| match v {
            BinaryValue::Str(s) => [b"#", *s].concat(),
            _ => Vec::new(),
        }).collect();
        let want: Vec<BinaryValue<'_>> = values.iter().enumerate().map(|(i, v)| match (plan[i], v) {
            (1, _) => BinaryValue::Null,
            (2, BinaryValue::Str(_)) => BinaryValue::Str(&expected[i]),
            _ => *v,
        }).collect();
        let mut rw = BinaryRowRewriter::new(1 << 20);
        let mut out = Vec::new();
        let (r, _) = rw.try_rewrite(&row, &types, 0, &mut out, |i, v, buf| match (plan[i], v) {
            (1, _) => Action::Null,
            (2, BinaryValue::Str(s)) => { buf.push(b'#'); buf.extend_from_slice(s); Action::Replace }
            _ => Action::Keep,
        }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut want_row = Vec::new();
        encode_binary_row(&mut want_row, &types, &want).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match r {
            Rewrite::Unchanged => prop_assert_eq!(&want_row, &row),
            Rewrite::Changed => {
                let mut framed = Vec::new();
                write_packet(&mut framed, 0, &want_row);
                prop_assert_eq!(out, framed);
            }
        }
    }
}
