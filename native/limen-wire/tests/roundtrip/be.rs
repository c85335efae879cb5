//! Backend messages as owned specs: their strategy, encoder and comparison
//! with the parsed view.
use limen_wire::pg::backend::{
    Authentication, BackendKeyData, CommandComplete, CopyResponse, DataRow, FieldDescription,
    NegotiateProtocolVersion, NotificationResponse, ParameterDescription, ParameterStatus,
    RowDescription, TransactionStatus,
};
use limen_wire::pg::copy::CopyData;
use limen_wire::pg::BackendMessage;
use proptest::prelude::*;

use super::{borrow, bytes, formats, text, values};

/// name, table OID, attnum, type OID, size, modifier, format.
pub(super) type OwnedField = (Vec<u8>, u32, i16, u32, i16, i32, i16);

/// An owned description of a backend message.
#[derive(Clone, Debug)]
pub(super) enum Be {
    AuthOk,
    AuthMd5([u8; 4]),
    AuthSasl(Vec<Vec<u8>>),
    AuthSaslContinue(Vec<u8>),
    ParameterStatus(Vec<u8>, Vec<u8>),
    BackendKeyData(i32, Vec<u8>),
    Ready(u8),
    RowDescription(Vec<OwnedField>),
    DataRow(Vec<Option<Vec<u8>>>),
    CommandComplete(Vec<u8>),
    Error(Vec<(u8, Vec<u8>)>),
    Empty(u8),
    ParameterDescription(Vec<u32>),
    CopyResponse(u8, u8, Vec<i16>),
    CopyData(Vec<u8>),
    Notification(i32, Vec<u8>, Vec<u8>),
    Negotiate(i32, Vec<Vec<u8>>),
}

pub(super) fn be() -> impl Strategy<Value = Be> {
    let field = (
        text(),
        any::<u32>(),
        any::<i16>(),
        any::<u32>(),
        any::<i16>(),
        any::<i32>(),
        0i16..=1,
    );
    prop_oneof![
        Just(Be::AuthOk),
        any::<[u8; 4]>().prop_map(Be::AuthMd5),
        prop::collection::vec(prop::collection::vec(1u8..=255, 1..20), 0..3).prop_map(Be::AuthSasl),
        bytes().prop_map(Be::AuthSaslContinue),
        (text(), text()).prop_map(|(a, b)| Be::ParameterStatus(a, b)),
        (any::<i32>(), prop::collection::vec(any::<u8>(), 4..40))
            .prop_map(|(a, b)| Be::BackendKeyData(a, b)),
        prop::sample::select(b"ITE".to_vec()).prop_map(Be::Ready),
        prop::collection::vec(field, 0..4).prop_map(Be::RowDescription),
        values().prop_map(Be::DataRow),
        text().prop_map(Be::CommandComplete),
        prop::collection::vec((1u8..=255, text()), 0..5).prop_map(Be::Error),
        prop::sample::select(b"I123nsc".to_vec()).prop_map(Be::Empty),
        prop::collection::vec(any::<u32>(), 0..5).prop_map(Be::ParameterDescription),
        (prop::sample::select(b"GHW".to_vec()), 0u8..=1, formats())
            .prop_map(|(a, b, c)| Be::CopyResponse(a, b, c)),
        bytes().prop_map(Be::CopyData),
        (any::<i32>(), text(), text()).prop_map(|(a, b, c)| Be::Notification(a, b, c)),
        (any::<i32>(), prop::collection::vec(text(), 0..3)).prop_map(|(a, b)| Be::Negotiate(a, b)),
    ]
}

