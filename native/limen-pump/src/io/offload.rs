//! Huge messages are masked off the hub thread.
//!
//! The relay masks a DataRow whole when its last byte arrives, so one
//! huge value (up to `max_message_size`) would be masked in one drive on
//! the thread every session shares, and another session's statement would
//! wait for all of it. Instead, the pump follows the upstream's message
//! boundaries ([`Frames`]: the 5-byte headers only, the pump starts at a
//! boundary since the upstream sends nothing between the handshake's
//! ReadyForQuery and the first statement), and a read that completes a
//! message of at least [`OFFLOAD_BYTES`] is fed to the relay on a worker
//! thread ([`spawn`]). Until the worker is done the session is not driven
//! (no read, no command: nothing else touches its relay or its core), the
//! hub serves every other session, and the worker then wakes the hub for
//! this session, which takes the result in exactly where the feed would
//! have run ([`crate::PumpCore`]'s `try_upstream_done`). The bytes are
//! those of the same feed on the same relay, in the same order: the
//! output is identical (`tests/offload.rs` compares it with an inline
//! relay), only the thread differs.
//!
//! The worker also records what it wrote for the client, when the
//! session's sink can give it a sink of its own ([`RecordSink::detach`]):
//! a huge message's record (a copy, hashing, perhaps encryption) costs
//! about as much as masking it, and on the hub thread that would stall
//! every other session just the same. The hub then takes the worker's
//! output in as the client's buffer when that is empty (no copy), so what
//! is left for the hub thread per huge message is writing it out.
//!
//! One worker thread per huge message under way, at most one per session;
//! a message under the threshold costs at most about one drive's budget to
//! mask, inline. Should a worker not start, the feed runs inline (slower
//! for the others, never wrong); should the masker panic there, the
//! session ends (`Internal`) like any failed feed.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use limen_wire::pg::{ContentMasker, RelayEvent};

use crate::core::SharedRelay;
use crate::io::shared::PumpShared;
use crate::{RecordKind, RecordSink};

/// Messages at least this long are masked on a worker thread (the byte
/// budget of one drive: a message under it costs about one drive inline).
pub const OFFLOAD_BYTES: u64 = super::pump::DRIVE_BYTES;

/// Where the upstream's byte stream is in its messages.
#[derive(Debug, Default)]
pub(super) struct Frames {
    header: [u8; 5],
    /// Header bytes seen of the current message (5: the body is under way).
    have: usize,
    /// Body bytes of the current message still to come.
    left: u64,
    /// The current message's length (from its header, counting itself).
    len: u64,
}

impl Frames {
    /// Follows `data`; returns the length of the longest message it
    /// completes (0 when none).
    pub(super) fn feed(&mut self, mut data: &[u8]) -> u64 {
        let mut longest = 0;
        while !data.is_empty() {
            if self.have < 5 {
                let take = (5 - self.have).min(data.len());
                self.header[self.have..self.have + take].copy_from_slice(&data[..take]);
                self.have += take;
                data = &data[take..];
                if self.have < 5 {
                    break;
                }
                let [_, a, b, c, d] = self.header;
                self.len = u64::from(u32::from_be_bytes([a, b, c, d]));
                self.left = self.len.saturating_sub(4);
            }
            let take = usize::try_from(self.left).map_or(data.len(), |l| l.min(data.len()));
            data = &data[take..];
            self.left -= take as u64;
            if self.left == 0 {
                longest = longest.max(self.len);
                self.have = 0;
            }
        }
        longest
    }
}

/// What a worker's feed gave.
pub(super) enum Fed {
    /// The relay's answer, the bytes it wrote for the client, and how
    /// recording them went when the worker recorded them.
    Done(
        Result<Vec<RelayEvent>, limen_wire::Error>,
        Vec<u8>,
        Option<Result<(), String>>,
    ),
    /// The feed panicked.
    Panicked,
}

/// Where a worker records the client's bytes of its feed: the session's
/// sink, detached, and whether the bytes are masked (their records' flag).
pub(super) type WorkerRecord = (Box<dyn RecordSink + Send>, bool);

