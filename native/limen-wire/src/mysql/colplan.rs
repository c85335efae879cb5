//! Column plans: which result columns of a MySQL response are replaced
//! whole, matched on each result set's column definitions.
//!
//! A [`ColumnPlan`] lists real columns by (schema, `org_table`,
//! `org_name`), compared ASCII case-insensitively (MySQL's table and column
//! names are case-insensitive on the platforms limen targets, and the
//! gateway's rules are written in any case). With `derived` set, every
//! column that is not a plain column of a known base table (an expression,
//! an empty `org_table` or `org_name`, or a table outside `base_tables`
//! when that list is given) is replaced by `derived`.
//!
//! How a replacement reaches the wire depends on the row format: in text
//! rows the value becomes the replacement bytes; in binary rows only
//! string-laid-out types (strings, blobs, decimals, JSON, enum, set, bit,
//! geometry) can carry it, so numbers and temporal values become NULL and
//! the client can still decode the row ([`ColumnAction::for_binary`]).
use crate::mysql::binary::{layout, Layout};
use crate::mysql::resultset::ColumnDefinition;

/// One listed column: (schema or `None` for any, `org_table`, `org_name`,
/// replacement).
pub type PlannedColumn = (Option<Vec<u8>>, Vec<u8>, Vec<u8>, Vec<u8>);

/// Whole-value replacements for the result columns of one command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnPlan {
    columns: Vec<PlannedColumn>,
    derived: Option<Vec<u8>>,
    base_tables: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

/// What the relay does with one column's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnAction {
    /// Masked by content (when a masker is set), else kept.
    Content,
    /// Replaced whole by these bytes (NULL stays NULL).
    Replace(Vec<u8>),
    /// Set to NULL (a binary number or date under a column rule).
    Null,
}

impl ColumnAction {
    /// The action as a binary row applies it to a column of `column_type`:
    /// a replacement of a value that is not laid out as a string becomes
    /// NULL; content masking of a non-string value keeps it.
    pub fn for_binary(self, column_type: u8) -> ColumnAction {
        match (self, layout(column_type)) {
            (ColumnAction::Replace(r), Some(Layout::Str)) => ColumnAction::Replace(r),
            (ColumnAction::Replace(_), _) => ColumnAction::Null,
            (other, _) => other,
        }
    }
}

fn eq(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl ColumnPlan {
    /// A plan replacing `columns`, and with `derived` every column not from
    /// one of `base_tables` ((schema, table) pairs; `None`: any table).
    pub fn new(
        columns: Vec<PlannedColumn>,
        derived: Option<Vec<u8>>,
        base_tables: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    ) -> Self {
        ColumnPlan {
            columns,
            derived,
            base_tables,
        }
    }

    /// True when the plan replaces nothing.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty() && self.derived.is_none()
    }

    /// The replacement for the column `def` describes, if any.
    pub fn replacement(&self, def: &ColumnDefinition<'_>) -> Option<&[u8]> {
        let listed = self.columns.iter().find(|(schema, table, name, _)| {
            schema.as_deref().is_none_or(|s| eq(s, def.schema))
                && eq(table, def.org_table)
                && eq(name, def.org_name)
        });
        if let Some((_, _, _, rep)) = listed {
            return Some(rep);
        }
        let derived = self.derived.as_deref()?;
        if def.org_table.is_empty() || def.org_name.is_empty() {
            return Some(derived);
        }
        match &self.base_tables {
            Some(tables)
                if !tables
                    .iter()
                    .any(|(s, t)| eq(s, def.schema) && eq(t, def.org_table)) =>
            {
                Some(derived)
            }
            _ => None,
        }
    }

    /// The action for the column `def` describes.
    pub fn action(&self, def: &ColumnDefinition<'_>) -> ColumnAction {
        match self.replacement(def) {
            Some(rep) => ColumnAction::Replace(rep.to_vec()),
            None => ColumnAction::Content,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::binary::types;

    fn def<'a>(schema: &'a [u8], table: &'a [u8], name: &'a [u8]) -> ColumnDefinition<'a> {
        ColumnDefinition {
            schema,
            org_table: table,
            org_name: name,
            ..ColumnDefinition::default()
        }
    }

    #[test]
    fn listed_columns_match_case_insensitively_and_by_schema() {
        let plan = ColumnPlan::new(
            vec![
                (
                    Some(b"shop".to_vec()),
                    b"users".to_vec(),
                    b"email".to_vec(),
                    b"E".to_vec(),
                ),
                (None, b"cards".to_vec(), b"pan".to_vec(), b"P".to_vec()),
            ],
            None,
            None,
        );
        assert_eq!(
            plan.replacement(&def(b"SHOP", b"Users", b"EMAIL")),
            Some(&b"E"[..])
        );
        assert_eq!(plan.replacement(&def(b"other", b"users", b"email")), None);
        assert_eq!(
            plan.replacement(&def(b"any", b"cards", b"pan")),
            Some(&b"P"[..])
        );
        assert_eq!(plan.replacement(&def(b"shop", b"users", b"name")), None);
        // An expression never matches a listed column.
        assert_eq!(plan.replacement(&def(b"shop", b"", b"")), None);
    }

    #[test]
    fn derived_covers_expressions_and_unlisted_tables() {
        let plan = ColumnPlan::new(
            vec![(None, b"t".to_vec(), b"secret".to_vec(), b"S".to_vec())],
            Some(b"D".to_vec()),
            Some(vec![(b"db".to_vec(), b"t".to_vec())]),
        );
        assert_eq!(
            plan.replacement(&def(b"db", b"t", b"secret")),
            Some(&b"S"[..])
        );
        assert_eq!(plan.replacement(&def(b"db", b"t", b"plain")), None);
        assert_eq!(plan.replacement(&def(b"DB", b"T", b"plain")), None);
        assert_eq!(plan.replacement(&def(b"", b"", b"")), Some(&b"D"[..]));
        assert_eq!(plan.replacement(&def(b"db", b"t", b"")), Some(&b"D"[..]));
        assert_eq!(plan.replacement(&def(b"db", b"u", b"x")), Some(&b"D"[..]));
        assert_eq!(plan.replacement(&def(b"db2", b"t", b"x")), Some(&b"D"[..]));
        // Without base_tables, any real column is kept.
        let open = ColumnPlan::new(vec![], Some(b"D".to_vec()), None);
        assert_eq!(open.replacement(&def(b"db", b"u", b"x")), None);
        assert_eq!(open.replacement(&def(b"db", b"", b"x")), Some(&b"D"[..]));
        assert!(!open.is_empty());
        assert!(ColumnPlan::default().is_empty());
    }

    #[test]
    fn binary_replacements_of_numbers_become_null() {
        let rep = ColumnAction::Replace(b"X".to_vec());
        assert_eq!(rep.clone().for_binary(types::VAR_STRING), rep);
        assert_eq!(rep.clone().for_binary(types::NEWDECIMAL), rep);
        assert_eq!(rep.clone().for_binary(types::LONG), ColumnAction::Null);
        assert_eq!(rep.clone().for_binary(types::DATETIME), ColumnAction::Null);
        assert_eq!(
            ColumnAction::Content.for_binary(types::LONG),
            ColumnAction::Content
        );
    }
}
