//! Fuzz the MySQL shape key (`limen_pump::mysql::shape::check_twin`): a
//! key rebuilds its text from the constants; a twin with other constants
//! of the same kinds has the same key and exactly those constants. The
//! other half (the MySQL lexer agrees; a shape's classification is its
//! canonical twin's) is checked in Python (tests/test_mysql_shape.py).
//! Input: the text, a NUL, then the bytes that choose the twin's constants.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_pump::mysql::shape::check_twin;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    if let Err(what) = check_twin(&data[..split], data.get(split + 1..).unwrap_or_default()) {
        panic!("{what}");
    }
});
