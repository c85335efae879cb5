//! Bindings for `limen-wire` (PostgreSQL): the gateway's hot path.
//!
//! - [`PgServerRelay`]: `limen_wire::pg::ServerRelay` with the masker: one
//!   call per chunk received from the upstream frames every message, masks
//!   DataRow values (content, and `column:table.column` rules through a
//!   table-OID map the caller supplies) and CopyData, rewrites lengths, and
//!   returns the bytes to forward plus the few small events Python acts on
//!   (as tuples). Python never sees row bytes.
//! - [`PgClientDecoder`]: frames the client's stream and returns each
//!   message's raw bytes (to forward untouched) with the fields policy needs.
//! - [`PgUpstreamAuth`]: the SCRAM-SHA-256 / md5 / cleartext client state
//!   machine for the gateway's own login upstream.
//! - Encoders for the messages the gateway writes itself.
//!
//! Any peer protocol error raises `PgProtocolError` (close that connection).
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use limen_mask::Masker;
use limen_pump::SharedRelay;
use limen_wire::pg::auth::{AuthPolicy, AuthStep, UpstreamAuth};
use limen_wire::pg::backend::{
    tag as btag, Authentication, BackendKeyData, ErrorNotice, ParameterStatus, TransactionStatus,
};
use limen_wire::pg::frontend::{
    AuthContext, CancelRequest, Describe, Parse, ProtocolVersion, Query, StartupMessage, TargetKind,
};
use limen_wire::pg::{
    BackendMessage, ContentMasker, CopyFormat, FrontendDecoder, FrontendMessage, Limits, OutColumn,
    OutputPlan, RelayEvent, ServerRelay,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::mask::PyMasker;

create_exception!(
    _native,
    PgProtocolError,
    PyException,
    "The peer broke the PostgreSQL protocol (or sent a message over the cap): close that connection."
);

fn proto_err(e: limen_wire::Error) -> PyErr {
    PgProtocolError::new_err(e.to_string())
}

fn local_err(e: limen_wire::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn limits(max_message_size: usize) -> Limits {
    Limits {
        max_message_size,
        ..Limits::default()
    }
}

/// `limen-mask`'s masker as the relay's content masker.
pub(crate) struct MaskAdapter(pub(crate) Masker);

impl ContentMasker for MaskAdapter {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        self.0.mask_into(value, out)
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn fields_dict<'py>(py: Python<'py>, f: &[(u8, Vec<u8>)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (code, value) in f {
        d.set_item((*code as char).to_string(), lossy(value))?;
    }
    Ok(d)
}

fn event_tuple<'py>(py: Python<'py>, ev: RelayEvent) -> PyResult<Bound<'py, PyTuple>> {
    let s = |x: &str| -> PyResult<Bound<'py, PyAny>> { Ok(x.into_pyobject(py)?.into_any()) };
    let items: Vec<Bound<'py, PyAny>> = match ev {
        RelayEvent::Authentication(body) => vec![s("authentication")?, bytes(py, &body)],
        RelayEvent::BackendKeyData {
            process_id,
            secret_key,
        } => vec![
            s("backend_key_data")?,
            process_id.into_pyobject(py)?.into_any(),
            bytes(py, &secret_key),
        ],
        RelayEvent::NegotiateProtocolVersion => vec![s("negotiate_protocol_version")?],
        RelayEvent::RowDescription { columns, replaced } => vec![
            s("row_description")?,
            columns.into_pyobject(py)?.into_any(),
            replaced.into_pyobject(py)?.into_any(),
        ],
        RelayEvent::CommandComplete(t) => vec![s("command_complete")?, s(&lossy(&t))?],
        RelayEvent::Error(f) => vec![s("error")?, fields_dict(py, &f)?.into_any()],
        RelayEvent::ReplacedError => vec![s("replaced_error")?],
        RelayEvent::Notice(f) => vec![s("notice")?, fields_dict(py, &f)?.into_any()],
        RelayEvent::ReadyForQuery(st) => {
            vec![s("ready_for_query")?, s(&(st.byte() as char).to_string())?]
        }
        RelayEvent::ParameterStatus { name, value } => vec![
            s("parameter_status")?,
            s(&lossy(&name))?,
            s(&lossy(&value))?,
        ],
        RelayEvent::CopyIn(f) => vec![s("copy_in")?, f.into_pyobject(py)?.into_any()],
        RelayEvent::CopyOut(f) => vec![s("copy_out")?, f.into_pyobject(py)?.into_any()],
        RelayEvent::CopyBoth(f) => vec![s("copy_both")?, f.into_pyobject(py)?.into_any()],
        RelayEvent::DataRow(values) => {
            let list = PyList::empty(py);
            for v in values {
                match v {
                    Some(b) => list.append(PyBytes::new(py, &b))?,
                    None => list.append(py.None())?,
                }
            }
            vec![s("data_row")?, list.into_any()]
        }
    };
    PyTuple::new(py, items)
}

