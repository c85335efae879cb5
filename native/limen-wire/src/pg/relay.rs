//! The server side of a gateway session: upstream bytes in, bytes for the
//! client and a few small events out, one call per received chunk.
//!
//! [`ServerRelay::try_feed`] frames every message, and:
//! - rewrites each DataRow by the plan made from the last RowDescription:
//!   whole values of configured columns (by table OID and attribute number)
//!   are replaced, every other value that can carry text is masked by
//!   content through a [`ContentMasker`]; lengths are rewritten; unchanged
//!   rows are forwarded as they came;
//! - masks CopyData from the server by content;
//! - swallows the RowDescription/NoData answering a Describe the caller
//!   sent itself ([`ServerRelay::push_describe`]) after using it for the plan;
//! - swaps an ErrorResponse whose message contains a marker for a
//!   replacement ([`ServerRelay::replace_error`]);
//! - keeps each of those registrations for the request/ReadyForQuery cycle
//!   it belongs to: a caller that tells the relay of every cycle it starts
//!   upstream ([`ServerRelay::push_sync`], for each Query, Sync and
//!   FunctionCall sent) can pipeline — a registration made while earlier
//!   cycles are still being answered waits for its own. Without
//!   `push_sync`, every registration belongs to the cycle being answered
//!   and ends at the next ReadyForQuery;
//! - never forwards Authentication or BackendKeyData (events only);
//! - masks whole, by position, the result columns that the statement's
//!   output plan ([`OutputPlan`], from the gateway's parse of it) says
//!   derive from a masked column: plans of a simple query's statements
//!   ([`ServerRelay::plan_query`], one per statement, in order, for the
//!   cycle), of prepared statements ([`ServerRelay::plan_statement`]),
//!   bound to portals ([`ServerRelay::note_bind`]) and used by the
//!   Describe sent before each Execute ([`ServerRelay::push_describe_portal`]);
//!   COPY rows in text and CSV format too (binary COPY rows of a masked
//!   plan are dropped; the gateway refuses such a COPY first).
//!
//! Fail closed: DataRows that arrive without a RowDescription since the
//! last ReadyForQuery or CommandComplete are masked by content whatever
//! their format. Binary values of types whose binary form is not text are
//! kept (a masked int would not decode); a column rule on such a value
//! sends NULL instead.
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::error::{Error, ErrorKind};
use crate::pg::backend::encode_fields;
use crate::pg::backend::{tag, BackendMessage, RowDescription, TransactionStatus};
use crate::pg::framing::Limits;
use crate::pg::outplan::{rewrite_copy_row, scrub_fields, CopyFormat, OutputPlan};
use crate::pg::planbook::{quotes_values, Described, PlanBook};
use crate::pg::rewrite::{Action, Rewrite, RowRewriter};
use crate::pg::BackendDecoder;

/// Masks secrets inside a value (the `limen-mask` masker implements this
/// through a newtype in the glue crate).
pub trait ContentMasker {
    /// Appends `value`, masked, to `out`; returns the number of findings.
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize;
}

/// Type OIDs whose binary form is their text: text, varchar, bpchar, name,
/// json, xml, unknown, and bytea (masked bytes are still valid bytea).
pub const TEXTLIKE_BINARY_TYPES: [u32; 8] = [25, 1043, 1042, 19, 114, 142, 705, 17];
/// jsonb: its binary form is a version byte then the text.
pub const JSONB_TYPE: u32 = 3802;
/// json: its binary form is its text.
pub const JSON_TYPE: u32 = 114;

