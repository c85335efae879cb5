//! Properties of the server-side relay: the client bytes do not depend on
//! how the upstream's bytes were split; with no masker and no plan the
//! relay is a byte-identical passthrough (differential against the input);
//! with a masker, what the client decodes equals the rows masked value by
//! value.
use std::sync::Arc;

use crate::relay_util::*;
use limen_wire::mysql::binary::{types::*, BinaryValue};
use limen_wire::mysql::caps::*;
use limen_wire::mysql::{ColumnPlan, ContentMasker, Expect, ServerRelay};
use proptest::prelude::*;

/// A text value: NULL, random bytes, or text with "secret" inside.
fn value() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        3 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Some),
        2 => "[a-z ]{0,10}(secret)?[a-z]{0,5}".prop_map(|s| Some(s.into_bytes())),
    ]
}

/// Result sets: each a column count (1..4) and rows of that many values.
type Rows = Vec<Vec<Option<Vec<u8>>>>;
type Sets = Vec<(usize, Rows)>;

fn result_sets() -> impl Strategy<Value = Sets> {
    proptest::collection::vec(
        (1usize..4).prop_flat_map(|n| {
            (
                Just(n),
                proptest::collection::vec(proptest::collection::vec(value(), n), 0..6),
            )
        }),
        1..3,
    )
}

const COLS: [Col<'static>; 3] = [
    ("db", "t", "a", VAR_STRING),
    ("db", "t", "b", BLOB),
    ("db", "t", "c", STRING),
];

fn text_response(caps: u64, seq: u8, sets: &[(usize, Rows)]) -> Vec<u8> {
    let mut resp = Resp::new(caps, seq);
    for (i, (n, rows)) in sets.iter().enumerate() {
        resp.columns(&COLS[..*n]);
        for row in rows {
            let values: Vec<Option<&[u8]>> = row.iter().map(|v| v.as_deref()).collect();
            resp.text_row(&values);
        }
        let more = if i + 1 < sets.len() {
            SERVER_MORE_RESULTS_EXISTS
        } else {
            0
        };
        resp.rows_end(more);
    }
    resp.bytes
}

fn binary_response(caps: u64, seq: u8, rows: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
    let cols = [("db", "t", "n", LONGLONG), COLS[0], COLS[1]];
    let types = [LONGLONG, VAR_STRING, BLOB];
    let mut resp = Resp::new(caps, seq);
    resp.columns(&cols);
    for (i, row) in rows.iter().enumerate() {
        let n = (i as u64).to_le_bytes();
        let mut values = vec![BinaryValue::Fixed(&n)];
        for v in row.iter().take(2) {
            values.push(v.as_deref().map_or(BinaryValue::Null, BinaryValue::Str));
        }
        while values.len() < 3 {
            values.push(BinaryValue::Null);
        }
        resp.binary_row(&types, &values);
    }
    resp.rows_end(0);
    resp.bytes
}

