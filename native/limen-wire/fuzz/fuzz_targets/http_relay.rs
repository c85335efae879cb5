//! Fuzz the framing skeleton of the native HTTP relay: the first byte
//! picks the piece size and which part of the rest is the client's (the
//! remainder is the upstream's). Every request head is forwarded, every
//! response relayed; nothing panics, a client side keeps no more than it
//! was given, and the bytes sent on are never more than a small factor of
//! the bytes read (a chunk per piece: at most 6 bytes out per byte in).
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::http::{ClientSide, Step, UpstreamHeaders, UpstreamSide};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let piece = usize::from(ctl & 0x1f) + 1;
    let split = rest.len() * usize::from(ctl >> 5) / 7;
    let (client_bytes, upstream_bytes) = rest.split_at(split.min(rest.len()));
    let Ok(adds) = UpstreamHeaders::new(b"up:1", Some((&b"x-key"[..], &b"k"[..])), false) else {
        return;
    };
    let limit = 256;
    let mut client = ClientSide::new(limit);
    let mut up = Vec::new();
    'client: for p in client_bytes.chunks(piece) {
        let mut step = client.feed(p, &mut up);
        loop {
            match step {
                Ok(Step::Head) => step = client.forward(b"/t", &adds, &mut up),
                Ok(Step::Done { .. }) => step = client.feed(b"", &mut up),
                Ok(Step::NeedData) => break,
                Err(_) => break 'client,
            }
        }
    }
    let mut upstream = UpstreamSide::new(b"GET");
    let mut out = Vec::new();
    for p in upstream_bytes.chunks(piece) {
        match upstream.feed(p, &mut out) {
            Ok(Step::Done { .. }) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = upstream.eof(&mut out);
    let pending = client.take_back();
    assert!(pending.len() <= client_bytes.len());
    assert!(up.len() <= 8 * client_bytes.len() + 4096);
    assert!(out.len() <= 8 * upstream_bytes.len() + 4096);
});
