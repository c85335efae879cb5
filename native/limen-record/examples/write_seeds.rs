//! Writes the fuzz seed logs (`fuzz/seeds/reader/`): a plaintext log, an
//! encrypted one (to the fixed recipient key `[7; 32]` the fuzz target
//! uses), a split payload, and a truncated log.
//! Run: `cargo run -p limen-record --example write_seeds -- DIR`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use limen_record::{recipient_public_key, HeaderFields, Kind, Writer, WriterConfig};

fn log(
    recipient: Option<&[u8; 32]>,
    payloads: &[(Kind, &[u8])],
    close: bool,
    max_record: u32,
) -> Vec<u8> {
    let fields = HeaderFields {
        session_id: "seed",
        identity: "fuzz",
        resource: "db",
        protocol: "postgres",
        start_unix_us: 1,
    };
    let cfg = WriterConfig {
        max_record,
        max_batch: max_record + 14 + 64,
        ..WriterConfig::default()
    };
    let mut w = Writer::try_create(Vec::new(), &fields, &[3u8; 32], recipient, cfg).unwrap();
    for (i, (k, p)) in payloads.iter().enumerate() {
        w.try_append(*k, i as u64, p).unwrap();
    }
    if close {
        w.try_close(99).unwrap();
        w.sink().clone()
    } else {
        w.try_into_bytes().unwrap()
    }
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/seeds/reader".into());
    std::fs::create_dir_all(&dir).unwrap();
    let recipient = recipient_public_key(&[7u8; 32]);
    let p: &[(Kind, &[u8])] = &[
        (Kind::ClientToUpstream, b"SELECT 1"),
        (Kind::Decision, b"{\"allow\":true}"),
        (Kind::UpstreamToClient, &[0u8, 1, 2, 3, 255]),
    ];
    let split: &[(Kind, &[u8])] = &[(Kind::UpstreamToClient, &[9u8; 100]), (Kind::Event, b"e")];
    let seeds = [
        ("plain.log", log(None, p, true, 64)),
        ("encrypted.log", log(Some(&recipient), p, true, 64)),
        ("split.log", log(None, split, true, 16)),
        (
            "split-encrypted.log",
            log(Some(&recipient), split, true, 16),
        ),
        ("truncated.log", {
            let l = log(None, p, false, 64);
            l[..l.len() - 7].to_vec()
        }),
    ];
    for (name, bytes) in seeds {
        std::fs::write(format!("{dir}/{name}"), bytes).unwrap();
    }
}
