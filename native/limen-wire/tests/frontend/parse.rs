//! Parse.
use super::{decode_err, decode_one, msg, R};
use limen_wire::pg::frontend::Parse;
use limen_wire::pg::FrontendMessage;
use limen_wire::ErrorKind;

#[test]
fn parse_with_types() -> R {
    let body = b"s1\0SELECT $1::int, $2\0\0\x02\0\0\0\x17\0\0\0\0";
    decode_one(&msg(b'P', body), |m| {
        let FrontendMessage::Parse(p) = m else {
            return Err("not Parse".into());
        };
        assert_eq!(p.name, b"s1");
        assert_eq!(p.query, b"SELECT $1::int, $2");
        assert_eq!(p.param_types.to_vec(), vec![23, 0]);
        assert_eq!(p.param_types.get(2), None);
        Ok(())
    })
}

#[test]
fn parse_encode_parts_roundtrip() -> R {
    let mut bytes = Vec::new();
    Parse::encode_parts(b"", b"SELECT 1", &[25, 1043, u32::MAX], &mut bytes)?;
    decode_one(&bytes, |m| {
        let FrontendMessage::Parse(p) = m else {
            return Err("not Parse".into());
        };
        assert_eq!((p.name, p.query), (&b""[..], &b"SELECT 1"[..]));
        assert_eq!(p.param_types.to_vec(), vec![25, 1043, u32::MAX]);
        Ok(())
    })
}

#[test]
fn parse_with_negative_type_count_is_an_error() -> R {
    assert_eq!(
        decode_err(&msg(b'P', b"\0q\0\xff\xff"))?,
        ErrorKind::NegativeCount
    );
    Ok(())
}

#[test]
fn parse_with_count_larger_than_body_is_truncated() -> R {
    assert_eq!(
        decode_err(&msg(b'P', b"\0q\0\x7f\xff\0\0\0\x17"))?,
        ErrorKind::Truncated
    );
    Ok(())
}
