//! Regular frontend messages as owned specs: their strategy, encoder and
//! comparison with the parsed view.
use limen_wire::pg::copy::CopyData;
use limen_wire::pg::frontend::{
    Bind, Close, CopyFail, Describe, Execute, FunctionCall, Parse, Query, TargetKind,
};
use limen_wire::pg::FrontendMessage;
use proptest::prelude::*;

use super::{borrow, bytes, formats, text, values};

/// An owned description of a regular frontend message.
#[derive(Clone, Debug)]
pub(super) enum Fe {
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

pub(super) fn fe() -> impl Strategy<Value = Fe> {
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

pub(super) fn encode_fe(m: &Fe, out: &mut Vec<u8>) -> Result<(), limen_wire::Error> {
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

pub(super) fn same_fe(spec: &Fe, m: &FrontendMessage<'_>) -> bool {
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
