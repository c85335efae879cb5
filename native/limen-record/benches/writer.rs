//! Writer throughput from Rust: records of 64 B, 4 KiB and 64 KiB, hashed
//! and encrypted, against raw `write_all` of the same payloads through a
//! 256 KiB `BufWriter`, both to a file in the target directory (page cache:
//! no fsync, so this measures the CPU cost of the format).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use limen_record::{HeaderFields, Kind, Sink, Writer, WriterConfig};

/// A file whose `sync` is a no-op: the bench measures the write path.
struct NoSync(File);

impl Write for NoSync {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.write(b)
    }
    fn write_vectored(&mut self, b: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        self.0.write_vectored(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink for NoSync {
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn path() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR", "target"));
    let _ = std::fs::create_dir_all(&dir);
    dir.join("limen-record-bench.log")
}

fn bench(c: &mut Criterion) {
    let signing = limen_record::try_generate_signing_key().unwrap();
    let (_, recipient) = limen_record::try_generate_recipient_key().unwrap();
    let fields = HeaderFields {
        session_id: "bench",
        identity: "bench",
        resource: "bench",
        protocol: "postgres",
        start_unix_us: 0,
    };
    let total = 8usize << 20;
    for size in [64usize, 4096, 65536] {
        let n = total / size;
        let payload = vec![0xA5u8; size];
        let mut g = c.benchmark_group(format!("write_{size}B"));
        g.throughput(Throughput::Elements(n as u64));
        g.sample_size(10);
        g.bench_function(BenchmarkId::new("raw", n), |b| {
            b.iter(|| {
                let mut f = BufWriter::with_capacity(256 << 10, File::create(path()).unwrap());
                for _ in 0..n {
                    f.write_all(black_box(&payload)).unwrap();
                }
                f.flush().unwrap();
            })
        });
        for (name, rcpt) in [("hashed", None), ("encrypted", Some(&recipient))] {
            g.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| {
                    let sink = NoSync(File::create(path()).unwrap());
                    let mut w =
                        Writer::try_create(sink, &fields, &signing, rcpt, WriterConfig::default())
                            .unwrap();
                    for i in 0..n {
                        w.try_append(Kind::UpstreamToClient, i as u64, black_box(&payload))
                            .unwrap();
                    }
                    w.try_close(n as u64).unwrap();
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
