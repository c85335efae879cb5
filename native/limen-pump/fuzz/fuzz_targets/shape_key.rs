//! Fuzz the pump's shape key: the native half of "same key => same fresh
//! classification" (`limen_pump::shape::check_twin`: a key determines its
//! text but for the constants; a twin with other constants of the same
//! kinds has the same key; constants that are `A_Const`s prove the text).
//! The other half needs PostgreSQL's parser and is checked with it in
//! tests/test_policy_templates.py. Input: the text, a NUL, then the bytes
//! that choose the twin's constants.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_pump::shape::check_twin;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    if let Err(what) = check_twin(&data[..split], data.get(split + 1..).unwrap_or_default()) {
        panic!("{what}");
    }
});
