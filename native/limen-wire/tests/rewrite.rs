//! DataRow rewriting: fast path, replacement, NULLing, lengths, caps, and
//! a property test against an independent re-encoding.
use limen_wire::pg::backend::DataRow;
use limen_wire::pg::{Action, BackendDecoder, BackendMessage, Rewrite, RowRewriter};
use limen_wire::ErrorKind;
use proptest::prelude::*;

type R = Result<(), Box<dyn std::error::Error>>;

fn row(values: &[Option<&[u8]>]) -> Result<Vec<u8>, limen_wire::Error> {
    let mut out = Vec::new();
    DataRow::encode_values(values, &mut out)?;
    Ok(out)
}

fn decode_row(bytes: &[u8]) -> Result<Vec<Option<Vec<u8>>>, Box<dyn std::error::Error>> {
    let mut d = BackendDecoder::default();
    d.receive_data(bytes)?;
    let (f, m) = d.next_message()?.ok_or("incomplete rewritten row")?;
    assert_eq!(
        f.raw().len(),
        bytes.len(),
        "rewritten row is exactly one message"
    );
    let BackendMessage::DataRow(r) = m else {
        return Err("not a DataRow".into());
    };
    Ok(r.values.iter().map(|v| v.map(<[u8]>::to_vec)).collect())
}

#[test]
fn nothing_changed_writes_nothing() -> R {
    let bytes = row(&[Some(b"1"), None, Some(b"ada@example.com")])?;
    let mut rw = RowRewriter::default();
    let mut out = vec![0xaa];
    let mut seen = Vec::new();
    let r = rw.try_rewrite(&bytes[5..], &mut out, |i, v, _| {
        seen.push((i, v.map(<[u8]>::to_vec)));
        Action::Keep
    })?;
    assert_eq!(r, Rewrite::Unchanged);
    assert_eq!(out, vec![0xaa], "fast path writes nothing");
    assert_eq!(
        seen,
        vec![
            (0, Some(b"1".to_vec())),
            (1, None),
            (2, Some(b"ada@example.com".to_vec()))
        ]
    );
    Ok(())
}

#[test]
fn replacing_equal_bytes_and_nulling_a_null_count_as_unchanged() -> R {
    let bytes = row(&[Some(b"x"), None])?;
    let mut out = Vec::new();
    let r = RowRewriter::default().try_rewrite(&bytes[5..], &mut out, |_, v, scratch| match v {
        Some(b) => {
            scratch.extend_from_slice(b);
            Action::Replace
        }
        None => Action::Null,
    })?;
    assert_eq!(r, Rewrite::Unchanged);
    assert!(out.is_empty());
    Ok(())
}

#[test]
fn mask_one_column_rewrites_lengths() -> R {
    let bytes = row(&[
        Some(b"1"),
        Some(b"ada@example.com"),
        Some(b"4111111111111111"),
        None,
    ])?;
    let mut out = b"prefix".to_vec();
    let r = RowRewriter::default().try_rewrite(&bytes[5..], &mut out, |i, _, scratch| match i {
        1 => {
            scratch.extend_from_slice(b"[email]");
            Action::Replace
        }
        2 => Action::Null,
        _ => Action::Keep,
    })?;
    assert_eq!(r, Rewrite::Changed);
    assert_eq!(&out[..6], b"prefix", "output is appended");
    let got = decode_row(&out[6..])?;
    assert_eq!(
        got,
        vec![Some(b"1".to_vec()), Some(b"[email]".to_vec()), None, None]
    );
    assert_eq!(
        out[6..],
        row(&[Some(b"1"), Some(b"[email]"), None, None])?[..]
    );
    Ok(())
}

#[test]
fn malformed_body_is_a_remote_error_and_leaves_output_alone() {
    let mut out = vec![1, 2, 3];
    let body = [0, 2, 0, 0, 0, 1, b'a', 0, 0, 0, 9];
    let e = RowRewriter::default()
        .try_rewrite(&body, &mut out, |_, _, s| {
            s.push(b'z');
            Action::Replace
        })
        .err();
    assert_eq!(
        e.as_ref().map(|e| (e.kind(), e.is_remote())),
        Some((ErrorKind::Truncated, true))
    );
    assert_eq!(out, vec![1, 2, 3]);
}

#[test]
fn growth_past_the_cap_is_a_local_error() -> R {
    let bytes = row(&[Some(b"short")])?;
    let mut out = Vec::new();
    let e = RowRewriter::new(64)
        .try_rewrite(&bytes[5..], &mut out, |_, _, s| {
            s.resize(100, b'*');
            Action::Replace
        })
        .err()
        .ok_or("accepted an oversized row")?;
    assert_eq!(
        (e.kind(), e.is_remote()),
        (ErrorKind::MessageTooLarge, false)
    );
    assert!(out.is_empty());
    Ok(())
}

fn values_strategy() -> impl Strategy<Value = Vec<Option<Vec<u8>>>> {
    prop::collection::vec(
        prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        0..12,
    )
}

#[derive(Clone, Debug)]
enum Choice {
    Keep,
    Null,
    Replace(Vec<u8>),
}

fn choice() -> impl Strategy<Value = Choice> {
    prop_oneof![
        Just(Choice::Keep),
        Just(Choice::Null),
        prop::collection::vec(any::<u8>(), 0..50).prop_map(Choice::Replace),
    ]
}

proptest! {
    #[test]
    fn rewrite_matches_reencoding(values in values_strategy(), choices in prop::collection::vec(choice(), 12)) {
        let borrowed: Vec<Option<&[u8]>> = values.iter().map(|v| v.as_deref()).collect();
        let bytes = row(&borrowed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut out = Vec::new();
        let mut rw = RowRewriter::default();
        let r = rw.try_rewrite(&bytes[5..], &mut out, |i, _, scratch| match &choices[i] {
            Choice::Keep => Action::Keep,
            Choice::Null => Action::Null,
            Choice::Replace(b) => { scratch.extend_from_slice(b); Action::Replace }
        }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected: Vec<Option<Vec<u8>>> = values.iter().zip(&choices).map(|(v, c)| match c {
            Choice::Keep => v.clone(),
            Choice::Null => None,
            Choice::Replace(b) => Some(b.clone()),
        }).collect();
        match r {
            Rewrite::Unchanged => {
                prop_assert!(out.is_empty());
                prop_assert_eq!(&expected, &values);
            }
            Rewrite::Changed => {
                prop_assert_ne!(&expected, &values);
                let exp_borrowed: Vec<Option<&[u8]>> = expected.iter().map(|v| v.as_deref()).collect();
                let want = row(&exp_borrowed).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(out, want);
            }
        }
    }
}
