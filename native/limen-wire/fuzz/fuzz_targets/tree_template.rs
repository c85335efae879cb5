//! Fuzz the parse-tree template: any text, no panic, and never longer than
//! the input (it only removes); the `A_Const` locations: no panic, and at
//! most one per `"A_Const":{` in the text. Equality with the reference regular
//! expressions is checked by tests/test_policy_templates.py (hypothesis).
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::pg::tree::{const_locations, tree_template};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let once = tree_template(text);
    assert!(once.len() <= text.len());
    assert!(const_locations(text).len() <= text.matches(r#""A_Const":{"#).count());
});