/// (mask, expected label) of one output column.
type ColumnTuple = (Option<Vec<u8>>, Option<Vec<u8>>);
/// An output plan from Python: (prefix, has_run, run_mask, suffix,
/// all_mask, copy = (format 0 text / 1 csv / 2 binary, delimiter, quote,
/// escape, header), scrub).
type PlanTuple = (
    Vec<ColumnTuple>,
    bool,
    Option<Vec<u8>>,
    Vec<ColumnTuple>,
    Option<Vec<u8>>,
    Option<(u8, u8, u8, u8, bool)>,
    bool,
);

fn output_plan(t: PlanTuple) -> Arc<OutputPlan> {
    let (prefix, has_run, run, suffix, all, copy, scrub) = t;
    let cols = |v: Vec<ColumnTuple>| {
        v.into_iter()
            .map(|(mask, name)| OutColumn { mask, name })
            .collect()
    };
    Arc::new(OutputPlan {
        prefix: cols(prefix),
        run: has_run.then_some(run),
        suffix: cols(suffix),
        all,
        copy: copy.map(|(format, delimiter, quote, escape, header)| {
            let format = match format {
                0 => CopyFormat::Text { delimiter },
                1 => CopyFormat::Csv {
                    delimiter,
                    quote,
                    escape,
                },
                _ => CopyFormat::Binary,
            };
            (format, header)
        }),
        scrub,
    })
}

/// The server side of a session (`limen_wire::pg::ServerRelay`): upstream
/// bytes in, bytes for the client and events out.
#[pyclass(name = "PgServerRelay", module = "limen._native")]
pub struct PgServerRelay {
    /// Shared with a native pump once the session hands it its sockets:
    /// `replace_error` and friends then reach the pump's relay.
    pub(crate) inner: SharedRelay<MaskAdapter>,
}

impl PgServerRelay {
    fn relay(&self) -> PyResult<MutexGuard<'_, ServerRelay<MaskAdapter>>> {
        self.inner
            .lock()
            .map_err(|_| PyRuntimeError::new_err("the relay lock is poisoned"))
    }
}

#[pymethods]
impl PgServerRelay {
    #[new]
    #[pyo3(signature = (masker=None, max_message_size=Limits::DEFAULT_MAX_MESSAGE_SIZE))]
    fn new(masker: Option<PyRef<'_, PyMasker>>, max_message_size: usize) -> Self {
        PgServerRelay {
            inner: Arc::new(Mutex::new(ServerRelay::new(
                masker.map(|m| MaskAdapter(m.inner.clone())),
                limits(max_message_size),
            ))),
        }
    }

    /// Whole-value replacements by column origin: {(table_oid, attnum): bytes}.
    fn set_columns(&mut self, columns: HashMap<(u32, i16), Vec<u8>>) -> PyResult<()> {
        self.relay()?.set_columns(columns);
        Ok(())
    }

    /// When true, DataRows are not forwarded but returned as
    /// `("data_row", [bytes | None, ...])` events (the gateway's own
    /// catalog queries, never a client's result).
    #[setter]
    fn set_capture_rows(&mut self, on: bool) -> PyResult<()> {
        self.relay()?.set_capture_rows(on);
        Ok(())
    }

    #[getter]
    fn get_capture_rows(&self) -> PyResult<bool> {
        Ok(self.relay()?.capture_rows())
    }

    /// Until the next ReadyForQuery: an ErrorResponse whose message contains
    /// `marker` is sent to the client as `replacement` (a whole message).
    fn replace_error(&mut self, marker: Vec<u8>, replacement: Vec<u8>) -> PyResult<()> {
        self.relay()?.replace_error(marker, replacement);
        Ok(())
    }

    /// Call for each Query, Sync and FunctionCall sent upstream, in order
    /// with `push_describe` and `replace_error`: registrations made after it
    /// wait for the next request/ReadyForQuery cycle (pipelining clients).
    fn push_sync(&mut self) -> PyResult<()> {
        self.relay()?.push_sync();
        Ok(())
    }

