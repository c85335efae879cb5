"""Type stubs for the native extension (native/limen-py). Checked by
tests/test_native_stub.py against the built module: every name, class
member and union, and every function's, method's and constructor's
parameters. Messages and events are one frozen class per kind; consumers
``match`` on the unions (``ClientMessage``, ``RelayEvent``, ``AuthStep``,
``PumpEvent``), with ``typing.assert_never`` where every kind matters."""

import enum
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, final

__version__: str

# --- limen-mask ---------------------------------------------------------------

def detector_names() -> list[str]: ...

class Masker:
    def __new__(
        cls,
        detectors: list[str] | None = None,
        regex_rules: list[tuple[str, str]] = ...,
        word_rules: list[tuple[str, list[str], bool]] = ...,
        columns: list[str] = ...,
    ) -> Masker: ...
    @property
    def detectors(self) -> list[str]: ...
    @property
    def max_holdback(self) -> int: ...
    def detector_info(self) -> list[tuple[str, str, int, int, bool, str]]: ...
    def mask(self, data_: bytes | bytearray | memoryview, /) -> bytes: ...
    def findings(self, data_: bytes | bytearray | memoryview, /) -> list[tuple[str, int, int]]: ...
    def mask_many(
        self,
        values: Iterable[bytes | bytearray | memoryview | None],
        whole: list[bytes | None] | None = None,
    ) -> tuple[list[bytes | None], int]: ...
    def column_replacement(self, table: str | None, column: str) -> bytes | None: ...
    def stream(self) -> MaskStream: ...

class MaskStream:
    def feed(self, chunk: bytes | bytearray | memoryview, /) -> bytes: ...
    def finish(self) -> bytes: ...
    def take_findings(self) -> list[tuple[str, int, int]]: ...
    @property
    def pending(self) -> int: ...

# --- limen-wire ---------------------------------------------------------------

class PgProtocolError(Exception):
    """The peer broke the protocol or sent a message over the cap."""

    args: tuple[object, ...]
    def with_traceback(self, tb: TracebackType | None, /) -> PgProtocolError: ...
    def add_note(self, note: str, /) -> None: ...

#: (mask, expected label) per column; see limen.policy.colplan.Output.relay
OutputColumnTuple = tuple[bytes | None, bytes | None]
OutputPlanTuple = tuple[
    list[OutputColumnTuple],
    bool,
    bytes | None,
    list[OutputColumnTuple],
    bytes | None,
    tuple[int, int, int, int, bool] | None,
    bool,
]

@final
class PgServerRelay:
    def __new__(
        cls, masker: Masker | None = None, max_message_size: int = ...
    ) -> PgServerRelay: ...
    def set_columns(self, columns: dict[tuple[int, int], bytes], /) -> None: ...
    @property
    def capture_rows(self) -> bool: ...
    @capture_rows.setter
    def capture_rows(self, on: bool, /) -> None: ...
    def replace_error(self, marker: bytes, replacement: bytes, /) -> None: ...
    def push_describe(self, hidden: bool, portal: bytes | None = None) -> None: ...
    def plan_query(self, plans: list[OutputPlanTuple | None], /) -> None: ...
    def plan_statement(self, name: bytes, plan: OutputPlanTuple | None = None) -> None: ...
    def plan_portal(self, name: bytes, plan: OutputPlanTuple | None = None) -> None: ...
    def note_bind(self, portal: bytes, statement: bytes, /) -> None: ...
    def push_sync(self) -> None: ...
    @property
    def masked_rows(self) -> int: ...
    def feed(self, chunk: bytes | bytearray, /) -> tuple[bytes, list[RelayEvent]]: ...

# What the upstream said (PgServerRelay.feed): one frozen class per kind.

@final
class PgAuthentication:
    @property
    def body(self) -> bytes: ...

@final
class PgBackendKeyData:
    @property
    def process_id(self) -> int: ...
    @property
    def secret_key(self) -> bytes: ...

@final
class PgNegotiateProtocolVersion: ...

@final
class PgRowDescription:
    @property
    def columns(self) -> int: ...
    @property
    def replaced(self) -> int: ...

@final
class PgCommandComplete:
    @property
    def tag(self) -> str: ...

@final
class PgErrorResponse:
    @property
    def fields(self) -> dict[str, str]: ...

@final
class PgReplacedError: ...

