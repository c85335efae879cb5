"""A gateway whose sessions run on Trio memory streams against
:class:`fakepg.FakePg` (no PostgreSQL, no sockets but the dev IdP's when a
test asks for it), under a MockClock the test moves by hand: nothing times
out unless the test jumps the clock, so a loaded machine cannot make these
tests flaky. Used by tests/test_session_memory*.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
import trio.testing

from fakepg import Answer, FakePg, fields
from limen.approvals import ApprovalHub
from limen.config import load_config_text
from limen.gateway import PgGateway
from limen.identity import Authenticator, DevIdP
from limen.identity.statickeys import hash_key
from limen.metrics import GatewayMetrics
from limen.recording import MemoryRecorder, SessionInfo
from limen.store import open_store
from memclient import Client, Reply

#: Static keys (no network): subject -> (key, groups).
KEYS = {
    "bot": ("key-bot-7f3a9c", ("ci",)),
    "carer": ("key-carer-51be02", ("careful",)),
}


def key(subject: str) -> str:
    return KEYS[subject][0]


def config_text() -> str:
    keys = "".join(
        f'\n[[identity.keys]]\nname = "{name}"\nsha256 = "{hash_key(k)}"\ngroups = {list(g)!r}\n'
        for name, (k, g) in KEYS.items()
    ).replace("'", '"')
    return f"""
[gateway]
state = "sqlite://state/limen.db"
relay = "trio"
handshake_timeout = "10s"
idle_timeout = "5m"
hold_timeout = "2m"
drain_timeout = "30s"
max_connections_per_identity = 2

[listeners]
postgres = "127.0.0.1:0"

[identity]
leeway = "0s"

[identity.dev]
enabled = true
{keys}
[[resources]]
name = "app"
protocol = "postgres"
upstream = "db.internal:5433"
database = "appdb"
user = "app_rw"
idle_timeout = "1m"

[[rules]]
name = "ci-app"
groups = ["ci"]
resources = ["app"]
allow = ["read", "write"]
deny = ["ddl", "admin"]

[[rules]]
name = "careful-app"
groups = ["careful"]
resources = ["app"]
allow = ["read"]
hold = ["write"]
approvers = ["security"]
"""


@dataclass
class Env:
    gw: PgGateway
    fake: FakePg
    clock: trio.testing.MockClock
    nursery: trio.Nursery
    recorders: list[MemoryRecorder]
    logs: list[tuple[str, dict[str, Any]]]
    hub: ApprovalHub | None = None
    idp: DevIdP | None = None
    ended: list[trio.Event] = field(default_factory=list)

    async def connect(self, peer: str = "127.0.0.1") -> Client:
        """A new client connection; its session runs in the nursery."""
        client_end, gateway_end = trio.testing.memory_stream_pair()
        done = trio.Event()
        self.ended.append(done)

        async def run() -> None:
            try:
                await self.gw.run_session(gateway_end, peer)
            finally:
                done.set()

        self.nursery.start_soon(run)
        return Client(client_end)

    async def session(self, subject: str = "bot", token: str | None = None) -> Client:
        """A client logged in to resource ``app``."""
        client = await self.connect()
        reply = await client.login(subject, token or key(subject))
        assert reply.status == "I", reply.messages
        return client

    async def all_ended(self) -> None:
        for done in self.ended:
            await done.wait()

    async def jump(self, seconds: float) -> None:
        """Let every task block (on I/O or a deadline), then move time on."""
        await trio.testing.wait_all_tasks_blocked()
        self.clock.jump(seconds)

    def logged(self, event: str) -> list[dict[str, Any]]:
        return [f for e, f in self.logs if e == event]


async def fatal(client: Client, reply: Reply | None = None) -> dict[str, str]:
    """The FATAL error (in ``reply`` or read next); then the client closes,
    as the gateway waits for it to."""
    got = list(reply.messages) if reply is not None else []
    while not Reply(got).fatal:
        msg = await client.read()
        assert msg is not None, f"the gateway closed without a FATAL error: {got}"
        got.append(msg)
    await client.stream.aclose()
    return Reply(got).fatal[0]


async def notice(client: Client) -> dict[str, str]:
    """The next message, which must be a NoticeResponse."""
    msg = await client.read()
    assert msg is not None
    assert msg[0] == "N", msg
    return fields(msg[1])


def approval_id(text: str) -> str:
    found = re.search(r"approval ([0-9a-f]{12})", text)
    assert found, text
    return found[1]


async def _guard() -> None:
    await trio.sleep(3600)
    raise TimeoutError("the test is stuck (an hour of test time passed)")


async def make_env(
    nursery: trio.Nursery,
    clock: trio.testing.MockClock,
    tmp_path: Path,
    script: dict[str, Answer] | None = None,
    *,
    hub: bool = True,
    dev_idp: bool = False,
    edit: Callable[[str], str] | None = None,
    metrics: GatewayMetrics | None = None,
) -> Env:
    # The test moves the clock by hand. A test gone wrong must still end:
    # once every task has been blocked for 5 s of real time, time jumps to
    # the next deadline (a session's idle timeout, a FATAL's grace period,
    # ...), and an hour of test time fails it.
    clock.autojump_threshold = 5.0
    nursery.start_soon(_guard)
    text = config_text() if edit is None else edit(config_text())
    config = load_config_text(text, base_dir=tmp_path)
    discovery = None
    idp = None
    if dev_idp:
        idp = DevIdP.from_config(config)
        discovery = await nursery.start(idp.serve, "127.0.0.1", 0)
    auth = Authenticator.from_config(config, dev_discovery_url=discovery)
    approvals = None
    if hub:
        approvals = ApprovalHub(open_store(config.gateway.state, tmp_path))
        await nursery.start(approvals.run)
    recorders: list[MemoryRecorder] = []
    logs: list[tuple[str, dict[str, Any]]] = []

    def recorder(info: SessionInfo) -> MemoryRecorder:
        recorders.append(MemoryRecorder(info))
        return recorders[-1]

    fake = FakePg(nursery, script)
    gw = PgGateway(
        config,
        auth,
        recorder_factory=recorder,
        log=lambda event, **f: logs.append((event, f)),
        approvals=approvals,
        open_upstream=fake.open,
        metrics=metrics if metrics is not None else GatewayMetrics(),
    )
    return Env(gw, fake, clock, nursery, recorders, logs, approvals, idp)
