//! The fuzz target's checks on the seed corpus and many mutations of it, in
//! every `cargo test`: no panic; every outcome is a value or an error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use limen_record::{try_verify, ReaderLimits, Records, Status};

fn exercise(data: &[u8]) -> Option<Status> {
    let limits = ReaderLimits {
        max_message: 1 << 20,
        ..ReaderLimits::default()
    };
    let status = try_verify(data, None, &limits).ok().map(|r| r.status);
    for key in [None, Some(&[7u8; 32])] {
        if let Ok(mut r) = Records::try_open(data, key, None, &limits) {
            while let Ok(Some(_)) = r.try_next() {}
        }
    }
    status
}

#[test]
fn seeds_and_their_mutations_never_panic() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/reader");
    let mut seeds = 0;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        seeds += 1;
        assert!(exercise(&data).is_some());
        for _ in 0..300 {
            let mut m = data.clone();
            match next() % 4 {
                0 => {
                    let i = (next() as usize) % m.len();
                    m[i] ^= 1 << (next() % 8);
                }
                1 => m.truncate((next() as usize) % m.len()),
                2 => {
                    let i = (next() as usize) % m.len();
                    m[i] = next() as u8;
                    let j = (next() as usize) % m.len();
                    m[j] = 0xFF;
                }
                _ => {
                    let i = (next() as usize) % m.len();
                    let j = (next() as usize) % m.len();
                    let chunk = m[i.min(j)..i.max(j)].to_vec();
                    m.extend_from_slice(&chunk);
                }
            }
            exercise(&m);
        }
    }
    assert!(seeds >= 4);
}