@final
class PgNoticeResponse:
    @property
    def fields(self) -> dict[str, str]: ...

@final
class PgReadyForQuery:
    @property
    def status(self) -> str: ...

@final
class PgParameterStatus:
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...

@final
class PgCopyInResponse:
    @property
    def format(self) -> int: ...

@final
class PgCopyOutResponse:
    @property
    def format(self) -> int: ...

@final
class PgCopyBothResponse:
    @property
    def format(self) -> int: ...

@final
class PgDataRow:
    @property
    def values(self) -> list[bytes | None]: ...

RelayEvent = (
    PgAuthentication
    | PgBackendKeyData
    | PgNegotiateProtocolVersion
    | PgRowDescription
    | PgCommandComplete
    | PgErrorResponse
    | PgReplacedError
    | PgNoticeResponse
    | PgReadyForQuery
    | PgParameterStatus
    | PgCopyInResponse
    | PgCopyOutResponse
    | PgCopyBothResponse
    | PgDataRow
)

@final
class PgClientDecoder:
    def __new__(
        cls, max_message_size: int = ..., max_unauthenticated_size: int = ...
    ) -> PgClientDecoder: ...
    def resume_startup(self) -> None: ...
    def expect_password(self) -> None: ...
    def set_authenticated(self) -> None: ...
    def feed(self, chunk: bytes | bytearray, /) -> list[ClientMessage]: ...

# The client's messages (PgClientDecoder.feed): one frozen class per kind,
# each with its raw bytes.

@final
class PgSslRequest:
    @property
    def raw(self) -> bytes: ...

@final
class PgGssEncRequest:
    @property
    def raw(self) -> bytes: ...

@final
class PgCancelRequest:
    @property
    def raw(self) -> bytes: ...
    @property
    def process_id(self) -> int: ...
    @property
    def secret_key(self) -> bytes: ...

@final
class PgStartupMessage:
    @property
    def raw(self) -> bytes: ...
    @property
    def params(self) -> dict[str, str]: ...
    @property
    def version(self) -> tuple[int, int]: ...

@final
class PgPasswordMessage:
    @property
    def raw(self) -> bytes: ...
    @property
    def password(self) -> bytes: ...

@final
class PgSaslResponse:
    @property
    def raw(self) -> bytes: ...

@final
class PgQuery:
    @property
    def raw(self) -> bytes: ...
    @property
    def sql(self) -> bytes: ...

@final
class PgParse:
    @property
    def raw(self) -> bytes: ...
    @property
    def name(self) -> bytes: ...
    @property
    def sql(self) -> bytes: ...

@final
class PgBind:
    @property
    def raw(self) -> bytes: ...
    @property
    def portal(self) -> bytes: ...
    @property
    def statement(self) -> bytes: ...

@final
class PgExecute:
    @property
    def raw(self) -> bytes: ...
    @property
    def portal(self) -> bytes: ...

@final
class PgDescribe:
    @property
    def raw(self) -> bytes: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> bytes: ...

@final
class PgClose:
    @property
    def raw(self) -> bytes: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> bytes: ...

@final
class PgSync:
    @property
    def raw(self) -> bytes: ...

@final
class PgFlush:
    @property
    def raw(self) -> bytes: ...

@final
class PgTerminate:
    @property
    def raw(self) -> bytes: ...

@final
class PgCopyData:
    @property
    def raw(self) -> bytes: ...

@final
class PgCopyDone:
    @property
    def raw(self) -> bytes: ...

@final
class PgCopyFail:
    @property
    def raw(self) -> bytes: ...

@final
class PgFunctionCall:
    @property
    def raw(self) -> bytes: ...

@final
class PgUnknownMessage:
    @property
    def raw(self) -> bytes: ...
    @property
    def tag(self) -> int: ...

StartupPhaseMessage = (
    PgSslRequest | PgGssEncRequest | PgCancelRequest | PgStartupMessage | PgPasswordMessage
)
ClientMessage = (
    StartupPhaseMessage
    | PgSaslResponse
    | PgQuery
    | PgParse
    | PgBind
    | PgExecute
    | PgDescribe
    | PgClose
    | PgSync
    | PgFlush
    | PgTerminate
    | PgCopyData
    | PgCopyDone
    | PgCopyFail
    | PgFunctionCall
    | PgUnknownMessage
)