/// What the caller needs to know about the upstream's messages. Owned and
/// small; row data never appears here (except in capture mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// An Authentication message body (not forwarded).
    Authentication(Vec<u8>),
    /// BackendKeyData (not forwarded).
    BackendKeyData {
        /// Process id.
        process_id: i32,
        /// Secret key.
        secret_key: Vec<u8>,
    },
    /// NegotiateProtocolVersion was received (forwarded).
    NegotiateProtocolVersion,
    /// A RowDescription: its column count and how many columns a column
    /// rule replaces.
    RowDescription {
        /// Columns.
        columns: usize,
        /// Columns replaced whole (or NULLed) by a column rule.
        replaced: usize,
    },
    /// CommandComplete with its tag.
    CommandComplete(Vec<u8>),
    /// An ErrorResponse forwarded as is: (field code, value) pairs.
    Error(Vec<(u8, Vec<u8>)>),
    /// An ErrorResponse replaced by the caller's replacement.
    ReplacedError,
    /// A NoticeResponse: (field code, value) pairs.
    Notice(Vec<(u8, Vec<u8>)>),
    /// ReadyForQuery with the transaction status.
    ReadyForQuery(TransactionStatus),
    /// ParameterStatus.
    ParameterStatus {
        /// Parameter name.
        name: Vec<u8>,
        /// Its value.
        value: Vec<u8>,
    },
    /// CopyInResponse with its overall format (0 text, 1 binary).
    CopyIn(u8),
    /// CopyOutResponse with its overall format.
    CopyOut(u8),
    /// CopyBothResponse with its overall format.
    CopyBoth(u8),
    /// A DataRow's values, in capture mode only (not forwarded).
    DataRow(Vec<Option<Vec<u8>>>),
}

/// What to do with one column of the current result set.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Plan {
    Keep,
    Mask,
    MaskAfterFirst,
    Replace(Vec<u8>),
    Null,
}

/// The server side of one session. See the module docs.
#[derive(Debug)]
pub struct ServerRelay<M> {
    decoder: BackendDecoder,
    masker: Option<M>,
    columns: HashMap<(u32, i16), Vec<u8>>,
    plan: Vec<Plan>,
    plan_active: bool,
    planned: bool,
    /// (cycle, hidden, the portal's plan when a portal's) per Describe
    /// sent upstream, in order.
    describes: VecDeque<(u64, bool, Option<Described>)>,
    /// Output plans: which one the result streaming now is masked by.
    plans: PlanBook,
    /// The plan of the result set streaming now (from its RowDescription).
    current: Option<Arc<OutputPlan>>,
    /// COPY rows being rewritten: format, masks, header row still to come.
    copy: Option<CopyRows>,
    rewriter: RowRewriter,
    capture_rows: bool,
    /// (cycle, marker, replacement).
    replace_errors: Vec<(u64, Vec<u8>, Vec<u8>)>,
    /// The cycle registrations go to, once the caller pushes cycle ends
    /// ([`ServerRelay::push_sync`]); counts from the ReadyForQuery messages
    /// seen before the first push (the handshake's).
    open: u64,
    /// ReadyForQuery messages seen: the index of the cycle being answered.
    readies: u64,
    masked_rows: u64,
}

impl<M: ContentMasker> ServerRelay<M> {
    /// A relay masking with `masker` (None: only column rules apply, and
    /// only once [`ServerRelay::set_columns`] names some).
    pub fn new(masker: Option<M>, limits: Limits) -> Self {
        ServerRelay {
            decoder: BackendDecoder::new(limits),
            masker,
            columns: HashMap::new(),
            plan: Vec::new(),
            plan_active: false,
            planned: false,
            describes: VecDeque::new(),
            plans: PlanBook::default(),
            current: None,
            copy: None,
            open: 0,
            readies: 0,
            rewriter: RowRewriter::new(limits.max_message_size),
            capture_rows: false,
            replace_errors: Vec::new(),
            masked_rows: 0,
        }
    }

    /// Whole-value replacements by column origin (table OID, attnum).
    pub fn set_columns(&mut self, columns: HashMap<(u32, i16), Vec<u8>>) {
        self.columns = columns;
    }

    /// In capture mode DataRows are not forwarded but returned as
    /// [`RelayEvent::DataRow`] (for the gateway's own catalog queries).
    pub fn set_capture_rows(&mut self, on: bool) {
        self.capture_rows = on;
    }

    /// True in capture mode.
    pub fn capture_rows(&self) -> bool {
        self.capture_rows
    }

