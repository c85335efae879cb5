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
mod feed;
mod rows;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::pg::backend::{RowDescription, TransactionStatus};
use crate::pg::framing::Limits;
use crate::pg::outplan::{CopyFormat, OutputPlan};
use crate::pg::planbook::{Described, PlanBook};
use crate::pg::rewrite::RowRewriter;
use crate::pg::BackendDecoder;
use rows::masked_value;

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

    /// Masks with `masker` from now on (None: only column rules apply): a
    /// config reload's new masks for a live session. Result sets already
    /// planned keep their plans; their rows, and every later one, are
    /// masked by the new masker.
    pub fn set_masker(&mut self, masker: Option<M>) {
        self.masker = masker;
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
}

/// COPY rows being rewritten: format, each column's replacement, and
/// whether the header row is still to come.
type CopyRows = (CopyFormat, Vec<Option<Vec<u8>>>, bool);
