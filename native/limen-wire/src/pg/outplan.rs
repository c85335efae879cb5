//! A statement's output-column plan: which result columns a column rule
//! masks whole, by position (the gateway derives it from the statement's
//! parse tree; see `limen.policy.columns`), and the rewriting of
//! `COPY … TO STDOUT` rows in text and CSV format by such a plan.
//!
//! The plan is checked against what the server reports before it is used:
//! the column count (a plan may hold one run of columns whose number the
//! gateway could not tell, counted from the rest) and the labels the plan
//! expects. A plan that does not fit masks every column (fail closed).
//!
//! [`scrub_fields`]: what is left of an error or notice of a statement
//! that reads a masked column (a cast error quotes the value).

/// The text of a value masked because the plan did not fit the result.
pub const GENERIC_MASK: &[u8] = b"[MASKED:derived]";

/// One output column of a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutColumn {
    /// The replacement text when the column is masked whole.
    pub mask: Option<Vec<u8>>,
    /// The label the server must report for it (None: not checked).
    pub name: Option<Vec<u8>>,
}

/// How a `COPY … TO STDOUT` writes its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyFormat {
    /// Text format with this delimiter.
    Text {
        /// Column delimiter.
        delimiter: u8,
    },
    /// CSV.
    Csv {
        /// Column delimiter.
        delimiter: u8,
        /// Quote character.
        quote: u8,
        /// Escape character inside quotes.
        escape: u8,
    },
    /// Binary: never rewritten (rows are dropped when a column is masked).
    Binary,
}

/// A statement's output columns: `prefix`, then (when `run` is set) any
/// number of columns masked by `run`'s replacement (or kept), then `suffix`.
/// `all` masks every column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputPlan {
    /// Leading columns.
    pub prefix: Vec<OutColumn>,
    /// A run of uncounted columns: `Some(mask)` (mask None: kept).
    pub run: Option<Option<Vec<u8>>>,
    /// Trailing columns.
    pub suffix: Vec<OutColumn>,
    /// Mask every column with this.
    pub all: Option<Vec<u8>>,
    /// For COPY: the row format, and whether the first row is a header.
    pub copy: Option<(CopyFormat, bool)>,
    /// The statement reads a masked column: the text of its errors and
    /// notices is withheld (their SQLSTATE is kept).
    pub scrub: bool,
}

impl OutputPlan {
    /// The replacement of each of `count` columns (None: not masked by
    /// the plan). `names`, when given, are the labels the server reported.
    pub fn resolve(&self, count: usize, names: Option<&[&[u8]]>) -> Vec<Option<Vec<u8>>> {
        if let Some(all) = &self.all {
            return vec![Some(all.clone()); count];
        }
        let fixed = self.prefix.len() + self.suffix.len();
        let fits = match self.run {
            None => count == fixed,
            Some(_) => count >= fixed,
        };
        let tail = count.saturating_sub(self.suffix.len());
        let named = |i: usize, c: &OutColumn| match (names, &c.name) {
            (Some(ns), Some(want)) => ns.get(i).is_some_and(|n| n == want),
            _ => true,
        };
        let labels_ok = fits
            && self.prefix.iter().enumerate().all(|(i, c)| named(i, c))
            && self
                .suffix
                .iter()
                .enumerate()
                .all(|(j, c)| named(tail + j, c));
        if !labels_ok {
            let mask = self.first_mask().unwrap_or(GENERIC_MASK).to_vec();
            return vec![Some(mask); count];
        }
        let mut out = Vec::with_capacity(count);
        out.extend(self.prefix.iter().map(|c| c.mask.clone()));
        let run = self.run.clone().flatten();
        out.extend((self.prefix.len()..tail).map(|_| run.clone()));
        out.extend(self.suffix.iter().map(|c| c.mask.clone()));
        out
    }

    fn first_mask(&self) -> Option<&[u8]> {
        self.prefix
            .iter()
            .chain(self.suffix.iter())
            .find_map(|c| c.mask.as_deref())
            .or(self.run.as_ref().and_then(|r| r.as_deref()))
    }

    /// True when the plan masks something.
    pub fn masks(&self) -> bool {
        self.all.is_some() || self.first_mask().is_some()
    }
}

/// Rewrites one COPY row (`row`, one CopyData payload) into `out`,
/// replacing the values of masked columns (`masks`, by position); NULLs
/// stay NULL. Returns false, writing nothing, when nothing changed.
pub fn rewrite_copy_row(
    format: CopyFormat,
    masks: &[Option<Vec<u8>>],
    row: &[u8],
    out: &mut Vec<u8>,
) -> bool {
    if masks.iter().all(Option::is_none) {
        return false;
    }
    match format {
        CopyFormat::Binary => true, // dropped: cannot be masked exactly
        CopyFormat::Text { delimiter } => {
            rewrite_fields(
                row,
                masks,
                out,
                |bytes, i| text_field_end(bytes, i, delimiter),
                {
                    move |rep: &[u8], field: &[u8], o: &mut Vec<u8>| {
                        if field == b"\\N" {
                            o.extend_from_slice(field);
                        } else {
                            for &b in rep {
                                match b {
                                    b'\\' => o.extend_from_slice(b"\\\\"),
                                    b'\n' => o.extend_from_slice(b"\\n"),
                                    b'\r' => o.extend_from_slice(b"\\r"),
                                    _ if b == delimiter => o.extend_from_slice(&[b'\\', b]),
                                    _ => o.push(b),
                                }
                            }
                        }
                    }
                },
            );
            true
        }
        CopyFormat::Csv {
            delimiter,
            quote,
            escape,
        } => {
            rewrite_fields(
                row,
                masks,
                out,
                |bytes, i| csv_field_end(bytes, i, delimiter, quote, escape),
                move |rep: &[u8], field: &[u8], o: &mut Vec<u8>| {
                    if field.is_empty() {
                        return; // NULL (an empty string is quoted)
                    }
                    o.push(quote);
                    for &b in rep {
                        if b == quote || b == escape {
                            o.push(escape);
                        }
                        o.push(b);
                    }
                    o.push(quote);
                },
            );
            true
        }
    }
}

