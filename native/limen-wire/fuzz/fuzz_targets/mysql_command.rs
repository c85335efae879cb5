//! Fuzz the command decoder under arbitrary capabilities; the code of a
//! parsed command is the packet's first byte.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::mysql::Command;

fuzz_target!(|data: &[u8]| {
    let Some((caps, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let caps = u64::from_le_bytes(*caps);
    if let Ok(c) = Command::try_parse(rest, caps) {
        assert_eq!(Some(c.code()), rest.first().copied());
        if let Command::ChangeUser(cu) = c {
            let _ = cu.attributes.map(|a| a.iter().count());
        }
    }
});