    /// Call for each Describe sent upstream, in order; the answer to a
    /// `hidden` one (sent by the gateway to learn a portal's columns) sets
    /// the masking plan but is not forwarded. Give `portal` for a Describe
    /// of a portal: the rows that follow are masked by its output plan.
    #[pyo3(signature = (hidden, portal=None))]
    fn push_describe(&mut self, hidden: bool, portal: Option<Vec<u8>>) -> PyResult<()> {
        let mut relay = self.relay()?;
        match portal {
            Some(p) => relay.push_describe_portal(hidden, &p),
            None => relay.push_describe(hidden),
        }
        Ok(())
    }

    /// Output plans of the next simple query's statements (one per
    /// statement, None for a statement with no masked column); see
    /// `limen.policy.colplan.Output.relay` for a plan's form.
    fn plan_query(&mut self, plans: Vec<Option<PlanTuple>>) -> PyResult<()> {
        let plans = plans.into_iter().map(|p| p.map(output_plan)).collect();
        self.relay()?.plan_query(plans);
        Ok(())
    }

    /// The output plan of prepared statement `name` (None: none masked).
    #[pyo3(signature = (name, plan=None))]
    fn plan_statement(&mut self, name: Vec<u8>, plan: Option<PlanTuple>) -> PyResult<()> {
        self.relay()?.plan_statement(&name, plan.map(output_plan));
        Ok(())
    }

    /// The output plan of a portal opened by SQL (`DECLARE name CURSOR`).
    #[pyo3(signature = (name, plan=None))]
    fn plan_portal(&mut self, name: Vec<u8>, plan: Option<PlanTuple>) -> PyResult<()> {
        self.relay()?.plan_portal(&name, plan.map(output_plan));
        Ok(())
    }

    /// A Bind of `statement` into `portal` went upstream.
    fn note_bind(&mut self, portal: Vec<u8>, statement: Vec<u8>) -> PyResult<()> {
        self.relay()?.note_bind(&portal, &statement);
        Ok(())
    }

    /// DataRows changed by masking so far.
    #[getter]
    fn masked_rows(&self) -> PyResult<u64> {
        Ok(self.relay()?.masked_rows())
    }

    /// Feeds one chunk from the upstream. Returns (bytes for the client,
    /// events). Authentication and BackendKeyData are never forwarded.
    /// Masking runs with the GIL released.
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        chunk: PyBackedBytes,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyList>)> {
        // bytes or bytearray (what a trio.abc.Stream may return)
        let chunk: &[u8] = &chunk;
        let mut out = Vec::with_capacity(chunk.len() + 64);
        let inner = &self.inner;
        let events = py.detach(|| match inner.lock() {
            Ok(mut relay) => relay.try_feed(chunk, &mut out).map_err(proto_err),
            Err(_) => Err(PyRuntimeError::new_err("the relay lock is poisoned")),
        })?;
        let list = PyList::empty(py);
        for ev in events {
            list.append(event_tuple(py, ev)?)?;
        }
        Ok((PyBytes::new(py, &out), list))
    }
}

/// The client side of a session: frames the client's stream.
#[pyclass(name = "PgClientDecoder", module = "limen._native")]
pub struct PgClientDecoder {
    pub(crate) decoder: FrontendDecoder,
}

impl PgClientDecoder {
    /// Hands the decoder (and the bytes it still buffers) to a pump,
    /// leaving a fresh one behind.
    pub(crate) fn take(&mut self) -> FrontendDecoder {
        let limits = *self.decoder.limits();
        std::mem::replace(&mut self.decoder, FrontendDecoder::new(limits))
    }
}

fn bytes<'py>(py: Python<'py>, b: &[u8]) -> Bound<'py, PyAny> {
    PyBytes::new(py, b).into_any()
}

#[pymethods]
impl PgClientDecoder {
    #[new]
    #[pyo3(signature = (max_message_size=Limits::DEFAULT_MAX_MESSAGE_SIZE, max_unauthenticated_size=Limits::DEFAULT_MAX_UNAUTHENTICATED_SIZE))]
    fn new(max_message_size: usize, max_unauthenticated_size: usize) -> Self {
        let limits = Limits {
            max_message_size,
            max_unauthenticated_size,
            ..Limits::default()
        };
        PgClientDecoder {
            decoder: FrontendDecoder::new(limits),
        }
    }

    /// After answering SSLRequest/GSSENCRequest (and the TLS handshake).
    fn resume_startup(&mut self) -> PyResult<()> {
        self.decoder.resume_startup().map_err(local_err)
    }

