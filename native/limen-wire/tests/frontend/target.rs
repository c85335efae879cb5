//! Execute, Describe and Close.
use super::{decode_err, decode_one, msg, roundtrip, R};
use limen_wire::pg::frontend::{Close, Describe, Execute, TargetKind};
use limen_wire::pg::FrontendMessage;
use limen_wire::ErrorKind;

#[test]
fn execute_with_row_limit() -> R {
    decode_one(&msg(b'E', b"p1\0\0\0\0\x64"), |m| {
        assert_eq!(
            m,
            FrontendMessage::Execute(Execute {
                portal: b"p1",
                max_rows: 100
            })
        );
        Ok(())
    })?;
    roundtrip(&FrontendMessage::Execute(Execute {
        portal: b"",
        max_rows: 0,
    }))
}

#[test]
fn describe_statement_and_portal() -> R {
    decode_one(&msg(b'D', b"Ss1\0"), |m| {
        assert_eq!(
            m,
            FrontendMessage::Describe(Describe {
                kind: TargetKind::Statement,
                name: b"s1"
            })
        );
        Ok(())
    })?;
    decode_one(&msg(b'D', b"P\0"), |m| {
        assert_eq!(
            m,
            FrontendMessage::Describe(Describe {
                kind: TargetKind::Portal,
                name: b""
            })
        );
        Ok(())
    })
}

#[test]
fn close_roundtrips() -> R {
    roundtrip(&FrontendMessage::Close(Close {
        kind: TargetKind::Portal,
        name: b"cur",
    }))?;
    roundtrip(&FrontendMessage::Close(Close {
        kind: TargetKind::Statement,
        name: b"",
    }))
}

#[test]
fn describe_with_unknown_kind_is_invalid() -> R {
    let e = decode_err(&msg(b'D', b"Xs\0"))?;
    assert_eq!(e, ErrorKind::InvalidValue);
    Ok(())
}

#[test]
fn execute_missing_row_count_is_truncated() -> R {
    assert_eq!(decode_err(&msg(b'E', b"p\0\0\0"))?, ErrorKind::Truncated);
    Ok(())
}
