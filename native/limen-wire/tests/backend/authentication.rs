//! Authentication*.
use super::{decode_err, decode_one, msg, roundtrip, R};
use limen_wire::pg::backend::Authentication;
use limen_wire::pg::BackendMessage;
use limen_wire::ErrorKind;

#[test]
fn ok_cleartext_md5() -> R {
    decode_one(&msg(b'R', &[0, 0, 0, 0]), |m| {
        assert_eq!(m, BackendMessage::Authentication(Authentication::Ok));
        Ok(())
    })?;
    decode_one(&msg(b'R', &[0, 0, 0, 3]), |m| {
        assert_eq!(
            m,
            BackendMessage::Authentication(Authentication::CleartextPassword)
        );
        Ok(())
    })?;
    decode_one(&msg(b'R', &[0, 0, 0, 5, 9, 8, 7, 6]), |m| {
        assert_eq!(
            m,
            BackendMessage::Authentication(Authentication::Md5Password { salt: [9, 8, 7, 6] })
        );
        Ok(())
    })
}

#[test]
fn sasl_mechanism_list() -> R {
    let body = b"\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0";
    decode_one(&msg(b'R', body), |m| {
        let BackendMessage::Authentication(Authentication::Sasl(list)) = m else {
            return Err("not SASL".into());
        };
        let names: Vec<&[u8]> = list.iter().collect();
        assert_eq!(
            names,
            vec![&b"SCRAM-SHA-256-PLUS"[..], &b"SCRAM-SHA-256"[..]]
        );
        assert!(list.contains(b"SCRAM-SHA-256"));
        assert!(!list.contains(b"SCRAM"));
        Ok(())
    })
}

#[test]
fn sasl_encoder_and_continue_final_roundtrip() -> R {
    let mut bytes = Vec::new();
    Authentication::encode_sasl(&[b"SCRAM-SHA-256"], &mut bytes)?;
    decode_one(&bytes, |m| {
        let BackendMessage::Authentication(a @ Authentication::Sasl(_)) = m else {
            return Err("not SASL".into());
        };
        roundtrip(&BackendMessage::Authentication(a))
    })?;
    roundtrip(&BackendMessage::Authentication(
        Authentication::SaslContinue(b"r=abc,s=c2FsdA==,i=4096"),
    ))?;
    roundtrip(&BackendMessage::Authentication(Authentication::SaslFinal(
        b"v=xyz",
    )))?;
    roundtrip(&BackendMessage::Authentication(
        Authentication::GssContinue(b"\x01\x02"),
    ))?;
    roundtrip(&BackendMessage::Authentication(
        Authentication::Md5Password { salt: [1, 2, 3, 4] },
    ))
}

#[test]
fn sasl_list_without_terminator_is_an_error() -> R {
    assert_eq!(
        decode_err(&msg(b'R', b"\0\0\0\x0aSCRAM-SHA-256\0"))?,
        ErrorKind::MissingNul
    );
    Ok(())
}

#[test]
fn unknown_auth_code_and_short_salt_are_errors() -> R {
    assert_eq!(
        decode_err(&msg(b'R', &[0, 0, 0, 99]))?,
        ErrorKind::InvalidValue
    );
    assert_eq!(
        decode_err(&msg(b'R', &[0, 0, 0, 5, 1, 2]))?,
        ErrorKind::Truncated
    );
    assert_eq!(
        decode_err(&msg(b'R', &[0, 0, 0, 0, 1]))?,
        ErrorKind::TrailingBytes
    );
    Ok(())
}
