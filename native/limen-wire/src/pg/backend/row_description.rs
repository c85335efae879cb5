//! RowDescription ('T'): the columns of the rows that follow, and the
//! [`ColumnMap`] that remembers where each column comes from so that
//! `column:table.column` masking rules can be resolved.
use crate::error::Error;
use crate::pg::codec::{put_count, put_cstr, put_i16, put_i32, put_u32, write_message, Reader};

/// Type byte of RowDescription.
pub const TAG: u8 = b'T';

/// One column of a RowDescription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDescription<'a> {
    /// Column name (label).
    pub name: &'a [u8],
    /// OID of the source table, 0 if not a plain table column.
    pub table_oid: u32,
    /// Attribute number in that table, 0 if none.
    pub column_attr: i16,
    /// Type OID.
    pub type_oid: u32,
    /// Type size (negative for variable width).
    pub type_size: i16,
    /// Type modifier.
    pub type_modifier: i32,
    /// Format code: 0 text, 1 binary.
    pub format: i16,
}

/// RowDescription: a validated view over its fields.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RowDescription<'a> {
    raw: &'a [u8],
    count: usize,
}

impl<'a> RowDescription<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "RowDescription");
        let count = r.count16()?;
        for _ in 0..count {
            read_field(&mut r)?;
        }
        r.finish()?;
        Ok(RowDescription { raw: body, count })
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there are no columns.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The columns in order.
    pub fn fields(&self) -> impl Iterator<Item = FieldDescription<'a>> + 'a {
        let mut r = Reader::new(self.raw, "RowDescription");
        let count = r.count16().unwrap_or(0);
        // Validated in `parse`: a failure here cannot happen and only ends the walk.
        (0..count).map_while(move |_| read_field(&mut r).ok())
    }

    /// The column origins, indexed by column position.
    pub fn column_map(&self) -> ColumnMap {
        ColumnMap {
            columns: self
                .fields()
                .map(|f| ColumnOrigin {
                    table_oid: f.table_oid,
                    column_attr: f.column_attr,
                })
                .collect(),
        }
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "RowDescription", |o| {
            o.extend_from_slice(self.raw);
            Ok(())
        })
    }

    /// Writes a RowDescription from its fields.
    pub fn encode_fields(fields: &[FieldDescription<'_>], out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "RowDescription", |o| {
            put_count(o, fields.len(), "RowDescription")?;
            for f in fields {
                put_cstr(o, f.name, "RowDescription")?;
                put_u32(o, f.table_oid);
                put_i16(o, f.column_attr);
                put_u32(o, f.type_oid);
                put_i16(o, f.type_size);
                put_i32(o, f.type_modifier);
                put_i16(o, f.format);
            }
            Ok(())
        })
    }
}

impl core::fmt::Debug for RowDescription<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.fields()).finish()
    }
}

fn read_field<'a>(r: &mut Reader<'a>) -> Result<FieldDescription<'a>, Error> {
    Ok(FieldDescription {
        name: r.cstr()?,
        table_oid: r.u32()?,
        column_attr: r.i16()?,
        type_oid: r.u32()?,
        type_size: r.i16()?,
        type_modifier: r.i32()?,
        format: r.i16()?,
    })
}

/// Where a result column comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ColumnOrigin {
    /// Source table OID (0: computed column).
    pub table_oid: u32,
    /// Attribute number in that table (0: none).
    pub column_attr: i16,
}

/// Column index to origin, kept by the session across the DataRows of one
/// result set (owned, so the RowDescription bytes can be released).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnMap {
    columns: Vec<ColumnOrigin>,
}

impl ColumnMap {
    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True when there are no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The origin of column `i`.
    pub fn get(&self, i: usize) -> Option<ColumnOrigin> {
        self.columns.get(i).copied()
    }

    /// Indexes of the columns that come from `table_oid` attribute `attr`.
    pub fn positions_of(&self, table_oid: u32, attr: i16) -> impl Iterator<Item = usize> + '_ {
        self.columns
            .iter()
            .enumerate()
            .filter(move |(_, c)| {
                c.table_oid == table_oid && c.column_attr == attr && table_oid != 0
            })
            .map(|(i, _)| i)
    }

    /// All origins in column order.
    pub fn as_slice(&self) -> &[ColumnOrigin] {
        &self.columns
    }
}
