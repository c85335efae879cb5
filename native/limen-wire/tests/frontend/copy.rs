//! CopyData, CopyDone, CopyFail.
use super::{decode_err, decode_one, msg, roundtrip, R};
use limen_wire::pg::copy::CopyData;
use limen_wire::pg::frontend::CopyFail;
use limen_wire::pg::FrontendMessage;
use limen_wire::ErrorKind;

#[test]
fn copy_data_is_borrowed_verbatim() -> R {
    decode_one(&msg(b'd', b"1\tada\n\0\xff"), |m| {
        assert_eq!(
            m,
            FrontendMessage::CopyData(CopyData {
                data: b"1\tada\n\0\xff"
            })
        );
        Ok(())
    })
}

#[test]
fn copy_done_and_fail() -> R {
    roundtrip(&FrontendMessage::CopyDone)?;
    roundtrip(&FrontendMessage::CopyFail(CopyFail {
        message: b"client gave up",
    }))?;
    decode_one(&msg(b'f', b"oops\0"), |m| {
        assert_eq!(m, FrontendMessage::CopyFail(CopyFail { message: b"oops" }));
        Ok(())
    })
}

#[test]
fn copy_done_with_body_is_an_error() -> R {
    assert_eq!(decode_err(&msg(b'c', b"?"))?, ErrorKind::TrailingBytes);
    Ok(())
}
