//! The frontend decoder itself: incremental feeding, limits, unknown types,
//! offsets, poisoning.
use super::{msg, R};
use limen_wire::pg::framing::Limits;
use limen_wire::pg::{FrontendDecoder, FrontendMessage};
use limen_wire::{ErrorKind, Fault};

#[test]
fn byte_at_a_time_yields_the_same_frames() -> R {
    let mut stream = msg(b'Q', b"SELECT 1\0");
    stream.extend_from_slice(&msg(b'S', b""));
    stream.extend_from_slice(&msg(b'd', b"payload"));
    let mut d = FrontendDecoder::new_regular(Limits::default());
    let mut seen = Vec::new();
    for b in &stream {
        d.receive_data(std::slice::from_ref(b))?;
        while let Some(f) = d.next_frame()? {
            seen.push((f.offset(), f.raw().to_vec()));
        }
    }
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0], (0, msg(b'Q', b"SELECT 1\0")));
    assert_eq!(seen[1].0, 14);
    assert_eq!(
        seen.iter().flat_map(|(_, r)| r.clone()).collect::<Vec<_>>(),
        stream
    );
    assert_eq!(d.offset(), stream.len() as u64);
    Ok(())
}

#[test]
fn unknown_type_is_relayed_opaque() -> R {
    let bytes = msg(b'~', b"whatever\0\x01");
    super::decode_one(&bytes, |m| {
        assert_eq!(
            m,
            FrontendMessage::Unknown {
                tag: b'~',
                body: b"whatever\0\x01"
            }
        );
        Ok(())
    })?;
    super::roundtrip(&FrontendMessage::Unknown {
        tag: b'~',
        body: b"x",
    })
}

#[test]
fn length_below_four_is_bad() -> R {
    for len in [0i32, 3, -1, i32::MIN] {
        let mut bytes = vec![b'Q'];
        bytes.extend_from_slice(&len.to_be_bytes());
        let mut d = FrontendDecoder::new_regular(Limits::default());
        d.receive_data(&bytes)?;
        let e = d.next_frame().err().ok_or("accepted")?;
        assert_eq!(e.kind(), ErrorKind::BadLength, "len {len}");
        assert_eq!(e.fault(), Fault::Remote);
        assert_eq!(e.offset(), 1);
    }
    Ok(())
}

#[test]
fn oversized_message_is_refused_from_its_header_alone() -> R {
    let limits = Limits {
        max_message_size: 1024,
        ..Limits::default()
    };
    let mut d = FrontendDecoder::new_regular(limits);
    d.receive_data(&msg(b'Q', b"SELECT 1\0"))?;
    d.receive_data(&[b'Q', 0, 0, 4, 1])?; // announces 1025 bytes; none of the body sent
    assert!(d.next_frame()?.is_some());
    let e = d.next_frame().err().ok_or("accepted")?;
    assert_eq!(e.kind(), ErrorKind::MessageTooLarge);
    assert_eq!(e.offset(), 15);
    assert!(e.to_string().contains("byte 15"), "{e}");
    // Poisoned: the same error again, and feeding is refused.
    assert_eq!(
        d.next_frame().err().map(|e| e.kind()),
        Some(ErrorKind::MessageTooLarge)
    );
    assert!(d.receive_data(b"x").is_err());
    Ok(())
}

#[test]
fn message_exactly_at_cap_is_accepted() -> R {
    let limits = Limits {
        max_message_size: 4 + 10,
        ..Limits::default()
    };
    let mut d = FrontendDecoder::new_regular(limits);
    d.receive_data(&msg(b'd', &[7; 10]))?;
    assert_eq!(d.next_frame()?.map(|f| f.body().len()), Some(10));
    Ok(())
}

#[test]
fn feeding_more_than_the_buffer_bound_is_a_local_error() -> R {
    let limits = Limits {
        max_message_size: 64,
        max_startup_size: 64,
        max_chunk: 32,
        max_unauthenticated_size: 64,
    };
    assert_eq!(limits.max_buffer(), 64 + 5 + 32);
    let mut d = FrontendDecoder::new_regular(limits);
    let e = d
        .receive_data(&[0; 33])
        .err()
        .ok_or("accepted an oversized chunk")?;
    assert_eq!((e.kind(), e.fault()), (ErrorKind::BufferFull, Fault::Local));
    // Undrained complete messages count against the bound too.
    for _ in 0..3 {
        d.receive_data(&msg(b'd', &[1; 27]))?;
    }
    let e = d
        .receive_data(&msg(b'd', &[1; 27]))
        .err()
        .ok_or("buffer grew past its bound")?;
    assert_eq!(e.kind(), ErrorKind::BufferFull);
    // Draining makes room again.
    while d.next_frame()?.is_some() {}
    d.receive_data(&msg(b'd', &[1; 27]))?;
    assert!(d.next_frame()?.is_some());
    Ok(())
}

#[test]
fn next_message_error_offset_points_into_the_stream() -> R {
    let mut stream = msg(b'S', b"");
    stream.extend_from_slice(&msg(b'E', b"portal-without-nul"));
    let mut d = FrontendDecoder::new_regular(Limits::default());
    d.receive_data(&stream)?;
    assert!(d.next_message()?.is_some());
    let e = d.next_message().err().ok_or("accepted")?;
    assert_eq!(e.kind(), ErrorKind::MissingNul);
    assert_eq!(e.offset(), 5 + 5, "body of the second message starts at 10");
    assert_eq!(e.context(), "Execute");
    Ok(())
}

#[test]
fn next_frame_does_not_parse_regular_bodies() -> R {
    // A malformed Bind passes next_frame (relay-only path) but not next_message.
    let bad = msg(b'B', b"no-nul");
    let mut d = FrontendDecoder::new_regular(Limits::default());
    d.receive_data(&bad)?;
    assert_eq!(d.next_frame()?.map(|f| f.raw().to_vec()), Some(bad.clone()));
    let mut d = FrontendDecoder::new_regular(Limits::default());
    d.receive_data(&bad)?;
    assert!(d.next_message().is_err());
    Ok(())
}

#[test]
fn unauthenticated_client_is_capped_lower() -> R {
    let limits = Limits {
        max_unauthenticated_size: 100,
        ..Limits::default()
    };
    let mut startup = Vec::new();
    limen_wire::pg::frontend::StartupMessage {
        version: limen_wire::pg::frontend::ProtocolVersion::V3_0,
        params: vec![(b"user", b"bot")],
    }
    .try_encode(&mut startup)?;
    let big = msg(b'Q', &[b'x'; 200]);
    // Before authentication: refused from the header.
    let mut d = FrontendDecoder::new(limits);
    assert!(!d.is_authenticated());
    d.receive_data(&startup)?;
    assert!(d.next_frame()?.is_some());
    d.receive_data(&big[..5])?;
    let e = d.next_frame().err().ok_or("accepted")?;
    assert_eq!(e.kind(), ErrorKind::MessageTooLarge);
    // After: the regular cap applies.
    let mut d = FrontendDecoder::new(limits);
    d.receive_data(&startup)?;
    assert!(d.next_frame()?.is_some());
    d.set_authenticated();
    d.receive_data(&big)?;
    assert_eq!(d.next_frame()?.map(|f| f.raw().len()), Some(big.len()));
    Ok(())
}
