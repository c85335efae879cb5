//! The server relay: masking by content and by column, fail-closed rows
//! without a description, hidden describes, error replacement, messages
//! that are never forwarded, and output independent of chunk boundaries.
use std::collections::HashMap;

use limen_wire::pg::backend::{
    CommandComplete, DataRow, ErrorNotice, FieldDescription, RowDescription, TransactionStatus,
};
use limen_wire::pg::copy::CopyData;
use limen_wire::pg::{
    BackendDecoder, BackendMessage, ContentMasker, Limits, RelayEvent, ServerRelay,
};

mod stream;

type R = Result<(), Box<dyn std::error::Error>>;

/// Replaces every "secret" with "[X]".
struct Toy;

impl ContentMasker for Toy {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < value.len() {
            if value[i..].starts_with(b"secret") {
                out.extend_from_slice(b"[X]");
                i += 6;
                n += 1;
            } else {
                out.push(value[i]);
                i += 1;
            }
        }
        n
    }
}

const USERS_OID: u32 = 16_400;

fn field(name: &'static [u8], attr: i16, type_oid: u32, format: i16) -> FieldDescription<'static> {
    FieldDescription {
        name,
        table_oid: if attr > 0 { USERS_OID } else { 0 },
        column_attr: attr,
        type_oid,
        type_size: -1,
        type_modifier: -1,
        format,
    }
}

fn rowdesc(fields: &[FieldDescription<'_>]) -> Result<Vec<u8>, limen_wire::Error> {
    let mut out = Vec::new();
    RowDescription::encode_fields(fields, &mut out)?;
    Ok(out)
}

fn datarow(values: &[Option<&[u8]>]) -> Result<Vec<u8>, limen_wire::Error> {
    let mut out = Vec::new();
    DataRow::encode_values(values, &mut out)?;
    Ok(out)
}

fn complete() -> Result<Vec<u8>, limen_wire::Error> {
    let mut out = Vec::new();
    CommandComplete { tag: b"SELECT 1" }.try_encode(&mut out)?;
    Ok(out)
}

fn ready(st: TransactionStatus) -> Vec<u8> {
    let mut out = Vec::new();
    st.encode_ready_for_query(&mut out);
    out
}

fn relay() -> ServerRelay<Toy> {
    let mut r = ServerRelay::new(Some(Toy), Limits::default());
    r.set_columns(HashMap::from([((USERS_OID, 3), b"[COL]".to_vec())]));
    r
}

/// The DataRows in `bytes`, decoded.
/// Decoded rows: one `Vec` of values (None = NULL) per DataRow.
type Rows = Vec<Vec<Option<Vec<u8>>>>;

fn rows(bytes: &[u8]) -> Result<Rows, Box<dyn std::error::Error>> {
    let mut d = BackendDecoder::default();
    d.receive_data(bytes)?;
    let mut out = Vec::new();
    while let Some((_, m)) = d.next_message()? {
        if let BackendMessage::DataRow(r) = m {
            out.push(r.values.iter().map(|v| v.map(<[u8]>::to_vec)).collect());
        }
    }
    assert_eq!(d.pending(), 0, "output ends on a message boundary");
    Ok(out)
}

fn feed(
    r: &mut ServerRelay<Toy>,
    bytes: &[u8],
) -> Result<(Vec<u8>, Vec<RelayEvent>), limen_wire::Error> {
    let mut out = Vec::new();
    let events = r.try_feed(bytes, &mut out)?;
    Ok((out, events))
}

fn result_set() -> Result<Vec<u8>, limen_wire::Error> {
    let mut s = rowdesc(&[
        field(b"id", 1, 23, 0),
        field(b"note", 2, 25, 0),
        field(b"api_key", 3, 25, 0),
    ])?;
    s.extend(datarow(&[
        Some(b"1"),
        Some(b"my secret note"),
        Some(b"ak_1"),
    ])?);
    s.extend(datarow(&[Some(b"2"), Some(b"plain"), None])?);
    s.extend(complete()?);
    s.extend(ready(TransactionStatus::Idle));
    Ok(s)
}

#[test]
fn masks_by_content_and_by_column_and_keeps_nulls() -> R {
    let mut r = relay();
    let (out, events) = feed(&mut r, &result_set()?)?;
    assert_eq!(
        rows(&out)?,
        vec![
            vec![
                Some(b"1".to_vec()),
                Some(b"my [X] note".to_vec()),
                Some(b"[COL]".to_vec())
            ],
            vec![Some(b"2".to_vec()), Some(b"plain".to_vec()), None],
        ]
    );
    assert_eq!(r.masked_rows(), 1);
    assert!(events.contains(&RelayEvent::RowDescription {
        columns: 3,
        replaced: 1
    }));
    assert_eq!(
        events.last(),
        Some(&RelayEvent::ReadyForQuery(TransactionStatus::Idle))
    );
    Ok(())
}

/// The column names of every RowDescription in `bytes`.
fn names(bytes: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, Box<dyn std::error::Error>> {
    let mut d = BackendDecoder::default();
    d.receive_data(bytes)?;
    let mut out = Vec::new();
    while let Some((_, m)) = d.next_message()? {
        if let BackendMessage::RowDescription(rd) = m {
            out.push(rd.fields().map(|f| f.name.to_vec()).collect());
        }
    }
    Ok(out)
}

#[test]
fn column_names_are_masked_by_content() -> R {
    let mut r = relay();
    let mut input = rowdesc(&[
        field(b"my_secret_alias", 0, 25, 0),
        field(b"note", 2, 25, 0),
    ])?;
    input.extend(datarow(&[Some(b"a"), Some(b"b")])?);
    input.extend(complete()?);
    let (out, events) = feed(&mut r, &input)?;
    assert_eq!(
        names(&out)?,
        vec![vec![b"my_[X]_alias".to_vec(), b"note".to_vec()]]
    );
    assert_eq!(
        rows(&out)?,
        vec![vec![Some(b"a".to_vec()), Some(b"b".to_vec())]]
    );
    assert!(events.contains(&RelayEvent::RowDescription {
        columns: 2,
        replaced: 0
    }));
    // Without a masker the names are the upstream's.
    let mut plain = ServerRelay::<Toy>::new(None, Limits::default());
    let (out, _) = feed(&mut plain, &input)?;
    assert_eq!(out, input);
    Ok(())
}

#[test]
fn unchanged_rows_are_forwarded_byte_for_byte() -> R {
    let mut r = ServerRelay::new(Some(Toy), Limits::default());
    let mut input = rowdesc(&[field(b"note", 2, 25, 0)])?;
    input.extend(datarow(&[Some(b"nothing to hide")])?);
    input.extend(complete()?);
    let (out, _) = feed(&mut r, &input)?;
    assert_eq!(out, input);
    assert_eq!(r.masked_rows(), 0);
    Ok(())
}

#[test]
fn binary_values_masked_only_where_the_type_is_text() -> R {
    let mut r = relay();
    let mut input = rowdesc(&[
        field(b"n", 0, 20, 1),   // int8, binary: kept even if it looks like a secret
        field(b"t", 0, 25, 1),   // text, binary: masked
        field(b"j", 0, 3802, 1), // jsonb, binary: version byte kept
        field(b"api_key", 3, 23, 1), // column rule on a binary int: NULL
    ])?;
    input.extend(datarow(&[
        Some(b"secret!!"),
        Some(b"a secret"),
        Some(b"\x01\"secret\""),
        Some(b"\x00\x00\x00\x07"),
    ])?);
    let (out, _) = feed(&mut r, &input)?;
    assert_eq!(
        rows(&out)?,
        vec![vec![
            Some(b"secret!!".to_vec()),
            Some(b"a [X]".to_vec()),
            Some(b"\x01\"[X]\"".to_vec()),
            None,
        ]]
    );
    Ok(())
}

#[test]
fn rows_without_a_description_are_masked_by_content() -> R {
    let mut r = relay();
    feed(&mut r, &result_set()?)?; // a plan existed, and ReadyForQuery ended it
    let (out, _) = feed(&mut r, &datarow(&[Some(b"secret"), Some(b"ok")])?)?;
    assert_eq!(
        rows(&out)?,
        vec![vec![Some(b"[X]".to_vec()), Some(b"ok".to_vec())]]
    );
    Ok(())
}

#[test]
fn hidden_describe_sets_the_plan_but_is_not_forwarded() -> R {
    let mut r = relay();
    r.push_describe(true);
    let desc = rowdesc(&[field(b"api_key", 3, 25, 1)])?;
    let row = datarow(&[Some(b"ak_9")])?;
    let mut input = desc.clone();
    input.extend(&row);
    let (out, _) = feed(&mut r, &input)?;
    assert!(!out.windows(desc.len()).any(|w| w == desc.as_slice()));
    assert_eq!(rows(&out)?, vec![vec![Some(b"[COL]".to_vec())]]);
    // A describe the client sent itself is forwarded.
    r.push_describe(false);
    let (out, _) = feed(&mut r, &desc)?;
    assert_eq!(out, desc);
    Ok(())
}
