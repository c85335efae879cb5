//! Tests of the AES-GCM packet layer (`super`).
use super::*;
use proptest::prelude::*;

fn sealed(seal: &mut Gcm, prefix: &[u8], data: &[u8], pad: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; Gcm::sealed_len(prefix.len() + data.len())];
    assert!(seal.seal_into(prefix, data, pad, &mut out).is_ok());
    out
}

fn opened(open: &mut Gcm, wire: &mut [u8]) -> Result<Vec<u8>, SshError> {
    let first: [u8; 4] = [wire[0], wire[1], wire[2], wire[3]];
    let n = Gcm::body_len(first, MAX_PACKET)?;
    if wire.len() != 4 + n {
        return Err(SshError::BadBuffer);
    }
    open.open_in_place(first, &mut wire[4..])
        .map(<[u8]>::to_vec)
}

#[test]
fn refuses_bad_keys() {
    assert!(Gcm::new(&[0; 24], &[0; 12]).is_err());
    assert!(Gcm::new(&[0; 16], &[0; 11]).is_err());
    assert!(Gcm::new(&[0; 32], &[0; 12]).is_ok());
}

#[test]
fn length_checks() {
    assert_eq!(Gcm::body_len([0, 0, 0, 16], MAX_PACKET), Ok(32));
    assert_eq!(
        Gcm::body_len([0, 0, 0, 15], MAX_PACKET),
        Err(SshError::BadLength)
    );
    assert_eq!(
        Gcm::body_len([0, 0, 0, 0], MAX_PACKET),
        Err(SshError::BadLength)
    );
    assert_eq!(
        Gcm::body_len([0, 4, 0, 16], MAX_PACKET),
        Err(SshError::TooLarge)
    );
    assert_eq!(
        Gcm::body_len([0xff; 4], usize::MAX),
        Err(SshError::TooLarge)
    );
    assert_eq!(Gcm::body_len([0, 0, 1, 0], 128), Err(SshError::TooLarge));
}

#[test]
fn counter_wraps_like_openssh() {
    let iv = [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let mut seal = Gcm::new(&[3; 16], &iv).unwrap();
    let mut open = Gcm::new(&[3; 16], &iv).unwrap();
    for _ in 0..3 {
        let mut wire = sealed(&mut seal, b"\x02", b"x", &[9; 19]);
        assert_eq!(opened(&mut open, &mut wire), Ok(b"\x02x".to_vec()));
    }
}

proptest! {
    #[test]
    fn seal_then_open(
        key in prop::collection::vec(any::<u8>(), 16..=16),
        iv in prop::collection::vec(any::<u8>(), 12..=12),
        packets in prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 1..10), prop::collection::vec(any::<u8>(), 0..3000)),
            1..6,
        ),
    ) {
        let mut seal = Gcm::new(&key, &iv).unwrap();
        let mut open = Gcm::new(&key, &iv).unwrap();
        for (prefix, data) in &packets {
            let mut wire = sealed(&mut seal, prefix, data, &[0xa5; MAX_SEAL_PADDING]);
            prop_assert_eq!((wire.len() - 4 - TAG_LEN) % BLOCK, 0);
            let mut whole = prefix.clone();
            whole.extend_from_slice(data);
            prop_assert_eq!(opened(&mut open, &mut wire), Ok(whole));
        }
    }

    #[test]
    fn channel_data_opens_to_its_messages(
        data in prop::collection::vec(any::<u8>(), 1..5000),
        chunk in 1usize..1500,
        ext in prop::option::of(any::<u32>()),
        chanid in any::<u32>(),
    ) {
        let mut seal = Gcm::new(&[9; 16], &[4; 12]).unwrap();
        let mut open = Gcm::new(&[9; 16], &[4; 12]).unwrap();
        let mut out = vec![0u8; Gcm::sealed_data_len(ext.is_some(), data.len(), chunk)];
        let count = data.len().div_ceil(chunk);
        let pad = vec![3u8; count * MAX_SEAL_PADDING];
        prop_assert_eq!(seal.seal_data_into(chanid, ext, &data, chunk, &pad, &mut out), Ok(count));
        let mut at = 0;
        let mut got = Vec::new();
        for piece in data.chunks(chunk) {
            let first = [out[at], out[at + 1], out[at + 2], out[at + 3]];
            let n = Gcm::body_len(first, MAX_PACKET).unwrap();
            let payload = open.open_in_place(first, &mut out[at + 4..at + 4 + n]).unwrap().to_vec();
            let mut head = vec![if ext.is_some() { 95 } else { 94 }];
            head.extend_from_slice(&chanid.to_be_bytes());
            if let Some(code) = ext {
                head.extend_from_slice(&code.to_be_bytes());
            }
            head.extend_from_slice(&(piece.len() as u32).to_be_bytes());
            prop_assert_eq!(&payload[..head.len()], &head[..]);
            got.extend_from_slice(&payload[head.len()..]);
            at += 4 + n;
        }
        prop_assert_eq!(at, out.len());
        prop_assert_eq!(got, data);
    }

    #[test]
    fn any_changed_byte_is_refused(data in prop::collection::vec(any::<u8>(), 1..600), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut seal = Gcm::new(&[5; 32], &[6; 12]).unwrap();
        let mut open = Gcm::new(&[5; 32], &[6; 12]).unwrap();
        let mut wire = sealed(&mut seal, b"", &data, &[1; MAX_SEAL_PADDING]);
        let i = at.index(wire.len());
        wire[i] ^= 1 << bit;
        prop_assert!(opened(&mut open, &mut wire).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut open = Gcm::new(&[5; 16], &[6; 12]).unwrap();
        let mut wire = bytes;
        if wire.len() >= 4 {
            let _ = opened(&mut open, &mut wire);
        }
    }
}
