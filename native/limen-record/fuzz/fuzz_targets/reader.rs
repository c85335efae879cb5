//! Fuzz the session log reader: any bytes, read as a log (records, with and
//! without a decryption key) and verified. Must never panic, and never
//! allocate more than the caps (libFuzzer's -rss_limit_mb catches that).
#![no_main]

use libfuzzer_sys::fuzz_target;
use limen_record::{try_verify, ReaderLimits, Records};

// A fixed recipient key so seeds written with it decrypt (see seeds/README).
const PRIVATE: [u8; 32] = [7u8; 32];

fuzz_target!(|data: &[u8]| {
    let limits = ReaderLimits {
        max_message: 1 << 20,
        ..ReaderLimits::default()
    };
    let _ = try_verify(data, None, &limits);
    for key in [None, Some(&PRIVATE)] {
        if let Ok(mut r) = Records::try_open(data, key, None, &limits) {
            for _ in 0..100_000 {
                match r.try_next() {
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
        }
    }
});
