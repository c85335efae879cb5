//! Writers: one message with its length patched in, and the primitives
//! (strings, integers, counts, values) its body is written with.
use crate::error::{Error, ErrorKind};

/// Writes one message: tag (if any), a length placeholder, the body written
/// by `body`, then the patched length. On error, `out` is left as it was.
pub(crate) fn write_message(
    out: &mut Vec<u8>,
    tag: Option<u8>,
    ctx: &'static str,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
) -> Result<(), Error> {
    let start = out.len();
    if let Some(t) = tag {
        out.push(t);
    }
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let result = body(out).and_then(|()| {
        let len = out.len() - len_at;
        let len = i32::try_from(len).map_err(|_| Error::local(ErrorKind::MessageTooLarge, ctx))?;
        out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Writes `s` and its NUL terminator; `s` may not contain a NUL.
pub(crate) fn put_cstr(out: &mut Vec<u8>, s: &[u8], ctx: &'static str) -> Result<(), Error> {
    if s.contains(&0) {
        return Err(Error::local(ErrorKind::InteriorNul, ctx));
    }
    out.extend_from_slice(s);
    out.push(0);
    Ok(())
}

pub(crate) fn put_i16(out: &mut Vec<u8>, v: i16) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// An i16 count, failing (locally) above i16::MAX.
pub(crate) fn put_count(out: &mut Vec<u8>, n: usize, ctx: &'static str) -> Result<(), Error> {
    let n = i16::try_from(n).map_err(|_| Error::local(ErrorKind::InvalidValue, ctx))?;
    put_i16(out, n);
    Ok(())
}

/// An i16 count and the values, each as (i32 length, bytes) or -1 for NULL.
pub(crate) fn put_values(
    out: &mut Vec<u8>,
    values: &[Option<&[u8]>],
    ctx: &'static str,
) -> Result<(), Error> {
    put_count(out, values.len(), ctx)?;
    for v in values {
        put_value(out, *v, ctx)?;
    }
    Ok(())
}

/// One (i32 length, bytes) value, -1 for NULL.
pub(crate) fn put_value(
    out: &mut Vec<u8>,
    v: Option<&[u8]>,
    ctx: &'static str,
) -> Result<(), Error> {
    match v {
        None => put_i32(out, -1),
        Some(b) => {
            let n = i32::try_from(b.len())
                .map_err(|_| Error::local(ErrorKind::MessageTooLarge, ctx))?;
            put_i32(out, n);
            out.extend_from_slice(b);
        }
    }
    Ok(())
}

pub(crate) fn put_i16s(out: &mut Vec<u8>, v: &[i16], ctx: &'static str) -> Result<(), Error> {
    put_count(out, v.len(), ctx)?;
    for x in v {
        put_i16(out, *x);
    }
    Ok(())
}
