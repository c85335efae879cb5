//! Fuzz the frontend decoder: arbitrary bytes, fed in chunks whose sizes
//! come from the first byte, starting in the startup phase. Every frame
//! handed out must be a slice of what was fed, in order, and the buffer must
//! stay under its bound.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::pg::frontend::AuthContext;
use limen_wire::pg::{FrontendDecoder, Limits};

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
    let mut d = if ctl & 1 == 0 {
        FrontendDecoder::new(limits)
    } else {
        FrontendDecoder::new_regular(limits)
    };
    d.set_auth_context(match (ctl >> 1) % 5 {
        0 => AuthContext::None,
        1 => AuthContext::Password,
        2 => AuthContext::SaslInitial,
        3 => AuthContext::SaslContinue,
        _ => AuthContext::Gss,
    });
    let chunk = usize::from(ctl >> 4) + 1;
    let mut framed = Vec::new();
    for part in rest.chunks(chunk) {
        if d.receive_data(part).is_err() {
            break;
        }
        loop {
            match d.next_message() {
                Ok(Some((f, m))) => {
                    framed.extend_from_slice(f.raw());
                    let mut again = Vec::new();
                    // Re-encoding a parsed message must not panic (it may
                    // legitimately fail, e.g. for a startup packet's form).
                    let _ = m.try_encode(&mut again);
                }
                Ok(None) => break,
                Err(_) => break,
            }
        }
        assert!(d.pending() <= limits.max_buffer());
    }
    assert!(rest.starts_with(&framed));
});