# --- limen-pump ---------------------------------------------------------------
# (pyo3 enums: members compare with == and `is`, and match as value
# patterns; declared as enum.Enum so that mypy checks exhaustiveness.
# They have no .name/.value: use .label.)

@final
class JudgeKind(enum.Enum):
    QUERY = 0
    PARSE = 1
    FUNCTION_CALL = 2
    @property
    def label(self) -> str: ...

@final
class EndReason(enum.Enum):
    CLIENT_CLOSED = 0
    TERMINATE = 1
    UPSTREAM_CLOSED = 2
    CLIENT_PROTOCOL = 3
    UPSTREAM_PROTOCOL = 4
    CLIENT_IO = 5
    UPSTREAM_IO = 6
    CLIENT_STALLED = 7
    RECORD = 8
    STOPPED = 9
    INTERNAL = 10
    @property
    def label(self) -> str: ...

@final
class JudgeRequest:
    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> JudgeKind: ...
    @property
    def name(self) -> bytes: ...
    @property
    def sql(self) -> bytes: ...
    @property
    def raw(self) -> bytes: ...

@final
class Verdict:
    def __new__(
        cls,
        upstream: bytes,
        *,
        discard_until_sync: bool = False,
        cache_event: bytes | None = None,
        cache_shape: bool = False,
    ) -> Verdict: ...
    @property
    def upstream(self) -> bytes: ...
    @property
    def discard_until_sync(self) -> bool: ...
    @property
    def cache_event(self) -> bytes | None: ...
    @property
    def cache_shape(self) -> bool: ...

@final
class PumpRecords: ...

@final
class PumpEnd:
    @property
    def reason(self) -> EndReason: ...
    @property
    def detail(self) -> str: ...

PumpEvent = JudgeRequest | PumpRecords | PumpEnd

@final
class ClientStep:
    @property
    def upstream(self) -> bytes: ...
    @property
    def judge(self) -> JudgeRequest | None: ...
    @property
    def terminate(self) -> bool: ...

class RecordError(Exception):
    """A record could not be written: the session must end."""

    args: tuple[object, ...]
    def with_traceback(self, tb: TracebackType | None, /) -> RecordError: ...
    def add_note(self, note: str, /) -> None: ...

class TlsError(Exception):
    """A TLS session failed (handshake or record layer)."""

    args: tuple[object, ...]
    def with_traceback(self, tb: TracebackType | None, /) -> TlsError: ...
    def add_note(self, note: str, /) -> None: ...

@final
class TlsServerConfig:
    def __new__(cls, cert_pem: bytes, key_pem: bytes) -> TlsServerConfig: ...

@final
class TlsClientConfig:
    def __new__(
        cls,
        verify: str,
        roots_pem: bytes | None = None,
        cert_pem: bytes | None = None,
        key_pem: bytes | None = None,
    ) -> TlsClientConfig: ...

@final
class TlsSession:
    @staticmethod
    def server(config: TlsServerConfig) -> TlsSession: ...
    @staticmethod
    def client(config: TlsClientConfig, server_name: str) -> TlsSession: ...
    def feed(self, data: bytes) -> None: ...
    def read_plain(self, max_bytes: int) -> bytes: ...
    def write_plain(self, data: bytes) -> None: ...
    def take_tls(self) -> bytes: ...
    def close(self) -> None: ...
    @property
    def handshaking(self) -> bool: ...
    @property
    def peer_closed(self) -> bool: ...
    @property
    def version(self) -> str | None: ...

@final
class PgPump:
    def __new__(
        cls,
        client: object,
        upstream: object,
        decoder: PgClientDecoder,
        relay: PgServerRelay,
        recorder: RecordWriter | None = None,
        *,
        judge: Callable[[JudgeRequest], Verdict | None] | None = None,
        input_masker: Masker | None = None,
        results_masked: bool = False,
        cache_entries: int = 1024,
        cache_bytes: int = 1048576,
        cache_max_text: int = 8192,
        read_size: int = 65536,
        max_backlog: int = 1048576,
        write_timeout: float = 10.0,
        client_tls: TlsSession | None = None,
        upstream_tls: TlsSession | None = None,
    ) -> PgPump: ...
    def start(self) -> None: ...
    def fileno(self) -> int: ...
    def events(self) -> list[PumpEvent]: ...
    def take_records(self) -> list[tuple[str, bytes, bool]]: ...
    def resume(self, id: int, verdict: Verdict) -> None: ...
    def send_client(self, data: bytes) -> None: ...
    def clear_cache(self) -> None: ...
    def set_masks(
        self,
        masker: Masker | None,
        input_masker: Masker | None,
        results_masked: bool,
        *,
        statement_plan: MySqlColumnPlan | None = None,
    ) -> None: ...
    def stop(self) -> None: ...
    @property
    def status(self) -> str: ...
    @property
    def idle(self) -> float: ...
    @property
    def cache_hits(self) -> int: ...
    @property
    def judged(self) -> int: ...
    @property
    def bytes(self) -> tuple[int, int]: ...

