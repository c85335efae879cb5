"""A scripted PostgreSQL server on Trio memory streams, for session tests
without a database (docs/architecture.md, "The upstream
opener").

:class:`FakePg` is what ``PgGateway(open_upstream=fake.open)`` reaches: each
``open`` gives the gateway one end of ``trio.testing.memory_stream_pair()``
and serves the other end in the test's nursery. It speaks enough of the v3
protocol: trust login (AuthenticationOk, ParameterStatus, BackendKeyData,
ReadyForQuery), Query, Parse/Bind/Describe/Execute/Sync/Flush/Close, BEGIN /
COMMIT / ROLLBACK with the transaction status PostgreSQL reports (an error in
a transaction block fails the block), and CancelRequest. A statement naming a
limen denial marker (``limen_denied_<hex>``) gets the 42601 syntax error
PostgreSQL gives it; anything else is answered from the test's ``script``
(normalized SQL text -> :class:`Result`, :class:`Fail` or :data:`STALL`), and
unscripted SQL fails with XX000 so a test notices. Every message received is
kept (``Conn.received``) so tests can assert what the upstream saw.

Server messages are built with limen's native encoders where they exist
(``pg_auth_ok``, ``pg_error``, ...), the rest with a few lines of struct.
Frames are read here with struct, independent of limen's decoders;
tests/memclient.py is the client side.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import trio
import trio.testing

from limen import _native

PROTOCOL_3 = 196608
CANCEL_CODE = 80877102
SSL_CODE = 80877103
GSSENC_CODE = 80877104
MARKER = re.compile(r"limen_denied_[0-9a-f]+")


def message(tag: bytes, body: bytes = b"") -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


def cstr(text: str | bytes) -> bytes:
    return (text.encode() if isinstance(text, str) else text) + b"\x00"


def fields(body: bytes) -> dict[str, str]:
    """The fields of an ErrorResponse or NoticeResponse body."""
    out: dict[str, str] = {}
    for part in body.split(b"\x00"):
        if part:
            out[chr(part[0])] = part[1:].decode()
    return out


class Reader:
    """Whole PostgreSQL frames from a byte stream."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buf = bytearray()

    async def _fill(self, n: int) -> bool:
        while len(self.buf) < n:
            data = await self.stream.receive_some(65536)
            if not data:
                return False
            self.buf += data
        return True

    async def exact(self, n: int) -> bytes | None:
        if not await self._fill(n):
            return None
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def untyped(self) -> bytes | None:
        """A startup-phase packet (length, then body) without its length."""
        head = await self.exact(4)
        if head is None:
            return None
        return await self.exact(struct.unpack("!i", head)[0] - 4)

    async def typed(self) -> tuple[str, bytes] | None:
        head = await self.exact(5)
        if head is None:
            return None
        body = await self.exact(struct.unpack("!i", head[1:])[0] - 4)
        return None if body is None else (chr(head[0]), body)


