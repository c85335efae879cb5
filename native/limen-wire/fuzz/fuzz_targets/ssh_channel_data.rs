//! Fuzz the SSH channel data reader (`limen_wire::ssh::channel_data`):
//! arbitrary payloads never panic, and what it finds is consistent (the
//! data ends at the payload's end, its length field says its length);
//! the input's own bytes wrapped as a channel data message read back as
//! themselves.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::ssh::{channel_data, MSG_CHANNEL_DATA, MSG_CHANNEL_EXTENDED_DATA};

fuzz_target!(|data: &[u8]| {
    if let Some(found) = channel_data(data) {
        assert!(matches!(
            data.first(),
            Some(&MSG_CHANNEL_DATA | &MSG_CHANNEL_EXTENDED_DATA)
        ));
        assert_eq!(found.data.end, data.len());
        let head = if found.ext.is_some() { 13 } else { 9 };
        assert_eq!(found.data.start, head);
        let len = u32::from_be_bytes([
            data[head - 4],
            data[head - 3],
            data[head - 2],
            data[head - 1],
        ]);
        assert_eq!(len as usize, data.len() - head);
    }
    let mut wrapped = vec![MSG_CHANNEL_EXTENDED_DATA, 0, 0, 0, 3, 0, 0, 0, 1];
    wrapped.extend_from_slice(&(data.len() as u32).to_be_bytes());
    wrapped.extend_from_slice(data);
    let found = channel_data(&wrapped).map(|f| (f.chanid, f.ext, &wrapped[f.data]));
    assert_eq!(found, Some((3, Some(1), data)));
});