def mysql_pump(
    client: object,
    upstream: object,
    relay: MySqlServerRelay,
    recorder: RecordWriter | None = None,
    *,
    judge: Callable[[JudgeRequest], Verdict | None] | None = None,
    input_masked: bool = False,
    input_masker: Masker | None = None,
    results_masked: bool = False,
    max_packet_size: int = 16777216,
    cache_entries: int = 1024,
    cache_bytes: int = 1048576,
    cache_max_text: int = 8192,
    read_size: int = 65536,
    max_backlog: int = 1048576,
    write_timeout: float = 10.0,
) -> PgPump:
    """A MySQL session on the native pump (the same handle as PostgreSQL's):
    limen-pump's MySQL core over the session's shared ``MySqlServerRelay``.
    A MySQL judge request's ``sql`` is the command payload, ``name`` the
    note of the upstream's last answer; a verdict with
    ``discard_until_sync`` answers the client with its bytes instead."""

@final
class PgClientCore:
    def __new__(
        cls,
        decoder: PgClientDecoder,
        relay: PgServerRelay,
        recorder: RecordWriter | None = None,
        *,
        input_masker: Masker | None = None,
        results_masked: bool = False,
        cache_entries: int = 1024,
        cache_bytes: int = 1048576,
        cache_max_text: int = 8192,
        max_paused: int = 1048576,
    ) -> PgClientCore: ...
    def client_data(self, data: bytes | bytearray, /) -> ClientStep: ...
    def resume(self, id: int, verdict: Verdict) -> ClientStep: ...
    def upstream_data(self, data: bytes | bytearray, /) -> bytes: ...
    def take_records(self) -> list[tuple[str, bytes, bool]]: ...
    def clear_cache(self) -> None: ...
    def set_masks(
        self, masker: Masker | None, input_masker: Masker | None, results_masked: bool
    ) -> None: ...
    @property
    def status(self) -> str: ...
    @property
    def paused(self) -> bool: ...
    @property
    def client_pending(self) -> int: ...
    @property
    def cached(self) -> int: ...
    @property
    def cache_hits(self) -> int: ...
    @property
    def judged(self) -> int: ...
    @property
    def bytes(self) -> tuple[int, int]: ...

@final
class PgUpstreamAuth:
    def __new__(
        cls,
        user: str,
        password: str,
        nonce: str,
        *,
        allow_cleartext: bool = False,
        allow_md5: bool = True,
        require_password: bool = False,
    ) -> PgUpstreamAuth: ...
    def handle(self, body: bytes, /) -> AuthStep: ...

@final
class PgAuthSend:
    @property
    def data(self) -> bytes: ...

@final
class PgAuthWait: ...

@final
class PgAuthOk: ...

AuthStep = PgAuthSend | PgAuthWait | PgAuthOk

def pg_error(
    severity: str,
    code: str,
    message: str,
    detail: str | None = None,
    hint: str | None = None,
    *,
    notice: bool = False,
) -> bytes: ...
def pg_ready_for_query(status: str) -> bytes: ...
def pg_auth_cleartext_password() -> bytes: ...
def pg_auth_ok() -> bytes: ...
def pg_backend_key_data(process_id: int, secret_key: bytes) -> bytes: ...
def pg_parameter_status(name: str, value: str) -> bytes: ...
def pg_startup(params: list[tuple[str, str]]) -> bytes: ...
def pg_query(sql: bytes) -> bytes: ...
def pg_tree_template(json: str) -> str: ...
def pg_shape_key(sql: bytes) -> bytes | None: ...
def pg_shape_proven(sql: bytes, json: str) -> bool: ...
def pg_tree_sealed(json: str) -> tuple[str, list[str]]: ...
def pg_shape_constants(sql: bytes) -> list[tuple[int, int]] | None: ...
def mysql_shape_constants(sql: bytes) -> list[tuple[int, int, bool]] | None: ...
def pg_parse(name: bytes, sql: bytes) -> bytes: ...
def pg_cancel_request(process_id: int, secret_key: bytes) -> bytes: ...
def pg_describe(kind: str, name: bytes) -> bytes: ...

