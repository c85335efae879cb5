//! Bind.
use super::{decode_err, decode_one, msg, R};
use limen_wire::pg::frontend::Bind;
use limen_wire::pg::FrontendMessage;
use limen_wire::ErrorKind;

#[test]
fn bind_values_are_borrowed_with_nulls() -> R {
    let mut body = b"portal\0stmt\0".to_vec();
    body.extend_from_slice(&[0, 1, 0, 1]); // one format code: binary for all
    body.extend_from_slice(&[0, 3]); // three params
    body.extend_from_slice(&[0, 0, 0, 2, b'h', b'i']);
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // NULL
    body.extend_from_slice(&[0, 0, 0, 0]); // empty
    body.extend_from_slice(&[0, 2, 0, 0, 0, 1]); // result formats text, binary
    decode_one(&msg(b'B', &body), |m| {
        let FrontendMessage::Bind(b) = m else {
            return Err("not Bind".into());
        };
        assert_eq!(b.portal, b"portal");
        assert_eq!(b.statement, b"stmt");
        assert_eq!(b.param_formats.to_vec(), vec![1]);
        assert_eq!(b.param_format(2), Some(1), "a single format applies to all");
        assert_eq!(
            b.params.to_vec(),
            vec![Some(&b"hi"[..]), None, Some(&b""[..])]
        );
        assert_eq!(b.params.get(1), Some(None));
        assert_eq!(b.result_formats.to_vec(), vec![0, 1]);
        Ok(())
    })
}

#[test]
fn bind_encode_parts_roundtrip() -> R {
    let mut bytes = Vec::new();
    let vals: [Option<&[u8]>; 2] = [None, Some(b"42")];
    Bind::encode_parts(b"", b"s", &[], &vals, &[1], &mut bytes)?;
    decode_one(&bytes, |m| {
        let FrontendMessage::Bind(b) = m else {
            return Err("not Bind".into());
        };
        assert_eq!(b.params.to_vec(), vals.to_vec());
        assert_eq!(b.param_format(0), Some(0), "no format codes means text");
        assert_eq!(b.result_formats.to_vec(), vec![1]);
        Ok(())
    })
}

#[test]
fn bind_value_length_past_body_is_truncated() -> R {
    let body = b"\0\0\0\0\0\x01\0\0\x10\0ab\0\0";
    assert_eq!(decode_err(&msg(b'B', body))?, ErrorKind::Truncated);
    Ok(())
}

#[test]
fn bind_negative_value_length_other_than_null_is_an_error() -> R {
    let body = b"\0\0\0\0\0\x01\xff\xff\xff\xfe\0\0";
    assert_eq!(decode_err(&msg(b'B', body))?, ErrorKind::NegativeCount);
    Ok(())
}
