//! Fuzz the TLS session the host drives before the pump takes it
//! (`limen_pump::tls::TlsSession`): arbitrary "server" bytes fed to a
//! client session (sslmode=require: no certificate to verify), split where
//! the input says, never panic, never grow its plaintext past the cap, and
//! every error is a `TlsError`. Input: a split length byte, then the bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_pump::tls::config::{client_config, Verify};
use limen_pump::tls::{TlsSession, MAX_PLAIN};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let Ok(cfg) = client_config(Verify::None, None, None) else {
        return;
    };
    let Ok(session) = TlsSession::client(&cfg, "127.0.0.1") else {
        return;
    };
    let _ = session.take_tls(); // the ClientHello
    for chunk in rest.chunks(usize::from(split).max(1)) {
        if session.feed(chunk).is_err() {
            let _ = session.take_tls(); // the alert
            break;
        }
        if let Ok(plain) = session.read_plain(MAX_PLAIN + 1) {
            assert!(plain.len() <= MAX_PLAIN);
        }
        let _ = session.take_tls();
    }
    // A session still handshaking cannot be lent to a pump.
    if session.handshaking().unwrap_or(true) {
        assert!(session.lend().is_err());
    }
});