    /// Until the ReadyForQuery that ends the current cycle (see
    /// [`ServerRelay::push_sync`]), an ErrorResponse whose message contains
    /// `marker` is sent as `replacement` (one whole message) instead.
    pub fn replace_error(&mut self, marker: Vec<u8>, replacement: Vec<u8>) {
        let cycle = self.cycle();
        self.replace_errors.push((cycle, marker, replacement));
    }

    /// Call for each message sent upstream that ends a cycle with a
    /// ReadyForQuery (Query, Sync, FunctionCall), in order with
    /// [`ServerRelay::push_describe`] and [`ServerRelay::replace_error`]:
    /// what is registered after it belongs to the next cycle.
    pub fn push_sync(&mut self) {
        self.open = self.cycle() + 1;
    }

    /// The cycle a registration made now belongs to.
    fn cycle(&self) -> u64 {
        self.open.max(self.readies)
    }

    /// Call for each Describe sent upstream, in order; `hidden` for the ones
    /// the caller sent itself, whose answer is used but not forwarded.
    pub fn push_describe(&mut self, hidden: bool) {
        let cycle = self.cycle();
        self.describes.push_back((cycle, hidden, None));
    }

    /// [`ServerRelay::push_describe`] for a Describe of a portal: the rows
    /// its Execute returns next are masked by the portal's plan.
    pub fn push_describe_portal(&mut self, hidden: bool, portal: &[u8]) {
        let cycle = self.cycle();
        let described = self.plans.describe(portal);
        self.describes.push_back((cycle, hidden, Some(described)));
    }

    /// The output plans of the statements of the simple query sent next
    /// (in order; None: a statement with no masked column), for the
    /// current cycle (call before its [`ServerRelay::push_sync`]).
    pub fn plan_query(&mut self, plans: Vec<Option<Arc<OutputPlan>>>) {
        let cycle = self.cycle();
        self.plans.plan_query(cycle, plans);
    }

    /// The output plan of prepared statement `name` (a Parse; None: no
    /// masked column). Call in the order the client's messages go upstream.
    pub fn plan_statement(&mut self, name: &[u8], plan: Option<Arc<OutputPlan>>) {
        self.plans.plan_statement(name, plan);
    }

    /// The output plan of portal `name` opened by SQL (`DECLARE name
    /// CURSOR …`: the protocol's Execute can read it too).
    pub fn plan_portal(&mut self, name: &[u8], plan: Option<Arc<OutputPlan>>) {
        self.plans.plan_portal(name, plan);
    }

    /// A Bind of `statement` into `portal` went upstream.
    pub fn note_bind(&mut self, portal: &[u8], statement: &[u8]) {
        self.plans.note_bind(portal, statement);
    }

    /// Whether the RowDescription/NoData just received answers a hidden
    /// Describe (only Describes of the cycle being answered count: a
    /// simple Query's RowDescription answers none); sets the plan of the
    /// statement whose results follow.
    fn pop_hidden(&mut self) -> bool {
        let hidden = match self.describes.front() {
            Some(&(cycle, hidden, _)) if cycle <= self.readies => {
                if let Some((_, _, answered)) = self.describes.pop_front() {
                    self.plans.described(answered);
                }
                hidden
            }
            _ => false,
        };
        self.current = self.plans.active(self.readies);
        hidden
    }

    /// Whether the statement being answered reads a masked column.
    fn scrubbing(&self) -> bool {
        self.plans.active(self.readies).is_some_and(|p| p.scrub)
    }

    /// A statement's results are over.
    fn statement_done(&mut self) {
        self.plans.statement_done(self.readies);
        self.current = None;
        self.copy = None;
    }

    /// DataRows changed by masking so far.
    pub fn masked_rows(&self) -> u64 {
        self.masked_rows
    }

