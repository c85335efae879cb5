//! Property tests: what is encoded decodes back, in any chunking; the row
//! rewriter agrees with decoding, changing and re-encoding the row.
use limen_wire::mysql::caps::*;
use limen_wire::mysql::handshake::HandshakeResponse41;
use limen_wire::mysql::resultset::{encode_text_row, resequence, Action, Rewrite};
use limen_wire::mysql::{
    write_packet, Limits, PacketDecoder, SslRequest, TextRow, TextRowRewriter,
};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        6 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Some),
    ]
}

proptest! {
    #[test]
    fn packets_round_trip_in_any_chunking(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2000), 1..8),
        chunk in 1usize..700,
        seq in any::<u8>(),
    ) {
        let mut wire = Vec::new();
        let mut s = seq;
        for p in &payloads {
            s = write_packet(&mut wire, s, p);
        }
        let mut d = PacketDecoder::new(Limits::default());
        d.set_sequence(seq);
        let mut got = Vec::new();
        for c in wire.chunks(chunk) {
            d.receive_data(c).map_err(|e| TestCaseError::fail(e.to_string()))?;
            while let Some(p) = d.next_packet().map_err(|e| TestCaseError::fail(e.to_string()))? {
                got.push(p.payload().to_vec());
            }
        }
        prop_assert_eq!(got, payloads);
        prop_assert_eq!(d.sequence(), Some(s));
    }

    #[test]
    fn handshake_response_round_trips(
        user in proptest::collection::vec(1u8..=255, 0..40),
        auth in proptest::collection::vec(any::<u8>(), 0..255),
        db in proptest::option::of(proptest::collection::vec(1u8..=255, 0..20)),
        lenenc in any::<bool>(),
        ext in any::<u32>(),
    ) {
        let mut caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH
            | u64::from(ext) << 32;
        if lenenc { caps |= CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA; }
        if db.is_some() { caps |= CLIENT_CONNECT_WITH_DB; }
        let r = HandshakeResponse41 {
            head: SslRequest { capabilities: caps, max_packet_size: 1 << 24, collation: 33 },
            username: &user,
            auth_response: &auth,
            database: db.as_deref(),
            auth_plugin: Some(b"mysql_native_password"),
            attributes: None,
            zstd_level: None,
        };
        let mut p = Vec::new();
        r.try_encode(&mut p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = HandshakeResponse41::try_parse(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, r);
    }

    #[test]
    fn row_rewriter_matches_decode_change_encode(
        row in proptest::collection::vec(value(), 0..12),
        plan in proptest::collection::vec(0u8..4, 12),
        seq in any::<u8>(),
    ) {
        let values: Vec<Option<&[u8]>> = row.iter().map(|v| v.as_deref()).collect();
        let mut payload = Vec::new();
        encode_text_row(&mut payload, &values);
        let parsed = TextRow::try_parse(&payload, values.len()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.iter().collect::<Vec<_>>(), values.clone());
        // The expected row: 0 keep, 1 NULL, 2 "xx" + value, 3 the same value.
        let expected: Vec<Option<Vec<u8>>> = row.iter().zip(&plan).map(|(v, p)| match p {
            1 => None,
            2 => Some([b"xx", v.as_deref().unwrap_or_default()].concat()),
            _ => v.clone(),
        }).collect();
        let mut rw = TextRowRewriter::new(1 << 20);
        let mut out = Vec::new();
        let (r, next) = rw.try_rewrite(&payload, values.len(), seq, &mut out, |i, v, buf| match plan[i] {
            1 => Action::Null,
            2 => { buf.extend_from_slice(b"xx"); buf.extend_from_slice(v.unwrap_or_default()); Action::Replace }
            3 => { if let Some(v) = v { buf.extend_from_slice(v); Action::Replace } else { Action::Keep } }
            _ => Action::Keep,
        }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(next, seq.wrapping_add(1));
        let want: Vec<Option<&[u8]>> = expected.iter().map(|v| v.as_deref()).collect();
        let mut want_payload = Vec::new();
        encode_text_row(&mut want_payload, &want);
        match r {
            Rewrite::Unchanged => { prop_assert!(out.is_empty()); prop_assert_eq!(want_payload, payload); }
            Rewrite::Changed => {
                prop_assert_ne!(&want_payload, &payload);
                let mut framed = Vec::new();
                write_packet(&mut framed, seq, &want_payload);
                prop_assert_eq!(&out, &framed);
                // Renumbering keeps the payload.
                let mut moved = Vec::new();
                let n = resequence(&out, seq.wrapping_add(5), &mut moved).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(n, seq.wrapping_add(6));
                prop_assert_eq!(&moved[4..], &out[4..]);
            }
        }
    }

    #[test]
    fn text_rows_never_panic_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..64), n in 0usize..8) {
        if let Ok(row) = TextRow::try_parse(&bytes, n) {
            prop_assert_eq!(row.iter().count(), n);
        }
    }
}

proptest! {
    /// What the fuzz targets check, on random bytes (cargo-fuzz is not on
    /// every machine): no decoder panics, and the framer stays in bounds.
    #[test]
    fn decoders_never_panic_on_garbage(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        caps in any::<u64>(),
        chunk in 1usize..50,
    ) {
        use limen_wire::mysql::auth::AuthReply;
        use limen_wire::mysql::binary::parse_binary_row;
        use limen_wire::mysql::generic::{EofPacket, ErrPacket, OkPacket};
        use limen_wire::mysql::{ClientHello, ColumnDefinition, Command, Expect, HandshakeV10, ResponseTracker};
        let _ = HandshakeV10::try_parse(&bytes);
        let _ = ClientHello::try_parse(&bytes);
        let _ = Command::try_parse(&bytes, caps);
        let _ = AuthReply::try_parse(&bytes, caps);
        let _ = OkPacket::try_parse(&bytes, caps);
        let _ = ErrPacket::try_parse(&bytes);
        let _ = EofPacket::try_parse(&bytes);
        let _ = ColumnDefinition::try_parse(&bytes, caps);
        let n = usize::from(bytes.first().copied().unwrap_or(0) % 8).min(bytes.len());
        let _ = parse_binary_row(&bytes[n..], &bytes[..n]);
        for expect in [Expect::Ok, Expect::Query, Expect::Execute, Expect::Prepare, Expect::FieldList] {
            let mut t = ResponseTracker::new(expect, caps);
            for p in bytes.chunks(chunk) {
                if t.on_packet(p).is_err() || t.is_done() { break; }
            }
        }
        let limits = Limits { max_packet_size: 64, max_chunk: 64, max_unauthenticated_size: 32 };
        let mut d = PacketDecoder::new(limits);
        for c in bytes.chunks(chunk) {
            if d.receive_data(c).is_err() { break; }
            while let Ok(Some(p)) = d.next_packet() { prop_assert!(p.payload().len() <= 32); }
            prop_assert!(d.pending() <= limits.max_buffer());
        }
    }
}
