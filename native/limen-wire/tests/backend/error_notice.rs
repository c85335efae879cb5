//! ErrorResponse and NoticeResponse.
use super::{decode_err, decode_one, msg, roundtrip, R};
use limen_wire::pg::backend::{encode_fields, field, ErrorNotice};
use limen_wire::pg::BackendMessage;
use limen_wire::ErrorKind;

#[test]
fn error_fields_by_code() -> R {
    let body = b"SERROR\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0P15\0\0";
    decode_one(&msg(b'E', body), |m| {
        let BackendMessage::ErrorResponse(f) = m else {
            return Err("not E".into());
        };
        assert_eq!(f.code(), Some(&b"42P01"[..]));
        assert_eq!(f.severity(), Some(&b"ERROR"[..]));
        assert_eq!(f.message(), Some(&b"relation \"x\" does not exist"[..]));
        assert_eq!(f.get(field::POSITION), Some(&b"15"[..]));
        assert_eq!(f.get(field::HINT), None);
        assert_eq!(f.iter().count(), 5);
        roundtrip(&BackendMessage::ErrorResponse(f))
    })
}

#[test]
fn gateway_error_notice_encodes_all_fields() -> R {
    let e = ErrorNotice {
        severity: "ERROR",
        code: "42501",
        message: "denied by rule no-ddl: class ddl",
        detail: Some("statement class: ddl"),
        hint: Some("ask for approval"),
        position: Some(1),
        extra: vec![(field::ROUTINE, "limen")],
    };
    let mut bytes = Vec::new();
    e.try_encode_error(&mut bytes)?;
    assert_eq!(bytes[0], b'E');
    decode_one(&bytes, |m| {
        let BackendMessage::ErrorResponse(f) = m else {
            return Err("not E".into());
        };
        assert_eq!(f.get(field::SEVERITY), Some(&b"ERROR"[..]));
        assert_eq!(f.get(field::SEVERITY_NONLOCALIZED), Some(&b"ERROR"[..]));
        assert_eq!(f.code(), Some(&b"42501"[..]));
        assert_eq!(f.message(), Some(e.message.as_bytes()));
        assert_eq!(f.get(field::DETAIL), Some(&b"statement class: ddl"[..]));
        assert_eq!(f.get(field::HINT), Some(&b"ask for approval"[..]));
        assert_eq!(f.get(field::POSITION), Some(&b"1"[..]));
        assert_eq!(f.get(field::ROUTINE), Some(&b"limen"[..]));
        Ok(())
    })?;
    let mut bytes = Vec::new();
    ErrorNotice {
        severity: "NOTICE",
        code: "00000",
        message: "hello",
        ..ErrorNotice::default()
    }
    .try_encode_notice(&mut bytes)?;
    decode_one(&bytes, |m| {
        let BackendMessage::NoticeResponse(f) = m else {
            return Err("not N".into());
        };
        assert_eq!(f.message(), Some(&b"hello"[..]));
        assert_eq!(f.get(field::DETAIL), None);
        Ok(())
    })
}

#[test]
fn encoder_refuses_bad_sqlstate_and_nul() {
    let mut out = Vec::new();
    let bad_code = ErrorNotice {
        severity: "ERROR",
        code: "425",
        message: "m",
        ..ErrorNotice::default()
    };
    assert_eq!(
        bad_code.try_encode_error(&mut out).err().map(|e| e.kind()),
        Some(ErrorKind::InvalidValue)
    );
    let nul = ErrorNotice {
        severity: "ERROR",
        code: "42501",
        message: "a\0b",
        ..ErrorNotice::default()
    };
    assert_eq!(
        nul.try_encode_error(&mut out).err().map(|e| e.kind()),
        Some(ErrorKind::InteriorNul)
    );
    assert_eq!(
        encode_fields(b'Q', &[], &mut out).err().map(|e| e.kind()),
        Some(ErrorKind::InvalidValue)
    );
    assert!(out.is_empty());
}

#[test]
fn unterminated_fields_are_errors() -> R {
    assert_eq!(decode_err(&msg(b'E', b"SERROR\0"))?, ErrorKind::Truncated);
    assert_eq!(decode_err(&msg(b'N', b"SERROR"))?, ErrorKind::MissingNul);
    assert_eq!(decode_err(&msg(b'N', b"\0x"))?, ErrorKind::TrailingBytes);
    Ok(())
}
