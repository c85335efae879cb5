//! Fuzz the MySQL server-side relay: arbitrary upstream bytes, fed in
//! chunks of a fuzzed size, under fuzzed capabilities and response kinds,
//! with a content masker and a column plan (derived columns included).
//! Invariants: no panic; whatever the relay emits is well-framed with
//! sequence ids continuing from the command's; a relay with no masker and
//! no plan forwards exactly what it accepted.
#![no_main]
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use limen_wire::mysql::caps::{CLIENT_DEPRECATE_EOF, CLIENT_PROTOCOL_41, CLIENT_SESSION_TRACK};
use limen_wire::mysql::{
    ColumnPlan, ContentMasker, Expect, Limits, PacketDecoder, RelayEvent, ServerRelay,
};

/// Doubles every 'a' (values grow: lengths and re-splits are exercised).
struct Grow;

impl ContentMasker for Grow {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        for &b in value {
            out.push(b);
            if b == b'a' {
                out.push(b);
            }
        }
        0
    }
}

fn run<M: ContentMasker>(
    mut relay: ServerRelay<M>,
    expect: Expect,
    seq: u8,
    plan: Option<Arc<ColumnPlan>>,
    step: usize,
    data: &[u8],
) -> (Vec<u8>, bool, bool) {
    let mut out = Vec::new();
    let mut allowed = false;
    if relay.expect(expect, seq, plan, Some(1)).is_err() {
        return (out, false, allowed);
    }
    for piece in data.chunks(step) {
        match relay.try_feed(piece, &mut out) {
            Ok(events) => {
                if events
                    .iter()
                    .any(|e| matches!(e, RelayEvent::InfileRequest { .. }))
                {
                    if step % 2 == 0 {
                        let _ = relay.refuse_infile(1148, *b"42000", b"refused");
                    } else if let Ok(request) = relay.allow_infile() {
                        out.extend_from_slice(&request);
                        allowed = true;
                        let _ = relay.forward_infile(b"a,b");
                        let _ = relay.forward_infile(b"");
                    }
                }
            }
            Err(_) => return (out, false, allowed),
        }
    }
    (out, relay.is_done(), allowed)
}

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let mut caps = CLIENT_PROTOCOL_41;
    if head[0] & 8 != 0 {
        caps |= CLIENT_DEPRECATE_EOF;
    }
    if head[0] & 16 != 0 {
        caps |= CLIENT_SESSION_TRACK;
    }
    let expect = match head[0] & 7 {
        0 => Expect::Ok,
        1 => Expect::Query,
        2 => Expect::Execute,
        3 => Expect::Prepare,
        4 => Expect::FieldList,
        5 => Expect::Raw,
        _ => Expect::Query,
    };
    let seq = head[1];
    let step = usize::from(head[2]).max(1);
    let plan = Arc::new(ColumnPlan::new(
        vec![(None, b"t".to_vec(), b"c".to_vec(), b"[C]".to_vec())],
        Some(b"[D]".to_vec()),
        None,
    ));
    let (out, done, allowed) = run(
        ServerRelay::new(Some(Grow), caps, 1 << 16),
        expect,
        seq,
        Some(plan),
        step,
        rest,
    );
    let mut check = PacketDecoder::new(Limits {
        max_packet_size: 1 << 17,
        max_chunk: usize::MAX,
        ..Limits::default()
    });
    check.set_authenticated();
    if allowed {
        // The client's own file packets (not in `out`) take ids in between.
        check.ignore_sequence();
    } else {
        check.set_sequence(seq.wrapping_add(1));
    }
    if check.receive_data(&out).is_ok() {
        while let Ok(Some(_)) = check.next_packet() {}
    }
    assert_eq!(check.pending(), 0, "the relay emitted a partial packet");
    let (plain, plain_done, _) = run(
        ServerRelay::<Grow>::new(None, caps, 1 << 16),
        expect,
        seq,
        None,
        step,
        rest,
    );
    if plain_done && done && !plain.is_empty() && !rest.contains(&0xfb) {
        assert_eq!(plain, rest, "a passthrough relay changed the bytes");
    }
});