# --- limen-record -------------------------------------------------------------

@final
class RecordWriter:
    def __init__(
        self,
        path: str,
        *,
        session_id: str,
        identity: str,
        resource: str,
        protocol: str,
        signing_key: bytes,
        recipient: bytes | None = None,
        start_unix_us: int | None = None,
        max_record: int = 1048576,
        flush_bytes: int = 262144,
        flush_ms: float | None = 200.0,
        fsync_each: bool = False,
    ) -> None: ...
    def append(
        self, kind: str, payload: bytes | bytearray | memoryview, *, masked: bool = False
    ) -> None: ...
    def append_many(
        self, kind: str, payloads: Iterable[bytes | bytearray | memoryview]
    ) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> dict[str, int]: ...
    @property
    def records(self) -> int: ...
    @property
    def closed(self) -> bool: ...

@final
class RecordReader:
    def __init__(
        self,
        path: str,
        key: bytes | None = None,
        public_key: bytes | None = None,
        max_message: int = 268435456,
    ) -> None: ...
    def __iter__(self) -> RecordReader: ...
    def __next__(self) -> tuple[int, int, str, bytes, bool]: ...
    def header(self) -> dict[str, Any]: ...
    def ending(self) -> str | None: ...

def record_verify(path: str, public_key: bytes | None = None) -> dict[str, Any]: ...
def record_generate_signing_key() -> bytes: ...
def record_signing_public_key(signing_key: bytes) -> bytes: ...
def record_generate_recipient_key() -> tuple[bytes, bytes]: ...
def record_recipient_public_key(private_key: bytes) -> bytes: ...
def record_key_id(public_key: bytes) -> str: ...

# --- MySQL / MariaDB (native/limen-py/src/mysql): the driver's building blocks.

class MySqlProtocolError(Exception):
    """The peer broke the MySQL protocol or sent a packet over the cap."""

    args: tuple[object, ...]
    def with_traceback(self, tb: TracebackType | None, /) -> MySqlProtocolError: ...
    def add_note(self, note: str, /) -> None: ...

#: Capabilities limen may advertise (formats limen-wire parses).
MYSQL_GATEWAY_CAPABILITIES: int

@final
class MySqlPacket:
    @property
    def raw(self) -> bytes: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def seq(self) -> int: ...
    @property
    def last_seq(self) -> int: ...

@final
class MySqlPacketDecoder:
    def __new__(
        cls,
        *,
        max_packet_size: int = 67108864,
        max_unauthenticated_size: int = 65536,
        max_chunk: int = 1048576,
    ) -> MySqlPacketDecoder: ...
    def feed(self, chunk: bytes | bytearray, /) -> list[MySqlPacket]: ...
    def set_sequence(self, seq: int, /) -> None: ...
    def ignore_sequence(self) -> None: ...
    @property
    def sequence(self) -> int | None: ...
    def set_authenticated(self) -> None: ...
    def take_pending(self) -> bytes: ...

@final
class MySqlFramed:
    @property
    def data(self) -> bytes: ...
    @property
    def next_seq(self) -> int: ...

def mysql_packet(seq: int, payload: bytes, /, *, max_payload: int = 67108864) -> MySqlFramed: ...

@final
class MySqlHandshakeV10:
    def __new__(
        cls,
        *,
        server_version: bytes,
        connection_id: int,
        scramble: bytes,
        capabilities: int,
        collation: int,
        status: int,
        auth_plugin: bytes,
    ) -> MySqlHandshakeV10: ...
    @staticmethod
    def parse(payload: bytes, /) -> MySqlHandshakeV10: ...
    def encode(self) -> bytes: ...
    @property
    def server_version(self) -> bytes: ...
    @property
    def connection_id(self) -> int: ...
    @property
    def scramble(self) -> bytes: ...
    @property
    def capabilities(self) -> int: ...
    @property
    def collation(self) -> int: ...
    @property
    def status(self) -> int: ...
    @property
    def auth_plugin(self) -> bytes: ...

