//! NegotiateProtocolVersion ('v'): the server supports an older minor
//! version, or did not recognize some `_pq_.` startup options.
use crate::error::{Error, ErrorKind};
use crate::pg::codec::{put_cstr, put_i32, write_message, Reader};

/// Type byte of NegotiateProtocolVersion.
pub const TAG: u8 = b'v';

/// NegotiateProtocolVersion: newest minor version and unrecognized options.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NegotiateProtocolVersion<'a> {
    /// Newest minor protocol version the server supports.
    pub newest_minor: i32,
    raw_options: &'a [u8],
    count: usize,
}

impl<'a> NegotiateProtocolVersion<'a> {
    pub(crate) fn try_parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "NegotiateProtocolVersion");
        let newest_minor = r.i32()?;
        let at = 4u64;
        let n = r.i32()?;
        let count = usize::try_from(n)
            .map_err(|_| Error::remote(ErrorKind::NegativeCount, at, "NegotiateProtocolVersion"))?;
        let raw_options = r.rest_peek();
        // Each option needs at least its NUL: a count larger than the body is refused
        // before walking it.
        if count > raw_options.len() {
            return Err(Error::remote(
                ErrorKind::Truncated,
                at,
                "NegotiateProtocolVersion",
            ));
        }
        for _ in 0..count {
            r.cstr()?;
        }
        r.finish()?;
        Ok(NegotiateProtocolVersion {
            newest_minor,
            raw_options,
            count,
        })
    }

    /// The options the server did not recognize.
    pub fn unrecognized(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.raw_options.split(|&b| b == 0).take(self.count)
    }

    /// Number of unrecognized options.
    pub fn unrecognized_len(&self) -> usize {
        self.count
    }

    /// Writes the message.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let opts: Vec<&[u8]> = self.unrecognized().collect();
        Self::encode_parts(self.newest_minor, &opts, out)
    }

    /// Writes a NegotiateProtocolVersion from its parts.
    pub fn encode_parts(
        newest_minor: i32,
        options: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        write_message(out, Some(TAG), "NegotiateProtocolVersion", |o| {
            put_i32(o, newest_minor);
            let n = i32::try_from(options.len())
                .map_err(|_| Error::local(ErrorKind::InvalidValue, "NegotiateProtocolVersion"))?;
            put_i32(o, n);
            for opt in options {
                put_cstr(o, opt, "NegotiateProtocolVersion")?;
            }
            Ok(())
        })
    }
}

impl core::fmt::Debug for NegotiateProtocolVersion<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NegotiateProtocolVersion")
            .field("newest_minor", &self.newest_minor)
            .field(
                "unrecognized",
                &self
                    .unrecognized()
                    .map(String::from_utf8_lossy)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
