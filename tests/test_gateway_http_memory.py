"""The HTTP session on Trio memory streams, under a MockClock the test
moves by hand: a fake upstream (h11) behind ``open_upstream``, static keys
for identity. Idle connections end without an answer, a hold that times
out is a 403 naming its approval, a kept-alive upstream connection that
was closed meanwhile is opened again for a request without a body, an
upstream that breaks HTTP is a 502, and a request that names another
subject's token is refused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import h11
import pytest
import trio
import trio.testing

from limen.approvals import ApprovalHub, ApprovalRequest
from limen.config import load_config_text
from limen.gateway import HttpGateway, Services
from limen.identity import Authenticator
from limen.identity.statickeys import hash_key
from limen.recording import MemoryRecorder, SessionInfo
from limen.store import open_store

KEYS = {"bot": ("key-bot-7f3a9c", ("ci",)), "carer": ("key-carer-51be02", ("careful",))}


def config_text() -> str:
    keys = "".join(
        f'\n[[identity.keys]]\nname = "{name}"\nsha256 = "{hash_key(k)}"\ngroups = ["{g[0]}"]\n'
        for name, (k, g) in KEYS.items()
    )
    return f"""
[gateway]
state = "sqlite://state/limen.db"
idle_timeout = "5m"
hold_timeout = "2m"
{keys}
[listeners]
http = "127.0.0.1:0"

[[resources]]
name = "api"
protocol = "http"
upstream = "http://api.internal:8080/v1"
password = "upstream-pw"
dev = true

[[rules]]
name = "ci-api"
groups = ["ci"]
resources = ["api"]
allow = ["read", "write"]

