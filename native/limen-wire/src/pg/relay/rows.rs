//! One DataRow through the plan of its result set, and the value a whole
//! masked column gets in its format.

use crate::error::Error;
use crate::pg::rewrite::{Action, Rewrite, RowRewriter};

use super::{ContentMasker, Plan, JSONB_TYPE, JSON_TYPE, TEXTLIKE_BINARY_TYPES};

/// A value masked whole by an output plan, in the column's format: a JSON
/// string holding the replacement text for json and jsonb (a valid value
/// in either format); the replacement text in text format and for types
/// whose binary form is text; NULL for every other binary type (no value
/// of an int, date … could say "masked").
pub(super) fn masked_value(rep: &[u8], binary: bool, type_oid: u32) -> Plan {
    if type_oid != JSON_TYPE
        && type_oid != JSONB_TYPE
        && (!binary || TEXTLIKE_BINARY_TYPES.contains(&type_oid))
    {
        return Plan::Replace(rep.to_vec());
    }
    let json = || {
        let mut v = vec![b'"'];
        for &b in rep {
            if b == b'"' || b == b'\\' {
                v.push(b'\\');
            }
            v.push(b);
        }
        v.push(b'"');
        v
    };
    match type_oid {
        JSONB_TYPE if binary => {
            let mut v = vec![1];
            v.extend(json());
            Plan::Replace(v)
        }
        JSON_TYPE | JSONB_TYPE => Plan::Replace(json()),
        _ => Plan::Null,
    }
}

/// Rewrites one DataRow body by `plan` (columns past its end use
/// `default`) into `out`. Returns false, writing nothing, when no value
/// changed.
pub(super) fn relay_row<M: ContentMasker>(
    rewriter: &mut RowRewriter,
    plan: &[Plan],
    default: &Plan,
    masker: Option<&M>,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<bool, Error> {
    let result = rewriter.try_rewrite(body, out, |i, value, scratch| {
        let Some(v) = value else {
            return Action::Keep;
        };
        match plan.get(i).unwrap_or(default) {
            Plan::Keep => Action::Keep,
            Plan::Null => Action::Null,
            Plan::Replace(rep) => {
                scratch.extend_from_slice(rep);
                Action::Replace
            }
            Plan::Mask => match masker {
                Some(m) => {
                    m.mask_into(v, scratch);
                    Action::Replace
                }
                None => Action::Keep,
            },
            Plan::MaskAfterFirst => match (masker, v.split_first()) {
                (Some(m), Some((first, rest))) => {
                    scratch.push(*first);
                    m.mask_into(rest, scratch);
                    Action::Replace
                }
                _ => Action::Keep,
            },
        }
    })?;
    Ok(result == Rewrite::Changed)
}

pub(super) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
