//! The client side of the MySQL core: command packets in, one at a time
//! (each waits until the answer to the one before is over), each handled
//! here (a cache hit, see `cache.rs`) or handed to the host as a judge
//! request; and the host's verdict applied.
use limen_wire::mysql::command::code;
use limen_wire::mysql::{ContentMasker, Expect, Limits, Packet, PacketDecoder};

use super::{lock, MySqlCore, Pending, EXECUTE_SPLIT};
use crate::core::{ClientStep, JudgeKind, JudgeRequest, RecordKind, RecordSink, Verdict};
use crate::error::{PumpError, Side};

impl<M: ContentMasker> MySqlCore<M> {
    /// Feeds client bytes and handles every command it can (see
    /// [`MySqlCore::try_process`]). While a verdict is awaited or an
    /// answer is in progress the bytes are only buffered.
    pub fn try_client_data<R: RecordSink>(
        &mut self,
        data: &[u8],
        upstream: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<ClientStep, PumpError> {
        self.counts.client_bytes += data.len() as u64;
        self.decoder
            .receive_data(data)
            .map_err(|e| PumpError::wire(Side::Client, &e))?;
        if self.pending.is_some() {
            return Ok(ClientStep::Paused);
        }
        self.try_process(upstream, sink)
    }

    /// Handles buffered client commands, one at a time: each waits until
    /// the answer to the one before is over.
    pub fn try_process<R: RecordSink>(
        &mut self,
        upstream: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<ClientStep, PumpError> {
        if self.pending.is_some() {
            return Err(PumpError::local("processing while a verdict is awaited"));
        }
        self.take_masks();
        upstream.append(&mut self.upstream_out);
        if !self.reply.is_empty() {
            sink.try_append_flagged(RecordKind::U2c, &self.reply, false)
                .map_err(PumpError::record)?;
            self.client_out.append(&mut self.reply);
        }
        loop {
            if !self.relay_idle()? {
                return Ok(ClientStep::NeedData);
            }
            self.decoder.set_sequence(0);
            // The packet borrows the decoder: it is lent out meanwhile.
            let mut decoder =
                std::mem::replace(&mut self.decoder, PacketDecoder::new(Limits::default()));
            let step = match decoder.next_packet() {
                Ok(Some(packet)) => self.command(&packet, upstream, sink),
                Ok(None) => Ok(Some(ClientStep::NeedData)),
                Err(e) => Err(PumpError::wire(Side::Client, &e)),
            };
            self.decoder = decoder;
            if let Some(step) = step? {
                return Ok(step);
            }
        }
    }

    /// One client command: handled here (None: go on with the next), or
    /// a judge request, or the end.
    fn command<R: RecordSink>(
        &mut self,
        packet: &Packet<'_>,
        upstream: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<Option<ClientStep>, PumpError> {
        let (raw, payload) = (packet.raw(), packet.payload());
        let Some(&command) = payload.first() else {
            return Err(PumpError::protocol(
                Side::Client,
                "an empty command packet".into(),
            ));
        };
        let seq = packet.seq();
        let single = packet.parts() == 1;
        self.shape_key = None;
        let handled = match command {
            code::QUIT => return Ok(Some(ClientStep::Terminate)),
            code::PING if payload.len() == 1 => {
                lock(&self.relay)?
                    .expect(Expect::Ok, seq, None, None)
                    .map_err(|e| PumpError::wire(Side::Client, &e))?;
                upstream.extend_from_slice(raw);
                true
            }
            code::QUERY | code::STMT_PREPARE if single => {
                self.cached_statement(command, seq, raw, payload, upstream, sink)?
            }
            code::STMT_EXECUTE
            | code::STMT_CLOSE
            | code::STMT_RESET
            | code::STMT_FETCH
            | code::STMT_SEND_LONG_DATA => {
                self.known_statement(command, seq, raw, payload, upstream, sink)?
            }
            _ => false,
        };
        if handled {
            self.counts.cache_hits += 1;
            return Ok(None);
        }
        let cacheable = matches!(command, code::QUERY | code::STMT_PREPARE)
            && self.limits.entries > 0
            && payload.len() <= self.limits.max_text;
        let key = cacheable.then(|| self.key_for(payload)).transpose()?;
        let id = self.next_id;
        self.next_id += 1;
        let request = JudgeRequest {
            id,
            kind: if command == code::STMT_PREPARE {
                JudgeKind::Parse
            } else {
                JudgeKind::Query
            },
            name: self.note.take(lock(&self.relay)?.status()),
            sql: payload.to_vec(),
            raw: raw.to_vec(),
        };
        let shape_key = if key.is_some() {
            self.shape_key.take()
        } else {
            None
        };
        self.pending = Some(Pending {
            id,
            key,
            code: command,
            shape_key,
        });
        self.counts.judged += 1;
        Ok(Some(ClientStep::Judge(request)))
    }

    /// Applies the host's verdict on the paused command: `upstream` is
    /// forwarded (the host set the relay's expectation), `client` is the
    /// host's own answer (recorded and sent at the next
    /// [`MySqlCore::try_process`], which the caller runs next) when
    /// `discard_until_sync` is set.
    pub fn try_resume(
        &mut self,
        id: u64,
        verdict: Verdict,
        upstream: &mut Vec<u8>,
    ) -> Result<(), PumpError> {
        let Pending {
            key,
            code,
            shape_key,
            ..
        } = match self.pending.take() {
            Some(pending) if pending.id == id => pending,
            other => {
                self.pending = other;
                return Err(PumpError::local(
                    "a verdict for a request that is not pending",
                ));
            }
        };
        // On a MySQL core, `discard_until_sync` means "this is the reply".
        let forwarded = !verdict.discard_until_sync && !verdict.upstream.is_empty();
        if verdict.discard_until_sync {
            self.reply.extend_from_slice(&verdict.upstream);
        } else {
            upstream.extend_from_slice(&verdict.upstream);
        }
        let busy = !self.relay_idle()?;
        self.host_code = busy.then_some(code);
        if code == code::STMT_PREPARE {
            self.last_prepared = None;
        }
        let mut execute = None;
        if let (Some(key), Some(event)) = (key, verdict.cache_event) {
            if forwarded {
                if code == code::STMT_PREPARE {
                    match event.iter().position(|&b| b == EXECUTE_SPLIT) {
                        Some(at) => {
                            execute = Some(event[at + 1..].to_vec());
                            self.remember(key, event);
                        }
                        None => {
                            return Err(PumpError::local(
                                "a prepare's cache event lacks its execute part",
                            ))
                        }
                    }
                } else {
                    match shape_key {
                        Some(shape) if verdict.cache_shape => self.remember(shape, event),
                        _ => self.remember(key, event),
                    }
                }
            }
        }
        if code == code::STMT_PREPARE && busy {
            self.prepare = Some(execute);
        }
        Ok(())
    }
}
