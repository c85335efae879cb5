use crate::{frame, R};
use limen_wire::mysql::framing::{packet_count, MAX_PHYSICAL};
use limen_wire::mysql::{write_packet, Limits, PacketDecoder};
use limen_wire::ErrorKind;

fn authed(limits: Limits) -> PacketDecoder {
    let mut d = PacketDecoder::new(limits);
    d.set_authenticated();
    d
}

#[test]
fn one_packet_in_bytes_of_one() -> R {
    // MySQL docs, OK packet example: 07 00 00 02 00 00 00 02 00 00 00.
    let bytes = crate::hex("07 00 00 02 00 00 00 02 00 00 00");
    let mut d = PacketDecoder::new(Limits::default());
    d.set_sequence(2);
    for (i, b) in bytes.iter().enumerate() {
        d.receive_data(std::slice::from_ref(b))?;
        if i + 1 < bytes.len() {
            assert!(d.next_packet()?.is_none());
        }
    }
    let p = d.next_packet()?.ok_or("no packet")?;
    assert_eq!(p.raw(), &bytes[..]);
    assert_eq!(p.payload(), &bytes[4..]);
    assert_eq!((p.seq(), p.last_seq(), p.parts(), p.offset()), (2, 2, 1, 0));
    assert_eq!(d.sequence(), Some(3));
    Ok(())
}

#[test]
fn sequence_ids_are_checked_and_the_decoder_stays_failed() -> R {
    let mut d = PacketDecoder::new(Limits::default());
    let mut bytes = frame(0, b"\x0e");
    bytes.extend(frame(2, b"\x0e"));
    d.receive_data(&bytes)?;
    assert!(d.next_packet()?.is_some());
    let e = d.next_packet().err().ok_or("out of order accepted")?;
    assert_eq!(e.kind(), ErrorKind::BadSequence);
    assert!(e.is_remote());
    assert_eq!(e.offset(), 5 + 3);
    assert_eq!(
        d.next_packet().err().map(|e| e.kind()),
        Some(ErrorKind::Poisoned)
    );
    // Sequence ids wrap at 256; checking can be turned off.
    let mut d = PacketDecoder::new(Limits::default());
    d.set_sequence(255);
    d.receive_data(&frame(255, b"a"))?;
    d.receive_data(&frame(0, b"b"))?;
    assert_eq!(d.next_packet()?.map(|p| p.seq()), Some(255));
    assert_eq!(d.next_packet()?.map(|p| p.seq()), Some(0));
    d.ignore_sequence();
    d.receive_data(&frame(9, b"c"))?;
    assert_eq!(
        d.next_packet()?.map(|p| p.payload().to_vec()),
        Some(b"c".to_vec())
    );
    Ok(())
}

#[test]
fn caps_are_checked_from_the_header() -> R {
    let limits = Limits {
        max_packet_size: 1000,
        max_chunk: 64,
        max_unauthenticated_size: 100,
    };
    // Only the header of an oversized packet is needed to refuse it.
    let mut d = PacketDecoder::new(limits);
    d.receive_data(&[101, 0, 0, 0])?;
    assert_eq!(
        d.next_packet().err().map(|e| e.kind()),
        Some(ErrorKind::MessageTooLarge)
    );
    let mut d = authed(limits);
    d.receive_data(&[101, 0, 0, 0])?;
    assert!(d.next_packet()?.is_none());
    let mut d = authed(limits);
    d.receive_data(&[0xe9, 0x03, 0, 0])?;
    assert_eq!(
        d.next_packet().err().map(|e| e.kind()),
        Some(ErrorKind::MessageTooLarge)
    );
    // A chunk over max_chunk is a local error.
    let e = d_fresh(limits)
        .receive_data(&[0; 65])
        .err()
        .ok_or("accepted")?;
    assert!(!e.is_remote());
    Ok(())
}

fn d_fresh(limits: Limits) -> PacketDecoder {
    PacketDecoder::new(limits)
}

#[test]
fn continuation_packets_join_and_split() -> R {
    for len in [
        MAX_PHYSICAL - 1,
        MAX_PHYSICAL,
        MAX_PHYSICAL + 7,
        2 * MAX_PHYSICAL,
    ] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut wire = Vec::new();
        let next = write_packet(&mut wire, 7, &payload);
        let parts = packet_count(len);
        assert_eq!(next, 7 + parts as u8);
        assert_eq!(wire.len(), len + 4 * parts);
        let mut d = authed(Limits::default());
        d.set_sequence(7);
        let mut got = None;
        for chunk in wire.chunks(1 << 20) {
            d.receive_data(chunk)?;
            if let Some(p) = d.next_packet()? {
                assert_eq!(p.payload(), &payload[..]);
                assert_eq!(p.raw(), &wire[..]);
                got = Some((p.seq(), p.last_seq(), p.parts()));
            }
        }
        assert_eq!(got, Some((7, 7 + parts as u8 - 1, parts)));
        assert_eq!(d.pending(), 0);
    }
    Ok(())
}

#[test]
fn the_buffer_never_passes_its_bound() -> R {
    let limits = Limits {
        max_packet_size: 300,
        max_chunk: 100,
        max_unauthenticated_size: 300,
    };
    let mut d = PacketDecoder::new(limits);
    d.ignore_sequence();
    let one = frame(0, &[1; 96]);
    let mut fed = 0;
    while d.receive_data(&one).is_ok() {
        fed += 1;
        assert!(d.pending() <= limits.max_buffer());
    }
    assert!(fed > 2);
    Ok(())
}
