//! The *shape* of a simple query: its text with every integer and plain
//! string constant replaced by a marker of its token type, everything else
//! kept byte for byte — or nothing, when the text holds anything this
//! deliberately small lexer does not fully understand.
//!
//! Why: a decision the host marks as holding for the statement's shape is
//! cached under this key, so `... WHERE aid = 1` and `... WHERE aid = 2`
//! share one decision without a trip to Python.
//!
//! Soundness (docs/decision-cache.md): two texts with the same key differ
//! only inside tokens that PostgreSQL's lexer reads as the same kind of
//! constant (ICONST for an integer that fits in 32 bits, FCONST for a longer
//! one, SCONST for a string); [`check_twin`] checks that natively. To keep
//! that true the lexer gives up (None) on every construct where a byte's
//! meaning depends on context it does not track: comments (`--`, `/*`),
//! dollar quotes and parameters (`$`), quoted identifiers (`"`), backslashes
//! (escape strings, `standard_conforming_strings`), prefixed strings (`E'`,
//! `B'`, `X'`, `N'`, `U&'`), numbers with a point, an exponent, a base
//! prefix or underscores, unterminated strings, control characters and
//! anything outside ASCII. Same tokens do not make the same template by
//! themselves: a constant may land outside an expression (`EXPLAIN (ANALYZE
//! 'on')`), so the host marks a decision for the shape only when [`proven`]
//! says every constant of that text is an `A_Const`.

/// Marks a string constant in the key.
const STRING: &[u8] = b"\x01s";
/// Marks an integer constant that fits in 32 bits (ICONST).
const INT: &[u8] = b"\x01i";
/// Marks a longer integer constant (FCONST).
const BIG: &[u8] = b"\x01f";

fn ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The shape key of `sql`, or None (see the module docs).
pub fn literal_key(sql: &[u8]) -> Option<Vec<u8>> {
    scan(sql, None)
}

/// Where one constant is in a text: a byte range.
pub type Span = (usize, usize);

/// The shape key of `sql` and where its constants are (in order), or None
/// (see the module docs).
pub fn constants(sql: &[u8]) -> Option<(Vec<u8>, Vec<Span>)> {
    let mut spans = Vec::new();
    let key = scan(sql, Some(&mut spans))?;
    Some((key, spans))
}

/// Whether a classification of `sql` that read no constant may be reused
/// for every text with the same shape key: the text has a key, and each of
/// its constants is an `A_Const` of the parse tree, i.e. `const_locations`
/// (the `A_Const` locations of `sql`'s tree, see
/// `limen_wire::pg::tree::const_locations`) holds its first byte, or the
/// `-` that negates it (`- 5` is one constant, located at the sign).
///
/// Why that suffices: a text with the same key has the same tokens of the
/// same kinds (PostgreSQL's grammar sees token kinds, not values), so it
/// parses to the same tree but for the values of constants; when every
/// constant became an `A_Const`, those values are exactly what the
/// classifier's template leaves out, so both texts have one template. A
/// constant that went anywhere else (an option's argument, a function body,
/// a file name, a type modifier, a count) makes this false, and the
/// decision is then reused for the exact text only.
pub fn proven(sql: &[u8], const_locations: &[i64]) -> bool {
    let Some((_, spans)) = constants(sql) else {
        return false;
    };
    spans.iter().all(|&(start, _)| {
        let at = |p: usize| i64::try_from(p).is_ok_and(|p| const_locations.contains(&p));
        if at(start) {
            return true;
        }
        let mut q = start;
        while q > 0 && matches!(sql[q - 1], b' ' | b'\t' | b'\n' | b'\r') {
            q -= 1;
        }
        q > 0 && sql[q - 1] == b'-' && at(q - 1)
    })
}