/// The sink the hub passes when the worker recorded already: its one
/// append (the U2c record of the worker's output) reports how the
/// worker's append went, and writes nothing.
pub(super) struct Recorded(pub(super) Option<Result<(), String>>);

impl RecordSink for Recorded {
    fn try_append(&mut self, _kind: RecordKind, _payload: &[u8]) -> Result<(), String> {
        self.0.take().unwrap_or(Ok(()))
    }
}

/// A feed under way on a worker: its result once done.
#[derive(Default)]
pub(super) struct Slot {
    fed: Mutex<Option<Fed>>,
}

impl Slot {
    /// The result, once the worker is done.
    pub(super) fn take(&self) -> Option<Fed> {
        self.fed.lock().ok().and_then(|mut f| f.take())
    }
}

/// Starts `data`'s feed on `relay` on a worker thread (which records its
/// output too, given a [`WorkerRecord`]) and wakes the hub for the session
/// when done. `None` when no thread could start.
pub(super) type Spawner<M> =
    fn(SharedRelay<M>, Vec<u8>, Option<WorkerRecord>, Arc<PumpShared>) -> Option<Arc<Slot>>;

/// The [`Spawner`] of a pump attached to a hub.
pub(super) fn spawn<M: ContentMasker + Send + 'static>(
    relay: SharedRelay<M>,
    data: Vec<u8>,
    record: Option<WorkerRecord>,
    shared: Arc<PumpShared>,
) -> Option<Arc<Slot>> {
    let slot = Arc::new(Slot::default());
    let theirs = Arc::clone(&slot);
    std::thread::Builder::new()
        .name("limen-mask-worker".into())
        .spawn(move || {
            let fed = catch_unwind(AssertUnwindSafe(|| {
                let mut out = Vec::new();
                let r = match relay.lock() {
                    Ok(mut relay) => relay.try_feed(&data, &mut out),
                    Err(_) => return Fed::Panicked,
                };
                // Recorded as the hub would: a feed that failed sends
                // nothing and records nothing; an empty output no record.
                let recorded = match record {
                    Some((mut sink, masked)) if r.is_ok() && !out.is_empty() => {
                        Some(sink.try_append_flagged(RecordKind::U2c, &out, masked))
                    }
                    Some(_) => Some(Ok(())),
                    None => None,
                };
                Fed::Done(r, out, recorded)
            }))
            .unwrap_or(Fed::Panicked);
            if let Ok(mut f) = theirs.fed.lock() {
                *f = Some(fed);
            }
            shared.kick();
        })
        .ok()?;
    Some(slot)
}

#[cfg(test)]
mod tests {
    use super::Frames;

    fn msg(tag: u8, body: usize) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&u32::try_from(body + 4).unwrap_or(0).to_be_bytes());
        m.resize(5 + body, b'x');
        m
    }

    /// Fed in any split, the tracker reports each message's length in the
    /// chunk that completes it.
    #[test]
    fn frames_follow_any_split() {
        let sizes = [0usize, 3, 70_000, 1, 300_000, 12];
        let stream: Vec<u8> = sizes.iter().flat_map(|&n| msg(b'D', n)).collect();
        for chunk in [1usize, 2, 5, 7, 4096, 65_536, 1 << 20] {
            let mut f = Frames::default();
            let mut seen = Vec::new();
            let mut at = 0;
            for c in stream.chunks(chunk) {
                at += c.len();
                let longest = f.feed(c);
                if longest > 0 {
                    seen.push((at, longest));
                }
            }
            // The message of 300_000 body bytes ends at this offset.
            let end: usize = sizes[..5].iter().map(|n| n + 5).sum();
            let hit = seen.iter().find(|&&(_, l)| l == 300_004).map(|&(at, _)| at);
            let want = end.div_ceil(chunk) * chunk;
            assert_eq!(hit, Some(want.min(stream.len())), "chunk {chunk}");
            assert!(seen.iter().all(|&(_, l)| l <= 300_004));
        }
    }
}
