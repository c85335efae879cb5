//! A pumped session's turn: reading either side, writing what is ready,
//! one drive under the hub's budgets, and the hub's view of the session
//! ([`Driven`]).
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Instant;

use limen_wire::pg::ContentMasker;
use rustix::event::epoll;

use super::{end_of, Ending, Pump, BUDGET, SLICE};
use crate::core::{Judge, RecordSink};
use crate::io::backlog::{Backlog, Read1};
use crate::io::hub::{Drive, Driven, SOCKET_EVENTS};
use crate::io::shared::{EndReason, Event, PumpShared};

impl<M: ContentMasker, R: RecordSink, J: Judge> Pump<M, R, J> {
    fn read_client(&mut self, buf: &mut [u8]) -> bool {
        match self.client.read(buf) {
            Ok(Read1::Data(n)) => {
                self.bytes_read += n as u64;
                // A short read drained the socket: the next bytes raise a
                // new edge, so no read is wasted on EAGAIN (unless the peer
                // hung up: its EOF raises no new edge).
                self.client_readable = self.client.more(n, buf.len()) || self.client_hup;
                self.shared.touch();
                if self.shared.has_commands() {
                    // Queued before these bytes were sent (a reload's cache
                    // clear, a stop): they see its effect.
                    self.apply_commands();
                    if self.ending.is_some() {
                        return true;
                    }
                }
                match self
                    .core
                    .try_client_data(&buf[..n], self.to_up.tail(), &mut self.sink)
                {
                    Ok(step) => self.client_step(step),
                    Err(e) => self.end(end_of(e.kind()), e.message().to_owned(), true),
                }
                true
            }
            Ok(Read1::Eof) => {
                self.end(
                    EndReason::ClientClosed,
                    "the client closed the connection",
                    false,
                );
                true
            }
            Ok(Read1::Nothing) => {
                self.client_readable = false;
                false
            }
            Err(e) => {
                self.end(EndReason::ClientIo, e.to_string(), false);
                true
            }
        }
    }

    fn read_upstream(&mut self, buf: &mut [u8]) -> bool {
        match self.upstream.read(buf) {
            Ok(Read1::Data(n)) => {
                self.bytes_read += n as u64;
                self.upstream_readable = self.upstream.more(n, buf.len()) || self.upstream_hup;
                self.shared.touch();
                let longest = self.frames.feed(&buf[..n]);
                if longest >= self.offload_bytes {
                    if let (Some(spawn), Some(relay)) = (self.spawner, self.core.shared_relay()) {
                        let record = self.sink.detach().map(|s| (s, self.core.results_masked()));
                        let shared = Arc::clone(&self.shared);
                        if let Some(slot) = spawn(relay, buf[..n].to_vec(), record, shared) {
                            self.offloaded = Some((slot, n));
                            return true;
                        }
                    }
                }
                let r =
                    self.core
                        .try_upstream_data(&buf[..n], self.to_client.tail(), &mut self.sink);
                self.upstream_result(r);
                true
            }
            Ok(Read1::Eof) => {
                self.upstream_dead = true;
                self.end(
                    EndReason::UpstreamClosed,
                    "the upstream server closed the connection",
                    true,
                );
                true
            }
            Ok(Read1::Nothing) => {
                self.upstream_readable = false;
                false
            }
            Err(e) => {
                self.upstream_dead = true;
                self.end(EndReason::UpstreamIo, e.to_string(), true);
                true
            }
        }
    }

    /// Writes both backlogs as far as the sockets take them.
    fn write(&mut self) -> bool {
        let mut moved = false;
        let up_pending = !self.to_up.is_empty() || !self.upstream.flushed();
        if up_pending && self.upstream_writable && !self.upstream_dead {
            match self.upstream.write(&mut self.to_up) {
                Ok(progress) => moved |= progress,
                Err(e) => {
                    self.upstream_dead = true;
                    self.end(EndReason::UpstreamIo, e.to_string(), true);
                }
            }
            if !self.to_up.is_empty() || !self.upstream.flushed() {
                self.upstream_writable = false;
            }
        }
        if self.to_client.is_empty() && self.client.flushed() {
            self.last_progress = Instant::now();
        } else if self.client_writable {
            match self.client.write(&mut self.to_client) {
                Ok(true) => {
                    self.last_progress = Instant::now();
                    moved = true;
                }
                Ok(false) => {}
                Err(e) => {
                    // The client is gone: nothing more can reach it.
                    self.to_client = Backlog::default();
                    self.ending = None;
                    self.end(EndReason::ClientIo, e.to_string(), false);
                }
            }
            if !self.to_client.is_empty() || !self.client.flushed() {
                self.client_writable = false;
            }
        }
        moved
    }