    /// After AuthenticationCleartextPassword: the next 'p' is a password.
    fn expect_password(&mut self) {
        self.decoder.set_auth_context(AuthContext::Password);
    }

    /// Once the client is authenticated (lifts the pre-auth size cap).
    fn set_authenticated(&mut self) {
        self.decoder.set_auth_context(AuthContext::None);
        self.decoder.set_authenticated();
    }

    /// Feeds one chunk; returns the complete messages as tuples
    /// `(kind, raw, a, b)`: query (sql), parse (statement, sql), bind
    /// (portal, statement), execute (portal), describe/close (b"S"/b"P" +
    /// name), password (bytes), startup ({name: value}), cancel (pid, key);
    /// other kinds carry None.
    fn feed<'py>(&mut self, py: Python<'py>, chunk: PyBackedBytes) -> PyResult<Bound<'py, PyList>> {
        // bytes or bytearray (what a trio.abc.Stream may return)
        self.decoder.receive_data(&chunk).map_err(proto_err)?;
        let out = PyList::empty(py);
        while let Some((frame, msg)) = self.decoder.next_message().map_err(proto_err)? {
            let raw = bytes(py, frame.raw());
            let none = || py.None().into_bound(py);
            let target = |k: TargetKind, name: &[u8]| {
                let mut v = vec![match k {
                    TargetKind::Statement => b'S',
                    TargetKind::Portal => b'P',
                }];
                v.extend_from_slice(name);
                bytes(py, &v)
            };
            let (kind, a, b): (&str, Bound<'py, PyAny>, Bound<'py, PyAny>) = match msg {
                FrontendMessage::Startup(s) => {
                    let d = PyDict::new(py);
                    for (n, v) in &s.params {
                        d.set_item(lossy(n), lossy(v))?;
                    }
                    let version = (s.version.major, s.version.minor)
                        .into_pyobject(py)?
                        .into_any();
                    ("startup", d.into_any(), version)
                }
                FrontendMessage::SslRequest => ("ssl_request", none(), none()),
                FrontendMessage::GssEncRequest => ("gssenc_request", none(), none()),
                FrontendMessage::CancelRequest(c) => (
                    "cancel",
                    c.process_id.into_pyobject(py)?.into_any(),
                    bytes(py, c.secret_key),
                ),
                FrontendMessage::Query(q) => ("query", bytes(py, q.sql), none()),
                FrontendMessage::Parse(p) => ("parse", bytes(py, p.name), bytes(py, p.query)),
                FrontendMessage::Bind(b) => ("bind", bytes(py, b.portal), bytes(py, b.statement)),
                FrontendMessage::Execute(e) => ("execute", bytes(py, e.portal), none()),
                FrontendMessage::Describe(d) => ("describe", target(d.kind, d.name), none()),
                FrontendMessage::Close(c) => ("close", target(c.kind, c.name), none()),
                FrontendMessage::Sync => ("sync", none(), none()),
                FrontendMessage::Flush => ("flush", none(), none()),
                FrontendMessage::Terminate => ("terminate", none(), none()),
                FrontendMessage::Password(p) => ("password", bytes(py, p.password), none()),
                FrontendMessage::SaslInitialResponse(_)
                | FrontendMessage::SaslResponse(_)
                | FrontendMessage::GssResponse(_) => ("sasl", none(), none()),
                FrontendMessage::CopyData(_) => ("copy_data", none(), none()),
                FrontendMessage::CopyDone => ("copy_done", none(), none()),
                FrontendMessage::CopyFail(_) => ("copy_fail", none(), none()),
                FrontendMessage::FunctionCall(_) => ("function_call", none(), none()),
                FrontendMessage::Unknown { .. } => ("unknown", none(), none()),
            };
            out.append(PyTuple::new(
                py,
                [kind.into_pyobject(py)?.into_any(), raw, a, b],
            )?)?;
        }
        Ok(out)
    }
}

/// The gateway's login to the upstream with the resource's credential.
#[pyclass(name = "PgUpstreamAuth", module = "limen._native")]
pub struct PgUpstreamAuth {
    inner: UpstreamAuth,
}

#[pymethods]
impl PgUpstreamAuth {
    #[new]
    #[pyo3(signature = (user, password, nonce, *, allow_cleartext=false, allow_md5=true, require_password=false))]
    fn new(
        user: &str,
        password: &str,
        nonce: &str,
        allow_cleartext: bool,
        allow_md5: bool,
        require_password: bool,
    ) -> Self {
        let policy = AuthPolicy {
            allow_cleartext,
            allow_md5,
            require_password,
            ..AuthPolicy::default()
        };
        PgUpstreamAuth {
            inner: UpstreamAuth::new(user.as_bytes(), password.as_bytes(), nonce, policy),
        }
    }

