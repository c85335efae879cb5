//! BackendKeyData ('K'): the process id and secret key for CancelRequest.
use crate::error::{Error, ErrorKind};
use crate::pg::codec::{put_i32, write_message, Reader};
use crate::pg::frontend::MAX_CANCEL_KEY_LEN;

/// Type byte of BackendKeyData.
pub const TAG: u8 = b'K';

/// BackendKeyData: 4-byte key in protocol 3.0, up to 256 bytes in 3.2.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BackendKeyData<'a> {
    /// Backend process id.
    pub process_id: i32,
    /// Secret key.
    pub secret_key: &'a [u8],
}

impl core::fmt::Debug for BackendKeyData<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BackendKeyData")
            .field("process_id", &self.process_id)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

impl<'a> BackendKeyData<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "BackendKeyData");
        let process_id = r.i32()?;
        let secret_key = r.rest();
        if secret_key.len() < 4 || secret_key.len() > MAX_CANCEL_KEY_LEN {
            return Err(Error::remote(ErrorKind::InvalidValue, 4, "BackendKeyData"));
        }
        Ok(BackendKeyData {
            process_id,
            secret_key,
        })
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.secret_key.len() < 4 || self.secret_key.len() > MAX_CANCEL_KEY_LEN {
            return Err(Error::local(ErrorKind::InvalidValue, "BackendKeyData"));
        }
        write_message(out, Some(TAG), "BackendKeyData", |o| {
            put_i32(o, self.process_id);
            o.extend_from_slice(self.secret_key);
            Ok(())
        })
    }
}
