//! Messages with empty or tiny bodies, ParameterDescription,
//! NotificationResponse, FunctionCallResponse and unknown types.
use super::{decode_err, decode_one, msg, roundtrip, R};
use limen_wire::pg::backend::{FunctionCallResponse, NotificationResponse, ParameterDescription};
use limen_wire::pg::BackendMessage;
use limen_wire::ErrorKind;

#[test]
fn empty_body_messages() -> R {
    for (tag, want) in [
        (b'I', BackendMessage::EmptyQueryResponse),
        (b'1', BackendMessage::ParseComplete),
        (b'2', BackendMessage::BindComplete),
        (b'3', BackendMessage::CloseComplete),
        (b'n', BackendMessage::NoData),
        (b's', BackendMessage::PortalSuspended),
        (b'c', BackendMessage::CopyDone),
    ] {
        decode_one(&msg(tag, b""), |m| {
            assert_eq!(m, want);
            Ok(())
        })?;
        roundtrip(&want)?;
        assert_eq!(decode_err(&msg(tag, b"x"))?, ErrorKind::TrailingBytes);
    }
    Ok(())
}

#[test]
fn parameter_description() -> R {
    let mut bytes = Vec::new();
    ParameterDescription::encode_types(&[23, 25], &mut bytes)?;
    assert_eq!(bytes, msg(b't', &[0, 2, 0, 0, 0, 23, 0, 0, 0, 25]));
    decode_one(&bytes, |m| {
        let BackendMessage::ParameterDescription(p) = m else {
            return Err("not t".into());
        };
        assert_eq!(p.types.to_vec(), vec![23, 25]);
        Ok(())
    })
}

#[test]
fn notification_response() -> R {
    decode_one(&msg(b'A', b"\0\0\0\x07chan\0pay load\0"), |m| {
        assert_eq!(
            m,
            BackendMessage::NotificationResponse(NotificationResponse {
                process_id: 7,
                channel: b"chan",
                payload: b"pay load"
            })
        );
        Ok(())
    })?;
    assert_eq!(
        decode_err(&msg(b'A', b"\0\0\0\x07chan\0"))?,
        ErrorKind::MissingNul
    );
    Ok(())
}

#[test]
fn function_call_response() -> R {
    roundtrip(&BackendMessage::FunctionCallResponse(
        FunctionCallResponse {
            value: Some(b"\0\0\0\x01"),
        },
    ))?;
    roundtrip(&BackendMessage::FunctionCallResponse(
        FunctionCallResponse { value: None },
    ))?;
    assert_eq!(
        decode_err(&msg(b'V', &[0, 0, 0, 5, 1]))?,
        ErrorKind::Truncated
    );
    Ok(())
}

#[test]
fn unknown_type_is_relayed_opaque() -> R {
    decode_one(&msg(b'?', b"\x00\x01"), |m| {
        assert_eq!(
            m,
            BackendMessage::Unknown {
                tag: b'?',
                body: b"\x00\x01"
            }
        );
        Ok(())
    })
}
