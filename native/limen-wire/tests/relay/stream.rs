//! The relay over a whole stream: marked errors replaced, messages that
//! are only events, COPY data, capture mode, malformed rows, output
//! independent of chunk boundaries, pipelined registrations, notices.
use proptest::prelude::*;

use super::*;

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
