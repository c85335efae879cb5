//! RowDescription and the column map built from it.
use super::{decode_err, decode_one, R};
use limen_wire::pg::backend::{ColumnOrigin, FieldDescription, RowDescription};
use limen_wire::pg::BackendMessage;
use limen_wire::ErrorKind;

fn fields() -> Vec<FieldDescription<'static>> {
    vec![
        FieldDescription {
            name: b"id",
            table_oid: 16384,
            column_attr: 1,
            type_oid: 23,
            type_size: 4,
            type_modifier: -1,
            format: 0,
        },
        FieldDescription {
            name: b"email",
            table_oid: 16384,
            column_attr: 3,
            type_oid: 25,
            type_size: -1,
            type_modifier: -1,
            format: 1,
        },
        FieldDescription {
            name: b"?column?",
            table_oid: 0,
            column_attr: 0,
            type_oid: 23,
            type_size: 4,
            type_modifier: -1,
            format: 0,
        },
    ]
}

#[test]
fn fields_and_column_map() -> R {
    let mut bytes = Vec::new();
    RowDescription::encode_fields(&fields(), &mut bytes)?;
    decode_one(&bytes, |m| {
        let BackendMessage::RowDescription(rd) = m else {
            return Err("not T".into());
        };
        assert_eq!(rd.len(), 3);
        assert_eq!(rd.fields().collect::<Vec<_>>(), fields());
        let map = rd.column_map();
        assert_eq!(
            map.get(1),
            Some(ColumnOrigin {
                table_oid: 16384,
                column_attr: 3
            })
        );
        assert_eq!(map.get(3), None);
        assert_eq!(map.positions_of(16384, 3).collect::<Vec<_>>(), vec![1]);
        assert_eq!(
            map.positions_of(0, 0).count(),
            0,
            "computed columns match no table rule"
        );
        super::roundtrip(&BackendMessage::RowDescription(rd))
    })
}

#[test]
fn empty_row_description() -> R {
    decode_one(&super::msg(b'T', &[0, 0]), |m| {
        let BackendMessage::RowDescription(rd) = m else {
            return Err("not T".into());
        };
        assert!(rd.is_empty() && rd.column_map().is_empty());
        Ok(())
    })
}

#[test]
fn truncated_field_is_an_error() -> R {
    let mut bytes = Vec::new();
    RowDescription::encode_fields(&fields(), &mut bytes)?;
    // Drop the last byte of the body but keep the length consistent.
    let body = &bytes[5..bytes.len() - 1];
    assert_eq!(decode_err(&super::msg(b'T', body))?, ErrorKind::Truncated);
    Ok(())
}

#[test]
fn field_count_larger_than_fields_is_an_error() -> R {
    assert_eq!(
        decode_err(&super::msg(b'T', &[0, 1]))?,
        ErrorKind::MissingNul
    );
    assert_eq!(
        decode_err(&super::msg(b'T', &[0xff, 0xff]))?,
        ErrorKind::NegativeCount
    );
    Ok(())
}
