//! The literal-insensitive *template* of a PostgreSQL parse tree, as
//! libpg_query prints it in JSON (pglast's `parse_sql_json`): every literal
//! constant's value and every source location removed, so that the same
//! statement with other literals (`WHERE aid = 1`, `= 2`, ...) has the same
//! template. The policy module caches classifications by it.
//!
//! [`tree_template`] is one left-to-right pass over the text equal to two
//! regular-expression substitutions (kept in `limen.policy.classifier` as the
//! reference, and compared with this function in the tests):
//!
//! 1. `"A_Const":{"(ival|fval|sval|boolval|bsval)":{("\w+":(STRING|[^{}",]*))?}`
//!    becomes `"A_Const":{"$1":{}` (STRING is a JSON string literal);
//! 2. `"(\w*location|stmt_len|(rexpr_)?list_(start|end))":-?\d+` is removed
//!    (every source position libpg_query prints: `location`,
//!    `stmt_location`, `arg_location`, ..., and PostgreSQL 18's list bounds).
//!
//! The two never overlap or create matches for each other, so one pass that
//! tries (1) then (2) at each `"` gives the same text. Like the regular
//! expressions it scans raw text: inside a JSON string every `"` is escaped,
//! so user text can never look like a key.

const CONST_HEAD: &[u8] = br#""A_Const":{""#;
const CONST_KINDS: [&[u8]; 5] = [b"ival", b"fval", b"sval", b"boolval", b"bsval"];
const POSITION_KEYS: [&[u8]; 5] = [
    b"stmt_len",
    b"list_start",
    b"list_end",
    b"rexpr_list_start",
    b"rexpr_list_end",
];

/// The template of `json` (see the module docs).
pub fn tree_template(json: &str) -> String {
    let b = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            if let Some((keep, end)) = match_const(b, i) {
                out.push_str(&json[last..keep]);
                out.push('}');
                i = end;
                last = end;
                continue;
            }
            if let Some(end) = match_location(b, i) {
                out.push_str(&json[last..i]);
                i = end;
                last = end;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&json[last..]);
    out
}

/// The tree as limen's classifier walks it: `json` (a libpg_query JSON
/// parse tree) with every source position removed (the keys
/// [`tree_template`] removes, with their commas, so the text stays JSON)
/// and every `A_Const` object replaced by its ordinal (`"A_Const":0`, `1`,
/// ...); and the `A_Const` objects themselves, in that order. The
/// classifier reaches a constant's content only through that second part,
/// which records that it did (`limen.policy.sealed`): what it walks is the
/// template but for the constants' kinds, which it does not even get.
///
/// Strings are copied whole, so nothing inside one is ever taken for a key.
pub fn sealed_tree(json: &str) -> (String, Vec<String>) {
    const HEAD: &[u8] = br#""A_Const":{"#;
    let b = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let mut consts = Vec::new();
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        if b[i..].starts_with(HEAD) {
            let open = i + HEAD.len() - 1; // the object's `{`
            let (_, end) = object_location(b, open + 1);
            out.push_str(&json[last..i]);
            out.push_str(r#""A_Const":"#);
            out.push_str(&consts.len().to_string());
            consts.push(json[open..end].to_owned());
            i = end;
            last = end;
            continue;
        }
        if let Some(end) = match_location(b, i) {
            out.push_str(&json[last..i]);
            if out.ends_with(',') {
                out.pop();
                last = end;
            } else {
                // the first key: drop the comma after it instead
                last = if b.get(end) == Some(&b',') {
                    end + 1
                } else {
                    end
                };
            }
            i = last;
            continue;
        }
        i = json_string_end(b, i).unwrap_or(b.len());
    }
    out.push_str(&json[last..]);
    (out, consts)
}

