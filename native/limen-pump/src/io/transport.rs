//! One side of a pumped session: a non-blocking socket, in clear or under
//! TLS (a [`Lent`] rustls connection: decrypted as it is read, encrypted
//! as the backlog is written). The pump sees plaintext either way.
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};

use crate::io::backlog::{read_some, Backlog, Read1};
use crate::tls::Lent;

/// Plaintext handed to rustls per step (it encrypts it into records).
const CHUNK: usize = 64 << 10;

/// Ciphertext read per `read` call.
const CIPHER_READ: usize = 64 << 10;

/// A socket, and its TLS connection when the side uses TLS.
pub(super) struct Transport {
    sock: TcpStream,
    tls: Option<Tls>,
}

struct Tls {
    lent: Lent,
    /// Ciphertext read and not yet handed to rustls (from `pos`).
    cin: Vec<u8>,
    pos: usize,
    /// The last read filled the caller's buffer: more may be waiting
    /// without a new readiness edge.
    full: bool,
    /// The socket reached its end (reported once the plaintext is out).
    eof: bool,
}

impl AsFd for Transport {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

fn tls_io(e: rustls::Error) -> std::io::Error {
    std::io::Error::new(ErrorKind::InvalidData, format!("TLS: {e}"))
}

fn gone() -> std::io::Error {
    std::io::Error::other("the TLS connection is gone")
}

impl Transport {
    /// A plaintext side.
    pub(super) fn plain(sock: TcpStream) -> Self {
        Transport { sock, tls: None }
    }

    /// Puts the side under TLS (the connection's handshake is done).
    pub(super) fn set_tls(&mut self, mut lent: Lent) {
        if let Some(c) = lent.conn() {
            c.set_buffer_limit(Some(CHUNK));
        }
        self.tls = Some(Tls {
            lent,
            cin: Vec::new(),
            pos: 0,
            full: true,
            eof: false,
        });
    }

    /// Whether another read may give bytes without a new readiness edge,
    /// after one that gave `n` bytes into a buffer of `len`.
    pub(super) fn more(&self, n: usize, len: usize) -> bool {
        match &self.tls {
            None => n == len,
            Some(t) => t.full || t.pos < t.cin.len() || t.eof,
        }
    }

    /// True when no ciphertext waits to be written.
    pub(super) fn flushed(&mut self) -> bool {
        match self.tls.as_mut().and_then(|t| t.lent.conn()) {
            None => true,
            Some(c) => !c.wants_write(),
        }
    }

    /// Reads plaintext into `buf`.
    pub(super) fn read(&mut self, buf: &mut [u8]) -> std::io::Result<Read1> {
        let Some(t) = self.tls.as_mut() else {
            return read_some(&self.sock, buf);
        };
        let mut filled = t.lent.take_plain(buf);
        let mut drained = false;
        t.full = false;
        loop {
            if filled == buf.len() {
                t.full = true;
                break;
            }
            let conn = t.lent.conn().ok_or_else(gone)?;
            match conn.reader().read(&mut buf[filled..]) {
                Ok(0) => {
                    // close_notify: the end, once what came before is out.
                    t.eof = true;
                    break;
                }
                Ok(n) => {
                    filled += n;
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                    t.eof = true;
                    break;
                }
                Err(e) => return Err(e),
            }
            if t.pos < t.cin.len() {
                let n = conn.read_tls(&mut &t.cin[t.pos..])?;
                t.pos += n;
                conn.process_new_packets().map_err(tls_io)?;
                continue;
            }
            if drained || t.eof {
                break;
            }
            t.cin.resize(CIPHER_READ, 0);
            t.pos = 0;
            let got = read_some(&self.sock, &mut t.cin);
            match got {
                Ok(Read1::Data(n)) => {
                    t.cin.truncate(n);
                    drained = n < CIPHER_READ;
                }
                Ok(Read1::Eof) => {
                    t.cin.clear();
                    t.eof = true;
                }
                Ok(Read1::Nothing) => {
                    t.cin.clear();
                    drained = true;
                }
                Err(e) => {
                    t.cin.clear();
                    return Err(e);
                }
            }
        }
        if filled > 0 {
            Ok(Read1::Data(filled))
        } else if t.eof {
            t.full = false;
            Ok(Read1::Eof)
        } else {
            Ok(Read1::Nothing)
        }
    }

    /// Writes the backlog as far as the socket takes it (under TLS: the
    /// pending ciphertext first, then the backlog a chunk at a time).
    /// Ok(true) when something went.
    pub(super) fn write(&mut self, backlog: &mut Backlog) -> std::io::Result<bool> {
        let Some(t) = self.tls.as_mut() else {
            return backlog.try_write(&self.sock);
        };
        let conn = t.lent.conn().ok_or_else(gone)?;
        let mut progress = false;
        loop {
            while conn.wants_write() {
                match conn.write_tls(&mut &self.sock) {
                    Ok(0) => return Err(ErrorKind::WriteZero.into()),
                    Ok(_) => progress = true,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(progress),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let pending = backlog.pending();
            if pending.is_empty() {
                return Ok(progress);
            }
            let n = conn.writer().write(&pending[..pending.len().min(CHUNK)])?;
            if n == 0 {
                return Ok(progress);
            }
            backlog.consume(n);
            progress = true;
        }
    }
}
