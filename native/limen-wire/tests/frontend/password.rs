//! The 'p' family, read according to the auth context.
use super::R;
use limen_wire::pg::frontend::{AuthContext, PasswordMessage, SaslInitialResponse, SaslResponse};
use limen_wire::pg::{FrontendDecoder, FrontendMessage, Limits};
use limen_wire::ErrorKind;

fn decode_with(ctx: AuthContext, bytes: &[u8]) -> Result<String, Box<dyn std::error::Error>> {
    let mut d = FrontendDecoder::new_regular(Limits::default());
    d.set_auth_context(ctx);
    assert_eq!(d.auth_context(), ctx);
    d.receive_data(bytes)?;
    let (_, m) = d.next_message()?.ok_or("incomplete")?;
    Ok(format!("{m:?}"))
}

#[test]
fn same_bytes_read_per_context() -> R {
    let mut bytes = Vec::new();
    SaslInitialResponse {
        mechanism: b"SCRAM-SHA-256",
        data: Some(b"n,,n=,r=abc"),
    }
    .try_encode(&mut bytes)?;
    let s = decode_with(AuthContext::SaslInitial, &bytes)?;
    assert!(s.starts_with("SaslInitialResponse"), "{s}");
    let s = decode_with(AuthContext::SaslContinue, &bytes)?;
    assert!(s.starts_with("SaslResponse"), "{s}");
    let s = decode_with(AuthContext::Gss, &bytes)?;
    assert!(s.starts_with("GssResponse"), "{s}");
    Ok(())
}

#[test]
fn password_message_roundtrip_and_redacted_debug() -> R {
    let mut bytes = Vec::new();
    PasswordMessage {
        password: b"s3cret-token",
    }
    .try_encode(&mut bytes)?;
    let mut d = FrontendDecoder::new_regular(Limits::default());
    d.set_auth_context(AuthContext::Password);
    d.receive_data(&bytes)?;
    let (_, m) = d.next_message()?.ok_or("incomplete")?;
    assert_eq!(
        m,
        FrontendMessage::Password(PasswordMessage {
            password: b"s3cret-token"
        })
    );
    assert!(
        !format!("{m:?}").contains("s3cret"),
        "Debug must not show the password"
    );
    Ok(())
}

#[test]
fn sasl_initial_response_without_data() -> R {
    let mut bytes = Vec::new();
    SaslInitialResponse {
        mechanism: b"X",
        data: None,
    }
    .try_encode(&mut bytes)?;
    assert_eq!(&bytes[5..], b"X\0\xff\xff\xff\xff");
    let mut d = FrontendDecoder::new_regular(Limits::default());
    d.set_auth_context(AuthContext::SaslInitial);
    d.receive_data(&bytes)?;
    let (_, m) = d.next_message()?.ok_or("incomplete")?;
    assert_eq!(
        m,
        FrontendMessage::SaslInitialResponse(SaslInitialResponse {
            mechanism: b"X",
            data: None
        })
    );
    Ok(())
}

#[test]
fn sasl_response_roundtrip() -> R {
    let mut bytes = Vec::new();
    SaslResponse {
        data: b"c=biws,r=x,p=y",
    }
    .try_encode(&mut bytes)?;
    let mut d = FrontendDecoder::new_regular(Limits::default());
    d.set_auth_context(AuthContext::SaslContinue);
    d.receive_data(&bytes)?;
    let (_, m) = d.next_message()?.ok_or("incomplete")?;
    assert_eq!(
        m,
        FrontendMessage::SaslResponse(SaslResponse {
            data: b"c=biws,r=x,p=y"
        })
    );
    Ok(())
}

#[test]
fn password_without_a_request_is_unexpected() -> R {
    let mut bytes = Vec::new();
    PasswordMessage { password: b"x" }.try_encode(&mut bytes)?;
    let mut d = FrontendDecoder::new_regular(Limits::default());
    d.receive_data(&bytes)?;
    let e = d.next_message().err().ok_or("accepted")?;
    assert_eq!(e.kind(), ErrorKind::UnexpectedMessage);
    assert!(!e.to_string().contains('x'), "errors quote no payload");
    Ok(())
}

#[test]
fn sasl_initial_with_overlong_data_length_is_truncated() -> R {
    let mut d = FrontendDecoder::new_regular(Limits::default());
    d.set_auth_context(AuthContext::SaslInitial);
    d.receive_data(&super::msg(b'p', b"M\0\0\0\0\x09abc"))?;
    assert_eq!(
        d.next_message().err().map(|e| e.kind()),
        Some(ErrorKind::Truncated)
    );
    Ok(())
}