    fn plan_for(&self, rd: &RowDescription<'_>) -> Vec<Plan> {
        let by_position = self.current.as_ref().map(|p| {
            let names: Vec<&[u8]> = rd.fields().map(|f| f.name).collect();
            p.resolve(rd.len(), Some(&names))
        });
        rd.fields()
            .enumerate()
            .map(|(i, f)| {
                let binary = f.format == 1;
                let textlike = TEXTLIKE_BINARY_TYPES.contains(&f.type_oid);
                let positional = by_position
                    .as_ref()
                    .and_then(|m| m.get(i))
                    .and_then(|m| m.as_ref());
                if let Some(rep) = positional {
                    return masked_value(rep, binary, f.type_oid);
                }
                if let Some(rep) = self.columns.get(&(f.table_oid, f.column_attr)) {
                    return if !binary || textlike {
                        Plan::Replace(rep.clone())
                    } else {
                        Plan::Null
                    };
                }
                if self.masker.is_none() {
                    Plan::Keep
                } else if !binary || textlike {
                    Plan::Mask
                } else if f.type_oid == JSONB_TYPE {
                    Plan::MaskAfterFirst
                } else {
                    Plan::Keep
                }
            })
            .collect()
    }

    fn reset_plan(&mut self) {
        self.plan.clear();
        self.plan_active = false;
        self.planned = false;
    }

    /// Feeds one chunk from the upstream (at most `limits.max_chunk`),
    /// appends what the client must get to `out`, and returns the events.
    /// A remote error means the upstream broke the protocol: close the
    /// session. On error, `out` may hold a prefix of complete messages.
    pub fn try_feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<Vec<RelayEvent>, Error> {
        self.decoder.receive_data(chunk)?;
        let mut events = Vec::new();
        loop {
            // Split borrows: the frame borrows the decoder only.
            let ServerRelay {
                decoder,
                masker,
                plan,
                plan_active,
                planned,
                rewriter,
                capture_rows,
                masked_rows,
                copy,
                ..
            } = self;
            let Some(frame) = decoder.next_frame()? else {
                break;
            };
            let t = frame.tag().unwrap_or(0);
            let raw = frame.raw();
            let body = frame.body();
            let at = frame.body_offset();
            if t == tag::DATA_ROW && !*capture_rows {
                let pass = if *planned {
                    !*plan_active
                } else {
                    masker.is_none()
                };
                if pass {
                    out.extend_from_slice(raw);
                } else {
                    let default = if *planned { &Plan::Keep } else { &Plan::Mask };
                    let changed = relay_row(rewriter, plan, default, masker.as_ref(), body, out)
                        .map_err(|e| e.shifted(at))?;
                    if changed {
                        *masked_rows += 1;
                    } else {
                        out.extend_from_slice(raw);
                    }
                }
                continue;
            }
            if t == tag::COPY_DATA {
                let mut rewritten = None;
                if let Some((format, masks, header)) = copy.as_mut() {
                    if *header {
                        *header = false;
                    } else {
                        let mut row = Vec::with_capacity(body.len() + 32);
                        if rewrite_copy_row(*format, masks, body, &mut row) {
                            *masked_rows += 1;
                            if *format == CopyFormat::Binary {
                                continue; // dropped: cannot be masked exactly
                            }
                            rewritten = Some(row);
                        }
                    }
                }
                let payload = rewritten.as_deref().unwrap_or(body);
                if masker.is_none() && rewritten.is_none() {
                    out.extend_from_slice(raw);
                    continue;
                }
                let start = out.len();
                out.push(tag::COPY_DATA);
                out.extend_from_slice(&[0; 4]);
                match masker.as_ref() {
                    Some(m) => {
                        m.mask_into(payload, out);
                    }
                    None => out.extend_from_slice(payload),
                }
                let len = i32::try_from(out.len() - start - 1).map_err(|_| {
                    out.truncate(start);
                    Error::local(ErrorKind::MessageTooLarge, "CopyData masking")
                })?;
                out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
                continue;
            }
            let raw = raw.to_vec();
            let msg = BackendMessage::try_parse(t, &raw[raw.len() - body.len()..])
                .map_err(|e| e.shifted(at))?;
            self.handle(msg, &raw, out, &mut events);
        }
        Ok(events)
    }

