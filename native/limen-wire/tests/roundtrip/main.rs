//! Property tests: decode(encode(x)) == x for every encodable message, and
//! any valid stream split at arbitrary points decodes to the same frames
//! and messages as the whole stream.
use limen_wire::pg::frontend::{CancelRequest, ProtocolVersion, StartupMessage};
use limen_wire::pg::{BackendDecoder, FrontendDecoder, FrontendMessage, Limits};
use proptest::prelude::*;

mod be;
mod fe;

use be::{be, encode_be, same_be};
use fe::{encode_fe, fe, same_fe};

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
