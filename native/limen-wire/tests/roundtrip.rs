//! Property tests: decode(encode(x)) == x for every encodable message, and
//! any valid stream split at arbitrary points decodes to the same frames
//! and messages as the whole stream.
use limen_wire::pg::backend::{
    Authentication, BackendKeyData, CommandComplete, CopyResponse, DataRow, FieldDescription,
    NegotiateProtocolVersion, NotificationResponse, ParameterDescription, ParameterStatus,
    RowDescription, TransactionStatus,
};
use limen_wire::pg::copy::CopyData;
use limen_wire::pg::frontend::{
    Bind, CancelRequest, Close, CopyFail, Describe, Execute, FunctionCall, Parse, ProtocolVersion,
    Query, StartupMessage, TargetKind,
};
use limen_wire::pg::{BackendDecoder, BackendMessage, FrontendDecoder, FrontendMessage, Limits};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, 0..24)
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..48)
}

fn values() -> impl Strategy<Value = Vec<Option<Vec<u8>>>> {
    prop::collection::vec(prop::option::of(bytes()), 0..6)
}

fn formats() -> impl Strategy<Value = Vec<i16>> {
    prop::collection::vec(0i16..=1, 0..4)
}

fn borrow(v: &[Option<Vec<u8>>]) -> Vec<Option<&[u8]>> {
    v.iter().map(|x| x.as_deref()).collect()
}

/// An owned description of a regular frontend message.
#[derive(Clone, Debug)]
enum Fe {
    Query(Vec<u8>),
    Parse(Vec<u8>, Vec<u8>, Vec<u32>),
    Bind(Vec<u8>, Vec<u8>, Vec<i16>, Vec<Option<Vec<u8>>>, Vec<i16>),
    Execute(Vec<u8>, i32),
    Describe(bool, Vec<u8>),
    Close(bool, Vec<u8>),
    Sync,
    Flush,
    CopyData(Vec<u8>),
    CopyDone,
    CopyFail(Vec<u8>),
    FunctionCall(u32, Vec<i16>, Vec<Option<Vec<u8>>>, i16),
    Unknown(u8, Vec<u8>),
}

fn fe() -> impl Strategy<Value = Fe> {
    prop_oneof![
        text().prop_map(Fe::Query),
        (text(), text(), prop::collection::vec(any::<u32>(), 0..5))
            .prop_map(|(a, b, c)| Fe::Parse(a, b, c)),
        (text(), text(), formats(), values(), formats())
            .prop_map(|(a, b, c, d, e)| Fe::Bind(a, b, c, d, e)),
        (text(), any::<i32>()).prop_map(|(a, b)| Fe::Execute(a, b)),
        (any::<bool>(), text()).prop_map(|(a, b)| Fe::Describe(a, b)),
        (any::<bool>(), text()).prop_map(|(a, b)| Fe::Close(a, b)),
        Just(Fe::Sync),
        Just(Fe::Flush),
        bytes().prop_map(Fe::CopyData),
        Just(Fe::CopyDone),
        text().prop_map(Fe::CopyFail),
        (any::<u32>(), formats(), values(), 0i16..=1)
            .prop_map(|(a, b, c, d)| Fe::FunctionCall(a, b, c, d)),
        (prop::sample::select(b"!#$%&*+-/:;<=>?@".to_vec()), bytes())
            .prop_map(|(t, b)| Fe::Unknown(t, b)),
    ]
}

fn kind(statement: bool) -> TargetKind {
    if statement {
        TargetKind::Statement
    } else {
        TargetKind::Portal
    }
}

fn encode_fe(m: &Fe, out: &mut Vec<u8>) -> Result<(), limen_wire::Error> {
    match m {
        Fe::Query(s) => Query { sql: s }.try_encode(out),
        Fe::Parse(n, q, t) => Parse::encode_parts(n, q, t, out),
        Fe::Bind(p, s, pf, v, rf) => Bind::encode_parts(p, s, pf, &borrow(v), rf, out),
        Fe::Execute(p, n) => Execute {
            portal: p,
            max_rows: *n,
        }
        .try_encode(out),
        Fe::Describe(k, n) => Describe {
            kind: kind(*k),
            name: n,
        }
        .try_encode(out),
        Fe::Close(k, n) => Close {
            kind: kind(*k),
            name: n,
        }
        .try_encode(out),
        Fe::Sync => FrontendMessage::Sync.try_encode(out),
        Fe::Flush => FrontendMessage::Flush.try_encode(out),
        Fe::CopyData(d) => CopyData { data: d }.try_encode(out),
        Fe::CopyDone => FrontendMessage::CopyDone.try_encode(out),
        Fe::CopyFail(s) => CopyFail { message: s }.try_encode(out),
        Fe::FunctionCall(o, f, a, r) => FunctionCall::encode_parts(*o, f, &borrow(a), *r, out),
        Fe::Unknown(t, b) => FrontendMessage::Unknown { tag: *t, body: b }.try_encode(out),
    }
}