/// The `location` of every `A_Const` node of `json` (a libpg_query JSON
/// parse tree), in order: where in the statement each constant begins.
/// An `A_Const` without one (or with a malformed one) is left out, which
/// only ever makes a proof that uses these fail.
pub fn const_locations(json: &str) -> Vec<i64> {
    const HEAD: &[u8] = br#""A_Const":{"#;
    let b = json.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' if b[i..].starts_with(HEAD) => {
                let (location, end) = object_location(b, i + HEAD.len());
                out.extend(location);
                i = end;
            }
            b'"' => i = json_string_end(b, i).unwrap_or(b.len()),
            _ => i += 1,
        }
    }
    out
}

/// From just inside an object (`p` after its `{`): the value of its own
/// `"location"` key, and where the object ends (or the text does).
fn object_location(b: &[u8], mut p: usize) -> (Option<i64>, usize) {
    let mut depth = 1usize;
    let mut location = None;
    while p < b.len() {
        match b[p] {
            b'"' => {
                if depth == 1 && b[p..].starts_with(br#""location":"#) {
                    let mut q = p + br#""location":"#.len();
                    let start = q;
                    if b.get(q) == Some(&b'-') {
                        q += 1;
                    }
                    while b.get(q).is_some_and(u8::is_ascii_digit) {
                        q += 1;
                    }
                    location = std::str::from_utf8(&b[start..q])
                        .ok()
                        .and_then(|t| t.parse().ok());
                    p = q;
                    continue;
                }
                p = json_string_end(b, p).unwrap_or(b.len());
            }
            b'{' | b'[' => {
                depth += 1;
                p += 1;
            }
            b'}' | b']' => {
                depth -= 1;
                p += 1;
                if depth == 0 {
                    return (location, p);
                }
            }
            _ => p += 1,
        }
    }
    (location, p)
}

/// Pattern (1) at `i`: the end of the part kept (`"A_Const":{"KIND":{`)
/// and the end of the match.
fn match_const(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let mut p = i;
    p = expect(b, p, CONST_HEAD)?;
    let kind = CONST_KINDS.iter().find(|k| b[p..].starts_with(k))?;
    p += kind.len();
    p = expect(b, p, b"\":{")?;
    let keep = p;
    if b.get(p) == Some(&b'}') {
        return Some((keep, p + 1));
    }
    // ("\w+":(STRING|[^{}",]*))? then }
    p = expect(b, p, b"\"")?;
    let word = word_len(b, p);
    if word == 0 {
        return None;
    }
    p += word;
    p = expect(b, p, b"\":")?;
    if b.get(p) == Some(&b'"') {
        p = json_string_end(b, p)?;
    } else {
        while let Some(&c) = b.get(p) {
            if matches!(c, b'{' | b'}' | b'"' | b',') {
                break;
            }
            p += 1;
        }
    }
    if b.get(p) == Some(&b'}') {
        Some((keep, p + 1))
    } else {
        None
    }
}

/// Pattern (2) at `i`: the end of the match.
fn match_location(b: &[u8], i: usize) -> Option<usize> {
    let start = i + 1;
    let len = word_len(b, start);
    let key = &b[start..start + len];
    if !(key.ends_with(b"location") || POSITION_KEYS.contains(&key)) {
        return None;
    }
    let mut p = expect(b, start + len, b"\":")?;
    if b.get(p) == Some(&b'-') {
        p += 1;
    }
    let digits = p;
    while b.get(p).is_some_and(u8::is_ascii_digit) {
        p += 1;
    }
    (p > digits).then_some(p)
}

fn expect(b: &[u8], p: usize, lit: &[u8]) -> Option<usize> {
    b.get(p..)?.starts_with(lit).then_some(p + lit.len())
}

/// Length of the run of word characters at `p` (ASCII letters, digits and
/// `_`, and any non-ASCII byte: libpg_query's keys are ASCII; Python's `\w`
/// takes most letters beyond ASCII, which only text that is not a parse
/// tree could tell apart).
fn word_len(b: &[u8], p: usize) -> usize {
    b.get(p..)
        .unwrap_or_default()
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c >= 0x80)
        .count()
}