# -- the scripted server --------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """A statement's answer: rows under ``columns`` (text values, None is
    NULL) and the CommandComplete tag; no columns: a command without rows."""

    tag: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str | None, ...], ...] = ()


@dataclass(frozen=True)
class Fail:
    code: str
    message: str


class _Stall:
    """Answer only when a CancelRequest for this backend arrives (57014)."""


STALL = _Stall()
Answer = Result | Fail | _Stall


def row_description(columns: Iterable[str]) -> bytes:
    cols = list(columns)
    body = struct.pack("!h", len(cols))
    for name in cols:  # text columns of no table
        body += cstr(name) + struct.pack("!ihihih", 0, 0, 25, -1, -1, 0)
    return message(b"T", body)


def data_row(values: Iterable[str | None]) -> bytes:
    vals = list(values)
    body = struct.pack("!h", len(vals))
    for v in vals:
        body += struct.pack("!i", -1) if v is None else struct.pack("!i", len(v)) + v.encode()
    return message(b"D", body)


def normalize(sql: str) -> str:
    return " ".join(sql.strip().rstrip(";").split())


class FakePg:
    """The upstream: ``open`` is the gateway's ``open_upstream``."""

    def __init__(self, nursery: trio.Nursery, script: dict[str, Answer] | None = None) -> None:
        self.nursery = nursery
        self.script = {normalize(k): v for k, v in (script or {}).items()}
        self.opened: list[tuple[str, int]] = []
        self.conns: list[Conn] = []
        self.cancels: list[tuple[int, bytes]] = []
        self.refuse: OSError | None = None
        """Raised by ``open`` instead of connecting (an unreachable upstream)."""
        self._changed = trio.Event()

    async def open(self, host: str, port: int) -> trio.abc.Stream:
        if self.refuse is not None:
            raise self.refuse
        self.opened.append((host, port))
        gateway_end, server_end = trio.testing.memory_stream_pair()
        conn = Conn(self, server_end, process_id=4000 + len(self.conns))
        self.conns.append(conn)
        self.nursery.start_soon(conn.serve)
        return gateway_end

    def statements(self) -> list[str]:
        """Every SQL text received (Query and Parse), on every connection."""
        return [sql for c in self.conns for sql in c.statements]

    def changed(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def until(self, check: Callable[[], object]) -> None:
        """Wait until ``check()`` is true (re-checked on each message)."""
        while not check():
            await self._changed.wait()


@dataclass
class Conn:
    """One connection to the fake server."""

    server: FakePg
    stream: trio.abc.Stream
    process_id: int
    secret: bytes = b"\x0f\xa1\x0c\xe5"
    params: dict[str, str] = field(default_factory=dict)
    received: list[tuple[str, bytes]] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    status: str = "I"
    closed: bool = False
    _prepared: dict[bytes, str] = field(default_factory=dict)
    _portals: dict[bytes, str] = field(default_factory=dict)
    _cancelled: trio.Event = field(default_factory=trio.Event)

    def kinds(self) -> str:
        """The type bytes of every typed message received, in order."""
        return "".join(k for k, _ in self.received)

    async def close(self) -> None:
        """The server ends the connection (a crash, a terminated backend)."""
        await self.stream.aclose()

    async def serve(self) -> None:
        reader = Reader(self.stream)
        try:
            first = await reader.untyped()
            if first is None:
                return
            code = struct.unpack("!i", first[:4])[0]
            if code == CANCEL_CODE:
                key = struct.unpack("!i", first[4:8])[0], first[8:]
                self.server.cancels.append(key)
                for conn in self.server.conns:
                    if (conn.process_id, conn.secret) == key:
                        conn._cancelled.set()
                self.server.changed()
                return
            assert code == PROTOCOL_3, f"fakepg: startup code {code}"
            parts = first[4:].split(b"\x00")
            self.params = {
                parts[i].decode(): parts[i + 1].decode() for i in range(0, len(parts) - 2, 2)
            }
            await self.stream.send_all(
                _native.pg_auth_ok()
                + _native.pg_parameter_status("server_version", "16.4 (fakepg)")
                + _native.pg_parameter_status("client_encoding", "UTF8")
                + _native.pg_backend_key_data(self.process_id, self.secret)
                + _native.pg_ready_for_query("I")
            )
            self.server.changed()
            await self._loop(reader)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.closed = True
            await trio.aclose_forcefully(self.stream)
            self.server.changed()

    async def _loop(self, reader: Reader) -> None:
        skipping = False  # after an error in the extended protocol: until Sync
        while True:
            msg = await reader.typed()
            if msg is None:
                return
            kind, body = msg
            self.received.append(msg)
            self.server.changed()
            if kind == "X":
                return
            if skipping and kind != "S":
                continue
            out, failed = await self._answer(kind, body)
            skipping = failed and kind != "Q"
            if kind == "S":
                skipping = False
            if out:
                await self.stream.send_all(out)

    async def _answer(self, kind: str, body: bytes) -> tuple[bytes, bool]:
        """The reply to one message, and whether it failed."""
        if kind == "Q":
            sql = body[:-1].decode("utf-8", "surrogateescape")
            self.statements.append(sql)
            if not normalize(sql):
                return message(b"I") + _native.pg_ready_for_query(self.status), False
            out, failed = await self._run(sql, rows_header=True)
            return out + _native.pg_ready_for_query(self.status), failed
        if kind == "P":
            name, rest = body.split(b"\x00", 1)
            sql = rest.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")
            self.statements.append(sql)
            marker = MARKER.search(sql)
            if marker:
                return self._error(Fail("42601", f'syntax error at or near "{marker[0]}"')), True
            self._prepared[name] = sql
            return message(b"1"), False
        if kind == "B":
            portal, statement = body.split(b"\x00")[:2]
            if statement not in self._prepared:
                return self._error(Fail("26000", "prepared statement does not exist")), True
            self._portals[portal] = self._prepared[statement]
            return message(b"2"), False
        if kind == "D":
            target, name = body[:1], body[1:-1]
            sql = (self._prepared if target == b"S" else self._portals).get(name)
            if sql is None:
                return self._error(Fail("26000", "no such statement or portal")), True
            answer = self.server.script.get(normalize(sql))
            head = message(b"t", struct.pack("!h", 0)) if target == b"S" else b""
            if isinstance(answer, Result) and answer.columns:
                return head + row_description(answer.columns), False
            return head + message(b"n"), False
        if kind == "E":
            portal = body.split(b"\x00", 1)[0]
            if portal not in self._portals:
                return self._error(Fail("34000", "portal does not exist")), True
            return await self._run(self._portals[portal], rows_header=False)
        if kind == "S":
            if self.status == "I":
                self._portals.clear()
            return _native.pg_ready_for_query(self.status), False
        if kind == "C":
            return message(b"3"), False
        return b"", False  # Flush, and whatever else: no answer

    async def _run(self, sql: str, *, rows_header: bool) -> tuple[bytes, bool]:
        text = normalize(sql)
        word = text.split(" ", 1)[0].upper() if text else ""
        marker = MARKER.search(sql)
        if marker:
            return self._error(Fail("42601", f'syntax error at or near "{marker[0]}"')), True
        if word in ("BEGIN", "START"):
            self.status = "T" if self.status == "I" else self.status
            return message(b"C", cstr("BEGIN")), False
        if word in ("COMMIT", "END", "ROLLBACK", "ABORT"):
            tag = "ROLLBACK" if word in ("ROLLBACK", "ABORT") or self.status == "E" else "COMMIT"
            self.status = "I"
            return message(b"C", cstr(tag)), False
        if self.status == "E":
            return self._error(
                Fail(
                    "25P02",
                    "current transaction is aborted, commands ignored until end of "
                    "transaction block",
                )
            ), True
        answer = self.server.script.get(text, Fail("XX000", f"fakepg: no answer for {text!r}"))
        if isinstance(answer, _Stall):
            await self._cancelled.wait()
            self._cancelled = trio.Event()
            answer = Fail("57014", "canceling statement due to user request")
        if isinstance(answer, Fail):
            return self._error(answer), True
        out = row_description(answer.columns) if rows_header and answer.columns else b""
        for row in answer.rows:
            out += data_row(row)
        return out + message(b"C", cstr(answer.tag)), False

    def _error(self, fail: Fail) -> bytes:
        if self.status == "T":
            self.status = "E"
        return _native.pg_error("ERROR", fail.code, fail.message)
