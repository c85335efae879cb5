//! ParameterStatus, BackendKeyData, ReadyForQuery, NegotiateProtocolVersion.
use super::{decode_err, decode_one, msg, roundtrip, R};
use limen_wire::pg::backend::{
    BackendKeyData, NegotiateProtocolVersion, ParameterStatus, TransactionStatus,
};
use limen_wire::pg::BackendMessage;
use limen_wire::ErrorKind;

#[test]
fn parameter_status() -> R {
    decode_one(&msg(b'S', b"server_version\x0015.4\0"), |m| {
        assert_eq!(
            m,
            BackendMessage::ParameterStatus(ParameterStatus {
                name: b"server_version",
                value: b"15.4"
            })
        );
        Ok(())
    })?;
    assert_eq!(
        decode_err(&msg(b'S', b"only-name\0"))?,
        ErrorKind::MissingNul
    );
    Ok(())
}

#[test]
fn backend_key_data_and_redacted_debug() -> R {
    decode_one(&msg(b'K', &[0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef]), |m| {
        let BackendMessage::BackendKeyData(k) = m else {
            return Err("not K".into());
        };
        assert_eq!(k.process_id, 256);
        assert_eq!(k.secret_key, [0xde, 0xad, 0xbe, 0xef]);
        assert!(!format!("{k:?}").contains("222"), "key bytes not in Debug");
        Ok(())
    })?;
    // Protocol 3.2: longer keys.
    roundtrip(&BackendMessage::BackendKeyData(BackendKeyData {
        process_id: 7,
        secret_key: &[5; 32],
    }))?;
    assert_eq!(
        decode_err(&msg(b'K', &[0, 0, 1, 0, 1]))?,
        ErrorKind::InvalidValue
    );
    let mut out = Vec::new();
    let e = BackendKeyData {
        process_id: 1,
        secret_key: &[0; 300],
    }
    .try_encode(&mut out)
    .err();
    assert_eq!(e.map(|e| e.is_remote()), Some(false));
    Ok(())
}

#[test]
fn ready_for_query_statuses() -> R {
    for (b, s) in [
        (b'I', TransactionStatus::Idle),
        (b'T', TransactionStatus::InTransaction),
        (b'E', TransactionStatus::Failed),
    ] {
        decode_one(&msg(b'Z', &[b]), |m| {
            assert_eq!(m, BackendMessage::ReadyForQuery(s));
            Ok(())
        })?;
        let mut out = Vec::new();
        s.encode_ready_for_query(&mut out);
        assert_eq!(out, msg(b'Z', &[b]));
    }
    assert_eq!(decode_err(&msg(b'Z', b"Q"))?, ErrorKind::InvalidValue);
    assert_eq!(decode_err(&msg(b'Z', b""))?, ErrorKind::Truncated);
    Ok(())
}

#[test]
fn negotiate_protocol_version() -> R {
    let body = b"\0\0\0\0\0\0\0\x02_pq_.a\0_pq_.b\0";
    decode_one(&msg(b'v', body), |m| {
        let BackendMessage::NegotiateProtocolVersion(n) = m else {
            return Err("not v".into());
        };
        assert_eq!(n.newest_minor, 0);
        assert_eq!(n.unrecognized_len(), 2);
        assert_eq!(
            n.unrecognized().collect::<Vec<_>>(),
            vec![&b"_pq_.a"[..], &b"_pq_.b"[..]]
        );
        roundtrip(&BackendMessage::NegotiateProtocolVersion(n))
    })?;
    let mut out = Vec::new();
    NegotiateProtocolVersion::encode_parts(2, &[], &mut out)?;
    assert_eq!(out, msg(b'v', &[0, 0, 0, 2, 0, 0, 0, 0]));
    // A huge count is refused before walking the body.
    assert_eq!(
        decode_err(&msg(b'v', b"\0\0\0\0\x7f\xff\xff\xffa\0"))?,
        ErrorKind::Truncated
    );
    assert_eq!(
        decode_err(&msg(b'v', b"\0\0\0\0\xff\xff\xff\xff"))?,
        ErrorKind::NegativeCount
    );
    Ok(())
}
