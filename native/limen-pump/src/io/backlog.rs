//! Non-blocking socket reads and the write backlog of one socket.
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;

/// Bytes waiting to be written to one socket.
#[derive(Default)]
pub(super) struct Backlog {
    buf: Vec<u8>,
    sent: usize,
}

impl Backlog {
    pub(super) fn len(&self) -> usize {
        self.buf.len() - self.sent
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where new bytes go (compacted first when it is cheap).
    pub(super) fn tail(&mut self) -> &mut Vec<u8> {
        if self.sent > 0 && self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
        }
        &mut self.buf
    }

    /// The bytes waiting.
    pub(super) fn pending(&self) -> &[u8] {
        &self.buf[self.sent..]
    }

    /// Marks `n` waiting bytes as gone (handed to TLS).
    pub(super) fn consume(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.buf.len());
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
        }
    }

    /// Writes as much as the socket takes. Ok(true) when something went.
    pub(super) fn try_write(&mut self, mut s: &TcpStream) -> std::io::Result<bool> {
        let mut progress = false;
        while self.sent < self.buf.len() {
            match s.write(&self.buf[self.sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
        } else if self.sent > (64 << 10) && self.sent * 2 > self.buf.len() {
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
        Ok(progress)
    }
}

pub(super) enum Read1 {
    Data(usize),
    Eof,
    Nothing,
}

pub(super) fn read_some(mut s: &TcpStream, buf: &mut [u8]) -> std::io::Result<Read1> {
    loop {
        match s.read(buf) {
            Ok(0) => return Ok(Read1::Eof),
            Ok(n) => return Ok(Read1::Data(n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Read1::Nothing),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
