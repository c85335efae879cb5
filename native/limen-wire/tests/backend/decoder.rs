//! The backend decoder: encryption response byte, limits, split feeding.
use super::{msg, R};
use limen_wire::pg::backend::EncryptionResponse;
use limen_wire::pg::{BackendDecoder, BackendMessage, Limits};
use limen_wire::ErrorKind;

#[test]
fn ssl_response_byte() -> R {
    for (b, want) in [
        (b'S', EncryptionResponse::SslAccepted),
        (b'N', EncryptionResponse::Refused),
        (b'G', EncryptionResponse::GssAccepted),
    ] {
        let mut d = BackendDecoder::default();
        d.expect_encryption_response();
        assert!(d.next_message()?.is_none(), "nothing before the byte");
        d.receive_data(&[b])?;
        let (f, m) = d.next_message()?.ok_or("incomplete")?;
        assert_eq!((f.raw(), f.tag()), (&[b][..], None));
        assert_eq!(m, BackendMessage::EncryptionResponse(want));
        assert_eq!(want.byte(), b);
        // Afterwards, regular messages.
        d.receive_data(&msg(b'Z', b"I"))?;
        assert!(matches!(
            d.next_message()?,
            Some((_, BackendMessage::ReadyForQuery(_)))
        ));
    }
    Ok(())
}

#[test]
fn ssl_response_followed_by_buffered_bytes_is_refused() -> R {
    // Bytes buffered together with 'S' came in clear before TLS: injection.
    let mut d = BackendDecoder::default();
    d.expect_encryption_response();
    d.receive_data(b"SZ\0\0\0\x05I")?;
    let e = d.next_message().err().ok_or("accepted")?;
    assert_eq!((e.kind(), e.offset()), (ErrorKind::UnexpectedMessage, 1));
    Ok(())
}

#[test]
fn error_response_instead_of_ssl_byte_is_read_as_a_message() -> R {
    let mut d = BackendDecoder::default();
    d.expect_encryption_response();
    d.receive_data(&msg(b'E', b"SFATAL\0C08P01\0Mno\0\0"))?;
    assert!(matches!(
        d.next_message()?,
        Some((_, BackendMessage::ErrorResponse(_)))
    ));
    Ok(())
}

#[test]
fn bad_ssl_byte_is_an_error() -> R {
    let mut d = BackendDecoder::default();
    d.expect_encryption_response();
    d.receive_data(b"x")?;
    assert_eq!(
        d.next_message().err().map(|e| e.kind()),
        Some(ErrorKind::InvalidValue)
    );
    Ok(())
}

#[test]
fn data_row_larger_than_cap_is_refused() -> R {
    let mut d = BackendDecoder::new(Limits {
        max_message_size: 100,
        ..Limits::default()
    });
    d.receive_data(&msg(b'D', &[0; 97]))?;
    assert_eq!(
        d.next_frame().err().map(|e| e.kind()),
        Some(ErrorKind::MessageTooLarge)
    );
    Ok(())
}

#[test]
fn frames_come_out_in_order_across_chunks() -> R {
    let mut stream = Vec::new();
    for i in 0..50u8 {
        stream.extend_from_slice(&msg(b'D', &[0, 1, 0, 0, 0, 1, i]));
    }
    stream.extend_from_slice(&msg(b'C', b"SELECT 50\0"));
    let mut d = BackendDecoder::default();
    let mut n = 0;
    let mut last_offset = None;
    for chunk in stream.chunks(13) {
        d.receive_data(chunk)?;
        while let Some((f, m)) = d.next_message()? {
            assert!(last_offset < Some(f.offset()));
            last_offset = Some(f.offset());
            if let BackendMessage::DataRow(r) = m {
                assert_eq!(r.values.to_vec(), vec![Some(&[n][..])]);
                n += 1;
            }
        }
    }
    assert_eq!(n, 50);
    assert_eq!(d.pending(), 0);
    Ok(())
}
