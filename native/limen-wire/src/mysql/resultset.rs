//! Text-protocol result sets: column count, column definitions, rows; and
//! the row rewriter that masks values and re-frames the packet.
//!
//! References: MariaDB "Result Set Packets" (ColumnDefinition packet, text
//! resultset row: length-encoded strings, `0xfb` for NULL) and MySQL
//! `page_protocol_com_query_response_text_resultset*`.
use crate::error::{Error, ErrorKind};
use crate::mysql::caps::{has, MARIADB_CLIENT_CACHE_METADATA, MARIADB_CLIENT_EXTENDED_TYPE_INFO};
use crate::mysql::codec::{put_lenenc, put_lenenc_str, Reader};
use crate::mysql::framing::{write_packet, MAX_PHYSICAL};

/// A column count packet: the count, and whether column definitions
/// follow (always, unless MariaDB's `MARIADB_CLIENT_CACHE_METADATA` was
/// negotiated and the server says the client has them cached).
pub fn parse_column_count(payload: &[u8], caps: u64) -> Result<(u64, bool), Error> {
    let mut r = Reader::new(payload, "column count");
    let n = r.lenenc()?;
    let follows = if has(caps, MARIADB_CLIENT_CACHE_METADATA) {
        match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(r.err(ErrorKind::InvalidValue)),
        }
    } else {
        true
    };
    r.finish()?;
    Ok((n, follows))
}

/// ColumnDefinition41.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ColumnDefinition<'a> {
    pub catalog: &'a [u8],
    pub schema: &'a [u8],
    /// The table alias.
    pub table: &'a [u8],
    /// The real table (empty for expressions): what `column:` rules match.
    pub org_table: &'a [u8],
    /// The column alias.
    pub name: &'a [u8],
    /// The real column (empty for expressions).
    pub org_name: &'a [u8],
    /// MariaDB extended type information (with
    /// `MARIADB_CLIENT_EXTENDED_TYPE_INFO`), raw.
    pub extended_type_info: Option<&'a [u8]>,
    pub charset: u16,
    pub column_length: u32,
    pub column_type: u8,
    pub flags: u16,
    pub decimals: u8,
    /// COM_FIELD_LIST's default values, raw (empty otherwise).
    pub default_values: &'a [u8],
}

impl<'a> ColumnDefinition<'a> {
    /// Parses a ColumnDefinition41 payload; `caps` are the negotiated
    /// capabilities.
    pub fn try_parse(payload: &'a [u8], caps: u64) -> Result<Self, Error> {
        let mut r = Reader::new(payload, "ColumnDefinition41");
        let catalog = r.lenenc_str()?;
        let schema = r.lenenc_str()?;
        let table = r.lenenc_str()?;
        let org_table = r.lenenc_str()?;
        let name = r.lenenc_str()?;
        let org_name = r.lenenc_str()?;
        let extended_type_info = if has(caps, MARIADB_CLIENT_EXTENDED_TYPE_INFO) {
            Some(r.lenenc_str()?)
        } else {
            None
        };
        let fixed = r.lenenc()?;
        if fixed != 0x0c {
            return Err(r.err(ErrorKind::InvalidValue));
        }
        let charset = r.u16()?;
        let column_length = r.u32()?;
        let column_type = r.u8()?;
        let flags = r.u16()?;
        let decimals = r.u8()?;
        r.bytes(2)?;
        Ok(ColumnDefinition {
            catalog,
            schema,
            table,
            org_table,
            name,
            org_name,
            extended_type_info,
            charset,
            column_length,
            column_type,
            flags,
            decimals,
            default_values: r.rest(),
        })
    }

    /// Encodes the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        for s in [
            self.catalog,
            self.schema,
            self.table,
            self.org_table,
            self.name,
            self.org_name,
        ] {
            put_lenenc_str(out, s);
        }
        if let Some(info) = self.extended_type_info {
            put_lenenc_str(out, info);
        }
        put_lenenc(out, 0x0c);
        out.extend_from_slice(&self.charset.to_le_bytes());
        out.extend_from_slice(&self.column_length.to_le_bytes());
        out.push(self.column_type);
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.push(self.decimals);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(self.default_values);
    }
}

/// A validated text row: `count` values, each a string or NULL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextRow<'a> {
    raw: &'a [u8],
    count: usize,
}

