//! The *shape* of a MySQL / MariaDB `COM_QUERY` text: the text with every
//! integer and plain string constant replaced by a marker of its kind,
//! every other byte kept — or nothing, when the text holds anything this
//! deliberately small lexer does not fully understand.
//!
//! Why: the host marks a decision as holding for every text of its shape
//! (the MySQL classifier judges a text that has a shape by its shape:
//! `limen.policy.mysql.shape`), and the pump then caches it under this key,
//! so `SELECT c FROM t WHERE id = 1` and `… id = 2` share one decision.
//!
//! Soundness (docs/decision-cache.md, "MySQL text shapes"): two texts with
//! the same key differ only inside tokens that the server's lexer reads as
//! constants of the same kind (a run of decimal digits; a `'…'` string),
//! [`check_twin`] checks that natively, and the host checks on each text
//! that its own lexer puts constants exactly at [`constants`]' spans. To
//! keep that true the lexer gives up (None) wherever a byte's meaning
//! depends on context it does not track: every comment (`#`, `--`, `/*`,
//! and so `/*! … */` executable comments), `"` (a string or, under
//! `ANSI_QUOTES`, an identifier), backslashes (escapes unless
//! `NO_BACKSLASH_ESCAPES`), `@` (variables, `@'name'`), `?`, `;`
//! (multi-statements), `{` / `}` (ODBC escapes), a string right after a
//! word or a digit (introducers and prefixed strings: `_utf8'…'`, `N'…'`,
//! `X'…'`, `b'…'`, `0x…`), a digit run touching a letter, `_`, `$` or `.`
//! (identifiers that start with digits, `0x1f`, `0b1`, `1e5`, decimals,
//! `t.1c`), adjacent strings, unterminated strings or identifiers, control
//! characters and anything outside ASCII. Backtick identifiers are kept
//! byte for byte (a doubled backtick gives up).

/// Marks a string constant in the key.
const STRING: u8 = 0x02;
/// Marks an integer constant in the key.
const INT: u8 = 0x01;
/// Most constants one text may have (more: no shape).
pub const MAX_CONSTANTS: usize = 4096;

/// The kind of a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A run of decimal digits.
    Int,
    /// A `'…'` string without backslashes.
    Str,
}

/// Where one constant is in a text (a byte range) and its kind.
pub type Span = (usize, usize, Kind);

fn word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
}

/// The shape key of `sql`, or None (see the module docs).
pub fn literal_key(sql: &[u8]) -> Option<Vec<u8>> {
    scan(sql, None)
}

/// The shape key of `sql` and where its constants are (in order), or None.
pub fn constants(sql: &[u8]) -> Option<(Vec<u8>, Vec<Span>)> {
    let mut spans = Vec::new();
    let key = scan(sql, Some(&mut spans))?;
    Some((key, spans))
}