fn same_fe(spec: &Fe, m: &FrontendMessage<'_>) -> bool {
    match (spec, m) {
        (Fe::Query(s), FrontendMessage::Query(q)) => q.sql == &s[..],
        (Fe::Parse(n, q, t), FrontendMessage::Parse(p)) => {
            p.name == &n[..] && p.query == &q[..] && p.param_types.to_vec() == *t
        }
        (Fe::Bind(p, s, pf, v, rf), FrontendMessage::Bind(b)) => {
            b.portal == &p[..]
                && b.statement == &s[..]
                && b.param_formats.to_vec() == *pf
                && b.params.to_vec() == borrow(v)
                && b.result_formats.to_vec() == *rf
        }
        (Fe::Execute(p, n), FrontendMessage::Execute(e)) => e.portal == &p[..] && e.max_rows == *n,
        (Fe::Describe(k, n), FrontendMessage::Describe(d)) => {
            d.kind == kind(*k) && d.name == &n[..]
        }
        (Fe::Close(k, n), FrontendMessage::Close(c)) => c.kind == kind(*k) && c.name == &n[..],
        (Fe::Sync, FrontendMessage::Sync) | (Fe::Flush, FrontendMessage::Flush) => true,
        (Fe::CopyData(d), FrontendMessage::CopyData(c)) => c.data == &d[..],
        (Fe::CopyDone, FrontendMessage::CopyDone) => true,
        (Fe::CopyFail(s), FrontendMessage::CopyFail(c)) => c.message == &s[..],
        (Fe::FunctionCall(o, f, a, r), FrontendMessage::FunctionCall(c)) => {
            c.function_oid == *o
                && c.arg_formats.to_vec() == *f
                && c.args.to_vec() == borrow(a)
                && c.result_format == *r
        }
        (Fe::Unknown(t, b), FrontendMessage::Unknown { tag, body }) => tag == t && body == &&b[..],
        _ => false,
    }
}

/// name, table OID, attnum, type OID, size, modifier, format.
type OwnedField = (Vec<u8>, u32, i16, u32, i16, i32, i16);

