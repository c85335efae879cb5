//! Version 3's record flag `MASKED`: written per record (on every part of
//! a split payload, plaintext and sealed), read back, covered by the chain;
//! version 2 logs (fixtures written by the version 2 writer) still read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use limen_record::{
    recipient_public_key, signing_public_key, try_verify, Ending, Kind, ReaderLimits, Records,
    Status, Writer, WriterConfig,
};
use proptest::prelude::*;

/// A record as appended: kind, payload, masked.
type Flagged = (Kind, Vec<u8>, bool);

fn write_flagged(k: &Keys, encrypted: bool, cfg: WriterConfig, appends: &[Flagged]) -> Vec<u8> {
    let recipient = encrypted.then_some(&k.public);
    let mut w = Writer::try_create(Vec::new(), &fields(), &k.signing, recipient, cfg).unwrap();
    for (i, (kind, p, masked)) in appends.iter().enumerate() {
        w.try_append_flagged(*kind, i as u64 * 10, *masked, &p[..])
            .unwrap();
    }
    w.try_close(appends.len() as u64 * 10).unwrap();
    w.sink().clone()
}

fn read_flagged(bytes: &[u8], private: &[u8; 32]) -> (Vec<Flagged>, Option<Ending>) {
    let mut r = Records::try_open(bytes, Some(private), None, &ReaderLimits::default()).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.try_next().unwrap() {
        out.push((rec.kind, rec.payload, rec.masked));
    }
    (out, r.ending())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn masked_flags_read_back_and_verify(
        appends in prop::collection::vec(
            (prop::sample::select(Kind::APPENDABLE.to_vec()), prop::collection::vec(any::<u8>(), 0..300), any::<bool>()),
            0..30,
        ),
        encrypted in any::<bool>(),
        small in any::<bool>(),
    ) {
        let k = keys();
        let cfg = if small { small_cfg() } else { WriterConfig::default() };
        let log = write_flagged(&k, encrypted, cfg, &appends);
        prop_assert_eq!(u16::from_le_bytes([log[8], log[9]]), limen_record::format::VERSION);
        let (back, ending) = read_flagged(&log, &k.private);
        prop_assert_eq!(back, appends.clone());
        prop_assert_eq!(ending, Some(Ending::Intact));
        let rep = try_verify(&log[..], Some(&signing_public_key(&k.signing)), &ReaderLimits::default()).unwrap();
        prop_assert_eq!(rep.status, Status::Intact);
    }
}

#[test]
fn flipping_the_masked_flag_is_tampering() {
    let k = keys();
    let log = write_flagged(
        &k,
        false,
        WriterConfig::default(),
        &[(
            Kind::ClientToUpstream,
            b"SELECT '[MASKED:x]'".to_vec(),
            true,
        )],
    );
    // the first frame's flags byte: header length, then byte 21 of the frame
    let hlen = u32::from_le_bytes([log[12], log[13], log[14], log[15]]) as usize;
    let mut bad = log.clone();
    bad[hlen + 21] ^= limen_record::format::FLAG_MASKED;
    let rep = try_verify(
        &bad[..],
        Some(&signing_public_key(&k.signing)),
        &ReaderLimits::default(),
    )
    .unwrap();
    assert_eq!(rep.status, Status::Tampered);
}

const FIXTURE_SIGNING: [u8; 32] = {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = i as u8;
        i += 1;
    }
    k
};

const FIXTURE_RECIPIENT: [u8; 32] = {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = 32 + i as u8;
        i += 1;
    }
    k
};

#[test]
fn version_2_logs_still_read_and_verify() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let pk = signing_public_key(&FIXTURE_SIGNING);
    assert_eq!(recipient_public_key(&FIXTURE_RECIPIENT).len(), 32);
    for name in ["v2-plain.limenlog", "v2-sealed.limenlog"] {
        let log = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(u16::from_le_bytes([log[8], log[9]]), 2, "{name}");
        let rep = try_verify(&log[..], Some(&pk), &ReaderLimits::default()).unwrap();
        assert_eq!(rep.status, Status::Intact, "{name}: {:?}", rep.problem);
        let (back, ending) = read_flagged(&log, &FIXTURE_RECIPIENT);
        assert_eq!(ending, Some(Ending::Intact));
        let kinds: Vec<Kind> = back.iter().map(|r| r.0).collect();
        assert_eq!(
            kinds,
            [
                Kind::ClientToUpstream,
                Kind::Event,
                Kind::UpstreamToClient,
                Kind::Masking
            ]
        );
        assert_eq!(back[0].1, b"SELECT 1");
        assert_eq!(back[2].1, vec![b'x'; 150]); // split over three records, rejoined
        assert!(back.iter().all(|r| !r.2));
    }
}
