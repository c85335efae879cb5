//! ReadyForQuery ('Z'): the server is idle, with its transaction status.
use crate::error::{Error, ErrorKind};
use crate::pg::codec::Reader;

/// Type byte of ReadyForQuery.
pub const TAG: u8 = b'Z';

/// The transaction status carried by ReadyForQuery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionStatus {
    /// 'I': not in a transaction block.
    Idle,
    /// 'T': in a transaction block.
    InTransaction,
    /// 'E': in a failed transaction block (queries rejected until its end).
    Failed,
}

impl TransactionStatus {
    /// The status byte.
    pub fn byte(self) -> u8 {
        match self {
            TransactionStatus::Idle => b'I',
            TransactionStatus::InTransaction => b'T',
            TransactionStatus::Failed => b'E',
        }
    }

    pub(crate) fn try_parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "ReadyForQuery");
        let status = match r.u8()? {
            b'I' => TransactionStatus::Idle,
            b'T' => TransactionStatus::InTransaction,
            b'E' => TransactionStatus::Failed,
            _ => return Err(Error::remote(ErrorKind::InvalidValue, 0, "ReadyForQuery")),
        };
        r.finish()?;
        Ok(status)
    }

    /// Writes a ReadyForQuery message with this status.
    pub fn encode_ready_for_query(self, out: &mut Vec<u8>) {
        out.push(TAG);
        out.extend_from_slice(&5i32.to_be_bytes());
        out.push(self.byte());
    }
}
