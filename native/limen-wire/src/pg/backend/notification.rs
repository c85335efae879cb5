//! NotificationResponse ('A'): a NOTIFY delivered to a LISTENing session.
use crate::error::Error;
use crate::pg::codec::{put_cstr, put_i32, write_message, Reader};

/// Type byte of NotificationResponse.
pub const TAG: u8 = b'A';

/// NotificationResponse: sender pid, channel and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotificationResponse<'a> {
    /// Notifying backend's process id.
    pub process_id: i32,
    /// Channel name.
    pub channel: &'a [u8],
    /// Payload string.
    pub payload: &'a [u8],
}

impl<'a> NotificationResponse<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "NotificationResponse");
        let process_id = r.i32()?;
        let channel = r.cstr()?;
        let payload = r.cstr()?;
        r.finish()?;
        Ok(NotificationResponse {
            process_id,
            channel,
            payload,
        })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_message(out, Some(TAG), "NotificationResponse", |o| {
            put_i32(o, self.process_id);
            put_cstr(o, self.channel, "NotificationResponse")?;
            put_cstr(o, self.payload, "NotificationResponse")
        })
    }
}
