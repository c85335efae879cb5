//! Channel data messages (RFC 4254 section 5.2), read from an opened
//! payload:
//!
//! ```text
//! byte    SSH_MSG_CHANNEL_DATA (94)      byte    SSH_MSG_CHANNEL_EXTENDED_DATA (95)
//! uint32  recipient channel              uint32  recipient channel
//! string  data                           uint32  data_type_code
//!                                        string  data
//! ```
//!
//! [`channel_data`] says where the data lies; anything else (another
//! message, a short header, a length that does not end exactly at the
//! payload's end) is `None`, and the caller reads the payload the general
//! way (paramiko's `Message`), as it would without this shortcut.
//!
//! ```
//! use limen_wire::ssh::{channel_data, ChannelData};
//!
//! let payload = b"\x5e\x00\x00\x00\x07\x00\x00\x00\x02hi";
//! let found = channel_data(payload);
//! assert_eq!(found, Some(ChannelData { chanid: 7, ext: None, data: 9..11 }));
//! assert_eq!(channel_data(&payload[..10]), None);
//! ```
use core::ops::Range;

/// `SSH_MSG_CHANNEL_DATA`.
pub const MSG_CHANNEL_DATA: u8 = 94;
/// `SSH_MSG_CHANNEL_EXTENDED_DATA`.
pub const MSG_CHANNEL_EXTENDED_DATA: u8 = 95;

/// Where a channel data message's parts lie in its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelData {
    /// The recipient channel.
    pub chanid: u32,
    /// The data type code of extended data (1 is stderr); `None` for
    /// plain channel data.
    pub ext: Option<u32>,
    /// The data's range in the payload (always ending at its end).
    pub data: Range<usize>,
}

fn u32_at(payload: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = payload.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// The parts of `payload` (message number first) when it is a
/// well-formed channel data or extended data message whose data string
/// ends exactly at the payload's end; `None` otherwise.
pub fn channel_data(payload: &[u8]) -> Option<ChannelData> {
    let (ext, head) = match *payload.first()? {
        MSG_CHANNEL_DATA => (None, 9),
        MSG_CHANNEL_EXTENDED_DATA => (Some(u32_at(payload, 5)?), 13),
        _ => return None,
    };
    let chanid = u32_at(payload, 1)?;
    let len = u32_at(payload, head - 4)? as usize;
    if payload.len().checked_sub(head)? != len {
        return None;
    }
    Some(ChannelData {
        chanid,
        ext,
        data: head..payload.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(chanid: u32, ext: Option<u32>, data: &[u8]) -> Vec<u8> {
        let mut out = vec![if ext.is_some() { 95 } else { 94 }];
        out.extend_from_slice(&chanid.to_be_bytes());
        if let Some(code) = ext {
            out.extend_from_slice(&code.to_be_bytes());
        }
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn short_and_other_messages_are_none() {
        assert_eq!(channel_data(b""), None);
        assert_eq!(channel_data(b"\x5e\x00\x00\x00\x01\x00\x00\x00"), None);
        assert_eq!(channel_data(b"\x5f\x00\x00\x00\x01\x00\x00\x00\x01"), None);
        assert_eq!(channel_data(&message(1, None, b"x")[..9]), None);
        let mut other = message(1, None, b"abc");
        other[0] = 93;
        assert_eq!(channel_data(&other), None);
        // a length of 2**32 - 1 on a short payload
        assert_eq!(
            channel_data(b"\x5e\x00\x00\x00\x01\xff\xff\xff\xffab"),
            None
        );
    }

    #[test]
    fn empty_data_is_a_message() {
        assert_eq!(
            channel_data(&message(3, Some(1), b"")),
            Some(ChannelData {
                chanid: 3,
                ext: Some(1),
                data: 13..13
            })
        );
    }

    proptest! {
        #[test]
        fn reads_what_was_written(
            chanid in any::<u32>(),
            ext in prop::option::of(any::<u32>()),
            data in prop::collection::vec(any::<u8>(), 0..2000),
        ) {
            let payload = message(chanid, ext, &data);
            let found = channel_data(&payload);
            prop_assert!(found.is_some());
            let found = found.unwrap_or_else(|| unreachable!());
            prop_assert_eq!(found.chanid, chanid);
            prop_assert_eq!(found.ext, ext);
            prop_assert_eq!(&payload[found.data], &data[..]);
        }

        #[test]
        fn a_longer_or_shorter_payload_is_none(
            ext in prop::option::of(any::<u32>()),
            data in prop::collection::vec(any::<u8>(), 1..300),
            extra in prop::collection::vec(any::<u8>(), 1..5),
        ) {
            let mut payload = message(9, ext, &data);
            let whole = payload.len();
            prop_assert_eq!(channel_data(&payload[..whole - 1]), None);
            payload.extend_from_slice(&extra);
            prop_assert_eq!(channel_data(&payload), None);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Some(found) = channel_data(&bytes) {
                prop_assert!(found.data.end == bytes.len() && found.data.start <= bytes.len());
            }
        }
    }
}
