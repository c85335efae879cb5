//! DataRow rewriting for inline masking.
//!
//! [`RowRewriter::try_rewrite`] walks a DataRow body once and asks a callback
//! what to do with each column: keep it, replace it with bytes the callback
//! wrote into a scratch buffer, or make it NULL. While nothing changes,
//! nothing is written, and the caller forwards the original frame
//! ([`Rewrite::Unchanged`]). From the first changed column on, the new
//! message (type byte, rewritten length, count, every column with its
//! rewritten length) is appended to the output buffer; the untouched prefix
//! is copied in one piece.
use crate::error::{Error, ErrorKind};
use crate::pg::codec::{put_i32, put_value, Reader};
use crate::pg::framing::Limits;

/// What to do with one column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Keep the value as it is.
    Keep,
    /// Use the bytes the callback wrote into the scratch buffer.
    Replace,
    /// Send SQL NULL instead.
    Null,
}

/// The outcome of a rewrite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rewrite {
    /// No column changed: nothing was written; forward the original frame.
    Unchanged,
    /// The new message (with type byte and length) was appended to the output.
    Changed,
}

/// Rewrites DataRow messages, reusing one scratch buffer across rows.
#[derive(Debug)]
pub struct RowRewriter {
    scratch: Vec<u8>,
    max_message_size: usize,
}

impl Default for RowRewriter {
    fn default() -> Self {
        Self::new(Limits::DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl RowRewriter {
    /// A rewriter that refuses to produce a message whose length field
    /// would exceed `max_message_size` (the peer's cap, typically).
    pub fn new(max_message_size: usize) -> Self {
        RowRewriter {
            scratch: Vec::new(),
            max_message_size,
        }
    }

    /// Rewrites the DataRow `body` (the bytes after type byte and length).
    ///
    /// `f(column_index, value, scratch)` gets an empty `scratch` for each
    /// column; returning [`Action::Replace`] uses what it wrote there. A
    /// replacement equal to the original, or [`Action::Null`] on a NULL,
    /// counts as unchanged. On error, `out` is left as it was. Errors about
    /// the body are remote (offsets count from the body's start); a result
    /// over the cap is a local error.
    pub fn try_rewrite<F>(
        &mut self,
        body: &[u8],
        out: &mut Vec<u8>,
        mut f: F,
    ) -> Result<Rewrite, Error>
    where
        F: FnMut(usize, Option<&[u8]>, &mut Vec<u8>) -> Action,
    {
        let start = out.len();
        let result = self.rewrite_inner(body, out, &mut f);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn rewrite_inner<F>(
        &mut self,
        body: &[u8],
        out: &mut Vec<u8>,
        f: &mut F,
    ) -> Result<Rewrite, Error>
    where
        F: FnMut(usize, Option<&[u8]>, &mut Vec<u8>) -> Action,
    {
        let mut r = Reader::new(body, "DataRow");
        let count = r.count16()?;
        let mut len_at: Option<usize> = None;
        for i in 0..count {
            let col_start = r.position();
            let len = r.i32()?;
            let value = if len == -1 {
                None
            } else {
                let n = usize::try_from(len).map_err(|_| {
                    Error::remote(ErrorKind::NegativeCount, col_start as u64, "DataRow")
                })?;
                Some(r.bytes(n)?)
            };
            self.scratch.clear();
            let action = f(i, value, &mut self.scratch);
            let changed = match action {
                Action::Keep => false,
                Action::Null => value.is_some(),
                Action::Replace => value != Some(self.scratch.as_slice()),
            };
            if changed && len_at.is_none() {
                out.push(crate::pg::backend::tag::DATA_ROW);
                len_at = Some(out.len());
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(&body[..col_start]);
            }
            if len_at.is_some() {
                match action {
                    Action::Keep => out.extend_from_slice(&body[col_start..r.position()]),
                    Action::Null => put_i32(out, -1),
                    Action::Replace => put_value(out, Some(&self.scratch), "DataRow rewrite")?,
                }
            }
        }
        r.finish()?;
        let Some(len_at) = len_at else {
            return Ok(Rewrite::Unchanged);
        };
        let len = out.len() - len_at;
        if len > self.max_message_size {
            return Err(Error::local(ErrorKind::MessageTooLarge, "DataRow rewrite"));
        }
        let len = i32::try_from(len)
            .map_err(|_| Error::local(ErrorKind::MessageTooLarge, "DataRow rewrite"))?;
        out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(Rewrite::Changed)
    }
}