pub(super) fn encode_be(m: &Be, out: &mut Vec<u8>) -> Result<(), limen_wire::Error> {
    match m {
        Be::AuthOk => Authentication::Ok.try_encode(out),
        Be::AuthMd5(s) => Authentication::Md5Password { salt: *s }.try_encode(out),
        Be::AuthSasl(list) => {
            let l: Vec<&[u8]> = list.iter().map(Vec::as_slice).collect();
            Authentication::encode_sasl(&l, out)
        }
        Be::AuthSaslContinue(d) => Authentication::SaslContinue(d).try_encode(out),
        Be::ParameterStatus(n, v) => ParameterStatus { name: n, value: v }.try_encode(out),
        Be::BackendKeyData(p, k) => BackendKeyData {
            process_id: *p,
            secret_key: k,
        }
        .try_encode(out),
        Be::Ready(b) => {
            let s = match b {
                b'I' => TransactionStatus::Idle,
                b'T' => TransactionStatus::InTransaction,
                _ => TransactionStatus::Failed,
            };
            s.encode_ready_for_query(out);
            Ok(())
        }
        Be::RowDescription(fields) => {
            let f: Vec<FieldDescription<'_>> = fields
                .iter()
                .map(|(n, t, a, ty, sz, m, fmt)| FieldDescription {
                    name: n,
                    table_oid: *t,
                    column_attr: *a,
                    type_oid: *ty,
                    type_size: *sz,
                    type_modifier: *m,
                    format: *fmt,
                })
                .collect();
            RowDescription::encode_fields(&f, out)
        }
        Be::DataRow(v) => DataRow::encode_values(&borrow(v), out),
        Be::CommandComplete(t) => CommandComplete { tag: t }.try_encode(out),
        Be::Error(fields) => {
            let f: Vec<(u8, &[u8])> = fields.iter().map(|(c, v)| (*c, v.as_slice())).collect();
            limen_wire::pg::backend::encode_fields(b'E', &f, out)
        }
        Be::Empty(t) => {
            limen_wire::pg::copy::encode_empty(*t, out);
            Ok(())
        }
        Be::ParameterDescription(t) => ParameterDescription::encode_types(t, out),
        Be::CopyResponse(t, f, c) => CopyResponse::encode_parts(*t, *f, c, out),
        Be::CopyData(d) => CopyData { data: d }.try_encode(out),
        Be::Notification(p, c, d) => NotificationResponse {
            process_id: *p,
            channel: c,
            payload: d,
        }
        .try_encode(out),
        Be::Negotiate(n, o) => {
            let o: Vec<&[u8]> = o.iter().map(Vec::as_slice).collect();
            NegotiateProtocolVersion::encode_parts(*n, &o, out)
        }
    }
}

pub(super) fn same_be(spec: &Be, m: &BackendMessage<'_>) -> bool {
    use BackendMessage as B;
    match (spec, m) {
        (Be::AuthOk, B::Authentication(Authentication::Ok)) => true,
        (Be::AuthMd5(s), B::Authentication(Authentication::Md5Password { salt })) => s == salt,
        (Be::AuthSasl(l), B::Authentication(Authentication::Sasl(list))) => {
            list.iter().collect::<Vec<_>>() == l.iter().map(Vec::as_slice).collect::<Vec<_>>()
        }
        (Be::AuthSaslContinue(d), B::Authentication(Authentication::SaslContinue(x))) => {
            x == &&d[..]
        }
        (Be::ParameterStatus(n, v), B::ParameterStatus(p)) => p.name == &n[..] && p.value == &v[..],
        (Be::BackendKeyData(p, k), B::BackendKeyData(b)) => {
            b.process_id == *p && b.secret_key == &k[..]
        }
        (Be::Ready(b), B::ReadyForQuery(s)) => s.byte() == *b,
        (Be::RowDescription(f), B::RowDescription(rd)) => {
            rd.fields()
                .map(|x| {
                    (
                        x.name.to_vec(),
                        x.table_oid,
                        x.column_attr,
                        x.type_oid,
                        x.type_size,
                        x.type_modifier,
                        x.format,
                    )
                })
                .collect::<Vec<_>>()
                == *f
        }
        (Be::DataRow(v), B::DataRow(r)) => r.values.to_vec() == borrow(v),
        (Be::CommandComplete(t), B::CommandComplete(c)) => c.tag == &t[..],
        (Be::Error(f), B::ErrorResponse(e)) => {
            e.iter().collect::<Vec<_>>()
                == f.iter()
                    .map(|(c, v)| (*c, v.as_slice()))
                    .collect::<Vec<_>>()
        }
        (Be::Empty(t), m) => {
            let mut out = Vec::new();
            m.try_encode(&mut out).is_ok() && out == [*t, 0, 0, 0, 4]
        }
        (Be::ParameterDescription(t), B::ParameterDescription(p)) => p.types.to_vec() == *t,
        (Be::CopyResponse(t, f, c), m) => {
            let r = match (t, m) {
                (b'G', B::CopyInResponse(r))
                | (b'H', B::CopyOutResponse(r))
                | (b'W', B::CopyBothResponse(r)) => r,
                _ => return false,
            };
            r.format == *f && r.column_formats.to_vec() == *c
        }
        (Be::CopyData(d), B::CopyData(c)) => c.data == &d[..],
        (Be::Notification(p, c, d), B::NotificationResponse(n)) => {
            n.process_id == *p && n.channel == &c[..] && n.payload == &d[..]
        }
        (Be::Negotiate(n, o), B::NegotiateProtocolVersion(v)) => {
            v.newest_minor == *n
                && v.unrecognized().collect::<Vec<_>>()
                    == o.iter().map(Vec::as_slice).collect::<Vec<_>>()
        }
        _ => false,
    }
}