fn scan(sql: &[u8], mut spans: Option<&mut Vec<Span>>) -> Option<Vec<u8>> {
    let mut key = Vec::with_capacity(sql.len());
    let mut count = 0usize;
    // The last token that was not whitespace was a string (MySQL joins
    // adjacent strings into one constant).
    let mut after_string = false;
    let mut i = 0;
    while i < sql.len() {
        let c = sql[i];
        let prev = i.checked_sub(1).map(|p| sql[p]);
        let string = c == b'\'';
        if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            if string && after_string {
                return None;
            }
            after_string = string;
        }
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                key.push(c);
                i += 1;
            }
            b'0'..=b'9' if prev.is_some_and(word_byte) => {
                // inside a word: `t1`, `x$2`
                key.push(c);
                i += 1;
            }
            b'0'..=b'9' => {
                let end = sql[i..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(sql.len(), |n| i + n);
                let next = sql.get(end).copied();
                if prev == Some(b'.')
                    || next.is_some_and(|n| word_byte(n) || n == b'.' || n == b'\'')
                {
                    return None;
                }
                count += 1;
                if count > MAX_CONSTANTS {
                    return None;
                }
                if let Some(s) = spans.as_deref_mut() {
                    s.push((i, end, Kind::Int));
                }
                key.push(INT);
                i = end;
            }
            b'\'' => {
                if prev.is_some_and(word_byte) {
                    return None; // an introducer or a prefix glued to it
                }
                let mut j = i + 1;
                loop {
                    match *sql.get(j)? {
                        b'\'' if sql.get(j + 1) == Some(&b'\'') => j += 2,
                        b'\'' => break,
                        b'\\' => return None,
                        b' ' | b'\t' | b'\n' | b'\r' | 0x20..=0x7e => j += 1,
                        _ => return None,
                    }
                }
                let end = j + 1;
                if sql.get(end).is_some_and(|&n| n == b'\'' || word_byte(n)) {
                    return None;
                }
                count += 1;
                if count > MAX_CONSTANTS {
                    return None;
                }
                if let Some(s) = spans.as_deref_mut() {
                    s.push((i, end, Kind::Str));
                }
                key.push(STRING);
                i = end;
            }
            b'`' => {
                let close = sql[i + 1..].iter().position(|&b| b == b'`')? + i + 1;
                if sql.get(close + 1) == Some(&b'`')
                    || !sql[i + 1..close].iter().all(|b| (0x20..=0x7e).contains(b))
                {
                    return None;
                }
                key.extend_from_slice(&sql[i..=close]);
                i = close + 1;
            }
            b'"' | b'\\' | b'#' | b'@' | b'?' | b';' | b'{' | b'}' => return None,
            b'-' if sql.get(i + 1) == Some(&b'-') => return None,
            b'/' if sql.get(i + 1) == Some(&b'*') => return None,
            b'*' if sql.get(i + 1) == Some(&b'/') => return None,
            0x21..=0x7e => {
                key.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    Some(key)
}

/// Checks, for `sql` and a twin of it (each constant replaced by another
/// of its kind, `seed` chooses), what the shape cache relies on:
/// - the key and the constants agree, and the key rebuilds the text with
///   the constants' bytes (it kept every other byte);
/// - the twin has the same key, and its constants are exactly the
///   replacements.
///
/// Returns which one does not hold.
#[doc(hidden)]
pub fn check_twin(sql: &[u8], mut seed: &[u8]) -> Result<(), &'static str> {
    let Some((key, spans)) = constants(sql) else {
        return ensure(literal_key(sql).is_none(), "constants and key disagree");
    };
    ensure(
        literal_key(sql).as_deref() == Some(key.as_slice()),
        "constants and key disagree",
    )?;
    ensure(rebuild(&key, sql, &spans) == sql, "the key lost a byte")?;
    let mut twin = Vec::new();
    let mut values = Vec::new();
    let mut last = 0;
    for &(a, b, kind) in &spans {
        twin.extend_from_slice(&sql[last..a]);
        let n = usize::from(seed.first().copied().unwrap_or(0) % 12);
        let (bytes, rest) = seed.split_at(n.min(seed.len()));
        seed = rest;
        let value: Vec<u8> = match kind {
            Kind::Str => {
                let mut v = vec![b'\''];
                for &c in bytes {
                    match c % 95 + 32 {
                        b'\'' => v.extend_from_slice(b"''"),
                        b'\\' => v.push(b'x'),
                        x => v.push(x),
                    }
                }
                v.push(b'\'');
                v
            }
            Kind::Int => bytes.iter().map(|c| b'0' + c % 10).chain([b'7']).collect(),
        };
        values.push(value.clone());
        twin.extend_from_slice(&value);
        last = b;
    }
    twin.extend_from_slice(&sql[last..]);
    let Some((twin_key, twin_spans)) = constants(&twin) else {
        return Err("a twin has no key");
    };
    ensure(twin_key == key, "a twin has another key")?;
    let found: Vec<&[u8]> = twin_spans.iter().map(|&(a, b, _)| &twin[a..b]).collect();
    let made: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    ensure(found == made, "a twin's constants are not the replacements")
}

fn ensure(ok: bool, what: &'static str) -> Result<(), &'static str> {
    if ok {
        Ok(())
    } else {
        Err(what)
    }
}

/// The text rebuilt from its key and its constants' bytes, in order.
fn rebuild(key: &[u8], sql: &[u8], spans: &[Span]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut next = spans.iter();
    for &k in key {
        if k == INT || k == STRING {
            if let Some(&(a, b, _)) = next.next() {
                out.extend_from_slice(&sql[a..b]);
            }
        } else {
            out.push(k);
        }
    }
    out
}

#[cfg(test)]
#[path = "shape_tests.rs"]
mod tests;