    fn handle(
        &mut self,
        msg: BackendMessage<'_>,
        raw: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<RelayEvent>,
    ) {
        let fields = |f: &crate::pg::backend::Fields<'_>| -> Vec<(u8, Vec<u8>)> {
            f.iter().map(|(c, v)| (c, v.to_vec())).collect()
        };
        match msg {
            BackendMessage::DataRow(row) => events.push(RelayEvent::DataRow(
                row.values.iter().map(|v| v.map(<[u8]>::to_vec)).collect(),
            )),
            BackendMessage::Authentication(_) => {
                let body = raw.get(5..).unwrap_or_default();
                events.push(RelayEvent::Authentication(body.to_vec()));
            }
            BackendMessage::BackendKeyData(k) => events.push(RelayEvent::BackendKeyData {
                process_id: k.process_id,
                secret_key: k.secret_key.to_vec(),
            }),
            BackendMessage::NegotiateProtocolVersion(_) => {
                out.extend_from_slice(raw);
                events.push(RelayEvent::NegotiateProtocolVersion);
            }
            BackendMessage::RowDescription(rd) => {
                let hidden = self.pop_hidden();
                self.plan = self.plan_for(&rd);
                self.plan_active = self.plan.iter().any(|p| *p != Plan::Keep);
                self.planned = true;
                let replaced = self
                    .plan
                    .iter()
                    .filter(|p| matches!(p, Plan::Replace(_) | Plan::Null))
                    .count();
                if !hidden {
                    out.extend_from_slice(raw);
                }
                events.push(RelayEvent::RowDescription {
                    columns: rd.len(),
                    replaced,
                });
            }
            BackendMessage::NoData => {
                self.plan.clear();
                self.plan_active = false;
                self.planned = true;
                if !self.pop_hidden() {
                    out.extend_from_slice(raw);
                }
            }
            BackendMessage::CommandComplete(c) => {
                self.statement_done();
                self.reset_plan();
                out.extend_from_slice(raw);
                events.push(RelayEvent::CommandComplete(c.tag.to_vec()));
            }
            BackendMessage::ErrorResponse(f) => {
                let scrub = self.scrubbing();
                self.plans.interrupted();
                self.current = None;
                self.copy = None;
                let text = f.message().unwrap_or_default();
                let hit = self
                    .replace_errors
                    .iter()
                    .position(|(_, marker, _)| contains(text, marker));
                match hit {
                    Some(i) => {
                        let (_, _, rep) = self.replace_errors.remove(i);
                        out.extend_from_slice(&rep);
                        events.push(RelayEvent::ReplacedError);
                    }
                    None if scrub && quotes_values(f.code()) => {
                        let kept = scrub_fields(f.iter());
                        // Fields of a parsed message always fit one message.
                        if encode_fields(tag::ERROR_RESPONSE, &kept, out).is_err() {
                            out.extend_from_slice(raw);
                        }
                        events.push(RelayEvent::Error(
                            kept.iter().map(|(c, v)| (*c, v.to_vec())).collect(),
                        ));
                    }
                    None => {
                        out.extend_from_slice(raw);
                        events.push(RelayEvent::Error(fields(&f)));
                    }
                }
            }
            BackendMessage::NoticeResponse(f) if self.scrubbing() && quotes_values(f.code()) => {
                let kept = scrub_fields(f.iter());
                if encode_fields(tag::NOTICE_RESPONSE, &kept, out).is_err() {
                    out.extend_from_slice(raw);
                }
                events.push(RelayEvent::Notice(
                    kept.iter().map(|(c, v)| (*c, v.to_vec())).collect(),
                ));
            }
            BackendMessage::NoticeResponse(f) => {
                out.extend_from_slice(raw);
                events.push(RelayEvent::Notice(fields(&f)));
            }
            BackendMessage::ReadyForQuery(st) => {
                // This cycle is over: what it registered and did not use
                // (Describes skipped after an error) goes.
                let done = self.readies;
                self.replace_errors.retain(|(cycle, _, _)| *cycle > done);
                self.describes.retain(|(cycle, _, _)| *cycle > done);
                self.plans.end_cycle(done);
                self.current = None;
                self.copy = None;
                self.readies += 1;
                self.reset_plan();
                out.extend_from_slice(raw);
                events.push(RelayEvent::ReadyForQuery(st));
            }
            BackendMessage::ParameterStatus(p) => {
                out.extend_from_slice(raw);
                events.push(RelayEvent::ParameterStatus {
                    name: p.name.to_vec(),
                    value: p.value.to_vec(),
                });
            }
            BackendMessage::CopyInResponse(c) => {
                out.extend_from_slice(raw);
                events.push(RelayEvent::CopyIn(c.format));
            }
            BackendMessage::CopyOutResponse(c) => {
                let plan = self.plans.active(self.readies);
                self.copy = plan.filter(|p| p.masks()).map(|p| {
                    let masks = p.resolve(c.column_formats.len(), None);
                    let (format, header) = match p.copy {
                        _ if c.format == 1 => (CopyFormat::Binary, false),
                        Some((format, header)) => (format, header),
                        None => (CopyFormat::Text { delimiter: b'\t' }, false),
                    };
                    (format, masks, header)
                });
                out.extend_from_slice(raw);
                events.push(RelayEvent::CopyOut(c.format));
            }
            BackendMessage::CopyBothResponse(c) => {
                out.extend_from_slice(raw);
                events.push(RelayEvent::CopyBoth(c.format));
            }
            BackendMessage::EmptyQueryResponse => {
                self.statement_done();
                out.extend_from_slice(raw);
            }
            BackendMessage::PortalSuspended => {
                self.plans.interrupted();
                self.current = None;
                out.extend_from_slice(raw);
            }
            _ => out.extend_from_slice(raw),
        }
    }
}

