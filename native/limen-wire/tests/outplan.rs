//! Output plans in the server relay: positional masks for a simple
//! query's statements and for portals, checked against the
//! RowDescription; binary values; COPY rows; scrubbed errors; and the COPY
//! row rewriter's properties.
use std::sync::Arc;

use limen_wire::pg::backend::{
    encode_fields, CommandComplete, DataRow, FieldDescription, RowDescription, TransactionStatus,
};
use limen_wire::pg::copy::CopyData;
use limen_wire::pg::outplan::{rewrite_copy_row, SCRUBBED};
use limen_wire::pg::{
    BackendDecoder, BackendMessage, ContentMasker, CopyFormat, Limits, OutColumn, OutputPlan,
    ServerRelay,
};
use proptest::prelude::*;

type R = Result<(), Box<dyn std::error::Error>>;

struct NoMask;

impl ContentMasker for NoMask {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        out.extend_from_slice(value);
        0
    }
}

fn field(name: &'static [u8], type_oid: u32, format: i16) -> FieldDescription<'static> {
    FieldDescription {
        name,
        table_oid: 0,
        column_attr: 0,
        type_oid,
        type_size: -1,
        type_modifier: -1,
        format,
    }
}

fn result(
    fields: &[FieldDescription<'_>],
    row: &[Option<&[u8]>],
) -> Result<Vec<u8>, limen_wire::Error> {
    let mut out = Vec::new();
    RowDescription::encode_fields(fields, &mut out)?;
    DataRow::encode_values(row, &mut out)?;
    CommandComplete { tag: b"SELECT 1" }.try_encode(&mut out)?;
    Ok(out)
}

fn ready() -> Vec<u8> {
    let mut out = Vec::new();
    TransactionStatus::Idle.encode_ready_for_query(&mut out);
    out
}

fn col(mask: Option<&[u8]>, name: Option<&[u8]>) -> OutColumn {
    OutColumn {
        mask: mask.map(<[u8]>::to_vec),
        name: name.map(<[u8]>::to_vec),
    }
}

fn plan(cols: Vec<OutColumn>) -> Arc<OutputPlan> {
    Arc::new(OutputPlan {
        prefix: cols,
        ..OutputPlan::default()
    })
}

/// (rows, error messages) of a relay's output.
type Seen = (Vec<Vec<Option<Vec<u8>>>>, Vec<Vec<u8>>);

fn seen(bytes: &[u8]) -> Result<Seen, Box<dyn std::error::Error>> {
    let mut d = BackendDecoder::default();
    d.receive_data(bytes)?;
    let (mut rows, mut errors) = (Vec::new(), Vec::new());
    while let Some((_, m)) = d.next_message()? {
        match m {
            BackendMessage::DataRow(r) => {
                rows.push(r.values.iter().map(|v| v.map(<[u8]>::to_vec)).collect());
            }
            BackendMessage::CopyData(c) => rows.push(vec![Some(c.data.to_vec())]),
            BackendMessage::ErrorResponse(f) => {
                errors.push(f.message().unwrap_or_default().to_vec());
            }
            _ => {}
        }
    }
    Ok((rows, errors))
}

fn relay() -> ServerRelay<NoMask> {
    ServerRelay::new(None, Limits::default())
}

#[test]
fn simple_query_statements_take_their_own_plans_in_their_own_cycle() -> R {
    let mut r = relay();
    // cycle 0 (the handshake's ReadyForQuery is not counted here)
    r.plan_query(vec![
        None,
        Some(plan(vec![col(None, Some(b"id")), col(Some(b"[M]"), None)])),
    ]);
    r.push_sync();
    // registered while cycle 0 is answered: belongs to cycle 1
    r.plan_query(vec![Some(plan(vec![col(Some(b"[N]"), None)]))]);
    r.push_sync();
    let fields = [field(b"id", 23, 0), field(b"s", 25, 0)];
    let mut up = result(&fields, &[Some(b"1"), Some(b"raw")])?;
    up.extend(result(&fields, &[Some(b"2"), Some(b"raw")])?);
    up.extend(ready());
    up.extend(result(&[field(b"x", 25, 0)], &[Some(b"raw")])?);
    up.extend(ready());
    up.extend(result(&[field(b"x", 25, 0)], &[Some(b"raw")])?);
    up.extend(ready());
    let mut out = Vec::new();
    r.try_feed(&up, &mut out)?;
    let (rows, _) = seen(&out)?;
    assert_eq!(rows[0], vec![Some(b"1".to_vec()), Some(b"raw".to_vec())]);
    assert_eq!(rows[1], vec![Some(b"2".to_vec()), Some(b"[M]".to_vec())]);
    assert_eq!(rows[2], vec![Some(b"[N]".to_vec())]);
    assert_eq!(rows[3], vec![Some(b"raw".to_vec())], "a cycle with no plan");
    Ok(())
}

#[test]
fn a_plan_that_does_not_fit_masks_every_column() -> R {
    let mut r = relay();
    r.plan_query(vec![Some(plan(vec![
        col(None, Some(b"id")),
        col(Some(b"[M]"), None),
    ]))]);
    r.push_sync();
    // the server reports other labels (a table changed since the snapshot)
    let fields = [field(b"other", 23, 0), field(b"s", 25, 0)];
    let mut up = result(&fields, &[Some(b"1"), Some(b"raw")])?;
    up.extend(ready());
    let mut out = Vec::new();
    r.try_feed(&up, &mut out)?;
    assert_eq!(seen(&out)?.0[0], vec![Some(b"[M]".to_vec()); 2]);
    Ok(())
}

#[test]
fn portals_take_their_statements_plan_binary_values_stay_valid() -> R {
    let mut r = relay();
    r.plan_statement(
        b"s1",
        Some(plan(vec![
            col(Some(b"[M]"), None),
            col(Some(b"[M]"), None),
            col(Some(b"[M]"), None),
            col(None, None),
        ])),
    );
    r.note_bind(b"", b"s1");
    r.plan_statement(b"s1", None); // re-parsed: the bound portal keeps its plan
    r.push_describe_portal(true, b"");
    r.push_sync();
    let fields = [
        field(b"t", 25, 1),
        field(b"i", 23, 1),
        field(b"j", 3802, 1),
        field(b"k", 23, 1),
    ];
    let mut up = result(
        &fields,
        &[
            Some(b"raw"),
            Some(&[0, 0, 0, 7]),
            Some(b"\x01{}"),
            Some(&[0, 0, 0, 9]),
        ],
    )?;
    up.extend(ready());
    let mut out = Vec::new();
    r.try_feed(&up, &mut out)?;
    let (rows, _) = seen(&out)?;
    assert_eq!(
        rows,
        vec![vec![
            Some(b"[M]".to_vec()),
            None,
            Some(b"\x01\"[M]\"".to_vec()),
            Some(vec![0, 0, 0, 9])
        ]]
    );
    Ok(())
}

#[test]
fn copy_rows_are_rewritten_and_errors_scrubbed() -> R {
    let mut r = relay();
    let copy = Arc::new(OutputPlan {
        prefix: vec![col(None, None), col(Some(b"[M]"), None)],
        copy: Some((CopyFormat::Text { delimiter: b'\t' }, false)),
        scrub: true,
        ..OutputPlan::default()
    });
    r.plan_query(vec![Some(copy.clone())]);
    r.push_sync();
    r.plan_query(vec![Some(copy)]);
    r.push_sync();
    let mut up = vec![b'H', 0, 0, 0, 11, 0, 0, 2, 0, 0, 0, 0];
    CopyData { data: b"1\traw\n" }.try_encode(&mut up)?;
    up.extend([b'c', 0, 0, 0, 4]);
    CommandComplete { tag: b"COPY 1" }.try_encode(&mut up)?;
    up.extend(ready());
    let fields: [(u8, &[u8]); 4] = [
        (b'S', b"ERROR"),
        (b'C', b"22P02"),
        (b'M', b"invalid input syntax for type integer: \"raw\""),
        (b'D', b"raw"),
    ];
    encode_fields(b'E', &fields, &mut up)?;
    up.extend(ready());
    let mut out = Vec::new();
    r.try_feed(&up, &mut out)?;
    let (rows, errors) = seen(&out)?;
    assert_eq!(rows, vec![vec![Some(b"1\t[M]\n".to_vec())]]);
    assert_eq!(errors, vec![SCRUBBED.to_vec()]);
    assert!(!out.windows(3).any(|w| w == b"raw"));
    Ok(())
}

fn text_escape(v: &[u8]) -> Vec<u8> {
    let mut o = Vec::new();
    for &b in v {
        match b {
            b'\\' => o.extend_from_slice(b"\\\\"),
            b'\t' => o.extend_from_slice(b"\\t"),
            b'\n' => o.extend_from_slice(b"\\n"),
            b'\r' => o.extend_from_slice(b"\\r"),
            _ => o.push(b),
        }
    }
    o
}

fn csv_quote(v: &[u8]) -> Vec<u8> {
    let mut o = vec![b'"'];
    for &b in v {
        if b == b'"' {
            o.push(b'"');
        }
        o.push(b);
    }
    o.push(b'"');
    o
}

proptest! {
    /// Text and CSV rows: masked columns hold the replacement, the others
    /// are byte for byte what the server sent, the field count is kept.
    #[test]
    fn copy_rows_keep_unmasked_fields(
        values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 1..6),
        masked in prop::collection::vec(any::<bool>(), 6),
    ) {
        let masks: Vec<Option<Vec<u8>>> =
            masked.iter().map(|&m| m.then(|| b"[M]".to_vec())).collect();
        for csv in [false, true] {
            let fields: Vec<Vec<u8>> = values
                .iter()
                .map(|v| if csv { csv_quote(v) } else { text_escape(v) })
                .collect();
            let delimiter = if csv { b',' } else { b'\t' };
            let mut row = fields.join(&delimiter);
            row.push(b'\n');
            let format = if csv {
                CopyFormat::Csv { delimiter, quote: b'"', escape: b'"' }
            } else {
                CopyFormat::Text { delimiter }
            };
            let mut out = Vec::new();
            let changed = rewrite_copy_row(format, &masks, &row, &mut out);
            let expect: Vec<Vec<u8>> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| match &masks[i] {
                    Some(_) if csv => b"\"[M]\"".to_vec(),
                    Some(m) => m.clone(),
                    None => f.clone(),
                })
                .collect();
            let mut want = expect.join(&delimiter);
            want.push(b'\n');
            if masks[..values.len()].iter().any(Option::is_some) {
                prop_assert!(changed);
                prop_assert_eq!(out, want);
            } else {
                prop_assert!(out.is_empty() || out == want);
            }
        }
    }
}
