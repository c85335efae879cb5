//! The server side of a MySQL gateway session: the upstream's response to
//! one command in (any split), bytes for the client and a few small events
//! out.
//!
//! The gateway handles one client command at a time. After forwarding a
//! command whose packet carried sequence id `seq`, it calls
//! [`ServerRelay::expect`]; then [`ServerRelay::try_feed`] for each chunk
//! from the upstream until [`ServerRelay::is_done`]. The relay:
//! - frames packets (16 MiB continuations joined, each logical packet
//!   capped at `max_packet_size`, sequence ids checked from `seq + 1`);
//! - follows the response with a [`ResponseTracker`] (OK, ERR, result sets
//!   with or without `CLIENT_DEPRECATE_EOF`, more results while
//!   `SERVER_MORE_RESULTS_EXISTS`, PREPARE_OK, LOCAL INFILE);
//! - rewrites every row: each value whose column a [`ColumnPlan`] lists is
//!   replaced whole (matched on the result set's column definitions), every
//!   other text value is masked by content through the [`ContentMasker`]
//!   (text rows: every value; binary rows: values laid out as strings);
//!   NULL stays NULL; an ERR's message is masked by content too;
//! - masks the names in column definitions (schema, table and column names
//!   and aliases) by content, and, when the caller says the statement held
//!   a secret ([`ServerRelay::set_secret_statement`]), replaces the name of
//!   every expression column (no real column behind it) with
//!   [`SECRET_NAME`]: MySQL names an unaliased expression by its text
//!   (`HEX(AES_ENCRYPT('data', 'key'))`), which would carry the secret to
//!   the client and the recording; definitions masked before are
//!   remembered by their bytes (`names.rs`);
//! - renumbers what goes to the client from `seq + 1` on, re-splitting a
//!   row that grew past 16 MiB − 1 into continuation packets;
//! - never forwards a LOCAL INFILE request: it reports it
//!   ([`RelayEvent::InfileRequest`]) and waits for
//!   [`ServerRelay::refuse_infile`] (an empty packet upstream, the server's
//!   answer swallowed, an ERR to the client instead) or, when a rule allows
//!   it, [`ServerRelay::allow_infile`] and [`ServerRelay::forward_infile`];
//! - remembers, per statement id, the columns of an EXECUTE that opened a
//!   cursor, for the binary rows of later FETCHes.
//!
//! Bytes after a complete response are a protocol error (the server never
//! speaks unasked); any error poisons the relay (close the connection).
mod names;
mod packet;

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, ErrorKind};
use crate::mysql::binary::BinaryRowRewriter;
use crate::mysql::colplan::{ColumnAction, ColumnPlan};
use crate::mysql::framing::{write_packet, Limits, PacketDecoder};
use crate::mysql::generic::ErrPacket;
use crate::mysql::response::{Expect, ResponseTracker};
use crate::mysql::resultset::TextRowRewriter;
pub use crate::pg::ContentMasker;
use names::NameMemo;
pub use names::{NAME_MEMO_BYTES, NAME_MEMO_ENTRIES};

/// Most columns one result set may have (MySQL allows 4096 per table).
pub const MAX_COLUMNS: u64 = 1 << 16;
/// Most open cursors remembered (an EXECUTE past this is still relayed;
/// a FETCH of a cursor not remembered is refused).
pub const MAX_CURSORS: usize = 4096;

/// The name an expression column gets when its statement held a secret.
pub const SECRET_NAME: &[u8] = b"[MASKED:sql-secret]";

/// What the caller needs to know about the upstream's packets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// An OK packet, or the EOF / OK ending a result set.
    Ok {
        status: u16,
        affected_rows: u64,
        last_insert_id: u64,
        warnings: u16,
    },
    /// An ERR packet (its message as the client gets it: masked).
    Err {
        code: u16,
        sql_state: Vec<u8>,
        message: Vec<u8>,
    },
    /// COM_STMT_PREPARE succeeded.
    PrepareOk {
        statement_id: u32,
        params: u16,
        columns: u16,
    },
    /// The server asks for a local file (nothing was forwarded).
    InfileRequest { filename: Vec<u8> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// No command in flight: any byte is a protocol error.
    Idle,
    /// Relaying a response.
    Response,
    /// A LOCAL INFILE request was reported; the server waits for the file.
    InfileWait { upstream_seq: u8 },
    /// A rule allows the file: the request went to the client, whose
    /// file packets go upstream through [`ServerRelay::forward_infile`].
    InfileForward { upstream_seq: u8 },
    /// The refusal went upstream; the server's answer is swallowed and the
    /// client gets this ERR payload instead.
    Refused { err: Vec<u8> },
}