@final
class MySqlSslRequest:
    @property
    def capabilities(self) -> int: ...
    @property
    def max_packet_size(self) -> int: ...
    @property
    def collation(self) -> int: ...

@final
class MySqlHandshakeResponse41:
    @property
    def capabilities(self) -> int: ...
    @property
    def max_packet_size(self) -> int: ...
    @property
    def collation(self) -> int: ...
    @property
    def username(self) -> bytes: ...
    @property
    def auth_response(self) -> bytes: ...
    @property
    def database(self) -> bytes | None: ...
    @property
    def auth_plugin(self) -> bytes | None: ...
    @property
    def attributes(self) -> dict[bytes, bytes] | None: ...

MySqlClientHello = MySqlSslRequest | MySqlHandshakeResponse41

def mysql_parse_client_hello(payload: bytes, /) -> MySqlClientHello: ...
def mysql_encode_ssl_request(
    *, capabilities: int, max_packet_size: int, collation: int
) -> bytes: ...
def mysql_encode_handshake_response(
    *,
    capabilities: int,
    max_packet_size: int,
    collation: int,
    username: bytes,
    auth_response: bytes,
    database: bytes | None = None,
    auth_plugin: bytes | None = None,
    attributes: list[tuple[bytes, bytes]] | None = None,
) -> bytes: ...

# The client's commands (mysql_parse_command): one frozen class per kind.
@final
class MySqlQuit: ...

@final
class MySqlInitDb:
    @property
    def schema(self) -> bytes: ...

@final
class MySqlQuery:
    @property
    def sql(self) -> bytes: ...

@final
class MySqlFieldList:
    @property
    def table(self) -> bytes: ...
    @property
    def wildcard(self) -> bytes: ...

@final
class MySqlStatistics: ...

@final
class MySqlProcessKill:
    @property
    def connection_id(self) -> int: ...

@final
class MySqlPing: ...

@final
class MySqlChangeUser:
    @property
    def username(self) -> bytes: ...
    @property
    def auth_response(self) -> bytes: ...
    @property
    def database(self) -> bytes: ...
    @property
    def collation(self) -> int | None: ...
    @property
    def auth_plugin(self) -> bytes | None: ...

@final
class MySqlStmtPrepare:
    @property
    def sql(self) -> bytes: ...

