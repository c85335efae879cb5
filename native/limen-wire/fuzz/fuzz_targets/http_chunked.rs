//! Fuzz the chunked decoder: arbitrary bytes fed in pieces of a size the
//! first byte picks. The decoder never holds more than its limit between
//! calls, never gives more data than it was fed, and gives the same data
//! and the same end whatever the piece size (checked against one call on
//! the whole input). A decoded body encoded again decodes to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::http::{encode_chunk, encode_last_chunk, ChunkedDecoder};

fn run(input: &[u8], piece: usize) -> (Vec<u8>, Result<usize, ()>, bool) {
    let mut d = ChunkedDecoder::new(256);
    let mut out = Vec::new();
    let mut used = 0;
    for p in input.chunks(piece) {
        match d.decode(p, &mut out) {
            Ok(n) => {
                used += n;
                assert!(d.pending() <= 256);
            }
            Err(_) => return (out, Err(()), false),
        }
    }
    (out, Ok(used), d.is_done())
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let (out, used, done) = run(rest, usize::from(ctl) + 1);
    assert!(out.len() <= rest.len());
    let (whole_out, whole_used, whole_done) = run(rest, rest.len().max(1));
    if done {
        // an ended body ends at the same byte with the same data fed whole
        assert!(whole_done);
        assert_eq!((&whole_out, whole_used), (&out, used));
        let mut again = Vec::new();
        encode_chunk(&out, &mut again);
        encode_last_chunk(&mut again);
        let (round, _, round_done) = run(&again, 3);
        assert!(round_done);
        assert_eq!(round, out);
    }
});
