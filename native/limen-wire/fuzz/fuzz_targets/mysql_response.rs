//! Fuzz the server-side decoders: a response tracker over arbitrary packets
//! (length-prefixed in the input), with OK/ERR/EOF, column definitions,
//! text rows and the auth-phase reply parsed on the way.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::mysql::auth::AuthReply;
use limen_wire::mysql::generic::{EofPacket, ErrPacket, OkPacket};
use limen_wire::mysql::{ColumnDefinition, Expect, Kind, ResponseTracker, TextRow};

fuzz_target!(|data: &[u8]| {
    let Some((head, mut rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let caps = u64::from(head[0]) << 17 | u64::from(head[1]) << 32;
    let expect = match head[0] & 7 {
        0 => Expect::Ok,
        1 => Expect::Query,
        2 => Expect::Execute,
        3 => Expect::Fetch,
        4 => Expect::Prepare,
        5 => Expect::FieldList,
        _ => Expect::Raw,
    };
    let mut t = ResponseTracker::new(expect, caps);
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        let (p, next) = tail.split_at(n);
        rest = next;
        let _ = AuthReply::try_parse(p, caps);
        let _ = OkPacket::try_parse(p, caps);
        let _ = ErrPacket::try_parse(p);
        let _ = EofPacket::try_parse(p);
        match t.on_packet(p) {
            Ok(Kind::ColumnDefinition) => {
                let _ = ColumnDefinition::try_parse(p, caps);
            }
            Ok(Kind::TextRow) => {
                let cols = usize::try_from(t.columns()).unwrap_or(0).min(64);
                if let Ok(row) = TextRow::try_parse(p, cols) {
                    assert_eq!(row.iter().count(), cols);
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
        if t.is_done() {
            break;
        }
    }
});