@final
class MySqlStmtExecute:
    @property
    def statement_id(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def iterations(self) -> int: ...
    @property
    def params(self) -> bytes: ...

@final
class MySqlStmtSendLongData:
    @property
    def statement_id(self) -> int: ...
    @property
    def param_id(self) -> int: ...
    @property
    def data(self) -> bytes: ...

@final
class MySqlStmtClose:
    @property
    def statement_id(self) -> int: ...

@final
class MySqlStmtReset:
    @property
    def statement_id(self) -> int: ...

@final
class MySqlSetOption:
    @property
    def option(self) -> int: ...

@final
class MySqlStmtFetch:
    @property
    def statement_id(self) -> int: ...
    @property
    def rows(self) -> int: ...

@final
class MySqlResetConnection: ...

@final
class MySqlOtherCommand:
    @property
    def code(self) -> int: ...
    @property
    def body(self) -> bytes: ...

MySqlCommand = (
    MySqlQuit
    | MySqlInitDb
    | MySqlQuery
    | MySqlFieldList
    | MySqlStatistics
    | MySqlProcessKill
    | MySqlPing
    | MySqlChangeUser
    | MySqlStmtPrepare
    | MySqlStmtExecute
    | MySqlStmtSendLongData
    | MySqlStmtClose
    | MySqlStmtReset
    | MySqlSetOption
    | MySqlStmtFetch
    | MySqlResetConnection
    | MySqlOtherCommand
)

def mysql_parse_command(payload: bytes, caps: int, /) -> MySqlCommand: ...
def mysql_encode_query(sql: bytes, /) -> bytes: ...

# OK / ERR / EOF and the result-set pieces a login check needs.
@final
class MySqlOk:
    @property
    def header(self) -> int: ...
    @property
    def affected_rows(self) -> int: ...
    @property
    def last_insert_id(self) -> int: ...
    @property
    def status(self) -> int: ...
    @property
    def warnings(self) -> int: ...
    @property
    def info(self) -> bytes: ...
    @property
    def session_state(self) -> bytes: ...

@final
class MySqlErr:
    @property
    def code(self) -> int: ...
    @property
    def sql_state(self) -> str | None: ...
    @property
    def message(self) -> bytes: ...

@final
class MySqlProgress:
    @property
    def stage(self) -> int: ...
    @property
    def max_stage(self) -> int: ...
    @property
    def progress(self) -> int: ...
    @property
    def info(self) -> bytes: ...

MySqlErrPacket = MySqlErr | MySqlProgress

@final
class MySqlEof:
    @property
    def warnings(self) -> int: ...
    @property
    def status(self) -> int: ...

def mysql_parse_ok(payload: bytes, caps: int, /) -> MySqlOk: ...
def mysql_parse_err(payload: bytes, /) -> MySqlErrPacket: ...
def mysql_parse_eof(payload: bytes, /) -> MySqlEof: ...
def mysql_encode_ok(
    caps: int,
    /,
    *,
    affected_rows: int = 0,
    last_insert_id: int = 0,
    status: int = 0,
    warnings: int = 0,
    info: bytes | None = None,
) -> bytes: ...
def mysql_encode_err(code: int, sql_state: str, message: bytes, /) -> bytes: ...
def mysql_parse_column_count(payload: bytes, caps: int, /) -> int: ...
def mysql_parse_text_row(payload: bytes, columns: int, /) -> list[bytes | None]: ...

# limen's upstream login (MySqlClientAuth.handle): one frozen class per step.
@final
class MySqlClientAuth:
    def __new__(
        cls,
        plugin: bytes,
        scramble: bytes,
        password: str,
        *,
        tls: bool = False,
        server_key: bytes | None = None,
    ) -> MySqlClientAuth: ...
    @property
    def plugin(self) -> bytes: ...
    @property
    def initial_response(self) -> bytes: ...
    def handle(self, payload: bytes, caps: int, /) -> MySqlAuthStep: ...

@final
class MySqlAuthSend:
    @property
    def data(self) -> bytes: ...

@final
class MySqlAuthRsaEncrypt:
    @property
    def public_key_pem(self) -> bytes: ...
    @property
    def plaintext(self) -> bytes: ...

@final
class MySqlAuthWait: ...

@final
class MySqlAuthDone:
    @property
    def status(self) -> int: ...

MySqlAuthStep = MySqlAuthSend | MySqlAuthRsaEncrypt | MySqlAuthWait | MySqlAuthDone

def mysql_encode_auth_switch(plugin: bytes, data: bytes, /) -> bytes: ...
def mysql_encode_auth_more_data(data: bytes, /) -> bytes: ...

@final
class MySqlColumnDefinition:
    @property
    def schema(self) -> bytes: ...
    @property
    def table(self) -> bytes: ...
    @property
    def org_table(self) -> bytes: ...
    @property
    def name(self) -> bytes: ...
    @property
    def org_name(self) -> bytes: ...
    @property
    def charset(self) -> int: ...
    @property
    def column_length(self) -> int: ...
    @property
    def column_type(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def decimals(self) -> int: ...

def mysql_parse_column_definition(payload: bytes, caps: int, /) -> MySqlColumnDefinition: ...

# The server-side relay (MySqlServerRelay.feed): the upstream's response to one
# command, rows masked (content masker + MySqlColumnPlan), lengths rewritten,
# packets re-split at 16 MiB, sequence ids continuous; small events out.
@final
class MySqlExpect(enum.Enum):
    OK = 0
    QUERY = 1
    EXECUTE = 2
    FETCH = 3
    PREPARE = 4
    FIELD_LIST = 5
    RAW = 6
    NONE = 7
    @property
    def label(self) -> str: ...

@final
class MySqlColumnPlan:
    def __new__(
        cls,
        columns: list[tuple[str | None, str, str, bytes]],
        derived: bytes | None = None,
        base_tables: list[tuple[str, str]] | None = None,
    ) -> MySqlColumnPlan: ...
    @property
    def empty(self) -> bool: ...

@final
class MySqlOkSeen:
    @property
    def status(self) -> int: ...
    @property
    def affected_rows(self) -> int: ...
    @property
    def last_insert_id(self) -> int: ...
    @property
    def warnings(self) -> int: ...

@final
class MySqlErrSeen:
    @property
    def code(self) -> int: ...
    @property
    def sql_state(self) -> str: ...
    @property
    def message(self) -> str: ...

@final
class MySqlPrepareOk:
    @property
    def statement_id(self) -> int: ...
    @property
    def params(self) -> int: ...
    @property
    def columns(self) -> int: ...

@final
class MySqlInfileRequest:
    @property
    def filename(self) -> bytes: ...

MySqlRelayEvent = MySqlOkSeen | MySqlErrSeen | MySqlPrepareOk | MySqlInfileRequest

@final
class MySqlRelayOut:
    @property
    def data(self) -> bytes: ...
    @property
    def done(self) -> bool: ...
    @property
    def events(self) -> list[MySqlRelayEvent]: ...

@final
class MySqlServerRelay:
    def __new__(
        cls, masker: Masker | None, caps: int, *, max_packet_size: int = 16777216
    ) -> MySqlServerRelay: ...
    def expect(
        self,
        expect: MySqlExpect,
        seq: int,
        plan: MySqlColumnPlan | None = None,
        *,
        statement_id: int | None = None,
        secret_statement: bool = False,
    ) -> None: ...
    def forget_statement(self, statement_id: int) -> None: ...
    def feed(self, chunk: bytes | bytearray) -> MySqlRelayOut: ...
    def refuse_infile(self, code: int, sql_state: str, message: bytes) -> bytes: ...
    def allow_infile(self) -> bytes: ...
    def forward_infile(self, payload: bytes) -> bytes: ...
    @property
    def done(self) -> bool: ...
    @property
    def status(self) -> int: ...
    @property
    def masked_values(self) -> int: ...
    def set_masker(self, masker: Masker | None) -> None: ...

# --- limen-wire: SSH ----------------------------------------------------------

class SshGcm:
    def __new__(cls, key: bytes, iv: bytes) -> SshGcm: ...
    @staticmethod
    def body_len(first: bytes, cap: int) -> int: ...
    def seal(self, prefix: bytes, data: bytes | bytearray | memoryview) -> bytes: ...
    def seal_data(
        self,
        chanid: int,
        ext: int | None,
        data: bytes | bytearray | memoryview,
        offset: int,
        length: int,
        chunk: int,
    ) -> tuple[bytes, int]: ...
    def open(self, first: bytes, body: bytes | bytearray | memoryview) -> bytes: ...
    def open_message(
        self, packet: bytes | bytearray | memoryview, parse: bool
    ) -> tuple[int, int | None, int | None, bytes]:
        """One whole packet (length bytes, then exactly ``body_len``):
        ``(number, chanid, ext, data)`` for well-formed channel data with
        ``parse``, else ``(number, None, None, payload)``."""

# --- limen-wire: HTTP/1.1 heads and chunked bodies ------------------------------

class HttpHeadError(Exception):
    """An HTTP head or chunked body the gateway refuses."""

    args: tuple[object, ...]
    def with_traceback(self, tb: TracebackType | None, /) -> HttpHeadError: ...
    def add_note(self, note: str, /) -> None: ...

#: (start, end, method, target, version, headers, content_length, chunked, keep_alive)
HttpRequestTuple = tuple[
    int, int, bytes, bytes, bytes, list[tuple[bytes, bytes]], int | None, bool, bool
]
#: (end, version, status, reason, headers, framing, length, keep_alive)
HttpResponseTuple = tuple[int, bytes, int, bytes, list[tuple[bytes, bytes]], str, int | None, bool]

def http_request_head(buf: bytes, limit: int) -> HttpRequestTuple | None: ...
def http_response_head(buf: bytes, limit: int, method: bytes) -> HttpResponseTuple | None: ...
def http_encode_chunk(data: bytes) -> bytes: ...
def http_encode_last_chunk() -> bytes: ...

class HttpChunkedDecoder:
    def __new__(cls, limit: int) -> HttpChunkedDecoder: ...
    def decode(self, data: bytes) -> tuple[bytes, int]: ...
    @property
    def done(self) -> bool: ...
    @property
    def pending(self) -> int: ...

def http_upstream_request(
    head: bytes, target: bytes, host: bytes, credential: tuple[bytes, bytes] | None, masked: bool
) -> bytes: ...
def http_client_response(
    head: bytes, method: bytes, masked: bool, length: int | None
) -> tuple[bytes, str, int | None]: ...
def http_hand_back_reason(head: bytes) -> str | None: ...
