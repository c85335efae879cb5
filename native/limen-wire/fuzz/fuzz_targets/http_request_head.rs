//! Fuzz the request-head finder and parser: arbitrary bytes, a small head
//! limit. A head found is within the limit and a slice of the input; a
//! parsed head's method, target and header values are slices of it with
//! the bytes the grammar allows; re-reading the same head gives the same
//! result.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::http::{find_request_head, parse_request_head, BodyFraming};

fuzz_target!(|data: &[u8]| {
    let limit = 512;
    let Ok(Some((start, end))) = find_request_head(data, limit) else {
        return;
    };
    assert!(start <= end && end <= data.len() && end - start <= limit);
    let head = &data[start..end];
    assert!(head.ends_with(b"\r\n\r\n"));
    let Ok(r) = parse_request_head(head) else {
        return;
    };
    assert!(!r.method.is_empty() && !r.target.is_empty());
    assert!(r.target.iter().all(|b| (0x21..0x7f).contains(b)));
    for h in &r.headers {
        assert!(!h.value.contains(&b'\r') && !h.value.contains(&b'\n') && !h.value.contains(&0));
    }
    if r.framing.chunked {
        assert_eq!(r.body(), BodyFraming::Chunked);
        assert!(r.framing.content_length.is_none());
    }
    assert_eq!(parse_request_head(head).ok(), Some(r));
});