[[rules]]
name = "careful-api"
groups = ["careful"]
resources = ["api"]
allow = ["read"]
hold = ["write"]
approvers = ["security"]
"""


class FakeUpstream:
    """An HTTP/1.1 server per upstream connection; ``mode`` says how it
    behaves: "ok" (answers, keeps alive), "close" (answers one request,
    then closes without saying so), "garbage" (answers bytes that are not
    HTTP)."""

    def __init__(self, nursery: trio.Nursery, mode: str = "ok") -> None:
        self.nursery = nursery
        self.mode = mode
        self.connections = 0
        self.requests: list[h11.Request] = []

    async def open(self, host: str, port: int) -> trio.abc.Stream:
        assert (host, port) == ("api.internal", 8080)
        ours, theirs = trio.testing.memory_stream_pair()
        self.connections += 1
        self.nursery.start_soon(self.serve, theirs)
        return ours

    async def serve(self, stream: trio.abc.Stream) -> None:
        conn = h11.Connection(h11.SERVER)
        async with stream:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.Request):
                    self.requests.append(event)
                if isinstance(event, h11.EndOfMessage):
                    if self.mode == "garbage":
                        await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
                        return
                    body = b"ok %d" % len(self.requests)
                    await stream.send_all(
                        conn.send(
                            h11.Response(
                                status_code=200, headers=[("content-length", str(len(body)))]
                            )
                        )
                        + conn.send(h11.Data(data=body))
                        + conn.send(h11.EndOfMessage())
                    )
                    if self.mode == "close":
                        return
                    conn.start_next_cycle()


class Env:
    def __init__(
        self, gw: HttpGateway, fake: FakeUpstream, hub: ApprovalHub, nursery: trio.Nursery
    ):
        self.gw = gw
        self.fake = fake
        self.hub = hub
        self.nursery = nursery
        self.recorders: list[MemoryRecorder] = []
        self.ended = trio.Event()

    async def connect(self, peer: str = "127.0.0.1") -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()

        async def run() -> None:
            try:
                await self.gw.run_session(server, peer)
            finally:
                self.ended.set()

        self.nursery.start_soon(run)
        return client


async def make_env(
    nursery: trio.Nursery, clock: trio.testing.MockClock, tmp_path: Path, mode: str = "ok"
) -> Env:
    clock.autojump_threshold = 5.0
    config = load_config_text(config_text(), base_dir=tmp_path)
    hub = ApprovalHub(open_store(config.gateway.state, tmp_path))
    await nursery.start(hub.run)
    fake = FakeUpstream(nursery, mode)
    env_recorders: list[MemoryRecorder] = []

    def recorder(info: SessionInfo) -> MemoryRecorder:
        env_recorders.append(MemoryRecorder(info))
        return env_recorders[-1]

    services = Services(
        config,
        Authenticator.from_config(config),
        recorder_factory=recorder,
        log=lambda event, **f: None,
        approvals=hub,
        open_upstream=fake.open,
    )
    env = Env(HttpGateway(services), fake, hub, nursery)
    env.recorders = env_recorders
    return env


def get(path: str, key: str, method: str = "GET", body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def response(stream: trio.abc.Stream, conn: h11.Connection) -> tuple[int, bytes]:
    """One response read with ``conn`` (a client connection)."""
    status = 0
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return status, bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            raise AssertionError("closed without a response")


async def exchange(stream: trio.abc.Stream, request: bytes) -> tuple[int, bytes]:
    await stream.send_all(request)
    conn = h11.Connection(h11.CLIENT)
    method = request.split(b" ", 1)[0].decode()
    conn.send(h11.Request(method=method, target="/", headers=[("host", "gw")]))
    conn.send(h11.EndOfMessage())
    return await response(stream, conn)


async def pending_approvals(env: Env) -> list[ApprovalRequest]:
    """The pending approvals once there are some (the store writes in a
    thread: wait in real time, the mock clock stays put)."""
    for _ in range(1000):
        found = await trio.to_thread.run_sync(env.hub.store.approvals)
        if found:
            return found
        await trio.to_thread.run_sync(time.sleep, 0.01)
    raise AssertionError("no approval request")


@pytest.fixture
async def env(nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path) -> Env:
    return await make_env(nursery, mock_clock, tmp_path)


async def test_an_idle_connection_ends_without_an_answer(
    env: Env, mock_clock: trio.testing.MockClock
) -> None:
    client = await env.connect()
    assert await exchange(client, get("/r/api/a", KEYS["bot"][0])) == (200, b"ok 1")
    await trio.testing.wait_all_tasks_blocked()
    mock_clock.jump(299)
    await trio.testing.wait_all_tasks_blocked()
    assert not env.ended.is_set()  # not idle for 5m yet
    mock_clock.jump(2)
    await trio.testing.wait_all_tasks_blocked()
    mock_clock.jump(1)  # the gateway's short wait for the client to read its end
    assert await client.receive_some(100) == b""  # closed, nothing said
    await env.ended.wait()
    (rec,) = env.recorders
    end = [json.loads(p) for k, p in rec.records if k == "event" and b'"end"' in p]
    assert end[-1]["reason"] == "57P05"


async def test_a_hold_that_times_out_is_a_403_naming_the_approval(
    env: Env, mock_clock: trio.testing.MockClock
) -> None:
    client = await env.connect()
    await client.send_all(get("/r/api/items", KEYS["carer"][0], "POST", b'{"a": 1}'))
    (pending,) = await pending_approvals(env)
    assert pending.statement == "POST /r/api/items"
    mock_clock.jump(121)
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="POST", target="/", headers=[("host", "gw")]))
    status, body = await response(client, conn)
    doc = json.loads(body)
    assert status == 403
    assert doc["approval"] == pending.id
    assert "timed out" in doc["detail"]
    assert env.fake.requests == []  # never went upstream
    # The connection goes on: the body was read, the next request is served.
    assert await exchange(client, get("/r/api/a", KEYS["carer"][0])) == (200, b"ok 1")


async def test_a_kept_alive_upstream_that_closed_is_opened_again(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await make_env(nursery, mock_clock, tmp_path, mode="close")
    client = await env.connect()
    assert await exchange(client, get("/r/api/a", KEYS["bot"][0])) == (200, b"ok 1")
    await trio.testing.wait_all_tasks_blocked()
    assert await exchange(client, get("/r/api/b", KEYS["bot"][0])) == (200, b"ok 2")
    assert env.fake.connections == 2
    assert [r.target for r in env.fake.requests] == [b"/v1/a", b"/v1/b"]
    assert all((b"authorization", b"Bearer upstream-pw") in r.headers for r in env.fake.requests)


async def test_an_upstream_that_breaks_http_is_a_502(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await make_env(nursery, mock_clock, tmp_path, mode="garbage")
    client = await env.connect()
    status, body = await exchange(client, get("/r/api/a", KEYS["bot"][0]))
    await client.aclose()
    assert status == 502
    assert "failed" in json.loads(body)["detail"]


async def test_another_subjects_token_on_the_connection_is_refused(env: Env) -> None:
    client = await env.connect()
    assert await exchange(client, get("/r/api/a", KEYS["bot"][0])) == (200, b"ok 1")
    status, body = await exchange(client, get("/r/api/a", KEYS["carer"][0]))
    assert status == 401
    assert "subject" in json.loads(body)["detail"]
    assert len(env.fake.requests) == 1


async def test_no_token_in_clear_text_off_loopback(env: Env) -> None:
    client = await env.connect(peer="10.1.2.3")
    status, body = await exchange(client, get("/r/api/a", KEYS["bot"][0]))
    await client.aclose()
    assert status == 401
    assert "only over TLS" in json.loads(body)["detail"]
    assert env.fake.requests == []