/// Everything but the decoder (so a packet borrowed from the decoder can be
/// handled with `&mut Core`).
struct Core<M> {
    masker: Option<M>,
    caps: u64,
    tracker: ResponseTracker,
    phase: Phase,
    out_seq: u8,
    expect: Expect,
    plan: Option<Arc<ColumnPlan>>,
    statement: Option<u32>,
    /// The current result set: per column, its action and type.
    cols: Vec<ColumnAction>,
    types: Vec<u8>,
    cursors: HashMap<u32, (Vec<ColumnAction>, Vec<u8>)>,
    text: TextRowRewriter,
    binary: BinaryRowRewriter,
    status: u16,
    masked_values: u64,
    max_packet_size: usize,
    /// The file a LOCAL INFILE request names (until allowed or refused).
    infile_name: Vec<u8>,
    /// The statement of the response in progress held a secret: names of
    /// expression columns are replaced.
    secret_statement: bool,
    /// Column definitions as masked, by their bytes (`names.rs`).
    names: NameMemo,
}

/// The MySQL server-side relay (see the module docs).
pub struct ServerRelay<M> {
    decoder: PacketDecoder,
    core: Core<M>,
    failed: bool,
}

impl<M: ContentMasker> ServerRelay<M> {
    /// A relay masking by content with `masker` (none: values are kept
    /// unless a column plan replaces them), on a session with the
    /// negotiated capabilities `caps`, refusing packets over
    /// `max_packet_size` (before and after rewriting).
    pub fn new(masker: Option<M>, caps: u64, max_packet_size: usize) -> Self {
        let limits = Limits {
            max_packet_size,
            ..Limits::default()
        };
        let mut decoder = PacketDecoder::new(limits);
        decoder.set_authenticated();
        ServerRelay {
            decoder,
            core: Core {
                masker,
                caps,
                tracker: ResponseTracker::new(Expect::Ok, caps),
                phase: Phase::Idle,
                out_seq: 0,
                expect: Expect::Ok,
                plan: None,
                statement: None,
                cols: Vec::new(),
                types: Vec::new(),
                cursors: HashMap::new(),
                text: TextRowRewriter::new(max_packet_size),
                binary: BinaryRowRewriter::new(max_packet_size),
                status: 0,
                masked_values: 0,
                max_packet_size,
                infile_name: Vec::new(),
                secret_statement: false,
                names: NameMemo::default(),
            },
            failed: false,
        }
    }

    /// Masks by content with `masker` from now on (None: only column
    /// plans apply): a config reload's new masks for a live session. The
    /// masker is read per value, so a response in progress goes on with
    /// the new one.
    pub fn set_masker(&mut self, masker: Option<M>) {
        self.core.masker = masker;
        self.core.names.clear(); // masked by the old one
    }

    /// True when no response is in progress.
    pub fn is_done(&self) -> bool {
        self.core.phase == Phase::Idle
    }

    /// Server status flags of the last OK / EOF seen.
    pub fn status(&self) -> u16 {
        self.core.status
    }

    /// Values replaced whole by column plans so far.
    pub fn masked_values(&self) -> u64 {
        self.core.masked_values
    }

    /// The negotiated capabilities.
    pub fn caps(&self) -> u64 {
        self.core.caps
    }

    /// Starts relaying the response to a command sent upstream with
    /// sequence id `seq`. `statement` is the statement id of a
    /// COM_STMT_EXECUTE or COM_STMT_FETCH (a FETCH needs the columns of
    /// the EXECUTE that opened its cursor). A local error while a response
    /// is in progress or after a failure.
    pub fn expect(
        &mut self,
        expect: Expect,
        seq: u8,
        plan: Option<Arc<ColumnPlan>>,
        statement: Option<u32>,
    ) -> Result<(), Error> {
        if self.failed {
            return Err(Error::local(ErrorKind::Poisoned, "expect"));
        }
        if self.core.phase != Phase::Idle {
            return Err(Error::local(ErrorKind::UnexpectedMessage, "expect"));
        }
        let core = &mut self.core;
        core.cols.clear();
        core.types.clear();
        if expect == Expect::Fetch {
            let known = statement.and_then(|id| core.cursors.get(&id));
            let Some((cols, types)) = known else {
                return Err(Error::local(
                    ErrorKind::InvalidValue,
                    "fetch of an unknown cursor",
                ));
            };
            core.cols.clone_from(cols);
            core.types.clone_from(types);
        }
        core.tracker = ResponseTracker::new(expect, core.caps);
        core.expect = expect;
        core.plan = plan.filter(|p| !p.is_empty());
        core.statement = statement;
        core.phase = Phase::Response;
        core.out_seq = seq.wrapping_add(1);
        self.decoder.set_sequence(seq.wrapping_add(1));
        Ok(())
    }

    /// Says whether the statement of the next response (call before
    /// [`Self::expect`]; it holds until that response is done) held a secret:
    /// the names of its expression columns are then replaced with
    /// [`SECRET_NAME`].
    pub fn set_secret_statement(&mut self, secret: bool) {
        self.core.secret_statement = secret;
    }

    /// Forgets the cursor columns of statement `id` (COM_STMT_CLOSE or
    /// COM_STMT_RESET went upstream).
    pub fn forget_statement(&mut self, id: u32) {
        self.core.cursors.remove(&id);
    }