/// The end (one past the closing quote) of the JSON string opening at `p`;
/// `\` escapes any byte but a newline (Python's `.`).
fn json_string_end(b: &[u8], p: usize) -> Option<usize> {
    let mut q = p + 1;
    loop {
        match *b.get(q)? {
            b'"' => return Some(q + 1),
            b'\\' => {
                let next = *b.get(q + 1)?;
                if next == b'\n' {
                    return None;
                }
                q += 2;
            }
            _ => q += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{const_locations, sealed_tree, tree_template};

    #[test]
    fn a_sealed_tree_keeps_no_constant_and_no_position() {
        let t = r#"{"val":{"A_Const":{"sval":{"sval":"a}\"location\":5"},"location":11}},"list":[{"A_Const":{"isnull":true,"location":-1}}],"s":"\"location\":1","location":3}"#;
        let (tree, consts) = sealed_tree(t);
        assert_eq!(
            tree,
            r#"{"val":{"A_Const":0},"list":[{"A_Const":1}],"s":"\"location\":1"}"#
        );
        assert_eq!(
            consts,
            [
                r#"{"sval":{"sval":"a}\"location\":5"},"location":11}"#,
                r#"{"isnull":true,"location":-1}"#
            ]
        );
        let first = r#"{"location":3,"a":1,"stmt_len":4}"#;
        assert_eq!(sealed_tree(first).0, r#"{"a":1}"#);
        assert_eq!(sealed_tree(r#"{"location":3}"#).0, "{}");
    }

    #[test]
    fn const_locations_of_a_tree() {
        let t = r#"{"val":{"A_Const":{"sval":{"sval":"a}\"location\":5"},"location":11}},"x":{"A_Const":{"isnull":true,"location":-1}},"y":{"A_Const":{"ival":{"ival":-5},"location":7}},"location":3}"#;
        assert_eq!(const_locations(t), [11, -1, 7]);
        assert_eq!(
            const_locations(r#"{"String":{"sval":"\"A_Const\":{"}}"#),
            [] as [i64; 0]
        );
        assert_eq!(const_locations(r#""A_Const":{"ival":{"#), [] as [i64; 0]);
    }

    #[test]
    fn literals_and_locations_go() {
        let a = r#"{"whereClause":{"A_Expr":{"kind":"AEXPR_OP","lexpr":{"ColumnRef":{"fields":[{"String":{"sval":"aid"}}],"location":50}},"rexpr":{"A_Const":{"ival":{"ival":12345},"location":56}},"location":54}},"stmt_len":61}"#;
        let b = a.replace("12345", "7").replace(":56", ":52");
        assert_eq!(tree_template(a), tree_template(&b));
        assert!(!tree_template(a).contains("12345"));
        assert!(!tree_template(a).contains("location"));
    }

    #[test]
    fn strings_with_escapes_and_empty_values() {
        let s = r#"{"A_Const":{"sval":{"sval":"it\"s \\ \"A_Const\":{\"ival\""},"location":3}}"#;
        assert_eq!(tree_template(s), r#"{"A_Const":{"sval":{},}}"#);
        let empty = r#"{"A_Const":{"ival":{},"location":-1}}"#;
        assert_eq!(tree_template(empty), r#"{"A_Const":{"ival":{},}}"#);
        let null = r#"{"A_Const":{"isnull":true,"location":9}}"#;
        assert_eq!(tree_template(null), r#"{"A_Const":{"isnull":true,}}"#);
    }

    #[test]
    fn near_misses_are_kept() {
        for s in [
            r#""A_Const":{"ival":{"ival":1,"x":2}}"#,
            r#""A_Const":{"other":{"ival":1}}"#,
            r#""location":-"#,
            r#""location":"#,
            r#""A_Const":{"sval":{"sval":"unterminated}"#,
        ] {
            assert_eq!(tree_template(s), s, "{s}");
        }
    }
}
