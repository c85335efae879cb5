//! Throughput of the PostgreSQL decoders on a DataRow-heavy stream, and of
//! the DataRow rewriter (no-change fast path and with masking), in bytes/s.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use limen_wire::pg::backend::{
    CommandComplete, DataRow, FieldDescription, RowDescription, TransactionStatus,
};
use limen_wire::pg::{Action, BackendDecoder, Limits, Rewrite, RowRewriter};
use std::hint::black_box;

const ROWS: usize = 20_000;
const CHUNK: usize = 64 * 1024;

/// A result set like `SELECT id, email, name, card, note, created, score, flag`:
/// RowDescription, ROWS DataRows, CommandComplete, ReadyForQuery.
fn stream() -> Result<Vec<u8>, limen_wire::Error> {
    let mut out = Vec::new();
    let names: [&[u8]; 8] = [
        b"id", b"email", b"name", b"card", b"note", b"created", b"score", b"flag",
    ];
    let fields: Vec<FieldDescription<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| FieldDescription {
            name: n,
            table_oid: 16384,
            column_attr: i as i16 + 1,
            type_oid: 25,
            type_size: -1,
            type_modifier: -1,
            format: 0,
        })
        .collect();
    RowDescription::encode_fields(&fields, &mut out)?;
    for i in 0..ROWS {
        let id = i.to_string();
        let email = format!("user{i}@example.com");
        let name = format!("User Number {i}");
        let card = "4111111111111111";
        let created = "2026-11-26 04:32:09.123456+00";
        let score = format!("{}", i * 7 % 1000);
        let note: Option<&[u8]> = if i % 3 == 0 {
            None
        } else {
            Some(b"some free text note")
        };
        let vals: [Option<&[u8]>; 8] = [
            Some(id.as_bytes()),
            Some(email.as_bytes()),
            Some(name.as_bytes()),
            Some(card.as_bytes()),
            note,
            Some(created.as_bytes()),
            Some(score.as_bytes()),
            Some(b"t"),
        ];
        DataRow::encode_values(&vals, &mut out)?;
    }
    CommandComplete {
        tag: format!("SELECT {ROWS}").as_bytes(),
    }
    .try_encode(&mut out)?;
    TransactionStatus::Idle.encode_ready_for_query(&mut out);
    Ok(out)
}

fn frames(data: &[u8], parse: bool) -> Result<usize, limen_wire::Error> {
    let mut d = BackendDecoder::new(Limits::default());
    let mut n = 0;
    for chunk in data.chunks(CHUNK) {
        d.receive_data(chunk)?;
        if parse {
            while let Some((f, m)) = d.next_message()? {
                n += f.raw().len();
                black_box(m);
            }
        } else {
            while let Some(f) = d.next_frame()? {
                n += f.raw().len();
            }
        }
    }
    Ok(n)
}

/// Decodes and rewrites every DataRow; `mask` replaces columns 1 and 3.
fn rewrite(
    data: &[u8],
    rw: &mut RowRewriter,
    out: &mut Vec<u8>,
    mask: bool,
) -> Result<usize, limen_wire::Error> {
    let mut d = BackendDecoder::new(Limits::default());
    let mut changed = 0;
    for chunk in data.chunks(CHUNK) {
        d.receive_data(chunk)?;
        out.clear();
        while let Some(f) = d.next_frame()? {
            if f.tag() == Some(b'D') {
                let r = rw.try_rewrite(f.body(), out, |i, v, s| {
                    if mask && (i == 1 || i == 3) && v.is_some() {
                        s.extend_from_slice(b"[masked]");
                        Action::Replace
                    } else {
                        Action::Keep
                    }
                })?;
                if r == Rewrite::Changed {
                    changed += 1;
                } else {
                    out.extend_from_slice(f.raw());
                }
            } else {
                out.extend_from_slice(f.raw());
            }
        }
        black_box(&out);
    }
    Ok(changed)
}

fn bench(c: &mut Criterion) {
    let Ok(data) = stream() else { return };
    let mut g = c.benchmark_group("pg_datarow_stream");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("frame_only", |b| b.iter(|| frames(black_box(&data), false)));
    g.bench_function("frame_and_parse", |b| {
        b.iter(|| frames(black_box(&data), true))
    });
    let mut rw = RowRewriter::default();
    let mut out = Vec::with_capacity(2 * CHUNK);
    g.bench_function("rewrite_unchanged", |b| {
        b.iter(|| rewrite(black_box(&data), &mut rw, &mut out, false))
    });
    g.bench_function("rewrite_masking", |b| {
        b.iter(|| rewrite(black_box(&data), &mut rw, &mut out, true))
    });
    g.finish();
    // Sanity: the masking variant really rewrites every row.
    if let Ok(n) = rewrite(&data, &mut rw, &mut out, true) {
        assert_eq!(n, ROWS);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
