//! DataRow and CommandComplete.
use super::{decode_err, decode_one, msg, roundtrip, R};
use limen_wire::pg::backend::{CommandComplete, DataRow};
use limen_wire::pg::BackendMessage;
use limen_wire::ErrorKind;

#[test]
fn data_row_values_borrowed_with_null() -> R {
    let body = [
        0, 3, 0, 0, 0, 1, b'1', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 3, b'a', b'b', b'c',
    ];
    decode_one(&msg(b'D', &body), |m| {
        let BackendMessage::DataRow(r) = m else {
            return Err("not D".into());
        };
        assert_eq!(r.values.len(), 3);
        assert_eq!(
            r.values.to_vec(),
            vec![Some(&b"1"[..]), None, Some(&b"abc"[..])]
        );
        roundtrip(&BackendMessage::DataRow(r))
    })
}

#[test]
fn data_row_encode_values() -> R {
    let vals: [Option<&[u8]>; 3] = [None, Some(b""), Some(&[0xff; 300])];
    let mut bytes = Vec::new();
    DataRow::encode_values(&vals, &mut bytes)?;
    decode_one(&bytes, |m| {
        let BackendMessage::DataRow(r) = m else {
            return Err("not D".into());
        };
        assert_eq!(r.values.to_vec(), vals.to_vec());
        Ok(())
    })
}

#[test]
fn data_row_column_past_end_is_truncated() -> R {
    assert_eq!(
        decode_err(&msg(b'D', &[0, 1, 0, 0, 0, 9, b'x']))?,
        ErrorKind::Truncated
    );
    assert_eq!(
        decode_err(&msg(b'D', &[0, 2, 0xff, 0xff, 0xff, 0xff]))?,
        ErrorKind::Truncated
    );
    assert_eq!(
        decode_err(&msg(b'D', &[0, 0, 1]))?,
        ErrorKind::TrailingBytes
    );
    assert_eq!(
        decode_err(&msg(b'D', &[0, 1, 0x80, 0, 0, 0]))?,
        ErrorKind::NegativeCount
    );
    Ok(())
}

#[test]
fn command_complete() -> R {
    decode_one(&msg(b'C', b"INSERT 0 5\0"), |m| {
        assert_eq!(
            m,
            BackendMessage::CommandComplete(CommandComplete { tag: b"INSERT 0 5" })
        );
        Ok(())
    })?;
    roundtrip(&BackendMessage::CommandComplete(CommandComplete {
        tag: b"SELECT 1",
    }))
}
