//! One content class masked once, for a profiler or an instruction counter
//! (`valgrind --tool=callgrind --toggle-collect='*measured*'
//! target/release/examples/profile CLASS [MiB] [one|stream|cold|rules]`):
//! the masker is warmed on the class first (but for `cold`, a new masker's
//! first pass), and only `measured` is counted. Instruction counts do not
//! depend on what else the machine runs, unlike wall time;
//! `examples/instructions.sh` counts every class this way. `stream` feeds
//! 64 KiB chunks (`CHUNK_KIB=16` in the environment for 16 KiB).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use limen_mask::{Masker, Rule};

#[path = "support/classes.rs"]
mod support;
use support::class_makers;

/// The stream's chunk size: `CHUNK_KIB` in the environment, else 64 KiB
/// (the pump's read size).
fn chunk() -> usize {
    std::env::var("CHUNK_KIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(64 << 10, |k| k.max(1) << 10)
}

#[inline(never)]
fn measured(m: &Masker, data: &[u8], stream: bool) -> usize {
    run(m, data, stream)
}

fn run(m: &Masker, data: &[u8], stream: bool) -> usize {
    if stream {
        // As a gateway feeds it: 64 KiB reads, each one's output sent and
        // its buffer reused.
        let chunk = chunk();
        let mut s = m.stream();
        let mut out = Vec::with_capacity(2 * chunk);
        let mut n = 0;
        for c in data.chunks(chunk) {
            out.clear();
            s.feed_into(c, &mut out);
            n += out.len();
        }
        out.clear();
        s.finish_into(&mut out);
        n + out.len()
    } else {
        m.mask(data).len()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let class = args.first().map_or("prose", String::as_str);
    let mib: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let mode = args.get(2).map_or("one", String::as_str);
    let reps: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1);
    let size = mib << 20;
    let (name, make) = class_makers()
        .into_iter()
        .find(|(n, _)| n.contains(class))
        .expect("no such class");
    let data = make(size);
    let build = || {
        if mode == "rules" {
            Masker::builder()
                .rule(Rule::regex("ticket", r"TICKET-[0-9]{4,12}"))
                .rule(Rule::words("codewords", ["bluebird", "x-ray"], true))
                .columns(["users.ssn"])
                .try_build()
                .unwrap()
        } else {
            Masker::new()
        }
    };
    let m = build();
    if mode != "cold" {
        // Warmed the way it is measured: a stream's walks start where its
        // chunks end, so it meets automaton states a one-shot pass may not.
        std::hint::black_box(m.mask(&data));
        std::hint::black_box(run(&m, &data, mode == "stream"));
    }
    let t = Instant::now();
    let mut n = 0;
    for _ in 0..reps {
        n += measured(&m, &data, mode == "stream");
    }
    let secs = t.elapsed().as_secs_f64() / reps as f64;
    let w = m.mask_work(&data, &mut Vec::new());
    println!(
        "{name} {mib} MiB {mode}: {:.1} MB/s ({n} bytes out), work/byte {:.2}",
        size as f64 / 1e6 / secs,
        w.total() as f64 / size as f64
    );
}