fn scan(sql: &[u8], mut spans: Option<&mut Vec<Span>>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(sql.len());
    let mut i = 0;
    while i < sql.len() {
        let c = sql[i];
        match c {
            b'$' | b'\\' | b'"' | 0x80..=0xff => return None,
            b'-' if sql.get(i + 1) == Some(&b'-') => return None,
            b'/' if sql.get(i + 1) == Some(&b'*') => return None,
            b'\t' | b'\n' | b'\r' => {
                out.push(c);
                i += 1;
            }
            0..=0x1f | 0x7f => return None,
            b'\'' => {
                if i > 0 && (ident_byte(sql[i - 1]) || sql[i - 1] == b'&') {
                    return None; // E'', B'', X'', N'', U&''
                }
                // A plain string: '' is a quote inside it.
                let mut j = i + 1;
                loop {
                    match sql.get(j) {
                        None => return None,
                        Some(b'\'') if sql.get(j + 1) == Some(&b'\'') => j += 2,
                        Some(b'\'') => break,
                        // A backslash means something under
                        // standard_conforming_strings = off; a byte past ASCII
                        // may be half of a multibyte character (SJIS).
                        Some(b'\\' | 0x80..=0xff) => return None,
                        Some(&b) if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') => return None,
                        Some(_) => j += 1,
                    }
                }
                out.push(b'\'');
                out.extend_from_slice(STRING);
                out.push(b'\'');
                if let Some(spans) = spans.as_deref_mut() {
                    spans.push((i, j + 1));
                }
                i = j + 1;
            }
            _ if ident_byte(c) => {
                let start = i;
                while i < sql.len() && ident_byte(sql[i]) {
                    i += 1;
                }
                let word = &sql[start..i];
                if !c.is_ascii_digit() {
                    out.extend_from_slice(word); // a keyword or identifier
                    continue;
                }
                let dotted = (start > 0 && sql[start - 1] == b'.') || sql.get(i) == Some(&b'.');
                if !word.iter().all(u8::is_ascii_digit) || dotted {
                    return None; // 1.5, 1e5, 0x1f, 1_000, 2abc, t.1
                }
                out.extend_from_slice(if fits_i32(word) { INT } else { BIG });
                if let Some(spans) = spans.as_deref_mut() {
                    spans.push((start, i));
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Checks, for fuzzing and property tests, what makes a shape key sound on
/// the side of the text (the side of the parse tree needs PostgreSQL's
/// parser: tests/test_policy_templates.py):
///
/// - a key determines its text but for the constants: the text is rebuilt
///   from the key and its constants' bytes, byte for byte;
/// - replacing each constant by another of the same token kind (a string by
///   any plain string, an integer by one of the same width class; `seed`
///   chooses) keeps the key, and the twin's constants are exactly the
///   replacements;
/// - a text is proven with its constants' own locations, and so is its
///   twin; a text with constants and no `A_Const` never is.
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
    ensure(
        proven(sql, &starts(&spans)),
        "not proven by its own constants",
    )?;
    ensure(
        proven(sql, &[]) == spans.is_empty(),
        "proven without its constants",
    )?;

    // A twin: each constant replaced by another of its kind.
    let mut twin = Vec::new();
    let mut values = Vec::new();
    let mut last = 0;
    for &(a, b) in &spans {
        twin.extend_from_slice(&sql[last..a]);
        let n = usize::from(seed.first().copied().unwrap_or(0) % 12);
        let (bytes, rest) = seed.split_at(n.min(seed.len()));
        seed = rest;
        let value: Vec<u8> = if sql[a] == b'\'' {
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
        } else if literal_key(&sql[a..b]) == literal_key(b"1") {
            // ICONST: at most 9 digits always fit in 32 bits
            bytes
                .iter()
                .take(8)
                .map(|c| b'0' + c % 10)
                .chain([b'7'])
                .collect()
        } else {
            // FCONST: 11 digits or more never fit
            bytes
                .iter()
                .map(|c| b'0' + c % 10)
                .chain(*b"99999999999")
                .collect()
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
    let found: Vec<&[u8]> = twin_spans.iter().map(|&(a, b)| &twin[a..b]).collect();
    let made: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    ensure(found == made, "a twin's constants are not the replacements")?;
    ensure(proven(&twin, &starts(&twin_spans)), "a twin is not proven")
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
    let mut i = 0;
    while i < key.len() {
        if key[i..].starts_with(b"'\x01s'")
            || key[i..].starts_with(b"\x01i")
            || key[i..].starts_with(b"\x01f")
        {
            let width = if key[i] == b'\'' { 4 } else { 2 };
            if let Some(&(a, b)) = next.next() {
                out.extend_from_slice(&sql[a..b]);
            }
            i += width;
        } else {
            out.push(key[i]);
            i += 1;
        }
    }
    out
}

fn starts(spans: &[Span]) -> Vec<i64> {
    spans
        .iter()
        .filter_map(|&(a, _)| i64::try_from(a).ok())
        .collect()
}

/// Whether the decimal digits `word` are at most 2147483647 (what
/// PostgreSQL's lexer reads as ICONST rather than FCONST).
fn fits_i32(word: &[u8]) -> bool {
    let digits = match word.iter().position(|&d| d != b'0') {
        Some(first) => &word[first..],
        None => return true,
    };
    if digits.len() > 10 {
        return false;
    }
    let value = digits
        .iter()
        .fold(0u64, |v, &d| v * 10 + u64::from(d - b'0'));
    value <= i32::MAX as u64
}

#[cfg(test)]
#[path = "shape_tests.rs"]
mod tests;
