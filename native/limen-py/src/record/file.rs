//! The log file behind a [`super::RecordWriter`]: a [`ThreadedFile`] sink
//! whose writes and chain links run on a dedicated I/O thread.

use std::fs::File;
use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use limen_record::{Chainer, FrameSpan, Sink};

/// A written batch and its spans, emptied, for reuse.
type Recycled = (Vec<u8>, Vec<FrameSpan>);

pub(super) enum IoMsg {
    Start(Chainer),
    Write(Vec<u8>),
    Deferred(Vec<u8>, Vec<FrameSpan>),
    Chain(SyncSender<Option<[u8; 32]>>),
    Sync(SyncSender<std::io::Result<()>>),
    Barrier(SyncSender<()>),
}

/// Plaintext logs: of every 8 frames, the payload digests the appending
/// thread computes (the I/O thread computes the others and every chain
/// link). Measured per 4 KiB record (CPU time per thread): the appending
/// thread spends ~0.3 us, and ~0.2 us more per eighth it digests; the I/O
/// thread ~1.4 us (write, links), and ~0.2 us more per eighth it digests.
/// 7 evens them out (quiet machine: ~1.75 us and ~1.6 us, against ~2.2 us
/// and ~1.3 us when the appending thread hashed every whole frame).
pub(super) const INLINE_DIGESTS: u8 = 7;

/// Batches queued to the I/O thread at most; beyond that, a flush waits.
const IO_QUEUE: usize = 2;

/// Written buffers at least this large go back to the writer for reuse
/// (the header's small buffer does not).
const RECYCLE_MIN: usize = 64 << 10;

/// The log file, written by a dedicated I/O thread: a flush hands the
/// framed batch over (swapping in a recycled buffer, no copy) and returns,
/// so the `write` syscall overlaps with framing the next batch. The work is
/// split so that neither thread does it all (measured, 4 KiB records):
///
/// - the writer runs with deferred checksums: the I/O thread owns the
///   [`Chainer`], links every frame into the chain (one BLAKE3 block per
///   frame) and writes (`IoMsg::Deferred`);
/// - plaintext logs: the frames' payload digests are shared — the writer
///   digests [`INLINE_DIGESTS`] of every 8 frames on the appending thread as
///   it frames them (the payload it just copied is still in cache), the I/O
///   thread the others;
/// - encrypted logs: the appending thread seals each batch (AES-256-GCM);
///   the I/O thread digests the sealed frames (one large frame per batch:
///   BLAKE3 at full SIMD width).
///
/// The crate stays free of threads; who moves the bytes is the glue's
/// choice. Batches are written in order; an I/O error is reported on
/// the next flush or at close. `sync` waits for every queued batch, then
/// fsyncs. Dropping the sink writes what is queued, then joins the thread.
pub(super) struct ThreadedFile {
    tx: Option<SyncSender<IoMsg>>,
    recycled: Mutex<Receiver<Recycled>>,
    error: Arc<Mutex<Option<std::io::Error>>>,
    thread: Option<JoinHandle<()>>,
}

/// The I/O thread: writes batches in order (filling deferred checksums
/// first), hands written buffers back for reuse, fsyncs on request. After
/// the first failure it writes nothing more (fail closed).
fn io_thread(
    mut file: File,
    rx: Receiver<IoMsg>,
    back: SyncSender<Recycled>,
    err: Arc<Mutex<Option<std::io::Error>>>,
) {
    let failed = |e: std::io::Error| {
        if let Ok(mut slot) = err.lock() {
            slot.get_or_insert(e);
        }
    };
    let ok = || err.lock().map(|slot| slot.is_none()).unwrap_or(false);
    let mut chainer: Option<Chainer> = None;
    let mut wb = Writeback::default();
    for msg in rx {
        match msg {
            IoMsg::Start(c) => chainer = Some(c),
            IoMsg::Write(mut buf) => {
                if ok() {
                    match file.write_all(&buf) {
                        Ok(()) => wb.written(&file, buf.len()),
                        Err(e) => failed(e),
                    }
                }
                if buf.capacity() >= RECYCLE_MIN {
                    buf.clear();
                    let _ = back.try_send((buf, Vec::new()));
                }
            }
            IoMsg::Deferred(mut buf, mut spans) => {
                let filled = chainer.as_mut().is_some_and(|c| c.fill(&mut buf, &spans));
                if !filled {
                    // Never write frames without their checksums.
                    failed(std::io::Error::other("a batch could not be checksummed"));
                } else if ok() {
                    match file.write_all(&buf) {
                        Ok(()) => wb.written(&file, buf.len()),
                        Err(e) => failed(e),
                    }
                }
                buf.clear();
                spans.clear();
                let _ = back.try_send((buf, spans));
            }
            IoMsg::Chain(ack) => {
                let _ = ack.send(chainer.as_ref().map(Chainer::chain));
            }
            IoMsg::Barrier(ack) => {
                let _ = ack.send(());
            }
            IoMsg::Sync(ack) => {
                let r = if ok() {
                    file.sync_all()
                } else {
                    Err(std::io::Error::other("an earlier write failed"))
                };
                let _ = ack.send(r);
            }
        }
    }
}