impl<'a> TextRow<'a> {
    /// Parses a text row of `columns` values; anything left over is an error.
    pub fn try_parse(payload: &'a [u8], columns: usize) -> Result<Self, Error> {
        let mut r = Reader::new(payload, "text row");
        for _ in 0..columns {
            r.lenenc_str_or_null()?;
        }
        r.finish()?;
        Ok(TextRow {
            raw: payload,
            count: columns,
        })
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True for a row of no columns.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The values in order (`None` is NULL).
    pub fn iter(&self) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        let mut r = Reader::new(self.raw, "text row");
        let mut left = self.count;
        core::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            r.lenenc_str_or_null().ok()
        })
    }
}

/// Appends a text row made of `values`.
pub fn encode_text_row(out: &mut Vec<u8>, values: &[Option<&[u8]>]) {
    for v in values {
        match v {
            Some(s) => put_lenenc_str(out, s),
            None => out.push(0xfb),
        }
    }
}

pub use crate::pg::rewrite::{Action, Rewrite};

/// Rewrites text rows, reusing buffers across rows.
#[derive(Debug)]
pub struct TextRowRewriter {
    scratch: Vec<u8>,
    payload: Vec<u8>,
    max_packet_size: usize,
}

impl TextRowRewriter {
    /// A rewriter that refuses to build a payload over `max_packet_size`
    /// (the client's `max_allowed_packet`, typically).
    pub fn new(max_packet_size: usize) -> Self {
        TextRowRewriter {
            scratch: Vec::new(),
            payload: Vec::new(),
            max_packet_size,
        }
    }

    /// Rewrites the text row `payload` of `columns` values.
    ///
    /// `f(index, value, scratch)` gets an empty scratch per value and
    /// returns what to do (see [`Action`]). When nothing changes nothing is
    /// written ([`Rewrite::Unchanged`]: forward the original packet). Else
    /// the new row is appended to `out` framed as packets starting at
    /// sequence id `seq`, and the id after it is returned: a row that grows
    /// past 16 MiB takes more physical packets than it came in, and the
    /// packets after it must be renumbered ([`resequence`]).
    pub fn try_rewrite<F>(
        &mut self,
        payload: &[u8],
        columns: usize,
        seq: u8,
        out: &mut Vec<u8>,
        mut f: F,
    ) -> Result<(Rewrite, u8), Error>
    where
        F: FnMut(usize, Option<&[u8]>, &mut Vec<u8>) -> Action,
    {
        let mut r = Reader::new(payload, "text row");
        let mut started = false;
        self.payload.clear();
        for i in 0..columns {
            let start = r.position();
            let value = r.lenenc_str_or_null()?;
            self.scratch.clear();
            let action = f(i, value, &mut self.scratch);
            let changed = match action {
                Action::Keep => false,
                Action::Null => value.is_some(),
                Action::Replace => value != Some(self.scratch.as_slice()),
            };
            if changed && !started {
                started = true;
                self.payload.extend_from_slice(&payload[..start]);
            }
            if started {
                match action {
                    Action::Keep => self
                        .payload
                        .extend_from_slice(&payload[start..r.position()]),
                    Action::Null => self.payload.push(0xfb),
                    Action::Replace => put_lenenc_str(&mut self.payload, &self.scratch),
                }
            }
            if self.payload.len() > self.max_packet_size {
                return Err(Error::local(ErrorKind::MessageTooLarge, "text row rewrite"));
            }
        }
        r.finish()?;
        if !started {
            return Ok((Rewrite::Unchanged, seq.wrapping_add(packets(payload.len()))));
        }
        let next = write_packet(out, seq, &self.payload);
        Ok((Rewrite::Changed, next))
    }
}

fn packets(len: usize) -> u8 {
    (len / MAX_PHYSICAL + 1) as u8
}

/// Copies the physical packets of `raw` to `out` with sequence ids from
/// `seq` on; returns the next id. `raw` must be whole packets (as handed out
/// by the decoder); a short one is a local error and writes nothing.
pub fn resequence(raw: &[u8], seq: u8, out: &mut Vec<u8>) -> Result<u8, Error> {
    let start = out.len();
    let mut seq = seq;
    let mut rest = raw;
    while !rest.is_empty() {
        let Some((h, body)) = rest.split_at_checked(4) else {
            out.truncate(start);
            return Err(Error::local(ErrorKind::Truncated, "resequence"));
        };
        let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
        let Some((part, next)) = body.split_at_checked(len) else {
            out.truncate(start);
            return Err(Error::local(ErrorKind::Truncated, "resequence"));
        };
        out.extend_from_slice(&h[..3]);
        out.push(seq);
        out.extend_from_slice(part);
        seq = seq.wrapping_add(1);
        rest = next;
    }
    Ok(seq)
}
