//! The upstream side of the MySQL core: the shared relay frames, masks and
//! renumbers; every byte it returns is recorded (`u2c`) before it is
//! handed out; its events update the core (prepared statement ids, the
//! host's note) and the record (`upstream_error`, `infile_refused`, as the
//! Trio relay records them).
use limen_wire::mysql::command::code;
use limen_wire::mysql::{ContentMasker, RelayEvent};

use super::{lock, MySqlCore, NOTE_ERR, NOTE_OK, NOTE_PREPARED};
use crate::core::{RecordKind, RecordSink};
use crate::error::{PumpError, Side};

/// `ER_NOT_ALLOWED_COMMAND`.
const ER_NOT_ALLOWED_COMMAND: u16 = 1148;
/// What the client gets for a refused LOCAL INFILE request.
const INFILE_REFUSED: &[u8] = b"limen: LOCAL INFILE is refused at the gateway";

/// An upstream SQLSTATE as a JSON string body (5 letters or digits; any
/// other byte becomes `?`).
fn state_text(state: &[u8]) -> String {
    state
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

impl<M: ContentMasker> MySqlCore<M> {
    /// Feeds upstream bytes: what the client must get (framed, masked) is
    /// recorded and appended to `client`. Returns true when an answer
    /// ended (the pump then handles the client's next command).
    pub fn try_upstream_data<R: RecordSink>(
        &mut self,
        data: &[u8],
        client: &mut Vec<u8>,
        sink: &mut R,
    ) -> Result<bool, PumpError> {
        self.counts.upstream_bytes += data.len() as u64;
        let start = client.len();
        let shared = std::sync::Arc::clone(&self.relay);
        let mut relay = lock(&shared)?;
        self.take_masks(); // under the relay's lock: see MySqlMaskSwap
        let events = match relay.try_feed(data, client) {
            Ok(events) => events,
            Err(e) => {
                // Nothing goes out that was not recorded.
                client.truncate(start);
                return Err(PumpError::wire(Side::Upstream, &e));
            }
        };
        for ev in &events {
            if let RelayEvent::InfileRequest { .. } = ev {
                let up = relay
                    .refuse_infile(ER_NOT_ALLOWED_COMMAND, *b"42000", INFILE_REFUSED)
                    .map_err(|e| PumpError::wire(Side::Upstream, &e))?;
                self.upstream_out.extend_from_slice(&up);
            }
        }
        let done = relay.is_done();
        drop(relay);
        // Only the answer to a command the host judged is noted for it.
        let host = self.host_code.is_some();
        for ev in events {
            match ev {
                RelayEvent::Ok { .. } if host => self.note.flags |= NOTE_OK,
                RelayEvent::Ok { .. } => {}
                RelayEvent::Err {
                    code, sql_state, ..
                } => {
                    if host {
                        self.note.flags |= NOTE_ERR;
                    }
                    let event = format!(
                        "{{\"event\":\"upstream_error\",\"code\":{code},\"state\":\"{}\"}}",
                        state_text(&sql_state)
                    );
                    sink.try_append(RecordKind::Event, event.as_bytes())
                        .map_err(PumpError::record)?;
                }
                RelayEvent::PrepareOk { statement_id, .. } => {
                    if host {
                        self.note.flags |= NOTE_PREPARED;
                        self.note.statement_id = statement_id;
                    }
                    if let Some(execute) = self.prepare.take() {
                        match execute {
                            Some(prefix) => {
                                self.statements.insert(statement_id, prefix);
                            }
                            None => {
                                self.statements.remove(&statement_id);
                            }
                        }
                        self.last_prepared = Some(statement_id);
                    }
                }
                RelayEvent::InfileRequest { .. } => {
                    sink.try_append(RecordKind::Event, br#"{"event":"infile_refused"}"#)
                        .map_err(PumpError::record)?;
                }
            }
        }
        // As the Trio relay: the events' records, then the bytes'.
        if client.len() > start {
            sink.try_append_flagged(RecordKind::U2c, &client[start..], self.results_masked)
                .map_err(PumpError::record)?;
        }
        if done {
            self.prepare = None;
            if let Some(command) = self.host_code.take() {
                if command == code::RESET_CONNECTION && self.note.flags & NOTE_OK != 0 {
                    self.statements.clear();
                    self.last_prepared = None;
                }
                self.note.reported = true;
            }
        }
        Ok(done)
    }
}