/// An owned description of a backend message.
#[derive(Clone, Debug)]
enum Be {
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

fn be() -> impl Strategy<Value = Be> {
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

fn encode_be(m: &Be, out: &mut Vec<u8>) -> Result<(), limen_wire::Error> {
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

fn same_be(spec: &Be, m: &BackendMessage<'_>) -> bool {
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

/// Frames and parsed messages (as Debug strings) from feeding `chunks`.
fn run_frontend(
    limits: Limits,
    chunks: &[&[u8]],
) -> Result<Vec<(u64, Vec<u8>, String)>, limen_wire::Error> {
    let mut d = FrontendDecoder::new(limits);
    let mut out = Vec::new();
    for c in chunks {
        d.receive_data(c)?;
        while let Some((f, m)) = d.next_message()? {
            out.push((f.offset(), f.raw().to_vec(), format!("{m:?}")));
        }
    }
    assert_eq!(d.pending(), 0);
    Ok(out)
}

fn run_backend(chunks: &[&[u8]]) -> Result<Vec<(u64, Vec<u8>, String)>, limen_wire::Error> {
    let mut d = BackendDecoder::default();
    let mut out = Vec::new();
    for c in chunks {
        d.receive_data(c)?;
        while let Some((f, m)) = d.next_message()? {
            out.push((f.offset(), f.raw().to_vec(), format!("{m:?}")));
        }
    }
    assert_eq!(d.pending(), 0);
    Ok(out)
}

/// Splits `data` at the given cut points (sorted and clamped).
fn split<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut parts = Vec::new();
    let mut at = 0;
    for c in cuts {
        parts.push(&data[at..c]);
        at = c;
    }
    parts.push(&data[at..]);
    parts
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

proptest! {
    #[test]
    fn frontend_decode_encode(spec in fe()) {
        let mut bytes = Vec::new();
        encode_fe(&spec, &mut bytes).map_err(fail)?;
        let mut d = FrontendDecoder::new_regular(Limits::default());
        d.receive_data(&bytes).map_err(fail)?;
        let (f, m) = d.next_message().map_err(fail)?.ok_or_else(|| fail("incomplete"))?;
        prop_assert_eq!(f.raw(), &bytes[..]);
        prop_assert!(same_fe(&spec, &m), "{:?} decoded as {:?}", spec, m);
        // Re-encoding the parsed view gives the same bytes.
        let mut again = Vec::new();
        m.try_encode(&mut again).map_err(fail)?;
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn backend_decode_encode(spec in be()) {
        let mut bytes = Vec::new();
        encode_be(&spec, &mut bytes).map_err(fail)?;
        let mut d = BackendDecoder::default();
        d.receive_data(&bytes).map_err(fail)?;
        let (f, m) = d.next_message().map_err(fail)?.ok_or_else(|| fail("incomplete"))?;
        prop_assert_eq!(f.raw(), &bytes[..]);
        prop_assert!(same_be(&spec, &m), "{:?} decoded as {:?}", spec, m);
        let mut again = Vec::new();
        m.try_encode(&mut again).map_err(fail)?;
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn startup_decode_encode(params in prop::collection::vec((prop::collection::vec(1u8..=255, 1..12), text()), 0..5),
                             minor in 0u16..3, pid in any::<i32>(), key in prop::collection::vec(any::<u8>(), 4..64)) {
        let p: Vec<(&[u8], &[u8])> = params.iter().map(|(a, b)| (a.as_slice(), b.as_slice())).collect();
        let s = StartupMessage { version: ProtocolVersion { major: 3, minor }, params: p };
        let c = CancelRequest { process_id: pid, secret_key: &key };
        for m in [FrontendMessage::Startup(s), FrontendMessage::CancelRequest(c)] {
            let mut bytes = Vec::new();
            m.try_encode(&mut bytes).map_err(fail)?;
            let mut d = FrontendDecoder::default();
            d.receive_data(&bytes).map_err(fail)?;
            let (_, back) = d.next_message().map_err(fail)?.ok_or_else(|| fail("incomplete"))?;
            prop_assert_eq!(back, m);
        }
    }

    #[test]
    fn frontend_stream_split_anywhere(specs in prop::collection::vec(fe(), 0..12),
                                      cuts in prop::collection::vec(any::<usize>(), 0..20)) {
        let mut stream = Vec::new();
        StartupMessage { version: ProtocolVersion::V3_0, params: vec![(b"user", b"bot")] }
            .try_encode(&mut stream).map_err(fail)?;
        for s in &specs {
            encode_fe(s, &mut stream).map_err(fail)?;
        }
        let limits = Limits { max_chunk: stream.len().max(1), ..Limits::default() };
        let whole = run_frontend(limits, &[&stream]).map_err(fail)?;
        prop_assert_eq!(whole.len(), specs.len() + 1);
        let parts = split(&stream, &cuts);
        prop_assert_eq!(run_frontend(limits, &parts).map_err(fail)?, whole);
    }

    #[test]
    fn backend_stream_split_anywhere(specs in prop::collection::vec(be(), 0..12),
                                     cuts in prop::collection::vec(any::<usize>(), 0..20)) {
        let mut stream = Vec::new();
        for s in &specs {
            encode_be(s, &mut stream).map_err(fail)?;
        }
        let whole = run_backend(&[&stream]).map_err(fail)?;
        prop_assert_eq!(whole.len(), specs.len());
        let parts = split(&stream, &cuts);
        prop_assert_eq!(run_backend(&parts).map_err(fail)?, whole);
    }

    /// Arbitrary bytes never panic either decoder, and a decoder that fails
    /// stays failed.
    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..300), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let limits = Limits { max_message_size: 256, max_startup_size: 128, max_chunk: 512, max_unauthenticated_size: 200 };
        let mut f = FrontendDecoder::new(limits);
        let mut b = BackendDecoder::new(limits);
        for part in split(&data, &cuts) {
            let _ = f.receive_data(part);
            while let Ok(Some(_)) = f.next_message() {}
            let _ = b.receive_data(part);
            while let Ok(Some(_)) = b.next_message() {}
        }
        prop_assert!(f.pending() <= limits.max_buffer());
        prop_assert!(b.pending() <= limits.max_buffer());
    }
}
