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
use proptest::prelude::*;

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

#[test]
fn error_with_the_marker_is_replaced_until_ready_for_query() -> R {
    let mut r = relay();
    let mut replacement = Vec::new();
    ErrorNotice {
        severity: "ERROR",
        code: "42501",
        message: "denied",
        ..ErrorNotice::default()
    }
    .try_encode_error(&mut replacement)?;
    r.replace_error(b"limen_denied_ab".to_vec(), replacement.clone());
    let upstream_error = |m: &str| -> Result<Vec<u8>, limen_wire::Error> {
        let mut v = Vec::new();
        ErrorNotice {
            severity: "ERROR",
            code: "42601",
            message: m,
            ..ErrorNotice::default()
        }
        .try_encode_error(&mut v)?;
        Ok(v)
    };
    let other = upstream_error("division by zero")?;
    let ours = upstream_error("syntax error at or near \"limen_denied_ab\"")?;
    let (out, events) = feed(&mut r, &other)?;
    assert_eq!(out, other);
    assert!(matches!(events[0], RelayEvent::Error(_)));
    let mut input = ours.clone();
    input.extend(ready(TransactionStatus::Failed));
    let (out, events) = feed(&mut r, &input)?;
    assert!(out.starts_with(&replacement));
    assert_eq!(events[0], RelayEvent::ReplacedError);
    // Cleared by ReadyForQuery: the same marker now passes through.
    let (out, _) = feed(&mut r, &ours)?;
    assert_eq!(out, ours);
    Ok(())
}

#[test]
fn authentication_and_key_data_are_events_only() -> R {
    let mut r = relay();
    let mut input = vec![b'R', 0, 0, 0, 8, 0, 0, 0, 0];
    input.extend([b'K', 0, 0, 0, 12, 0, 0, 0, 7, 1, 2, 3, 4]);
    let (out, events) = feed(&mut r, &input)?;
    assert!(out.is_empty());
    assert_eq!(
        events,
        vec![
            RelayEvent::Authentication(vec![0, 0, 0, 0]),
            RelayEvent::BackendKeyData {
                process_id: 7,
                secret_key: vec![1, 2, 3, 4]
            },
        ]
    );
    Ok(())
}

#[test]
fn copy_data_out_is_masked() -> R {
    let mut r = relay();
    let mut input = Vec::new();
    CopyData {
        data: b"1\tsecret\n",
    }
    .try_encode(&mut input)?;
    let (out, _) = feed(&mut r, &input)?;
    let mut want = Vec::new();
    CopyData { data: b"1\t[X]\n" }.try_encode(&mut want)?;
    assert_eq!(out, want);
    Ok(())
}

#[test]
fn capture_mode_returns_rows_as_events() -> R {
    let mut r = relay();
    r.set_capture_rows(true);
    let (out, events) = feed(&mut r, &datarow(&[Some(b"16400"), None])?)?;
    assert!(out.is_empty());
    assert_eq!(
        events,
        vec![RelayEvent::DataRow(vec![Some(b"16400".to_vec()), None])]
    );
    Ok(())
}

#[test]
fn malformed_upstream_row_is_a_remote_error() -> R {
    let mut r = relay();
    feed(&mut r, &rowdesc(&[field(b"t", 0, 25, 0)])?)?;
    // Announces one column of 100 bytes, carries 2.
    let bad = [b'D', 0, 0, 0, 12, 0, 1, 0, 0, 0, 100, b'a', b'b'];
    let err = feed(&mut r, &bad).err().ok_or("accepted a malformed row")?;
    assert!(err.is_remote());
    Ok(())
}

