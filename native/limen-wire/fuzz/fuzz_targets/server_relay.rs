//! Fuzz the server relay: arbitrary upstream bytes, fed in chunks chosen by
//! the input, with a masker that rewrites a byte pattern. It must never
//! panic, and whatever it forwards must decode as whole messages.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::pg::{BackendDecoder, ContentMasker, Limits, ServerRelay};

struct Toy;

impl ContentMasker for Toy {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        let mut n = 0;
        for &b in value {
            if b == b'@' {
                out.extend_from_slice(b"[MASKED]");
                n += 1;
            } else {
                out.push(b);
            }
        }
        n
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, body)) = data.split_first() else { return };
    let limits = Limits { max_message_size: 1 << 16, ..Limits::default() };
    let mut relay = ServerRelay::new(Some(Toy), limits);
    if ctl & 1 == 1 {
        relay.push_describe(true);
    }
    relay.replace_error(b"@".to_vec(), vec![b'E', 0, 0, 0, 5, 0]);
    let step = usize::from(ctl >> 1).max(1);
    let mut out = Vec::new();
    for chunk in body.chunks(step) {
        if relay.try_feed(chunk, &mut out).is_err() {
            break;
        }
    }
    let mut check = BackendDecoder::new(Limits { max_message_size: 1 << 20, ..Limits::default() });
    assert!(check.receive_data(&out).is_ok() || out.len() > (1 << 20));
    while let Ok(Some(_)) = check.next_frame() {}
});
