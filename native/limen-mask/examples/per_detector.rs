//! Per-detector throughput on random base64 and JWT-like text without
//! dots (`cargo run --release --example per_detector`): which detector's
//! trigger makes the shared automaton large.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use limen_mask::Masker;

fn main() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut data = Vec::new();
    while data.len() < (256 << 10) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.push(b64[(x % 64) as usize]);
        if data.len() % 77 == 76 {
            data.push(b'\n');
        }
    }
    for name in limen_mask::builtin_detector_names() {
        let m = Masker::builder().detectors([name]).try_build().unwrap();
        let t = Instant::now();
        let _ = m.mask(&data);
        println!(
            "{name:<28} {:>8.1} MB/s",
            data.len() as f64 / 1e6 / t.elapsed().as_secs_f64()
        );
    }
}
