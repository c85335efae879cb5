//! Criterion benchmarks: one-shot and streaming masking over a synthetic
//! corpus of logs and query rows with secrets every few lines, and the
//! batch path for short field values.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use limen_mask::Masker;

fn corpus(size: usize) -> Vec<u8> {
    let lines: &[&[u8]] = &[
        b"2026-11-26T10:20:30.123456Z INFO req=9f8e7d6c5b4a3928 request handled in 12ms status ok\n",
        b" 42 | widget blue | 19.99 | 2026-01-02 10:20:00 | 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n",
        b"{\"id\": 42, \"status\": \"shipped\", \"items\": [{\"sku\": \"ab12cd\", \"qty\": 2}]}\n",
        b"2026-11-26T10:20:31Z WARN key AKIAIOSFODNN7EXAMPLE used by alice@example.com\n",
        b" 43 | card | 4111 1111 1111 1111 | ssn 123-45-6789 | +44 20 7946 0958\n",
    ];
    let mut out = Vec::with_capacity(size + 128);
    let mut i = 0;
    while out.len() < size {
        out.extend_from_slice(lines[i % lines.len()]);
        i += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    let masker = Masker::new();
    let data = corpus(4 << 20);
    let mut g = c.benchmark_group("mask");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("one-shot", |b| b.iter(|| masker.mask(&data)));
    for chunk in [1024usize, 16 * 1024, 64 * 1024] {
        g.bench_with_input(BenchmarkId::new("stream", chunk), &chunk, |b, &chunk| {
            b.iter(|| {
                let mut s = masker.stream();
                let mut out = Vec::with_capacity(data.len());
                for piece in data.chunks(chunk) {
                    s.feed_into(piece, &mut out);
                }
                s.finish_into(&mut out);
                out
            })
        });
    }
    g.finish();

    let fields: Vec<&[u8]> = vec![b"42", b"alice@example.com", b"widget blue", b"19.99", b"2026-01-02"];
    let mut g = c.benchmark_group("fields");
    g.throughput(Throughput::Elements(fields.len() as u64));
    g.bench_function("mask_many row of 5", |b| b.iter(|| masker.mask_many(fields.iter().map(|f| Some(*f)))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