    /// Moves what can move now. See the module docs.
    fn drive(&mut self, buf: &mut [u8]) -> Drive {
        let size = self.cfg.read_size.clamp(1, buf.len());
        let buf = &mut buf[..size];
        // A worker is feeding the relay: nothing else may touch the core
        // until its result is in (its wake-up drives this session again).
        if !self.offload_done() {
            return Drive::Idle;
        }
        if !self.started {
            self.started = true;
            self.shared.touch();
            // Messages the handshake's decoder still holds.
            match self.core.try_process(self.to_up.tail(), &mut self.sink) {
                Ok(step) => self.client_step(step),
                Err(e) => self.end(end_of(e.kind()), e.message().to_owned(), true),
            }
        }
        self.apply_commands();
        let mut budget = BUDGET;
        let began = Instant::now();
        let bytes_before = self.bytes_read;
        loop {
            if self.offloaded.is_some() {
                // Handed off: write what is ready, then yield until the
                // worker wakes the hub.
                self.write();
                return Drive::Idle;
            }
            let mut moved = false;
            let open = self.ending.is_none();
            if open && self.paused && self.client_hup {
                self.end(EndReason::ClientClosed, "the client hung up", false);
            }
            let open = self.ending.is_none();
            if open
                && !self.paused
                && self.client_readable
                && self.to_up.len() < self.cfg.max_backlog
            {
                moved |= self.read_client(buf);
                budget = budget.saturating_sub(1);
            }
            if self.ending.is_none()
                && self.upstream_readable
                && self.to_client.len() < self.cfg.max_backlog
                && !self.sink.congested()
            {
                moved |= self.read_upstream(buf);
                budget = budget.saturating_sub(1);
            }
            moved |= self.write();
            if !moved {
                break;
            }
            if budget == 0
                || self.bytes_read - bytes_before >= self.drive_bytes
                || began.elapsed() >= SLICE
            {
                if self.sink.needs_host() {
                    self.shared.emit(Event::Records);
                }
                return if self.finished() {
                    Drive::Done
                } else {
                    Drive::Again
                };
            }
        }
        if self.sink.needs_host() {
            self.shared.emit(Event::Records);
        }
        if self.finished() {
            return Drive::Done;
        }
        if !self.to_client.is_empty()
            && self.last_progress.elapsed() >= self.cfg.write_timeout
            && self.ending.as_ref().and_then(|e| e.flush_until).is_none()
        {
            self.to_client = Backlog::default();
            self.ending = None;
            self.end(
                EndReason::ClientStalled,
                "the client stopped reading",
                false,
            );
            return Drive::Done;
        }
        Drive::Idle
    }

    /// True once the session's end is decided and its flush is over.
    fn finished(&mut self) -> bool {
        let Some(end) = &self.ending else {
            return false;
        };
        let flushed = self.to_client.is_empty()
            && self.client.flushed()
            && ((self.to_up.is_empty() && self.upstream.flushed())
                || self.upstream_dead
                || end.reason != EndReason::Terminate);
        match end.flush_until {
            None => true,
            Some(_) if flushed => true,
            Some(until) if Instant::now() >= until => {
                if !self.to_client.is_empty() && end.reason == EndReason::Stopped {
                    if let Some(e) = self.ending.as_mut() {
                        e.reason = EndReason::ClientStalled;
                        e.detail = "the client stopped reading".into();
                    }
                }
                true
            }
            Some(_) => false,
        }
    }

    /// When the hub must drive this session even without readiness.
    fn deadline(&self) -> Option<Instant> {
        if self.offloaded.is_some() {
            // The worker's wake-up drives the session; until then no
            // timeout applies.
            return None;
        }
        if let Some(Ending {
            flush_until: Some(until),
            ..
        }) = &self.ending
        {
            return Some(*until);
        }
        (!self.to_client.is_empty()).then(|| self.last_progress + self.cfg.write_timeout)
    }
}
impl<M, R, J> Driven for Pump<M, R, J>
where
    M: ContentMasker + Send,
    R: RecordSink + Send,
    J: Judge + Send,
{
    fn shared(&self) -> &Arc<PumpShared> {
        &self.shared
    }

    fn register(&mut self, ep: &OwnedFd, id: u64) -> std::io::Result<()> {
        epoll::add(
            ep,
            &self.client,
            epoll::EventData::new_u64(id << 1),
            SOCKET_EVENTS,
        )?;
        if let Err(e) = epoll::add(
            ep,
            &self.upstream,
            epoll::EventData::new_u64((id << 1) | 1),
            SOCKET_EVENTS,
        ) {
            let _ = epoll::delete(ep, &self.client);
            return Err(e.into());
        }
        Ok(())
    }

    fn deregister(&mut self, ep: &OwnedFd) {
        // The host holds the same open sockets: closing our duplicates
        // would not take them out of the set.
        let _ = epoll::delete(ep, &self.client);
        let _ = epoll::delete(ep, &self.upstream);
    }

    fn ready(&mut self, side: u64, flags: epoll::EventFlags) {
        use epoll::EventFlags as F;
        let readable = flags.intersects(F::IN | F::HUP | F::ERR | F::RDHUP);
        let writable = flags.intersects(F::OUT | F::HUP | F::ERR);
        if side == 0 {
            self.client_readable |= readable;
            self.client_writable |= writable;
            self.client_hup |= flags.intersects(F::HUP | F::ERR | F::RDHUP);
        } else {
            self.upstream_readable |= readable;
            self.upstream_writable |= writable;
            self.upstream_hup |= flags.intersects(F::HUP | F::ERR | F::RDHUP);
        }
    }

    fn drive(&mut self, buf: &mut [u8]) -> Drive {
        Pump::drive(self, buf)
    }

    fn deadline(&self) -> Option<Instant> {
        Pump::deadline(self)
    }

    fn end_event(&mut self) -> Event {
        self.shared.publish(self.core.counts(), self.core.status());
        let (reason, detail) = match self.ending.take() {
            Some(e) => (e.reason, e.detail),
            None => (EndReason::Internal, "ended without a reason".into()),
        };
        Event::End { reason, detail }
    }
}
