//! Fuzz the parse-tree template: any text, no panic, and never longer than
//! the input (it only removes); the `A_Const` locations: no panic, and at
//! most one per `"A_Const":{` in the text; the sealed tree: no panic, one
//! constant per ordinal, constants taken from the text. Equality with the reference regular
//! expressions is checked by tests/test_policy_templates.py (hypothesis).
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::pg::tree::{const_locations, sealed_tree, tree_template};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let once = tree_template(text);
    assert!(once.len() <= text.len());
    assert!(const_locations(text).len() <= text.matches(r#""A_Const":{"#).count());
    let (tree, consts) = sealed_tree(text);
    assert!(consts.len() <= text.matches(r#""A_Const":{"#).count());
    assert!(consts
        .iter()
        .all(|c| c.starts_with('{') && text.contains(c.as_str())));
    assert!(tree.len() <= text.len() + consts.len() * 20);
});
