//! StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.
use super::R;
use limen_wire::pg::frontend::{
    encode_gssenc_request, encode_ssl_request, CancelRequest, FrontendPhase, ProtocolVersion,
    StartupMessage,
};
use limen_wire::pg::{FrontendDecoder, FrontendMessage, Limits};
use limen_wire::ErrorKind;

fn packet(code: i32, rest: &[u8]) -> Vec<u8> {
    let mut v = ((rest.len() + 8) as i32).to_be_bytes().to_vec();
    v.extend_from_slice(&code.to_be_bytes());
    v.extend_from_slice(rest);
    v
}

#[test]
fn startup_message_with_parameters() -> R {
    let bytes = packet(
        196_608,
        b"user\0bot\0database\0staging\0application_name\0agent\0\0",
    );
    let mut d = FrontendDecoder::default();
    assert_eq!(d.phase(), FrontendPhase::Startup);
    d.receive_data(&bytes)?;
    let (frame, m) = d.next_message()?.ok_or("incomplete")?;
    assert_eq!(frame.tag(), None);
    assert_eq!(frame.raw(), &bytes[..]);
    let FrontendMessage::Startup(s) = m else {
        return Err("not a startup".into());
    };
    assert_eq!(s.version, ProtocolVersion::V3_0);
    assert_eq!(s.param(b"user"), Some(&b"bot"[..]));
    assert_eq!(s.param(b"database"), Some(&b"staging"[..]));
    assert_eq!(s.param(b"options"), None);
    assert_eq!(s.params.len(), 3);
    assert_eq!(d.phase(), FrontendPhase::Regular);
    Ok(())
}

#[test]
fn startup_message_roundtrips() -> R {
    let m = StartupMessage {
        version: ProtocolVersion { major: 3, minor: 2 },
        params: vec![(b"user", b"u"), (b"database", b"")],
    };
    let mut bytes = Vec::new();
    m.try_encode(&mut bytes)?;
    let mut d = FrontendDecoder::default();
    d.receive_data(&bytes)?;
    let (_, back) = d.next_message()?.ok_or("incomplete")?;
    assert_eq!(back, FrontendMessage::Startup(m));
    Ok(())
}

#[test]
fn startup_encoder_refuses_nul_in_value() {
    let m = StartupMessage {
        version: ProtocolVersion::V3_0,
        params: vec![(b"user", b"a\0b")],
    };
    let mut out = vec![1, 2];
    let e = m.try_encode(&mut out).err();
    assert_eq!(e.as_ref().map(|e| e.kind()), Some(ErrorKind::InteriorNul));
    assert_eq!(e.map(|e| e.is_remote()), Some(false));
    assert_eq!(
        out,
        vec![1, 2],
        "a failed encode leaves the buffer as it was"
    );
}

#[test]
fn protocol_2_is_refused() -> R {
    let mut d = FrontendDecoder::default();
    d.receive_data(&packet(2 << 16, b"user\0x\0\0"))?;
    assert_eq!(
        d.next_message().err().map(|e| e.kind()),
        Some(ErrorKind::UnsupportedProtocol)
    );
    Ok(())
}

#[test]
fn unterminated_parameter_list_is_an_error() -> R {
    let mut d = FrontendDecoder::default();
    d.receive_data(&packet(196_608, b"user\0bot\0"))?;
    let e = d.next_message().err().ok_or("accepted")?;
    assert_eq!(e.kind(), ErrorKind::MissingNul);
    assert_eq!(
        e.offset(),
        17,
        "offset points past the last complete parameter"
    );
    Ok(())
}

#[test]
fn startup_packet_over_cap_is_refused_before_buffering_it() -> R {
    let mut d = FrontendDecoder::default();
    d.receive_data(&20_000i32.to_be_bytes())?;
    let e = d.next_message().err().ok_or("accepted")?;
    assert_eq!(e.kind(), ErrorKind::MessageTooLarge);
    assert_eq!(e.offset(), 0);
    Ok(())
}

