//! Query.
use super::{decode_err, decode_one, msg, roundtrip, R};
use limen_wire::pg::frontend::Query;
use limen_wire::pg::FrontendMessage;
use limen_wire::ErrorKind;

#[test]
fn query_text_is_borrowed_without_nul() -> R {
    decode_one(&msg(b'Q', b"SELECT 1; DROP TABLE x\0"), |m| {
        assert_eq!(
            m,
            FrontendMessage::Query(Query {
                sql: b"SELECT 1; DROP TABLE x"
            })
        );
        Ok(())
    })
}

#[test]
fn query_without_nul_is_an_error() -> R {
    assert_eq!(decode_err(&msg(b'Q', b"SELECT 1"))?, ErrorKind::MissingNul);
    Ok(())
}

#[test]
fn query_with_bytes_after_nul_is_an_error() -> R {
    assert_eq!(
        decode_err(&msg(b'Q', b"SELECT 1\0x"))?,
        ErrorKind::TrailingBytes
    );
    Ok(())
}

#[test]
fn query_roundtrips_and_encoder_checks_nul() -> R {
    roundtrip(&FrontendMessage::Query(Query {
        sql: "SELECT 'é'".as_bytes(),
    }))?;
    let mut out = Vec::new();
    let e = Query { sql: b"a\0b" }.try_encode(&mut out).err();
    assert_eq!(e.map(|e| e.kind()), Some(ErrorKind::InteriorNul));
    assert!(out.is_empty());
    Ok(())
}