proptest! {
    #[test]
    fn output_does_not_depend_on_chunk_boundaries(cuts in proptest::collection::vec(0usize..400, 0..8)) {
        let input = result_set().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut whole = relay();
        let (expected, _) = feed(&mut whole, &input).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut split = relay();
        let mut got = Vec::new();
        let mut at = 0;
        for c in cuts.into_iter().chain([input.len()]) {
            let events = split.try_feed(&input[at..c], &mut got).map_err(|e| TestCaseError::fail(e.to_string()))?;
            drop(events);
            at = c;
        }
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn registrations_wait_for_their_own_cycle_when_the_caller_pipelines() -> R {
    let mut r = relay();
    // The handshake's ReadyForQuery went by before the caller counts.
    feed(&mut r, &ready(TransactionStatus::Idle))?;
    let mut replacement = Vec::new();
    ErrorNotice {
        severity: "ERROR",
        code: "42501",
        message: "denied",
        ..ErrorNotice::default()
    }
    .try_encode_error(&mut replacement)?;
    // Cycle 1: an allowed query. Cycle 2: a denied one (its marker), then
    // an extended batch whose Execute got a hidden Describe (cycle 3).
    r.push_sync();
    r.replace_error(b"limen_denied_cd".to_vec(), replacement.clone());
    r.push_sync();
    r.push_describe(true);
    r.push_sync();
    let mut ours = Vec::new();
    ErrorNotice {
        severity: "ERROR",
        code: "42601",
        message: "syntax error at or near \"limen_denied_cd\"",
        ..ErrorNotice::default()
    }
    .try_encode_error(&mut ours)?;
    let mut rd = Vec::new();
    rd.push(b'T');
    let body: Vec<u8> = [&1i16.to_be_bytes()[..], b"a\0", &[0; 18]].concat();
    rd.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    rd.extend_from_slice(&body);
    // Cycle 1's answer (a RowDescription of a simple query: not hidden).
    let mut input = rd.clone();
    input.extend(ready(TransactionStatus::Idle));
    let (out, _) = feed(&mut r, &input)?;
    assert!(
        out.starts_with(&rd),
        "a simple query's RowDescription is forwarded"
    );
    // Cycle 2's answer: the marker's error is swapped.
    let mut input = ours.clone();
    input.extend(ready(TransactionStatus::Idle));
    let (out, events) = feed(&mut r, &input)?;
    assert!(out.starts_with(&replacement));
    assert_eq!(events[0], RelayEvent::ReplacedError);
    // Cycle 3's answer: the hidden Describe's RowDescription is swallowed.
    let mut input = rd.clone();
    input.extend(ready(TransactionStatus::Idle));
    let (out, _) = feed(&mut r, &input)?;
    assert_eq!(out, ready(TransactionStatus::Idle));
    Ok(())
}

#[test]
fn errors_and_notices_are_masked_by_content_but_keep_their_code() -> R {
    let mut r = relay();
    let mut error = Vec::new();
    ErrorNotice {
        severity: "ERROR",
        code: "22P02",
        message: "invalid input syntax for type integer: \"secret\"",
        detail: Some("the value was secret"),
        ..ErrorNotice::default()
    }
    .try_encode_error(&mut error)?;
    let (out, events) = feed(&mut r, &error)?;
    let mut d = BackendDecoder::default();
    d.receive_data(&out)?;
    let Some((_, BackendMessage::ErrorResponse(f))) = d.next_message()? else {
        panic!("an ErrorResponse is forwarded");
    };
    assert_eq!(f.code(), Some(&b"22P02"[..]));
    assert_eq!(
        f.message(),
        Some(&b"invalid input syntax for type integer: \"[X]\""[..])
    );
    assert!(!out.windows(6).any(|w| w == b"secret"), "nothing in clear");
    let RelayEvent::Error(fields) = &events[0] else {
        panic!("an error event");
    };
    assert!(fields
        .iter()
        .all(|(_, v)| !v.windows(6).any(|w| w == b"secret")));
    // A notice too; one without a finding is forwarded byte for byte.
    let mut notice = Vec::new();
    ErrorNotice {
        severity: "NOTICE",
        code: "00000",
        message: "table secret does not exist, skipping",
        ..ErrorNotice::default()
    }
    .try_encode_notice(&mut notice)?;
    let (out, _) = feed(&mut r, &notice)?;
    assert!(!out.windows(6).any(|w| w == b"secret"));
    let mut plain = Vec::new();
    ErrorNotice {
        severity: "NOTICE",
        code: "00000",
        message: "nothing to see",
        ..ErrorNotice::default()
    }
    .try_encode_notice(&mut plain)?;
    assert_eq!(feed(&mut r, &plain)?.0, plain);
    Ok(())
}
