//! Throughput of one-shot and streaming masking per content class and size
//! (`cargo run --release --example classes -- [MiB...]`), with the masker's
//! work counter per byte. Used to find and check the slow classes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use limen_mask::{Masker, Rule};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick(&mut self, set: &[u8]) -> u8 {
        set[(self.next() % set.len() as u64) as usize]
    }
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8] = b"0123456789abcdef";
const DIG: &[u8] = b"0123456789";

fn repeat(unit: &[u8], size: usize) -> Vec<u8> {
    unit.iter().copied().cycle().take(size).collect()
}

fn fill(size: usize, mut f: impl FnMut(&mut Rng, &mut Vec<u8>)) -> Vec<u8> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(size + 256);
    while out.len() < size {
        f(&mut r, &mut out);
    }
    out.truncate(size);
    out
}

fn classes(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let words: &[&[u8]] = &[
        b"the",
        b"gateway",
        b"masks",
        b"secret",
        b"values",
        b"in",
        b"results",
        b"token",
        b"and",
        b"password",
        b"a",
        b"key",
    ];
    vec![
        (
            "prose",
            fill(size, |r, o| {
                o.extend_from_slice(words[(r.next() % 12) as usize]);
                o.push(if r.next() % 9 == 0 { b'\n' } else { b' ' });
            }),
        ),
        (
            "logs",
            fill(size, |r, o| {
                o.extend_from_slice(format!("2026-11-26T10:20:{:02}.123Z INFO req={:016x} user=u{}@example.com handled in {}ms\n", r.next() % 60, r.next(), r.next() % 1000, r.next() % 500).as_bytes());
            }),
        ),
        (
            "json",
            fill(size, |r, o| {
                o.extend_from_slice(format!("{{\"id\": {}, \"status\": \"shipped\", \"price\": {}.{:02}, \"sku\": \"ab{:x}\"}}\n", r.next() % 100000, r.next() % 1000, r.next() % 100, r.next() % 65536).as_bytes());
            }),
        ),
        (
            "csv numbers",
            fill(size, |r, o| {
                o.extend_from_slice(
                    format!(
                        "{},{},{}.{},{}\n",
                        r.next() % 1_000_000,
                        r.next() % 1_000_000_000_000,
                        r.next() % 1000,
                        r.next() % 1000,
                        r.next()
                    )
                    .as_bytes(),
                );
            }),
        ),
        (
            "base64",
            fill(size, |r, o| {
                for _ in 0..76 {
                    o.push(r.pick(B64));
                }
                o.push(b'\n');
            }),
        ),
        ("base64 no newline", fill(size, |r, o| o.push(r.pick(B64)))),
        ("hex", fill(size, |r, o| o.push(r.pick(HEX)))),
        ("digit run", fill(size, |r, o| o.push(r.pick(DIG)))),
        (
            "digit groups",
            fill(size, |r, o| {
                for _ in 0..4 {
                    o.push(r.pick(DIG));
                }
                o.push(if r.next() % 2 == 0 { b' ' } else { b'-' });
            }),
        ),
        (
            "single digits spaced",
            fill(size, |r, o| {
                o.push(r.pick(DIG));
                o.push(b' ');
            }),
        ),
        ("dotted numbers", repeat(b"1.2.3.4.", size)),
        (
            "dotted numbers 2",
            fill(size, |r, o| {
                o.extend_from_slice(format!("{}.{}.", r.next() % 1000, r.next() % 10).as_bytes());
            }),
        ),
        (
            "key prefixes",
            repeat(
                b"AKIA ghp_ sk-ant-api03- xoxb- glpat- AIza sk_live_ github_pat_ eyJ ",
                size,
            ),
        ),
        (
            "key prefixes glued",
            repeat(b"sk-proj-sk-ghp_AKIAAIza", size),
        ),
        (
            "password near-miss",
            repeat(b"password = next_token(); token: ", size),
        ),
        ("emails no domain", repeat(b"alice@ bob.smith@ x@y ", size)),
        ("emails glued", repeat(b"a@a.", size)),
        (
            "jwt no dots",
            fill(size, |r, o| {
                o.extend_from_slice(b"eyJ");
                for _ in 0..40 {
                    o.push(r.pick(b"abcdefghijklmnopqrstuvwxyz0123456789_-"));
                }
            }),
        ),
        (
            "jwt dots no eyJ",
            repeat(b"eyJhbGciOiJIUzI1NiJ9.eyJzdWI.", size),
        ),
        (
            "pem headers",
            repeat(b"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n", size),
        ),
        (
            "url near-miss",
            repeat(b"https://user:pass https://a:b/ ftp://x:", size),
        ),
        ("phone near-miss", repeat(b"+1 234 +44 20 79 ", size)),
        (
            "iban near-miss",
            repeat(b"DE89 3704 0044 0532 0130 00XX GB12 ", size),
        ),
        (
            "bearer near-miss",
            repeat(b"Bearer abc Authorization: Basic ", size),
        ),
    ]
}

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
