//! Primitive readers and writers of the MySQL protocol's basic types:
//! fixed-length little-endian integers, length-encoded integers and strings,
//! NUL-terminated strings.
//!
//! Reference: MariaDB "Protocol Data Types" (fixed-length, length-encoded
//! integers: `0xfb` is NULL in rows, `0xfc`/`0xfd`/`0xfe` announce 2/3/8
//! bytes, `0xff` is undefined) and MySQL's `page_protocol_basic_dt_*`.
use crate::error::{Error, ErrorKind};

/// A bounds-checked cursor over a packet payload. Errors carry the offset
/// inside the payload.
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

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        match self.pos.checked_add(n).filter(|&e| e <= self.buf.len()) {
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

    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u24(&mut self) -> Result<u32, Error> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_le_bytes([a, b, c, 0]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A length-encoded integer; `None` for the NULL marker `0xfb`.
    pub(crate) fn lenenc_or_null(&mut self) -> Result<Option<u64>, Error> {
        let at = self.pos;
        Ok(Some(match self.u8()? {
            n @ 0..=0xfa => u64::from(n),
            0xfb => return Ok(None),
            0xfc => u64::from(self.u16()?),
            0xfd => u64::from(self.u24()?),
            0xfe => self.u64()?,
            _ => return Err(Error::remote(ErrorKind::InvalidValue, at as u64, self.ctx)),
        }))
    }

    /// A length-encoded integer where NULL is not allowed.
    pub(crate) fn lenenc(&mut self) -> Result<u64, Error> {
        let at = self.pos;
        self.lenenc_or_null()?
            .ok_or_else(|| Error::remote(ErrorKind::InvalidValue, at as u64, self.ctx))
    }

    /// A length, checked against the bytes left before anything else.
    fn len_checked(&mut self, n: u64) -> Result<usize, Error> {
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.remaining())
            .ok_or_else(|| self.err(ErrorKind::Truncated))
    }

    /// A length-encoded string.
    pub(crate) fn lenenc_str(&mut self) -> Result<&'a [u8], Error> {
        let n = self.lenenc()?;
        let n = self.len_checked(n)?;
        self.bytes(n)
    }

    /// A length-encoded string or NULL (`0xfb`), as in text rows.
    pub(crate) fn lenenc_str_or_null(&mut self) -> Result<Option<&'a [u8]>, Error> {
        match self.lenenc_or_null()? {
            None => Ok(None),
            Some(n) => {
                let n = self.len_checked(n)?;
                self.bytes(n).map(Some)
            }
        }
    }

    /// A NUL-terminated string, without its NUL.
    pub(crate) fn cstr(&mut self) -> Result<&'a [u8], Error> {
        let rest = &self.buf[self.pos..];
        match rest.iter().position(|&b| b == 0) {
            Some(n) => {
                self.pos += n + 1;
                Ok(&rest[..n])
            }
            None => Err(self.err(ErrorKind::MissingNul)),
        }
    }

    /// A NUL-terminated string, or the rest of the payload when the NUL is
    /// missing (some servers and clients omit the last NUL).
    pub(crate) fn cstr_or_rest(&mut self) -> &'a [u8] {
        match self.cstr() {
            Ok(s) => s,
            Err(_) => self.rest(),
        }
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.err(ErrorKind::TrailingBytes))
        }
    }
}

/// Appends a length-encoded integer.
pub fn put_lenenc(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfa => out.push(n as u8),
        0xfb..=0xffff => {
            out.push(0xfc);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xfe);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// The size of `n` as a length-encoded integer.
pub fn lenenc_size(n: u64) -> usize {
    match n {
        0..=0xfa => 1,
        0xfb..=0xffff => 3,
        0x1_0000..=0xff_ffff => 4,
        _ => 9,
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_str(out: &mut Vec<u8>, s: &[u8]) {
    put_lenenc(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Appends a NUL-terminated string; a NUL inside it is a local error.
pub(crate) fn put_cstr(out: &mut Vec<u8>, s: &[u8], ctx: &'static str) -> Result<(), Error> {
    if s.contains(&0) {
        return Err(Error::local(ErrorKind::InteriorNul, ctx));
    }
    out.extend_from_slice(s);
    out.push(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_boundaries_round_trip() -> Result<(), Error> {
        for n in [
            0u64,
            250,
            251,
            0xffff,
            0x1_0000,
            0xff_ffff,
            0x100_0000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_lenenc(&mut out, n);
            assert_eq!(out.len(), lenenc_size(n));
            let mut r = Reader::new(&out, "t");
            assert_eq!(r.lenenc()?, n);
            r.finish()?;
        }
        // Documented examples (MariaDB "Protocol Data Types").
        let mut out = Vec::new();
        put_lenenc(&mut out, 251);
        assert_eq!(out, [0xfc, 0xfb, 0x00]);
        Ok(())
    }

    #[test]
    fn invalid_and_null_markers() {
        assert_eq!(
            Reader::new(&[0xff], "t").lenenc().map_err(|e| e.kind()),
            Err(ErrorKind::InvalidValue)
        );
        assert_eq!(
            Reader::new(&[0xfb], "t").lenenc().map_err(|e| e.kind()),
            Err(ErrorKind::InvalidValue)
        );
        assert_eq!(Reader::new(&[0xfb], "t").lenenc_str_or_null(), Ok(None));
        // A string longer than what is left is truncated, never allocated.
        let huge = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, b'a'];
        assert_eq!(
            Reader::new(&huge, "t").lenenc_str().map_err(|e| e.kind()),
            Err(ErrorKind::Truncated)
        );
    }
}
