"""MySQL sessions on Trio memory streams under a MockClock: a fake upstream
(:class:`FakeMy`, built on the `limen._native` bindings: a greeting, any
login accepted, every query answered with one text column) and an async
client (:class:`MemClient`, logging in with mysql_clear_password), so
expiry, idle, drain and timeouts are tested without real time passing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
import trio.testing

from limen import _native as n
from limen.config import load_config_text
from limen.gateway import MySqlGateway
from limen.gateway.services import Services
from limen.identity import Authenticator, DevIdP
from limen.identity.statickeys import hash_key
from limen.recording import MemoryRecorder, SessionInfo

KEY = "key-bot-7f3a9c"
DEPRECATE_EOF = 1 << 24
CLIENT_SSL = 1 << 11


def config_text(max_connections: int = 100) -> str:
    return f"""
[gateway]
state = "sqlite://state/limen.db"
max_connections = {max_connections}
max_connections_per_identity = {min(max_connections, 10)}
handshake_timeout = "10s"
idle_timeout = "5m"
drain_timeout = "30s"

[listeners]
mysql = "127.0.0.1:0"

[identity]
leeway = "0s"

[identity.dev]
enabled = true

[[identity.keys]]
name = "bot"
sha256 = "{hash_key(KEY)}"
groups = ["ci"]

[[resources]]
name = "shop"
protocol = "mysql"
upstream = "db.internal:3306"
database = "shopdb"
user = "app"

[[rules]]
name = "ci-shop"
groups = ["ci"]
resources = ["shop"]
allow = ["read", "write"]
"""


class Packets:
    """Packets over a memory stream, both test sides."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.dec = n.MySqlPacketDecoder()
        self.dec.ignore_sequence()
        self.pending: list[n.MySqlPacket] = []
        self.seq = 0

    async def read(self) -> n.MySqlPacket | None:
        while not self.pending:
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return None
            if not data:
                return None
            self.pending.extend(self.dec.feed(data))
        packet = self.pending.pop(0)
        self.seq = (packet.last_seq + 1) % 256
        return packet

    async def send(self, payload: bytes) -> None:
        framed = n.mysql_packet(self.seq, payload)
        await self.stream.send_all(framed.data)
        self.seq = framed.next_seq


def column(name: bytes) -> bytes:
    """A ColumnDefinition41 of a VARCHAR column ``name`` of table t."""
    out = b""
    for part in (b"def", b"shopdb", b"t", b"t", name, name):
        out += bytes([len(part)]) + part
    return (
        out
        + b"\x0c"
        + (45).to_bytes(2, "little")
        + (255).to_bytes(4, "little")
        + b"\xfd"
        + b"\0\0\0\0\0"
    )


@dataclass
class FakeConn:
    packets: Packets
    queries: list[bytes] = field(default_factory=list)
    closed: bool = False


