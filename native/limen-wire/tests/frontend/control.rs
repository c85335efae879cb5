//! Sync, Flush, Terminate (empty bodies).
use super::{decode_err, decode_one, msg, roundtrip, R};
use limen_wire::pg::frontend::FrontendPhase;
use limen_wire::pg::{FrontendDecoder, FrontendMessage, Limits};
use limen_wire::ErrorKind;

#[test]
fn empty_body_messages() -> R {
    for (tag, want) in [
        (b'S', FrontendMessage::Sync),
        (b'H', FrontendMessage::Flush),
        (b'X', FrontendMessage::Terminate),
    ] {
        decode_one(&msg(tag, b""), |m| {
            assert_eq!(m, want);
            Ok(())
        })?;
        roundtrip(&want)?;
    }
    Ok(())
}

#[test]
fn sync_with_a_body_is_an_error() -> R {
    assert_eq!(decode_err(&msg(b'S', b"x"))?, ErrorKind::TrailingBytes);
    Ok(())
}

#[test]
fn nothing_may_follow_terminate() -> R {
    let mut bytes = msg(b'X', b"");
    bytes.extend_from_slice(&msg(b'S', b""));
    let mut d = FrontendDecoder::new_regular(Limits::default());
    d.receive_data(&bytes)?;
    assert_eq!(
        d.next_message()?.map(|(_, m)| m),
        Some(FrontendMessage::Terminate)
    );
    assert_eq!(d.phase(), FrontendPhase::Closed);
    let e = d
        .next_message()
        .err()
        .ok_or("accepted bytes after Terminate")?;
    assert_eq!(e.kind(), ErrorKind::UnexpectedMessage);
    assert_eq!(e.offset(), 5);
    Ok(())
}
