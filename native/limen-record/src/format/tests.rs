//! The record format's frame headers, trailers and file header, round trip
//! and bit flips.
use super::*;

#[test]
fn frame_header_round_trips_and_rejects_flips() {
    let h = encode_frame_header(10, 7, 99, Kind::Decision, FLAG_MORE);
    let d = try_parse_frame_header(&h, 100, record_flags(VERSION));
    assert_eq!(
        d,
        Ok(FrameHeader {
            len: 10,
            seq: 7,
            t_us: 99,
            kind: Kind::Decision,
            flags: FLAG_MORE
        })
    );
    for i in 0..28 {
        for bit in 0..8 {
            let mut m = h;
            m[i] ^= 1 << bit;
            assert!(
                try_parse_frame_header(&m, 100, record_flags(VERSION)).is_err(),
                "flip {i}.{bit} passed"
            );
        }
    }
    assert!(try_parse_frame_header(&h, 9, record_flags(VERSION)).is_err());
}

#[test]
fn the_masked_flag_is_known_from_version_3_on() {
    let h = encode_frame_header(10, 7, 99, Kind::ClientToUpstream, FLAG_MASKED | FLAG_MORE);
    let d = try_parse_frame_header(&h, 100, record_flags(3));
    assert_eq!(d.map(|f| f.flags), Ok(FLAG_MASKED | FLAG_MORE));
    assert!(try_parse_frame_header(&h, 100, record_flags(2)).is_err());
    assert!(try_parse_frame_header(&encode_frame_header(1, 0, 0, Kind::Event, 4), 100, 3).is_err());
}

#[test]
fn frame_checksum_links_the_header_and_the_payload_digest() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
    let key = [9u8; 32];
    for total in [28usize, 29, 1024, 1052, 4124, 5000] {
        let mut hd = [0u8; 28];
        hd.copy_from_slice(&data[..28]);
        let d = *blake3::hash(&data[28..total]).as_bytes();
        let mut m = hd.to_vec();
        m.extend_from_slice(&d);
        let want = *blake3::keyed_hash(&key, &m).as_bytes();
        assert_eq!(chain_link(&key, &hd, &d), want);
        for split in [0usize, 1, 27, 28, 29, 1000, total] {
            let split = split.min(total);
            let (a, b) = data[..total].split_at(split);
            assert_eq!(
                frame_checksum(&key, a, b),
                want,
                "frame {total}, split {split}"
            );
        }
    }
}

#[test]
fn kinds_round_trip_by_name_and_byte() {
    for k in Kind::APPENDABLE {
        assert_eq!(Kind::from_name(k.name()), Some(k));
        assert_eq!(Kind::from_u8(k as u8), Some(k));
        assert!(k.is_appendable());
    }
    assert!(!Kind::Trailer.is_appendable());
    assert_eq!(Kind::from_name("trailer"), None);
}

#[test]
fn header_round_trips_and_checks() {
    let f = HeaderFields {
        session_id: "s-1",
        identity: "ci-bot",
        resource: "staging",
        protocol: "postgres",
        start_unix_us: 1234,
    };
    let h = encode_header(&f, 1024, 0, &[7u8; 32], None).unwrap_or_default();
    match try_parse_header(&h) {
        Ok(HeaderParse::Done(hd, n)) => {
            assert_eq!(n, h.len());
            assert_eq!(hd.identity, "ci-bot");
            assert_eq!(hd.max_record, 1024);
            assert!(!hd.encrypted);
        }
        _ => panic!("header did not parse"),
    }
    for cut in 0..h.len() {
        assert!(matches!(
            try_parse_header(&h[..cut]),
            Ok(HeaderParse::Need(_))
        ));
    }
    let mut m = h.clone();
    m[40] ^= 1;
    assert!(try_parse_header(&m).is_err());
}
