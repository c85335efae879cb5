//! CopyInResponse, CopyOutResponse, CopyBothResponse, CopyData.
use super::{decode_err, decode_one, msg, roundtrip, R};
use limen_wire::pg::backend::CopyResponse;
use limen_wire::pg::copy::CopyData;
use limen_wire::pg::BackendMessage;
use limen_wire::ErrorKind;

#[test]
fn copy_responses() -> R {
    decode_one(&msg(b'G', &[0, 0, 2, 0, 0, 0, 0]), |m| {
        let BackendMessage::CopyInResponse(c) = m else {
            return Err("not G".into());
        };
        assert_eq!((c.format, c.column_formats.to_vec()), (0, vec![0, 0]));
        Ok(())
    })?;
    for tag in [b'G', b'H', b'W'] {
        let mut bytes = Vec::new();
        CopyResponse::encode_parts(tag, 1, &[1, 1, 1], &mut bytes)?;
        decode_one(&bytes, |m| {
            let c = match m {
                BackendMessage::CopyInResponse(c) if tag == b'G' => c,
                BackendMessage::CopyOutResponse(c) if tag == b'H' => c,
                BackendMessage::CopyBothResponse(c) if tag == b'W' => c,
                other => return Err(format!("wrong message {other:?}").into()),
            };
            assert_eq!((c.format, c.column_formats.to_vec()), (1, vec![1, 1, 1]));
            Ok(())
        })?;
    }
    let mut out = Vec::new();
    assert!(CopyResponse::encode_parts(b'Q', 0, &[], &mut out).is_err());
    assert_eq!(decode_err(&msg(b'H', &[2, 0, 0]))?, ErrorKind::InvalidValue);
    Ok(())
}

#[test]
fn copy_data_out() -> R {
    roundtrip(&BackendMessage::CopyData(CopyData {
        data: b"1,ada@example.com\n",
    }))
}
