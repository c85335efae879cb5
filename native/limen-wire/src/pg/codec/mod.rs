//! Primitive readers and writers shared by every PostgreSQL message file.
//!
//! [`Reader`] walks a message body with bounds checks on every step and
//! reports errors with the offset inside the body (the decoders shift it to
//! the stream offset). The array views ([`I16Array`], [`U32Array`],
//! [`Values`]) are validated once when parsed and then read without
//! allocation or further checks that could fail (`views.rs`); the writers
//! (`write.rs`) put a message's length in once its body is written.
use crate::error::{Error, ErrorKind};

mod views;
mod write;

pub use views::{I16Array, StrList, U32Array, Values, ValuesIter};
pub(crate) use write::{
    put_count, put_cstr, put_i16, put_i16s, put_i32, put_u32, put_value, put_values, write_message,
};

/// A bounds-checked cursor over a message body.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    ctx: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], ctx: &'static str) -> Self {
        Reader { buf, pos: 0, ctx }
    }

    pub(crate) fn err(&self, kind: ErrorKind) -> Error {
        Error::remote(kind, self.pos as u64, self.ctx)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let out = &self.buf[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(self.err(ErrorKind::Truncated)),
        }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn i16(&mut self) -> Result<i16, Error> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, Error> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A non-negative i16 count.
    pub(crate) fn count16(&mut self) -> Result<usize, Error> {
        let at = self.pos;
        let n = self.i16()?;
        usize::try_from(n).map_err(|_| Error::remote(ErrorKind::NegativeCount, at as u64, self.ctx))
    }

    /// A NUL-terminated string, returned without its NUL.
    pub(crate) fn cstr(&mut self) -> Result<&'a [u8], Error> {
        let rest = &self.buf[self.pos..];
        match rest.iter().position(|&b| b == 0) {
            Some(n) => {
                let out = &rest[..n];
                self.pos += n + 1;
                Ok(out)
            }
            None => Err(self.err(ErrorKind::MissingNul)),
        }
    }

    /// What is left of the body, without moving.
    pub(crate) fn rest_peek(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Current position in the body.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(self.err(ErrorKind::TrailingBytes))
        }
    }

    /// `count` i16 values, as a view.
    pub(crate) fn i16_array(&mut self, count: usize) -> Result<I16Array<'a>, Error> {
        let len = count
            .checked_mul(2)
            .ok_or_else(|| self.err(ErrorKind::Truncated))?;
        Ok(I16Array {
            raw: self.bytes(len)?,
        })
    }

    /// An i16 count followed by that many i16 values.
    pub(crate) fn counted_i16_array(&mut self) -> Result<I16Array<'a>, Error> {
        let n = self.count16()?;
        self.i16_array(n)
    }

    /// An i16 count followed by that many u32 values.
    pub(crate) fn counted_u32_array(&mut self) -> Result<U32Array<'a>, Error> {
        let n = self.count16()?;
        let len = n * 4;
        Ok(U32Array {
            raw: self.bytes(len)?,
        })
    }

    /// An i16 count followed by that many (i32 length, bytes) values, where
    /// a length of -1 is NULL.
    pub(crate) fn values(&mut self) -> Result<Values<'a>, Error> {
        let count = self.count16()?;
        let start = self.pos;
        for _ in 0..count {
            let at = self.pos;
            let len = self.i32()?;
            if len == -1 {
                continue;
            }
            let len = usize::try_from(len)
                .map_err(|_| Error::remote(ErrorKind::NegativeCount, at as u64, self.ctx))?;
            self.bytes(len)?;
        }
        Ok(Values {
            raw: &self.buf[start..self.pos],
            count,
        })
    }
}
