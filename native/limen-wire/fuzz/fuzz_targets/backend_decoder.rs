//! Fuzz the backend decoder: arbitrary bytes in chunks, optionally starting
//! with an expected SSL response byte. Frames must be slices of the input in
//! order; re-encoding a parsed message must reproduce its raw bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::pg::{BackendDecoder, BackendMessage, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_message_size: 4096,
        max_startup_size: 1024,
        max_chunk: 8192,
        max_unauthenticated_size: 2048,
    };
    let mut d = BackendDecoder::new(limits);
    if ctl & 1 == 1 {
        d.expect_encryption_response();
    }
    let chunk = usize::from(ctl >> 1) + 1;
    let mut framed = Vec::new();
    'outer: for part in rest.chunks(chunk) {
        if d.receive_data(part).is_err() {
            break;
        }
        loop {
            match d.next_message() {
                Ok(Some((f, m))) => {
                    framed.extend_from_slice(f.raw());
                    let mut again = Vec::new();
                    if m.try_encode(&mut again).is_ok() {
                        assert_eq!(again, f.raw(), "re-encoding must give the received bytes");
                    }
                    if let BackendMessage::RowDescription(rd) = m {
                        assert_eq!(rd.column_map().len(), rd.len());
                    }
                }
                Ok(None) => break,
                Err(_) => break 'outer,
            }
        }
        assert!(d.pending() <= limits.max_buffer());
    }
    assert!(rest.starts_with(&framed));
});