    /// Handles one Authentication message body (from the relay's
    /// `("authentication", body)` event). Returns ("send", bytes),
    /// ("wait", None) or ("ok", None); raises PgProtocolError when the
    /// exchange fails.
    fn handle<'py>(
        &mut self,
        py: Python<'py>,
        body: &[u8],
    ) -> PyResult<(&'static str, Option<Bound<'py, PyBytes>>)> {
        let msg = BackendMessage::try_parse(btag::AUTHENTICATION, body).map_err(proto_err)?;
        let BackendMessage::Authentication(auth) = msg else {
            return Err(PgProtocolError::new_err("not an Authentication message"));
        };
        match self.inner.try_handle(&auth).map_err(proto_err)? {
            AuthStep::Send(b) => Ok(("send", Some(PyBytes::new(py, &b)))),
            AuthStep::Wait => Ok(("wait", None)),
            AuthStep::Authenticated => Ok(("ok", None)),
        }
    }
}

fn notice_bytes(
    error: bool,
    severity: &str,
    code: &str,
    message: &str,
    detail: Option<&str>,
    hint: Option<&str>,
) -> PyResult<Vec<u8>> {
    let n = ErrorNotice {
        severity,
        code,
        message,
        detail,
        hint,
        ..ErrorNotice::default()
    };
    let mut out = Vec::new();
    if error {
        n.try_encode_error(&mut out).map_err(local_err)?;
    } else {
        n.try_encode_notice(&mut out).map_err(local_err)?;
    }
    Ok(out)
}

/// ErrorResponse, or NoticeResponse with `notice=True`.
#[pyfunction]
#[pyo3(signature = (severity, code, message, detail=None, hint=None, *, notice=false))]
fn pg_error<'py>(
    py: Python<'py>,
    severity: &str,
    code: &str,
    message: &str,
    detail: Option<&str>,
    hint: Option<&str>,
    notice: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = notice_bytes(!notice, severity, code, message, detail, hint)?;
    Ok(PyBytes::new(py, &bytes))
}

/// ReadyForQuery with status "I", "T" or "E".
#[pyfunction]
fn pg_ready_for_query<'py>(py: Python<'py>, status: &str) -> PyResult<Bound<'py, PyBytes>> {
    let st = match status {
        "I" => TransactionStatus::Idle,
        "T" => TransactionStatus::InTransaction,
        "E" => TransactionStatus::Failed,
        _ => return Err(PyValueError::new_err("status must be 'I', 'T' or 'E'")),
    };
    let mut out = Vec::new();
    st.encode_ready_for_query(&mut out);
    Ok(PyBytes::new(py, &out))
}

fn encode_auth(a: Authentication<'_>) -> PyResult<Vec<u8>> {
    let mut out = Vec::new();
    a.try_encode(&mut out).map_err(local_err)?;
    Ok(out)
}

/// AuthenticationCleartextPassword.
#[pyfunction]
fn pg_auth_cleartext_password(py: Python<'_>) -> PyResult<Bound<'_, PyBytes>> {
    Ok(PyBytes::new(
        py,
        &encode_auth(Authentication::CleartextPassword)?,
    ))
}

/// AuthenticationOk.
#[pyfunction]
fn pg_auth_ok(py: Python<'_>) -> PyResult<Bound<'_, PyBytes>> {
    Ok(PyBytes::new(py, &encode_auth(Authentication::Ok)?))
}

/// BackendKeyData.
#[pyfunction]
fn pg_backend_key_data<'py>(
    py: Python<'py>,
    process_id: i32,
    secret_key: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    BackendKeyData {
        process_id,
        secret_key,
    }
    .try_encode(&mut out)
    .map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

/// ParameterStatus.
#[pyfunction]
fn pg_parameter_status<'py>(
    py: Python<'py>,
    name: &str,
    value: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    ParameterStatus {
        name: name.as_bytes(),
        value: value.as_bytes(),
    }
    .try_encode(&mut out)
    .map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

/// StartupMessage (protocol 3.0) with these parameters.
#[pyfunction]
fn pg_startup<'py>(
    py: Python<'py>,
    params: Vec<(String, String)>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    StartupMessage {
        version: ProtocolVersion::V3_0,
        params: params
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect(),
    }
    .try_encode(&mut out)
    .map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

/// The literal-insensitive template of a libpg_query JSON parse tree
/// (see `limen_wire::pg::tree`). Short work: the GIL stays held.
#[pyfunction]
fn pg_tree_template(json: &str) -> String {
    limen_wire::pg::tree::tree_template(json)
}

/// The shape key of a simple query (see `limen_pump::shape`), or None.
#[pyfunction]
fn pg_shape_key<'py>(py: Python<'py>, sql: &[u8]) -> Option<Bound<'py, PyBytes>> {
    limen_pump::shape::literal_key(sql).map(|k| PyBytes::new(py, &k))
}

