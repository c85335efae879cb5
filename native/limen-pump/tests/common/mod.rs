//! What the core tests share: toy maskers, record sinks, the messages of
//! both protocols as a client sends them, a connected TCP pair. Each test
//! file uses its own share of it.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};

use limen_pump::{RecordKind, RecordSink};
use limen_wire::pg::ContentMasker;

/// Masks every '@' as `[MASKED]`.
pub struct At;

impl ContentMasker for At {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        let mut n = 0;
        for &b in value {
            if b == b'@' {
                out.extend_from_slice(b"[MASKED]");
                n += 1;
            } else {
                out.push(b);
            }
        }
        n
    }
}

/// Masks nothing.
pub struct Plain;

impl ContentMasker for Plain {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        out.extend_from_slice(value);
        0
    }
}

/// Every record, in order.
#[derive(Default)]
pub struct Log(pub Vec<(RecordKind, Vec<u8>)>);

impl RecordSink for Log {
    fn try_append(&mut self, kind: RecordKind, payload: &[u8]) -> Result<(), String> {
        self.0.push((kind, payload.to_vec()));
        Ok(())
    }
}

/// Every record, in order, with its masked flag.
#[derive(Default)]
pub struct FlaggedLog(pub Vec<(RecordKind, Vec<u8>, bool)>);

impl RecordSink for FlaggedLog {
    fn try_append(&mut self, kind: RecordKind, payload: &[u8]) -> Result<(), String> {
        self.try_append_flagged(kind, payload, false)
    }

    fn try_append_flagged(
        &mut self,
        kind: RecordKind,
        payload: &[u8],
        masked: bool,
    ) -> Result<(), String> {
        self.0.push((kind, payload.to_vec(), masked));
        Ok(())
    }
}

/// Keeps no record.
pub struct NoRecords;

impl RecordSink for NoRecords {
    fn try_append(&mut self, _kind: RecordKind, _payload: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// A connected pair: (the test's side, the pump's side).
pub fn pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let ours = TcpStream::connect(listener.local_addr()?)?;
    let (theirs, _) = listener.accept()?;
    Ok((ours, theirs))
}

/// PostgreSQL messages.
pub mod pg {
    /// One message: its tag, length and body.
    pub fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    /// Query.
    pub fn query(sql: &[u8]) -> Vec<u8> {
        msg(b'Q', &[sql, b"\0"].concat())
    }

    /// Sync.
    pub fn sync() -> Vec<u8> {
        msg(b'S', b"")
    }

    /// A DataRow of one column holding `value`.
    pub fn data_row(value: &[u8]) -> Vec<u8> {
        msg(
            b'D',
            &[
                &1i16.to_be_bytes()[..],
                &(value.len() as i32).to_be_bytes(),
                value,
            ]
            .concat(),
        )
    }
}

/// MySQL command packets (sequence id 0).
pub mod mysql {
    use limen_wire::mysql::write_packet;

    /// One command packet holding `payload`.
    pub fn command(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_packet(&mut out, 0, payload);
        out
    }

    /// COM_QUERY.
    pub fn query(sql: &[u8]) -> Vec<u8> {
        command(&[&[3u8][..], sql].concat())
    }

    /// COM_STMT_PREPARE.
    pub fn prepare(sql: &[u8]) -> Vec<u8> {
        command(&[&[0x16u8][..], sql].concat())
    }

    /// COM_STMT_EXECUTE of statement `id` with no parameters.
    pub fn execute(id: u32) -> Vec<u8> {
        let mut p = vec![0x17];
        p.extend_from_slice(&id.to_le_bytes());
        p.extend_from_slice(&[0, 1, 0, 0, 0]);
        command(&p)
    }
}
