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
        } else if compact(self.sent, self.len()) {
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
        Ok(progress)
    }
}

/// Whether to move the `live` bytes not yet written to the front, over the
/// `sent` ones: once more were sent than are live (so a move costs less
/// than the writes since the last one), and only while the move is small
/// (at most 256 KiB) or the sent bytes are eight times the live ones. A
/// huge message (a masked value of many megabytes) is then never moved in
/// one large piece on the thread every session shares, and the buffer
/// stays within nine times what it holds (or 256 KiB more).
fn compact(sent: usize, live: usize) -> bool {
    sent > (64 << 10) && sent > live && (live <= (256 << 10) || sent / 8 > live)
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

#[cfg(test)]
mod tests {
    use super::compact;

    /// A 14.5 MB message being written out: moved only once what is left
    /// is small, and never more bytes than were sent since the last move.
    #[test]
    fn huge_backlogs_move_late_and_little() {
        let total = 14_500_000usize;
        let mut moved = Vec::new();
        let (mut sent, mut live) = (0usize, total);
        while live > 0 {
            let step = live.min(100_000);
            sent += step;
            live -= step;
            if live > 0 && compact(sent, live) {
                assert!(live < sent);
                moved.push(live);
                sent = 0;
            }
        }
        assert!(!moved.is_empty());
        assert!(moved.iter().all(|&m| m <= total / 9), "{moved:?}");
        // The old rule (more sent than live) moved half of it at once.
        assert!(!compact(64 << 10, 1 << 20));
        assert!(compact(1 << 20, 256 << 10));
        assert!(!compact(1 << 20, 300 << 10));
        assert!(compact(9 << 20, 1 << 20));
    }
}