    /// Feeds upstream bytes; appends what goes to the client to `out` and
    /// returns the events. Any error poisons the relay.
    pub fn try_feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<Vec<RelayEvent>, Error> {
        if self.failed {
            return Err(Error::local(ErrorKind::Poisoned, "feed"));
        }
        let mut events = Vec::new();
        let result = self.feed_inner(chunk, out, &mut events);
        if result.is_err() {
            self.failed = true;
        }
        result.map(|()| events)
    }

    fn feed_inner(
        &mut self,
        chunk: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<RelayEvent>,
    ) -> Result<(), Error> {
        let unasked = || Error::remote(ErrorKind::UnexpectedMessage, 0, "server spoke unasked");
        let step = self.decoder.limits().max_chunk.max(1);
        for piece in chunk.chunks(step) {
            if self.core.waits_for_client() {
                return Err(unasked());
            }
            self.decoder.receive_data(piece)?;
            while !self.core.waits_for_client() {
                let Some(p) = self.decoder.next_packet()? else {
                    break;
                };
                self.core.on_packet(&p, out, events)?;
            }
            if self.decoder.pending() > 0 && self.core.waits_for_client() {
                return Err(unasked());
            }
        }
        Ok(())
    }

    /// After a [`RelayEvent::InfileRequest`]: returns the bytes to send
    /// upstream (an empty packet: "no file"). The server's answer is then
    /// swallowed and the client gets ERR(`code`, `sql_state`, `message`)
    /// with the sequence id it expects. A local error at any other time.
    pub fn refuse_infile(
        &mut self,
        code: u16,
        sql_state: [u8; 5],
        message: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let Phase::InfileWait { upstream_seq } = self.core.phase else {
            return Err(Error::local(ErrorKind::UnexpectedMessage, "refuse_infile"));
        };
        if message.len() > self.core.max_packet_size.saturating_sub(16) {
            return Err(Error::local(ErrorKind::MessageTooLarge, "refuse_infile"));
        }
        let mut up = Vec::with_capacity(4);
        let next = write_packet(&mut up, upstream_seq, &[]);
        self.decoder.set_sequence(next);
        self.core.tracker.infile_sent();
        self.core.infile_name.clear();
        let mut err = Vec::with_capacity(message.len() + 9);
        ErrPacket::Error {
            code,
            sql_state: Some(sql_state),
            message,
        }
        .encode(&mut err);
        self.core.phase = Phase::Refused { err };
        Ok(up)
    }

    /// After a [`RelayEvent::InfileRequest`] a rule allows: returns the
    /// request framed for the client (the sequence id it expects). Then
    /// pass each packet the client sends (its file, then an empty packet)
    /// through [`Self::forward_infile`]. A local error at any other time.
    pub fn allow_infile(&mut self) -> Result<Vec<u8>, Error> {
        let Phase::InfileWait { upstream_seq } = self.core.phase else {
            return Err(Error::local(ErrorKind::UnexpectedMessage, "allow_infile"));
        };
        let filename = std::mem::take(&mut self.core.infile_name);
        let mut payload = Vec::with_capacity(filename.len() + 1);
        payload.push(crate::mysql::generic::LOCAL_INFILE);
        payload.extend_from_slice(&filename);
        let mut out = Vec::with_capacity(payload.len() + 4);
        self.core.out_seq = write_packet(&mut out, self.core.out_seq, &payload);
        self.core.phase = Phase::InfileForward { upstream_seq };
        Ok(out)
    }

    /// One packet of the client's file (its payload, continuations
    /// joined): returns it framed for the upstream. The empty packet ends
    /// the file; the server's answer is then relayed as usual.
    pub fn forward_infile(&mut self, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let Phase::InfileForward { upstream_seq } = self.core.phase else {
            return Err(Error::local(ErrorKind::UnexpectedMessage, "forward_infile"));
        };
        if payload.len() > self.core.max_packet_size {
            return Err(Error::local(ErrorKind::MessageTooLarge, "forward_infile"));
        }
        let mut up = Vec::with_capacity(payload.len() + 8);
        let next = write_packet(&mut up, upstream_seq, payload);
        // The client numbered its packets after the request; so is the answer.
        self.core.out_seq = self
            .core
            .out_seq
            .wrapping_add(next.wrapping_sub(upstream_seq));
        if payload.is_empty() {
            self.decoder.set_sequence(next);
            self.core.tracker.infile_sent();
            self.core.phase = Phase::Response;
        } else {
            self.core.phase = Phase::InfileForward { upstream_seq: next };
        }
        Ok(up)
    }
}

impl<M> Core<M> {
    /// True when the upstream must be silent (no command, or it waits for
    /// the client's file).
    fn waits_for_client(&self) -> bool {
        matches!(
            self.phase,
            Phase::Idle | Phase::InfileWait { .. } | Phase::InfileForward { .. }
        )
    }
}
