//! Fuzz the MySQL packet framer: arbitrary bytes in chunks, with or without
//! sequence checks. Packets must be slices of the input in order, the
//! buffer must stay within its bound, and re-framing a payload from its
//! first sequence id must give the raw bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::mysql::{write_packet, Limits, PacketDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_packet_size: 4096,
        max_chunk: 8192,
        max_unauthenticated_size: 512,
    };
    let mut d = PacketDecoder::new(limits);
    if ctl & 1 == 1 {
        d.ignore_sequence();
    }
    if ctl & 2 == 2 {
        d.set_authenticated();
    }
    let chunk = usize::from(ctl >> 2) + 1;
    let mut framed = Vec::new();
    'outer: for part in rest.chunks(chunk) {
        if d.receive_data(part).is_err() {
            break;
        }
        loop {
            match d.next_packet() {
                Ok(Some(p)) => {
                    framed.extend_from_slice(p.raw());
                    let mut again = Vec::new();
                    write_packet(&mut again, p.seq(), p.payload());
                    assert_eq!(again, p.raw());
                }
                Ok(None) => break,
                Err(_) => break 'outer,
            }
        }
        assert!(d.pending() <= limits.max_buffer());
    }
    assert!(rest.starts_with(&framed));
});
