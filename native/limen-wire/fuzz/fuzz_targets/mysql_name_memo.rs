//! Fuzz the relay's memo of masked column definitions: a script of
//! statements (column names, secret or not, masker changes) from the
//! input, each answered by a result set, through a relay with the memo and
//! one without. Invariant: the same bytes out, the same errors.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::mysql::caps::{CLIENT_DEPRECATE_EOF, CLIENT_PROTOCOL_41};
use limen_wire::mysql::{write_packet, ColumnDefinition, ContentMasker, Expect, ServerRelay};

/// Doubles every byte equal to its mark (maskers that differ by the mark).
struct Mark(u8);

impl ContentMasker for Mark {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        let mut n = 0;
        for &b in value {
            out.push(b);
            if b == self.0 {
                out.push(b);
                n += 1;
            }
        }
        n
    }
}

const CAPS: u64 = CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF;

/// The result set of one statement: each field list (split on 0xff) is a
/// column's names, five at a time; a field list of one byte 0xfe is sent
/// as a raw (likely malformed) definition.
fn response(seq: u8, cols: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = write_packet(&mut out, seq.wrapping_add(1), &[cols.len() as u8]);
    for col in cols {
        let f: Vec<&[u8]> = col.split(|&b| b == 0xff).collect();
        let get = |i: usize| f.get(i).copied().unwrap_or_default();
        let mut p = Vec::new();
        if col.first() == Some(&0xfe) {
            p.extend_from_slice(&col[1..]);
        } else {
            ColumnDefinition {
                catalog: b"def",
                schema: get(0),
                table: get(1),
                org_table: get(2),
                name: get(3),
                org_name: get(4),
                charset: 33,
                column_type: 0xfd,
                ..Default::default()
            }
            .encode(&mut p);
        }
        s = write_packet(&mut out, s, &p);
    }
    let row: Vec<u8> = cols.iter().flat_map(|_| [1, b'v']).collect();
    s = write_packet(&mut out, s, &row);
    write_packet(&mut out, s, &[0xfe, 0, 0, 0, 0, 0, 0]);
    out
}

fn run(data: &[u8], memo: bool) -> Vec<Result<Vec<u8>, String>> {
    let mut relay = ServerRelay::new(Some(Mark(b'a')), CAPS, 1 << 16);
    relay.set_name_memo(memo);
    let mut outs = Vec::new();
    // Statements are separated by 0xfd; the first byte of each says what
    // happens before it (bit 0: a secret statement; bit 1: a new masker
    // marking its next byte). Columns are separated by 0xfc.
    for (i, stmt) in data.split(|&b| b == 0xfd).enumerate() {
        let Some((&ctl, rest)) = stmt.split_first() else {
            continue;
        };
        if ctl & 2 != 0 {
            relay.set_masker(rest.first().map(|&m| Mark(m)));
        }
        relay.set_secret_statement(ctl & 1 != 0);
        let seq = i as u8;
        let cols: Vec<&[u8]> = rest.split(|&b| b == 0xfc).take(16).collect();
        let mut out = Vec::new();
        let r = relay
            .expect(Expect::Query, seq, None, None)
            .and_then(|()| relay.try_feed(&response(seq, &cols), &mut out));
        match r {
            Ok(_) => outs.push(Ok(out)),
            Err(e) => {
                outs.push(Err(e.to_string()));
                break;
            }
        }
    }
    outs
}

fuzz_target!(|data: &[u8]| {
    assert_eq!(
        run(data, true),
        run(data, false),
        "the memo changed the output"
    );
});
