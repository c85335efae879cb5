//! Throughput of one-shot and streaming masking per content class and size
//! (`cargo run --release --example classes -- [MiB...]`), with the masker's
//! work counter per byte. Used to find and check the slow classes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use limen_mask::{Masker, Rule};

#[path = "support/classes.rs"]
mod support;
use support::classes;

fn mbps(size: usize, f: impl Fn()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..2 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    size as f64 / 1e6 / best
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() { vec![1] } else { sizes };
    let only = std::env::var("ONLY").ok();
    let plain = Masker::new();
    let ruled = Masker::builder()
        .rule(Rule::regex("ticket", r"TICKET-[0-9]{4,12}"))
        .rule(Rule::words("codewords", ["bluebird", "x-ray"], true))
        .columns(["users.ssn"])
        .try_build()
        .unwrap();
    for mib in sizes {
        let size = mib << 20;
        for (name, data) in classes(size) {
            if only.as_deref().is_some_and(|o| !name.contains(o)) {
                continue;
            }
            for (label, m) in [("builtin", &plain), ("rules", &ruled)] {
                let one = mbps(size, || {
                    std::hint::black_box(m.mask(&data));
                });
                let st = mbps(size, || {
                    let mut s = m.stream();
                    let mut out = Vec::with_capacity(data.len());
                    for c in data.chunks(8192) {
                        s.feed_into(c, &mut out);
                    }
                    s.finish_into(&mut out);
                    std::hint::black_box(out);
                });
                let w = m.mask_work(&data, &mut Vec::new());
                let per = |u: u64| u as f64 / size as f64;
                println!(
                    "{mib:>3} MiB {name:<22} {label:<8} one-shot {one:>8.1} MB/s  stream {st:>8.1} MB/s  work/byte {:.2} (trigger {:.2} cand {:.3} verify {:.2} tail {:.2})",
                    per(w.total()), per(w.trigger_bytes), per(w.candidates), per(w.verify_bytes), per(w.tail_bytes)
                );
            }
        }
    }
}