class FakeMy:
    """Every upstream connection a session opens (``open_upstream``)."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.conns: list[FakeConn] = []

    async def open(self, host: str, port: int) -> trio.abc.Stream:
        ours, theirs = trio.testing.memory_stream_pair()
        conn = FakeConn(Packets(ours))
        self.conns.append(conn)
        self.nursery.start_soon(self._serve, conn)
        return theirs

    async def _serve(self, conn: FakeConn) -> None:
        p = conn.packets
        caps = n.MYSQL_GATEWAY_CAPABILITIES & ~CLIENT_SSL
        hello = n.MySqlHandshakeV10(
            server_version=b"5.5.5-10.11.0-MariaDB-fake",
            connection_id=7,
            scramble=b"a" * 20,
            capabilities=caps,
            collation=45,
            status=2,
            auth_plugin=b"mysql_native_password",
        )
        await p.send(hello.encode())
        response = await p.read()
        if response is None:
            return
        caps &= n.mysql_parse_client_hello(response.payload).capabilities
        await p.send(n.mysql_encode_ok(caps, status=2))
        while (packet := await p.read()) is not None:
            p.seq = packet.seq + 1
            cmd = n.mysql_parse_command(packet.payload, caps)
            if isinstance(cmd, n.MySqlQuit):
                break
            if not isinstance(cmd, n.MySqlQuery):
                await p.send(n.mysql_encode_ok(caps, status=2))
                continue
            conn.queries.append(cmd.sql)
            await p.send(b"\x01")
            await p.send(column(b"v"))
            if not caps & DEPRECATE_EOF:
                await p.send(b"\xfe\0\0\x02\0")
            await p.send(b"\x05hello")
            end = n.mysql_encode_ok(caps, status=2)
            await p.send(b"\xfe" + end[1:] if caps & DEPRECATE_EOF else b"\xfe\0\0\x02\0")
        conn.closed = True

    async def close_all(self) -> None:
        for conn in self.conns:
            await conn.packets.stream.aclose()


class MySqlErrorReply(Exception):
    """An ERR packet: ``args == (code, sql_state, message)``."""


class MemClient:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.p = Packets(stream)
        self.caps = 0
        self.last_seq = -1

    async def login(self, user: str, token: str, database: str = "shop") -> bytes:
        first = await self.p.read()
        assert first is not None
        hello = n.MySqlHandshakeV10.parse(first.payload)
        self.caps = hello.capabilities & ~CLIENT_SSL
        await self.p.send(
            n.mysql_encode_handshake_response(
                capabilities=self.caps,
                max_packet_size=1 << 24,
                collation=45,
                username=user.encode(),
                auth_response=token.encode() + b"\0",
                database=database.encode(),
                auth_plugin=b"mysql_clear_password",
            )
        )
        return await self.reply()

    async def reply(self) -> bytes:
        packet = await self.p.read()
        if packet is None:
            raise ConnectionError("closed")
        self.last_seq = packet.seq
        payload = packet.payload
        if payload[:1] == b"\xff":
            err = n.mysql_parse_err(payload)
            assert isinstance(err, n.MySqlErr)
            raise MySqlErrorReply(err.code, err.sql_state, err.message.decode())
        return payload

    async def query(self, sql: str) -> list[list[bytes | None]]:
        self.p.seq = 0
        await self.p.send(n.mysql_encode_query(sql.encode()))
        count = n.mysql_parse_column_count(await self.reply(), self.caps)
        for _ in range(count):
            await self.reply()
        if not self.caps & DEPRECATE_EOF:
            await self.reply()
        rows: list[list[bytes | None]] = []
        while True:
            payload = await self.reply()
            if payload[:1] == b"\xfe":
                return rows
            rows.append(n.mysql_parse_text_row(payload, count))


@dataclass
class Env:
    gw: MySqlGateway
    fake: FakeMy
    clock: trio.testing.MockClock
    nursery: trio.Nursery
    recorders: list[MemoryRecorder]
    logs: list[tuple[str, dict[str, Any]]]
    idp: DevIdP | None = None
    ended: list[trio.Event] = field(default_factory=list)

    async def connect(self, peer: str = "127.0.0.1") -> MemClient:
        client_end, gateway_end = trio.testing.memory_stream_pair()
        done = trio.Event()
        self.ended.append(done)

        async def run() -> None:
            try:
                await self.gw.run_session(gateway_end, peer)
            finally:
                done.set()

        self.nursery.start_soon(run)
        return MemClient(client_end)

    async def session(self, token: str = KEY) -> MemClient:
        client = await self.connect()
        ok = await client.login("bot", token)
        assert ok[:1] == b"\x00", ok
        return client

    async def jump(self, seconds: float) -> None:
        await trio.testing.wait_all_tasks_blocked()
        self.clock.jump(seconds)

    async def all_ended(self) -> None:
        for done in self.ended:
            await done.wait()


async def _guard() -> None:
    await trio.sleep(3600)
    raise TimeoutError("the test is stuck (an hour of test time passed)")


async def make_env(
    nursery: trio.Nursery,
    clock: trio.testing.MockClock,
    tmp_path: Path,
    *,
    dev_idp: bool = False,
    max_connections: int = 100,
) -> Env:
    clock.autojump_threshold = 5.0
    nursery.start_soon(_guard)
    config = load_config_text(config_text(max_connections), base_dir=tmp_path)
    discovery = None
    idp = None
    if dev_idp:
        idp = DevIdP.from_config(config)
        discovery = await nursery.start(idp.serve, "127.0.0.1", 0)
    auth = Authenticator.from_config(config, dev_discovery_url=discovery)
    recorders: list[MemoryRecorder] = []
    logs: list[tuple[str, dict[str, Any]]] = []

    def recorder(info: SessionInfo) -> MemoryRecorder:
        recorders.append(MemoryRecorder(info))
        return recorders[-1]

    fake = FakeMy(nursery)
    gw = MySqlGateway(
        Services(
            config,
            auth,
            recorder_factory=recorder,
            log=lambda event, **f: logs.append((event, f)),
            open_upstream=fake.open,
        )
    )
    return Env(gw, fake, clock, nursery, recorders, logs, idp)
