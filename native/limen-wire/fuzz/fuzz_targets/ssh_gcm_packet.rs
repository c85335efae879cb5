//! Fuzz the SSH AES-GCM packet opener: arbitrary bytes as a packet stream
//! (length, then body) never panic; and a packet sealed from the input
//! opens to the same payload, while the same packet with one byte changed
//! (chosen by the input) is refused.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::ssh::{Gcm, MAX_PACKET, MAX_SEAL_PADDING};

const KEY: [u8; 16] = [0x42; 16];
const IV: [u8; 12] = [7; 12];

fuzz_target!(|data: &[u8]| {
    let (Ok(mut open), Ok(mut seal), Ok(mut check)) = (
        Gcm::new(&KEY, &IV),
        Gcm::new(&KEY, &IV),
        Gcm::new(&KEY, &IV),
    ) else {
        return;
    };
    // 1. The input as a stream of packets under the key.
    let mut rest = data;
    while rest.len() >= 4 {
        let first = [rest[0], rest[1], rest[2], rest[3]];
        let Ok(n) = Gcm::body_len(first, MAX_PACKET) else {
            break;
        };
        assert!(n <= MAX_PACKET + 16);
        let Some(body) = rest.get(4..4 + n) else {
            break;
        };
        let mut body = body.to_vec();
        if let Ok(payload) = open.open_in_place(first, &mut body) {
            assert!(!payload.is_empty() && payload.len() < n);
        }
        rest = &rest[4 + n..];
    }
    // 2. Round trip, then one changed byte.
    let Some((&at, payload)) = data.split_first() else {
        return;
    };
    let mut wire = vec![0u8; Gcm::sealed_len(payload.len())];
    if seal
        .seal_into(&[], payload, &[0x5a; MAX_SEAL_PADDING], &mut wire)
        .is_err()
    {
        return;
    }
    let first = [wire[0], wire[1], wire[2], wire[3]];
    let mut copy = wire.clone();
    if payload.is_empty() {
        return;
    }
    let opened = check
        .open_in_place(first, &mut copy[4..])
        .map(<[u8]>::to_vec);
    assert_eq!(opened.as_deref(), Ok(payload));
    let i = usize::from(at) % wire.len();
    wire[i] ^= 0x01;
    let first = [wire[0], wire[1], wire[2], wire[3]];
    let mut again = Gcm::new(&KEY, &IV).unwrap_or_else(|_| unreachable!());
    if let Ok(n) = Gcm::body_len(first, MAX_PACKET) {
        if wire.len() == 4 + n {
            assert!(again.open_in_place(first, &mut wire[4..]).is_err());
        }
    }
});
