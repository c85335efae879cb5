//! Round trips (property-tested), crash truncation at every byte, and every
//! kind of tampering the verifier must name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use limen_record::{try_verify, Ending, Kind, Problem, ReaderLimits, Status, WriterConfig};
use proptest::prelude::*;

fn kind_strategy() -> impl Strategy<Value = Kind> {
    prop::sample::select(Kind::APPENDABLE.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_appends_read_back(
        appends in prop::collection::vec((kind_strategy(), prop::collection::vec(any::<u8>(), 0..400)), 0..40),
        encrypted in any::<bool>(),
        small in any::<bool>(),
    ) {
        let k = keys();
        let cfg = if small { small_cfg() } else { WriterConfig::default() };
        let log = write_log(&k, encrypted, cfg, &appends, true);
        let (back, ending) = read_all(&log, &k);
        prop_assert_eq!(back, appends.clone());
        prop_assert_eq!(ending, Some(Ending::Intact));
        let pk = limen_record::signing_public_key(&k.signing);
        let rep = try_verify(&log[..], Some(&pk), &ReaderLimits::default()).unwrap();
        prop_assert_eq!(rep.status, Status::Intact);
        prop_assert!(rep.authenticated);
    }
}

fn sample_appends() -> Vec<(Kind, Vec<u8>)> {
    (0..12u8)
        .map(|i| {
            let kind = Kind::APPENDABLE[(i % 7) as usize];
            (kind, vec![i; (i as usize) * 23 % 150])
        })
        .collect()
}

#[test]
fn every_cut_of_a_log_is_truncated_with_its_complete_records() {
    for encrypted in [false, true] {
        let k = keys();
        let appends = sample_appends();
        let log = write_log(&k, encrypted, small_cfg(), &appends, true);
        let pk = limen_record::signing_public_key(&k.signing);
        // Record boundaries: the read-back of each prefix must be a prefix
        // of the appends, growing monotonically.
        let mut last = 0usize;
        for cut in 0..log.len() {
            let rep = try_verify(&log[..cut], Some(&pk), &ReaderLimits::default()).unwrap();
            assert_eq!(
                rep.status,
                Status::Truncated,
                "cut {cut}: {:?}",
                rep.problem
            );
            if rep.header.is_none() {
                continue;
            }
            let (back, ending) = read_all(&log[..cut], &k);
            assert!(matches!(ending, Some(Ending::Truncated { .. })));
            assert!(back.len() >= last, "cut {cut} lost records");
            assert_eq!(&appends[..back.len()], &back[..]);
            last = back.len();
        }
        assert_eq!(last, appends.len());
    }
}

#[test]
fn unclosed_log_reads_back_and_is_truncated() {
    let k = keys();
    let appends = sample_appends();
    let log = write_log(&k, false, small_cfg(), &appends, false);
    let (back, ending) = read_all(&log, &k);
    assert_eq!(back, appends);
    assert_eq!(ending, Some(Ending::Truncated { torn_bytes: 0 }));
}

#[test]
fn zero_filled_tail_is_truncation() {
    let k = keys();
    let mut log = write_log(&k, false, small_cfg(), &sample_appends(), false);
    log.extend_from_slice(&[0u8; 5000]);
    let rep = try_verify(&log[..], None, &ReaderLimits::default()).unwrap();
    assert_eq!(rep.status, Status::Truncated);
}

/// Frame boundaries of a plaintext log: (offset, len) of each frame.
fn frames(log: &[u8]) -> Vec<(usize, usize)> {
    let hlen = u32::from_le_bytes(log[12..16].try_into().unwrap()) as usize;
    let mut at = hlen;
    let mut out = Vec::new();
    while at < log.len() {
        let n = u32::from_le_bytes(log[at..at + 4].try_into().unwrap()) as usize + 60;
        out.push((at, n));
        at += n;
    }
    out
}

fn verify(log: &[u8], k: &Keys) -> limen_record::Report {
    let pk = limen_record::signing_public_key(&k.signing);
    try_verify(log, Some(&pk), &ReaderLimits::default()).unwrap()
}

#[test]
fn tampering_is_detected_and_named() {
    let k = keys();
    let appends = sample_appends();
    let log = write_log(&k, false, small_cfg(), &appends, true);
    let fr = frames(&log);
    assert!(verify(&log, &k).status == Status::Intact);

    // A changed payload byte in record 5.
    let mut m = log.clone();
    m[fr[5].0 + 30] ^= 0x20;
    let rep = verify(&m, &k);
    assert_eq!((rep.status, rep.first_bad), (Status::Tampered, Some(5)));
    assert_eq!(rep.problem, Some(Problem::ChecksumMismatch));

    // Every single-byte change anywhere is tampering (never intact, never truncated).
    for i in (0..log.len()).step_by(7) {
        let mut m = log.clone();
        m[i] ^= 0x01;
        let rep = verify(&m, &k);
        assert_eq!(rep.status, Status::Tampered, "byte {i}: {:?}", rep.problem);
    }

    // Record 4 deleted.
    let mut m = log[..fr[4].0].to_vec();
    m.extend_from_slice(&log[fr[5].0..]);
    let rep = verify(&m, &k);
    assert_eq!(rep.first_bad, Some(4));
    assert!(matches!(
        rep.problem,
        Some(Problem::Missing {
            expected: 4,
            found: 5
        })
    ));

    // Records 6 and 7 swapped.
    let mut m = log[..fr[6].0].to_vec();
    m.extend_from_slice(&log[fr[7].0..fr[7].0 + fr[7].1]);
    m.extend_from_slice(&log[fr[6].0..fr[6].0 + fr[6].1]);
    m.extend_from_slice(&log[fr[8].0..]);
    let rep = verify(&m, &k);
    assert_eq!(rep.first_bad, Some(6));
    assert!(matches!(rep.problem, Some(Problem::Missing { .. })));

    // Record 2 inserted again after record 3.
    let mut m = log[..fr[4].0].to_vec();
    m.extend_from_slice(&log[fr[2].0..fr[2].0 + fr[2].1]);
    m.extend_from_slice(&log[fr[4].0..]);
    let rep = verify(&m, &k);
    assert_eq!(rep.first_bad, Some(4));
    assert!(matches!(
        rep.problem,
        Some(Problem::OutOfOrder {
            expected: 4,
            found: 2
        })
    ));

    // Last record deleted, trailer kept.
    let n = fr.len();
    let mut m = log[..fr[n - 2].0].to_vec();
    m.extend_from_slice(&log[fr[n - 1].0..]);
    let rep = verify(&m, &k);
    assert_eq!(rep.status, Status::Tampered);

    // Bytes after the trailer.
    let mut m = log.clone();
    m.extend_from_slice(b"x");
    assert_eq!(verify(&m, &k).problem, Some(Problem::TrailingData));

    // Signed by another key.
    let other = keys();
    let pk_other = limen_record::signing_public_key(&other.signing);
    let rep = try_verify(&log[..], Some(&pk_other), &ReaderLimits::default()).unwrap();
    assert_eq!(rep.status, Status::Tampered);
    assert!(matches!(rep.problem, Some(Problem::WrongSigner { .. })));
    assert_eq!(rep.first_bad, Some((n - 1) as u64));

    // Without a trusted key: intact but not authenticated.
    let rep = try_verify(&log[..], None, &ReaderLimits::default()).unwrap();
    assert_eq!(rep.status, Status::Intact);
    assert!(!rep.authenticated);
}

#[test]
fn a_trailer_from_another_log_does_not_match() {
    let k = keys();
    let a = write_log(&k, false, small_cfg(), &sample_appends(), true);
    let mut other = sample_appends();
    other[3].1 = vec![0xAA; other[3].1.len()];
    let b = write_log(&k, false, small_cfg(), &other, true);
    let (fa, fb) = (frames(&a), frames(&b));
    let mut m = a[..fa[fa.len() - 1].0].to_vec();
    m.extend_from_slice(&b[fb[fb.len() - 1].0..]);
    let rep = verify(&m, &k);
    assert_eq!(rep.status, Status::Tampered);
    // The trailer's checksum is keyed with the chain over this log's records.
    assert_eq!(rep.problem, Some(Problem::ChecksumMismatch));
    assert_eq!(rep.first_bad, Some((fa.len() - 1) as u64));
}

#[test]
fn encrypted_log_needs_the_right_key() {
    let k = keys();
    let log = write_log(&k, true, WriterConfig::default(), &sample_appends(), true);
    assert!(
        limen_record::Records::try_open(&log[..], None, None, &ReaderLimits::default()).is_err()
    );
    let other = keys();
    assert!(limen_record::Records::try_open(
        &log[..],
        Some(&other.private),
        None,
        &ReaderLimits::default()
    )
    .is_err());
    // Integrity checks need no private key.
    assert_eq!(verify(&log, &k).status, Status::Intact);
    // The payloads are not in the file in clear.
    let needle = [11u8; 30];
    assert!(!log.windows(30).any(|w| w == &needle[..]));
}

#[test]
fn large_payloads_are_split_and_rejoined() {
    let k = keys();
    let big: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let appends = vec![
        (Kind::UpstreamToClient, big.clone()),
        (Kind::Event, b"e".to_vec()),
    ];
    for enc in [false, true] {
        let log = write_log(&k, enc, small_cfg(), &appends, true);
        let (back, _) = read_all(&log, &k);
        assert_eq!(back, appends);
        let rep = verify(&log, &k);
        assert_eq!(rep.records, 1000_u64.div_ceil(64) + 1);
    }
}

/// A trailer rewritten by someone who recomputes its checksum (anyone can:
/// the chain is public): counts, chain or signature are still caught.
#[test]
fn forged_trailer_with_recomputed_checksum() {
    use limen_record::format::frame_checksum;
    let k = keys();
    let log = write_log(&k, false, small_cfg(), &sample_appends(), true);
    let (at, size) = *frames(&log).last().unwrap();
    let body = at + 28;
    let chain: [u8; 32] = log[body + 24..body + 56].try_into().unwrap();
    let reseal = |m: &mut Vec<u8>| {
        let sum = frame_checksum(&chain, &m[at..at + size - 32], &[]);
        m[at + size - 32..at + size].copy_from_slice(&sum);
    };
    let cases: [(usize, Problem); 3] = [
        (8, Problem::CountsMismatch),    // records count
        (24, Problem::ChainMismatch),    // chain hash
        (56 + 5, Problem::BadSignature), // signature
    ];
    for (off, want) in cases {
        let mut m = log.clone();
        m[body + off] ^= 1;
        reseal(&mut m);
        let rep = verify(&m, &k);
        assert_eq!(rep.status, Status::Tampered);
        assert_eq!(rep.problem, Some(want));
        assert_eq!(rep.first_bad, Some((frames(&log).len() - 1) as u64));
    }
}

/// A sink that fills deferred checksums itself (what the Python binding's
/// I/O thread does), synchronously.
struct DeferredVec {
    bytes: Vec<u8>,
    chainer: Option<limen_record::Chainer>,
}

impl std::io::Write for DeferredVec {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl limen_record::Sink for DeferredVec {
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn write_deferred(
        &mut self,
        batch: &mut Vec<u8>,
        spans: &mut Vec<limen_record::FrameSpan>,
    ) -> std::io::Result<()> {
        let c = self.chainer.as_mut().ok_or(std::io::ErrorKind::Other)?;
        assert!(c.fill(batch, spans));
        self.bytes.extend_from_slice(batch);
        batch.clear();
        spans.clear();
        Ok(())
    }
    fn deferred_chain(&mut self) -> std::io::Result<[u8; 32]> {
        Ok(self
            .chainer
            .as_ref()
            .ok_or(std::io::ErrorKind::Other)?
            .chain())
    }
}

/// Whichever thread computes the payload digests (the writer some, the
/// sink's [`limen_record::Chainer`] the rest), the file is the one the
/// inline writer produces.
#[test]
fn deferred_checksums_write_the_same_log() {
    let k = keys();
    let appends = sample_appends();
    let inline = write_log(&k, false, small_cfg(), &appends, true);
    for inline_digests in [0u8, 1, 3, 4, 7, 8, 200] {
        let cfg = WriterConfig {
            defer_checksums: true,
            inline_digests,
            ..small_cfg()
        };
        let sink = DeferredVec {
            bytes: Vec::new(),
            chainer: None,
        };
        let mut w =
            limen_record::Writer::try_create(sink, &fields(), &k.signing, None, cfg).unwrap();
        let chainer = w.take_chainer();
        assert!(chainer.is_some());
        assert!(w.take_chainer().is_none());
        // Give the chainer to the sink, the way the binding hands it to its thread.
        w.sink_mut().chainer = chainer;
        for (i, (kind, p)) in appends.iter().enumerate() {
            w.try_append(*kind, i as u64 * 10, p).unwrap();
        }
        w.try_close(appends.len() as u64 * 10).unwrap();
        assert_eq!(w.sink().bytes, inline, "inline_digests {inline_digests}");
    }
}

/// A log of another format version (version 1 sealed batches with
/// ChaCha20-Poly1305) is refused by name, never misread.
#[test]
fn another_format_version_is_named() {
    let k = keys();
    for enc in [false, true] {
        let mut log = write_log(&k, enc, small_cfg(), &sample_appends(), true);
        assert_eq!(
            u16::from_le_bytes([log[8], log[9]]),
            limen_record::format::VERSION
        );
        let other = limen_record::format::MIN_VERSION - 1;
        log[8..10].copy_from_slice(&other.to_le_bytes());
        let rep = verify(&log, &k);
        assert_eq!(rep.problem, Some(Problem::UnsupportedVersion(other)));
        let msg = rep.problem.map(|p| p.to_string()).unwrap_or_default();
        assert!(msg.contains(&format!("version {other}")), "{msg}");
        assert!(
            msg.contains(&format!(
                "reads versions {} to {}",
                limen_record::format::MIN_VERSION,
                limen_record::format::VERSION
            )),
            "{msg}"
        );
        let err = limen_record::Records::try_open(
            &log[..],
            Some(&k.private),
            None,
            &ReaderLimits::default(),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("unsupported format version"), "{err}");
    }
}