/// Starts writeback of what the I/O thread wrote, without waiting for it:
/// the disk then writes while the next batches are framed and hashed, and
/// the fsync at close finds little left to do (measured, 128 MiB of 4 KiB
/// records: the close-time fsync was ~40 ms, as long as the whole raw write
/// loop). Whole pages only, up to the last one written in full, so a page
/// the next batch still extends is not put under writeback. Advisory:
/// `POSIX_FADV_DONTNEED` starts writeback of dirty pages on Linux (and drops
/// clean ones from the cache: a log is written once, read later); errors
/// are ignored, the fsync at close is what makes the log durable.
#[derive(Default)]
struct Writeback {
    /// Bytes written to the file so far.
    end: u64,
    /// Start of the first page not yet handed to writeback.
    started: u64,
}

impl Writeback {
    /// Hand at least this much to writeback at a time.
    const MIN: u64 = 256 << 10;
    const PAGE: u64 = 4096;

    fn written(&mut self, file: &File, len: usize) {
        self.end += len as u64;
        let upto = self.end / Self::PAGE * Self::PAGE;
        if upto.saturating_sub(self.started) >= Self::MIN {
            start_writeback(file, self.started, upto - self.started);
            self.started = upto;
        }
    }
}

#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    if let Some(len) = std::num::NonZeroU64::new(len) {
        let _ = rustix::fs::fadvise(file, offset, Some(len), rustix::fs::Advice::DontNeed);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

impl ThreadedFile {
    pub(super) fn try_new(file: File) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel::<IoMsg>(IO_QUEUE);
        let (back_tx, back_rx) = sync_channel::<Recycled>(IO_QUEUE + 1);
        let error = Arc::new(Mutex::new(None::<std::io::Error>));
        let err = Arc::clone(&error);
        let thread = std::thread::Builder::new()
            .name("limen-record-io".into())
            .spawn(move || io_thread(file, rx, back_tx, err))?;
        Ok(ThreadedFile {
            tx: Some(tx),
            recycled: Mutex::new(back_rx),
            error,
            thread: Some(thread),
        })
    }

    fn check(&self) -> std::io::Result<()> {
        match self.error.lock() {
            Ok(slot) => match slot.as_ref() {
                Some(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                None => Ok(()),
            },
            Err(_) => Err(std::io::Error::other("the I/O thread failed")),
        }
    }

    /// Wait until every batch handed over so far is written (not fsynced).
    pub(super) fn try_wait_written(&self) -> std::io::Result<()> {
        let (ack_tx, ack_rx) = sync_channel(1);
        self.send(IoMsg::Barrier(ack_tx))?;
        ack_rx
            .recv()
            .map_err(|_| std::io::Error::other("the I/O thread is gone"))?;
        self.check()
    }

    /// An emptied buffer the thread has written, or a new one.
    fn take_recycled(&self, capacity: usize) -> Recycled {
        self.recycled
            .lock()
            .ok()
            .and_then(|rx| rx.try_recv().ok())
            .unwrap_or_else(|| (Vec::with_capacity(capacity), Vec::new()))
    }

    pub(super) fn send(&self, msg: IoMsg) -> std::io::Result<()> {
        let gone = || std::io::Error::other("the I/O thread is gone");
        self.tx
            .as_ref()
            .ok_or_else(gone)?
            .send(msg)
            .map_err(|_| gone())
    }
}

impl Write for ThreadedFile {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        // Only the header goes through here; batches use `write_batch`.
        self.check()?;
        self.send(IoMsg::Write(b.to_vec()))?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.check()
    }
}

impl Sink for ThreadedFile {
    fn write_batch(&mut self, batch: &mut Vec<u8>) -> std::io::Result<()> {
        // Frames complete with their checksums (the header, the trailer):
        // the thread only writes.
        self.check()?;
        let (buf, _) = self.take_recycled(batch.capacity());
        let full = std::mem::replace(batch, buf);
        self.send(IoMsg::Write(full))
    }
    fn write_deferred(
        &mut self,
        batch: &mut Vec<u8>,
        spans: &mut Vec<FrameSpan>,
    ) -> std::io::Result<()> {
        self.check()?;
        let (buf, sp) = self.take_recycled(batch.capacity());
        let full = std::mem::replace(batch, buf);
        let full_spans = std::mem::replace(spans, sp);
        self.send(IoMsg::Deferred(full, full_spans))
    }
    fn deferred_chain(&mut self) -> std::io::Result<[u8; 32]> {
        let (ack_tx, ack_rx) = sync_channel(1);
        self.send(IoMsg::Chain(ack_tx))?;
        let chain = ack_rx
            .recv()
            .map_err(|_| std::io::Error::other("the I/O thread is gone"))?;
        self.check()?;
        chain.ok_or_else(|| std::io::Error::other("the I/O thread has no chain"))
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.check()?;
        let (ack_tx, ack_rx) = sync_channel(1);
        self.send(IoMsg::Sync(ack_tx))?;
        ack_rx
            .recv()
            .map_err(|_| std::io::Error::other("the I/O thread is gone"))??;
        self.check()
    }
}

impl Drop for ThreadedFile {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