/// The tree the classifier walks (positions gone, each `A_Const` replaced
/// by its ordinal) and the `A_Const` objects (see
/// `limen_wire::pg::tree::sealed_tree`). Short work: the GIL stays held.
#[pyfunction]
fn pg_tree_sealed(json: &str) -> (String, Vec<String>) {
    limen_wire::pg::tree::sealed_tree(json)
}

/// Whether a decision for `sql` that read no constant may be cached under
/// its shape: every constant of the text is an `A_Const` of `json`, its
/// parse tree (see `limen_pump::shape::proven`).
#[pyfunction]
fn pg_shape_proven(sql: &[u8], json: &str) -> bool {
    limen_pump::shape::proven(sql, &limen_wire::pg::tree::const_locations(json))
}

/// The byte ranges of the constants the shape key replaces, or None.
#[pyfunction]
fn pg_shape_constants(sql: &[u8]) -> Option<Vec<(usize, usize)>> {
    limen_pump::shape::constants(sql).map(|(_, spans)| spans)
}

/// Query (simple protocol).
#[pyfunction]
fn pg_query<'py>(py: Python<'py>, sql: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    Query { sql }.try_encode(&mut out).map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

/// Parse of an unnamed statement without parameter types.
#[pyfunction]
fn pg_parse<'py>(py: Python<'py>, name: &[u8], sql: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    Parse::encode_parts(name, sql, &[], &mut out).map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

/// Describe of a portal (`kind` "P") or prepared statement ("S").
#[pyfunction]
fn pg_describe<'py>(py: Python<'py>, kind: &str, name: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let kind = match kind {
        "P" => TargetKind::Portal,
        "S" => TargetKind::Statement,
        _ => return Err(PyValueError::new_err("kind must be 'P' or 'S'")),
    };
    let mut out = Vec::new();
    Describe { kind, name }
        .try_encode(&mut out)
        .map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

/// CancelRequest.
#[pyfunction]
fn pg_cancel_request<'py>(
    py: Python<'py>,
    process_id: i32,
    secret_key: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    CancelRequest {
        process_id,
        secret_key,
    }
    .try_encode(&mut out)
    .map_err(local_err)?;
    Ok(PyBytes::new(py, &out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PgProtocolError", m.py().get_type::<PgProtocolError>())?;
    m.add_class::<PgServerRelay>()?;
    m.add_class::<PgClientDecoder>()?;
    m.add_class::<PgUpstreamAuth>()?;
    m.add_function(wrap_pyfunction!(pg_error, m)?)?;
    m.add_function(wrap_pyfunction!(pg_ready_for_query, m)?)?;
    m.add_function(wrap_pyfunction!(pg_auth_cleartext_password, m)?)?;
    m.add_function(wrap_pyfunction!(pg_auth_ok, m)?)?;
    m.add_function(wrap_pyfunction!(pg_backend_key_data, m)?)?;
    m.add_function(wrap_pyfunction!(pg_parameter_status, m)?)?;
    m.add_function(wrap_pyfunction!(pg_startup, m)?)?;
    m.add_function(wrap_pyfunction!(pg_query, m)?)?;
    m.add_function(wrap_pyfunction!(pg_tree_template, m)?)?;
    m.add_function(wrap_pyfunction!(pg_shape_key, m)?)?;
    m.add_function(wrap_pyfunction!(pg_shape_proven, m)?)?;
    m.add_function(wrap_pyfunction!(pg_tree_sealed, m)?)?;
    m.add_function(wrap_pyfunction!(pg_shape_constants, m)?)?;
    m.add_function(wrap_pyfunction!(pg_parse, m)?)?;
    m.add_function(wrap_pyfunction!(pg_cancel_request, m)?)?;
    m.add_function(wrap_pyfunction!(pg_describe, m)?)?;
    Ok(())
}