/// Splits `row` into fields with `end` (the index just past a field that
/// starts at `i`: at its delimiter or at the end of the line) and writes
/// them, masked ones through `put`.
fn rewrite_fields(
    row: &[u8],
    masks: &[Option<Vec<u8>>],
    out: &mut Vec<u8>,
    end: impl Fn(&[u8], usize) -> usize,
    put: impl Fn(&[u8], &[u8], &mut Vec<u8>),
) {
    let body_end = match row {
        [.., b'\r', b'\n'] => row.len() - 2,
        [.., b'\n'] => row.len() - 1,
        _ => row.len(),
    };
    let line = &row[..body_end];
    let mut i = 0;
    let mut col = 0;
    loop {
        let stop = end(line, i).min(line.len());
        let field = &line[i..stop];
        match masks.get(col).and_then(Option::as_deref) {
            Some(rep) => put(rep, field, out),
            None => out.extend_from_slice(field),
        }
        col += 1;
        if stop >= line.len() {
            break;
        }
        out.push(line[stop]); // the delimiter
        i = stop + 1;
    }
    // A row with fewer fields than the plan masks: the rest stay absent.
    out.extend_from_slice(&row[body_end..]);
}

fn text_field_end(line: &[u8], mut i: usize, delimiter: u8) -> usize {
    while i < line.len() {
        match line[i] {
            b'\\' => i += 2,
            b if b == delimiter => return i,
            _ => i += 1,
        }
    }
    line.len()
}

fn csv_field_end(line: &[u8], mut i: usize, delimiter: u8, quote: u8, escape: u8) -> usize {
    let mut quoted = false;
    while i < line.len() {
        let b = line[i];
        if quoted {
            if b == escape && escape != quote && line.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            if b == quote {
                if escape == quote && line.get(i + 1) == Some(&quote) {
                    i += 2;
                    continue;
                }
                quoted = false;
            }
        } else if b == quote {
            quoted = true;
        } else if b == delimiter {
            return i;
        }
        i += 1;
    }
    line.len()
}

/// The message that replaces a scrubbed error's or notice's text.
pub const SCRUBBED: &[u8] =
    b"limen: message withheld: the statement reads a masked column, and the text could quote its value";

/// Fields kept when scrubbing: severity, SQLSTATE, position, source file,
/// line and routine; the message is replaced, the rest (detail, hint,
/// context, internal query, object names) dropped.
pub fn scrub_fields<'a>(fields: impl Iterator<Item = (u8, &'a [u8])>) -> Vec<(u8, &'a [u8])> {
    let mut out: Vec<(u8, &'a [u8])> = fields
        .filter(|(c, _)| matches!(c, b'S' | b'V' | b'C' | b'P' | b'F' | b'L' | b'R'))
        .collect();
    out.push((b'M', SCRUBBED));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(mask: Option<&str>, name: Option<&str>) -> OutColumn {
        OutColumn {
            mask: mask.map(|m| m.as_bytes().to_vec()),
            name: name.map(|n| n.as_bytes().to_vec()),
        }
    }

    #[test]
    fn resolves_runs_and_checks_labels() {
        let plan = OutputPlan {
            prefix: vec![col(None, Some("id"))],
            run: Some(None),
            suffix: vec![col(Some("M"), Some("secret"))],
            ..OutputPlan::default()
        };
        let r = plan.resolve(4, Some(&[b"id", b"a", b"b", b"secret"]));
        assert_eq!(r, vec![None, None, None, Some(b"M".to_vec())]);
        let bad = plan.resolve(4, Some(&[b"id", b"a", b"secret", b"b"]));
        assert!(bad.iter().all(|m| m.as_deref() == Some(&b"M"[..])));
        assert!(plan.resolve(1, None).iter().all(Option::is_some));
        let fixed = OutputPlan {
            prefix: vec![col(Some("M"), None)],
            ..OutputPlan::default()
        };
        assert_eq!(fixed.resolve(2, None), vec![Some(b"M".to_vec()); 2]);
    }

    #[test]
    fn rewrites_text_and_csv_rows() {
        let masks = vec![None, Some(b"[M:x]".to_vec()), None];
        let mut out = Vec::new();
        let text = CopyFormat::Text { delimiter: b'\t' };
        assert!(rewrite_copy_row(text, &masks, b"1\ta\\tb\t\\N\n", &mut out));
        assert_eq!(out, b"1\t[M:x]\t\\N\n");
        out.clear();
        rewrite_copy_row(text, &masks, b"1\t\\N\tz\n", &mut out);
        assert_eq!(out, b"1\t\\N\tz\n");
        out.clear();
        let csv = CopyFormat::Csv {
            delimiter: b',',
            quote: b'"',
            escape: b'"',
        };
        rewrite_copy_row(csv, &masks, b"1,\"a,\"\"b\nc\",3\n", &mut out);
        assert_eq!(out, b"1,\"[M:x]\",3\n");
        out.clear();
        rewrite_copy_row(csv, &masks, b"1,,3\n", &mut out);
        assert_eq!(out, b"1,,3\n");
    }
}
