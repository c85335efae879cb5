//! Fuzz the response-head finder and parser (h11's lenient reading):
//! arbitrary bytes, a small limit. A head found ends with its blank line;
//! a parsed head has a status of three digits, at least 100, and no value
//! with CR, LF or NUL.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::http::{find_response_head, parse_response_head};

fuzz_target!(|data: &[u8]| {
    let Ok(Some(end)) = find_response_head(data, 512) else {
        return;
    };
    assert!(end <= data.len());
    assert!(data[..end].ends_with(b"\n\n") || data[..end].ends_with(b"\n\r\n"));
    let Ok(r) = parse_response_head(&data[..end]) else {
        return;
    };
    assert!((100..1000).contains(&r.status));
    for h in &r.headers {
        assert!(!h.value.contains(&b'\r') && !h.value.contains(&b'\n') && !h.value.contains(&0));
    }
    let _ = r.body(b"GET");
});