/// Feeds `wire` cut at `cuts` (offsets, any order) and returns the output.
fn run<M: ContentMasker>(
    mut relay: ServerRelay<M>,
    expect: Expect,
    seq: u8,
    plan: Option<Arc<ColumnPlan>>,
    wire: &[u8],
    cuts: &[usize],
) -> Result<Vec<u8>, TestCaseError> {
    relay
        .expect(expect, seq, plan, Some(1))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.push(0);
    points.push(wire.len());
    points.sort_unstable();
    let mut out = Vec::new();
    for w in points.windows(2) {
        relay
            .try_feed(&wire[w[0]..w[1]], &mut out)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    prop_assert!(relay.is_done());
    Ok(out)
}

fn caps(deprecate: bool) -> u64 {
    if deprecate {
        CAPS_DEPRECATE
    } else {
        CAPS
    }
}

fn masked(v: &Option<Vec<u8>>) -> Option<Vec<u8>> {
    v.as_ref().map(|v| {
        let mut out = Vec::new();
        TestMasker.mask_into(v, &mut out);
        out
    })
}

proptest! {
    #[test]
    fn no_masker_no_plan_is_a_byte_identical_passthrough(
        sets in result_sets(),
        deprecate in any::<bool>(),
        seq in any::<u8>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let caps = caps(deprecate);
        let wire = text_response(caps, seq, &sets);
        let relay = ServerRelay::<TestMasker>::new(None, caps, 16 << 20);
        let out = run(relay, Expect::Query, seq, None, &wire, &cuts)?;
        prop_assert_eq!(out, wire);
    }

    #[test]
    fn any_split_gives_the_same_client_bytes(
        sets in result_sets(),
        deprecate in any::<bool>(),
        seq in any::<u8>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let caps = caps(deprecate);
        let wire = text_response(caps, seq, &sets);
        let plan = Arc::new(ColumnPlan::new(
            vec![(None, b"t".to_vec(), b"b".to_vec(), b"[B]".to_vec())],
            None,
            None,
        ));
        let whole = run(relay_with(caps), Expect::Query, seq, Some(plan.clone()), &wire, &[])?;
        let split = run(relay_with(caps), Expect::Query, seq, Some(plan), &wire, &cuts)?;
        prop_assert_eq!(&whole, &split);
        // And the client decodes the rows masked value by value.
        let d = decode(&whole, caps, Expect::Query, seq, &[])
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(d.done);
        let expected: Vec<Vec<Option<Vec<u8>>>> = sets
            .iter()
            .flat_map(|(_, rows)| rows.iter())
            .map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(i, v)| match (i, v) {
                        (1, Some(_)) => Some(b"[B]".to_vec()),
                        _ => masked(v),
                    })
                    .collect()
            })
            .collect();
        prop_assert_eq!(d.text_rows, expected);
    }

    #[test]
    fn binary_rows_any_split(
        rows in proptest::collection::vec(proptest::collection::vec(value(), 2), 0..6),
        deprecate in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let caps = caps(deprecate);
        let wire = binary_response(caps, 0, &rows);
        let plan = Arc::new(ColumnPlan::new(
            vec![(None, b"t".to_vec(), b"n".to_vec(), b"[N]".to_vec())],
            None,
            None,
        ));
        let passthrough = ServerRelay::<TestMasker>::new(None, caps, 16 << 20);
        prop_assert_eq!(&run(passthrough, Expect::Execute, 0, None, &wire, &cuts)?, &wire);
        let whole = run(relay_with(caps), Expect::Execute, 0, Some(plan.clone()), &wire, &[])?;
        let split = run(relay_with(caps), Expect::Execute, 0, Some(plan), &wire, &cuts)?;
        prop_assert_eq!(&whole, &split);
        let d = decode(&whole, caps, Expect::Execute, 0, &[])
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected: Vec<Vec<Option<Vec<u8>>>> = rows
            .iter()
            .map(|row| {
                let mut v = vec![None]; // the number column NULLed by the plan
                v.extend(row.iter().map(masked));
                v
            })
            .collect();
        prop_assert_eq!(d.binary_rows, expected);
    }

    #[test]
    fn arbitrary_upstream_bytes_never_panic(
        wire in proptest::collection::vec(any::<u8>(), 0..400),
        expect in 0usize..7,
        deprecate in any::<bool>(),
    ) {
        let expects = [Expect::Ok, Expect::Query, Expect::Execute, Expect::Prepare,
                       Expect::FieldList, Expect::Raw, Expect::Query];
        let mut relay = ServerRelay::new(Some(TestMasker), caps(deprecate), 1 << 16);
        if relay.expect(expects[expect], 0, None, None).is_ok()
            && relay.try_feed(&wire, &mut Vec::new()).is_err()
        {
            // A failed relay stays failed.
            prop_assert!(relay.try_feed(&[], &mut Vec::new()).is_err());
        }
    }
}

fn relay_with(caps: u64) -> ServerRelay<TestMasker> {
    ServerRelay::new(Some(TestMasker), caps, 16 << 20)
}
