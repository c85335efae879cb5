//! Builders of server responses and a reference decoder of what the relay
//! sends the client (its own packet decoder with sequence checks, the
//! response tracker, the row parsers).
use limen_wire::mysql::binary::{encode_binary_row, parse_binary_row, BinaryValue};
use limen_wire::mysql::caps::*;
use limen_wire::mysql::generic::{EofPacket, OkPacket};
use limen_wire::mysql::resultset::encode_text_row;
use limen_wire::mysql::{
    write_packet, ColumnDefinition, ContentMasker, Expect, Kind, Limits, PacketDecoder,
    ResponseTracker, TextRow,
};

pub type E = Box<dyn std::error::Error>;

/// Replaces every "secret" with "[MASKED]" (a stand-in for limen-mask).
pub struct TestMasker;

impl ContentMasker for TestMasker {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        let mut n = 0;
        let mut rest = value;
        while !rest.is_empty() {
            if rest.starts_with(b"secret") {
                out.extend_from_slice(b"[MASKED]");
                rest = &rest[6..];
                n += 1;
            } else {
                out.push(rest[0]);
                rest = &rest[1..];
            }
        }
        n
    }
}

pub const CAPS: u64 = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_TRANSACTIONS;
pub const CAPS_DEPRECATE: u64 = CAPS | CLIENT_DEPRECATE_EOF;

/// A server response under construction: packets with sequence ids from
/// the command's seq + 1.
pub struct Resp {
    pub caps: u64,
    pub seq: u8,
    pub bytes: Vec<u8>,
}

/// (schema, org_table, org_name, type) of a column.
pub type Col<'a> = (&'a str, &'a str, &'a str, u8);

impl Resp {
    pub fn new(caps: u64, command_seq: u8) -> Self {
        Resp {
            caps,
            seq: command_seq.wrapping_add(1),
            bytes: Vec::new(),
        }
    }

    pub fn packet(&mut self, payload: &[u8]) -> &mut Self {
        self.seq = write_packet(&mut self.bytes, self.seq, payload);
        self
    }

    pub fn ok(&mut self, status: u16, affected: u64, insert_id: u64) -> &mut Self {
        let mut p = Vec::new();
        OkPacket {
            header: 0,
            affected_rows: affected,
            last_insert_id: insert_id,
            status,
            warnings: 1,
            ..Default::default()
        }
        .encode(&mut p, self.caps);
        self.packet(&p)
    }

    fn end(&mut self, status: u16) -> &mut Self {
        let mut p = Vec::new();
        if self.caps & CLIENT_DEPRECATE_EOF != 0 {
            OkPacket {
                header: 0xfe,
                status,
                ..Default::default()
            }
            .encode(&mut p, self.caps);
        } else {
            EofPacket {
                warnings: 0,
                status,
            }
            .encode(&mut p);
        }
        self.packet(&p)
    }

    pub fn columns(&mut self, cols: &[Col<'_>]) -> &mut Self {
        self.packet(&[cols.len() as u8]);
        for def in coldefs(cols) {
            self.packet(&def);
        }
        if self.caps & CLIENT_DEPRECATE_EOF == 0 {
            let mut p = Vec::new();
            EofPacket::default().encode(&mut p);
            self.packet(&p);
        }
        self
    }

    pub fn text_row(&mut self, values: &[Option<&[u8]>]) -> &mut Self {
        let mut p = Vec::new();
        encode_text_row(&mut p, values);
        self.packet(&p)
    }

    pub fn binary_row(&mut self, types: &[u8], values: &[BinaryValue<'_>]) -> &mut Self {
        let mut p = Vec::new();
        if encode_binary_row(&mut p, types, values).is_err() {
            p.clear();
        }
        self.packet(&p)
    }

    pub fn rows_end(&mut self, status: u16) -> &mut Self {
        self.end(status)
    }
}

pub fn coldefs(cols: &[Col<'_>]) -> Vec<Vec<u8>> {
    cols.iter()
        .map(|(schema, table, name, t)| {
            let mut p = Vec::new();
            ColumnDefinition {
                catalog: b"def",
                schema: schema.as_bytes(),
                table: table.as_bytes(),
                org_table: table.as_bytes(),
                name: name.as_bytes(),
                org_name: name.as_bytes(),
                charset: 33,
                column_type: *t,
                ..Default::default()
            }
            .encode(&mut p);
            p
        })
        .collect()
}

/// What a client decodes from the relay's output.
#[derive(Debug, Default, PartialEq)]
pub struct Decoded {
    pub kinds: Vec<Kind>,
    pub text_rows: Vec<Vec<Option<Vec<u8>>>>,
    pub binary_rows: Vec<Vec<Option<Vec<u8>>>>,
    pub seqs: Vec<u8>,
    pub done: bool,
    /// (table, name, org_name) of every column definition.
    pub names: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

/// Decodes the relay's output as a client would: sequence ids from
/// `command_seq + 1`, every packet classified, rows parsed. `types`: the
/// column types for a FETCH.
pub fn decode(
    bytes: &[u8],
    caps: u64,
    expect: Expect,
    command_seq: u8,
    fetch_types: &[u8],
) -> Result<Decoded, E> {
    let mut dec = PacketDecoder::new(Limits {
        max_packet_size: 64 << 20,
        max_chunk: 64 << 20,
        ..Limits::default()
    });
    dec.set_authenticated();
    dec.set_sequence(command_seq.wrapping_add(1));
    dec.receive_data(bytes)?;
    let mut tracker = ResponseTracker::new(expect, caps);
    let mut types: Vec<u8> = fetch_types.to_vec();
    let mut out = Decoded::default();
    while let Some(p) = dec.next_packet()? {
        out.seqs.push(p.seq());
        let kind = tracker.on_packet(p.payload())?;
        if kind == Kind::ColumnDefinition {
            let def = ColumnDefinition::try_parse(p.payload(), caps)?;
            out.names
                .push((def.table.to_vec(), def.name.to_vec(), def.org_name.to_vec()));
        }
        match kind {
            Kind::ColumnCount(_) => types.clear(),
            Kind::ColumnDefinition if matches!(expect, Expect::Query | Expect::Execute) => {
                types.push(ColumnDefinition::try_parse(p.payload(), caps)?.column_type)
            }
            Kind::TextRow => {
                let row = TextRow::try_parse(p.payload(), tracker.columns() as usize)?;
                out.text_rows
                    .push(row.iter().map(|v| v.map(<[u8]>::to_vec)).collect());
            }
            Kind::BinaryRow => {
                let row = parse_binary_row(p.payload(), &types)?;
                out.binary_rows.push(
                    row.iter()
                        .map(|v| match v {
                            BinaryValue::Null => None,
                            BinaryValue::Str(s)
                            | BinaryValue::Fixed(s)
                            | BinaryValue::Temporal(s) => Some(s.to_vec()),
                        })
                        .collect(),
                );
            }
            _ => {}
        }
        out.kinds.push(kind);
    }
    if dec.pending() != 0 {
        return Err("trailing bytes".into());
    }
    out.done = tracker.is_done();
    Ok(out)
}