#[test]
fn startup_length_below_eight_is_bad() -> R {
    let mut d = FrontendDecoder::default();
    d.receive_data(&[0, 0, 0, 7, 0, 0, 0])?;
    assert_eq!(
        d.next_message().err().map(|e| e.kind()),
        Some(ErrorKind::BadLength)
    );
    Ok(())
}

#[test]
fn ssl_request_then_startup_after_resume() -> R {
    let mut bytes = Vec::new();
    encode_ssl_request(&mut bytes);
    assert_eq!(bytes, packet(80_877_103, b""));
    let mut d = FrontendDecoder::default();
    d.receive_data(&bytes)?;
    let (_, m) = d.next_message()?.ok_or("incomplete")?;
    assert_eq!(m, FrontendMessage::SslRequest);
    assert_eq!(d.phase(), FrontendPhase::AwaitingEncryptionAnswer);
    assert!(d.next_message()?.is_none());
    d.resume_startup()?;
    d.receive_data(&packet(196_608, b"user\0u\0\0"))?;
    let (_, m) = d.next_message()?.ok_or("incomplete")?;
    assert!(matches!(m, FrontendMessage::Startup(_)));
    Ok(())
}

#[test]
fn bytes_pipelined_after_ssl_request_are_refused() -> R {
    // A man in the middle could append cleartext after the SSLRequest; the
    // decoder must not read it as if it came over TLS.
    let mut bytes = Vec::new();
    encode_ssl_request(&mut bytes);
    bytes.extend_from_slice(&packet(196_608, b"user\0u\0\0"));
    let mut d = FrontendDecoder::default();
    d.receive_data(&bytes)?;
    assert_eq!(
        d.next_message()?
            .map(|(_, m)| m == FrontendMessage::SslRequest),
        Some(true)
    );
    let e = d.next_message().err().ok_or("accepted")?;
    assert_eq!(e.kind(), ErrorKind::UnexpectedMessage);
    assert_eq!(e.offset(), 8);
    Ok(())
}

#[test]
fn gssenc_request() -> R {
    let mut bytes = Vec::new();
    encode_gssenc_request(&mut bytes);
    let mut d = FrontendDecoder::default();
    d.receive_data(&bytes)?;
    assert_eq!(
        d.next_message()?.map(|(_, m)| m),
        Some(FrontendMessage::GssEncRequest)
    );
    Ok(())
}

#[test]
fn cancel_request_carries_pid_and_key_and_closes() -> R {
    let c = CancelRequest {
        process_id: 4242,
        secret_key: &[1, 2, 3, 4],
    };
    let mut bytes = Vec::new();
    c.try_encode(&mut bytes)?;
    assert_eq!(bytes, packet(80_877_102, &[0, 0, 0x10, 0x92, 1, 2, 3, 4]));
    let mut d = FrontendDecoder::default();
    d.receive_data(&bytes)?;
    assert_eq!(
        d.next_message()?.map(|(_, m)| m),
        Some(FrontendMessage::CancelRequest(c))
    );
    assert_eq!(d.phase(), FrontendPhase::Closed);
    assert_eq!(
        d.receive_data(b"x").err().map(|e| e.kind()),
        Some(ErrorKind::UnexpectedMessage)
    );
    Ok(())
}

#[test]
fn cancel_request_with_short_key_is_invalid() -> R {
    let mut d = FrontendDecoder::default();
    d.receive_data(&packet(80_877_102, &[0, 0, 0, 1, 9]))?;
    assert_eq!(
        d.next_message().err().map(|e| e.kind()),
        Some(ErrorKind::InvalidValue)
    );
    Ok(())
}

#[test]
fn ssl_request_with_extra_bytes_is_rejected() -> R {
    let mut d = FrontendDecoder::default();
    d.receive_data(&packet(80_877_103, &[0]))?;
    assert_eq!(
        d.next_message().err().map(|e| e.kind()),
        Some(ErrorKind::TrailingBytes)
    );
    Ok(())
}

#[test]
fn resume_without_request_is_a_local_error() {
    let mut d = FrontendDecoder::new(Limits::default());
    let e = d.resume_startup().err();
    assert_eq!(e.map(|e| e.is_remote()), Some(false));
}