/// COPY rows being rewritten: format, each column's replacement, and
/// whether the header row is still to come.
type CopyRows = (CopyFormat, Vec<Option<Vec<u8>>>, bool);

/// A value masked whole by an output plan, in the column's format: a JSON
/// string holding the replacement text for json and jsonb (a valid value
/// in either format); the replacement text in text format and for types
/// whose binary form is text; NULL for every other binary type (no value
/// of an int, date … could say "masked").
fn masked_value(rep: &[u8], binary: bool, type_oid: u32) -> Plan {
    if type_oid != JSON_TYPE
        && type_oid != JSONB_TYPE
        && (!binary || TEXTLIKE_BINARY_TYPES.contains(&type_oid))
    {
        return Plan::Replace(rep.to_vec());
    }
    let json = || {
        let mut v = vec![b'"'];
        for &b in rep {
            if b == b'"' || b == b'\\' {
                v.push(b'\\');
            }
            v.push(b);
        }
        v.push(b'"');
        v
    };
    match type_oid {
        JSONB_TYPE if binary => {
            let mut v = vec![1];
            v.extend(json());
            Plan::Replace(v)
        }
        JSON_TYPE | JSONB_TYPE => Plan::Replace(json()),
        _ => Plan::Null,
    }
}

/// Rewrites one DataRow body by `plan` (columns past its end use
/// `default`) into `out`. Returns false, writing nothing, when no value
/// changed.
fn relay_row<M: ContentMasker>(
    rewriter: &mut RowRewriter,
    plan: &[Plan],
    default: &Plan,
    masker: Option<&M>,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<bool, Error> {
    let result = rewriter.try_rewrite(body, out, |i, value, scratch| {
        let Some(v) = value else {
            return Action::Keep;
        };
        match plan.get(i).unwrap_or(default) {
            Plan::Keep => Action::Keep,
            Plan::Null => Action::Null,
            Plan::Replace(rep) => {
                scratch.extend_from_slice(rep);
                Action::Replace
            }
            Plan::Mask => match masker {
                Some(m) => {
                    m.mask_into(v, scratch);
                    Action::Replace
                }
                None => Action::Keep,
            },
            Plan::MaskAfterFirst => match (masker, v.split_first()) {
                (Some(m), Some((first, rest))) => {
                    scratch.push(*first);
                    m.mask_into(rest, scratch);
                    Action::Replace
                }
                _ => Action::Keep,
            },
        }
    })?;
    Ok(result == Rewrite::Changed)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
