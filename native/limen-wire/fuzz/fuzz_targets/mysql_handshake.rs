//! Fuzz the connection-phase decoders: HandshakeV10 and the client's first
//! packet (SSLRequest / HandshakeResponse41). Whatever parses must
//! re-encode to bytes that parse to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::mysql::{ClientHello, HandshakeV10};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = HandshakeV10::try_parse(data) {
        let mut again = Vec::new();
        if h.try_encode(&mut again).is_ok() {
            let back = HandshakeV10::try_parse(&again);
            assert_eq!(back.as_ref().map(|b| &b.scramble), Ok(&h.scramble));
        }
    }
    if let Ok(ClientHello::Response(r)) = ClientHello::try_parse(data) {
        let _ = r.attributes.map(|a| a.iter().count());
        let mut again = Vec::new();
        if r.try_encode(&mut again).is_ok() {
            let back = limen_wire::mysql::HandshakeResponse41::try_parse(&again);
            assert_eq!(back.as_ref().map(|b| b.username), Ok(r.username));
        }
    }
});
