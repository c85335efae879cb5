"""The gateway's shared parts without any database: the session skeleton
(run with a minimal driver over Trio memory streams), the judge's frozen
verdicts, the hold service without a store, and connection counting."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import msgspec
import pytest
import trio
import trio.testing

from limen.config import Config, load_config_text
from limen.gateway.holds import Holds
from limen.gateway.judging import HELD, Judge, Verdict
from limen.gateway.server import Listener
from limen.gateway.services import JsonLog, Refused, Services, Slot
from limen.gateway.session import Admission, Session, SessionEnd
from limen.identity import Authenticator, Identity
from limen.inmask import InputMasker
from limen.policy import Decision, SessionPolicy
from limen.recording import MemoryRecorder, SessionInfo

CONFIG = """
[gateway]
max_connections_per_identity = 1
idle_timeout = "30s"
[identity.dev]
enabled = true
[listeners]
postgres = "127.0.0.1:6432"
[[resources]]
name = "app"
protocol = "postgres"
upstream = "127.0.0.1:5432"
[[rules]]
name = "bots"
groups = ["bots"]
resources = ["app"]
allow = ["read"]
hold = ["write"]
deny = ["ddl", "admin"]
approvers = ["security"]
"""


def _identity(subject: str = "bot") -> Identity:
    return Identity(
        subject=subject,
        groups=("bots",),
        issuer="http://127.0.0.1:8898",
        expires_at=None,
        token_id=None,
        method="dev",
    )


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config_text(CONFIG, base_dir=tmp_path)


@pytest.fixture
def services(config: Config) -> tuple[Services, list[MemoryRecorder], io.StringIO]:
    recorders: list[MemoryRecorder] = []

    def recorder(info: SessionInfo) -> MemoryRecorder:
        recorders.append(MemoryRecorder(info))
        return recorders[-1]

    out = io.StringIO()
    svc = Services(
        config, Authenticator.from_config(config), recorder_factory=recorder, log=JsonLog(out)
    )
    return svc, recorders, out


def _logged(out: io.StringIO, event: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return [line for line in lines if line["event"] == event]


# -- connections per identity ---------------------------------------------------


def test_connections_are_counted_per_identity_and_resource(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
) -> None:
    svc = services[0]
    app = svc.config.resource("app")
    assert app is not None
    first = svc.acquire(_identity(), app)
    assert isinstance(first, Slot)
    assert svc.acquire(_identity(), app) == Refused(
        "identity", "too many connections for 'bot' (limit 1)"
    )
    other = svc.acquire(_identity("someone"), app)
    assert isinstance(other, Slot)
    assert svc.per_resource["app"] == 2
    svc.release(first)
    again = svc.acquire(_identity(), app)
    assert again == first
    assert isinstance(again, Slot)
    # the resource's own limit, checked before anything is counted
    capped = msgspec.structs.replace(app, max_connections=2)
    assert svc.acquire(_identity("third"), capped) == Refused(
        "resource", "too many connections to 'app' (limit 2)"
    )
    assert "third" not in "".join(svc.per_identity)
    svc.release(again)
    svc.release(other)
    assert not svc.per_identity
    assert not svc.per_resource


# -- the judge -------------------------------------------------------------------


def _judge(svc: Services, masker: InputMasker | None = None) -> tuple[Judge, MemoryRecorder]:
    recorder = MemoryRecorder()
    policy = SessionPolicy(svc.policy, _identity(), "app")
    return Judge(policy, recorder, masker, svc.log, "s1"), recorder


def _refuse(decision: Decision) -> tuple[bytes, bool]:
    return b"STAND-IN " + decision.klass.encode(), True


def test_an_allow_sends_the_client_bytes_and_may_be_cached(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
) -> None:
    judge, recorder = _judge(services[0])
    verdict = judge.judge(b"SELECT 1", extended=False, name="", allow=b"RAW", refuse=_refuse)
    assert verdict.decision.action == "allow"
    assert verdict.send == b"RAW"
    assert not verdict.held
    assert not verdict.discard
    assert verdict.cache
    assert verdict.event == recorder.of("event")[-1]  # the event as recorded
    assert json.loads(verdict.event or b"")["protocol"] == "simple"
    assert recorder.of("c2u") == [b"SELECT 1"]
    assert judge.statements == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.send = b"other"  # type: ignore[misc]


def test_a_statement_that_prepares_is_not_cached(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
) -> None:
    judge, _ = _judge(services[0])
    verdict = judge.judge(b"SELECT 1", extended=True, name="p1", allow=b"RAW", refuse=_refuse)
    assert verdict.send == b"RAW"
    prepare = judge.judge(
        b"PREPARE q AS SELECT 1", extended=False, name="", allow=b"RAW", refuse=_refuse
    )
    assert prepare.decision.action == "allow"
    assert not prepare.cache
    assert not prepare.shape


def test_a_statement_masked_for_the_record_is_not_cached(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
) -> None:
    judge, recorder = _judge(services[0], InputMasker())
    sql = b"SELECT 'AKIAIOSFODNN7EXAMPLE' AS k"
    verdict = judge.judge(sql, extended=False, name="", allow=sql, refuse=_refuse)
    assert verdict.decision.action == "allow"
    assert recorder.of("c2u") != [sql]  # recorded masked
    assert not verdict.cache


def test_a_denial_sends_the_drivers_stand_in_and_is_logged(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
) -> None:
    svc, _, out = services
    judge, _ = _judge(svc)
    verdict = judge.judge(b"DROP TABLE t", extended=True, name="", allow=b"RAW", refuse=_refuse)
    assert verdict.decision.action == "deny"
    assert verdict.send == b"STAND-IN ddl"
    assert verdict.discard
    assert not verdict.cache
    assert [d["action"] for d in _logged(out, "decision")] == ["deny"]


def test_a_hold_is_marked_and_what_cannot_be_judged_is_denied(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
) -> None:
    judge, _ = _judge(services[0])
    held = judge.judge(
        b"INSERT INTO t VALUES (1)", extended=False, name="", allow=b"RAW", refuse=_refuse
    )
    assert held.held
    assert held.send is HELD
    bad = judge.judge(b"SELECT '\xff'", extended=False, name="", allow=b"RAW", refuse=_refuse)
    assert bad.decision.action == "deny"
    assert bad.decision.klass == "unknown"
    assert bad.send == b"STAND-IN unknown"


# -- holds -------------------------------------------------------------------------


async def test_a_hold_without_an_approvals_store_is_refused(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
) -> None:
    svc, _, out = services
    judge, _ = _judge(svc)
    verdict = judge.judge(
        b"INSERT INTO t VALUES (2)", extended=False, name="", allow=b"R", refuse=_refuse
    )
    assert isinstance(verdict, Verdict)
    assert verdict.held
    events: list[dict[str, object]] = []
    holds = Holds(
        None,
        identity=_identity(),
        resource="app",
        protocol="postgres",
        session_id="s1",
        default_timeout=60.0,
        record=events.append,
        log=svc.log,
    )
    assert not holds.cancel()  # nothing waits
    notified: list[str] = []

    async def notify(created: object, timeout: float) -> None:
        notified.append("called")

    outcome = await holds.hold(verdict.decision, "INSERT ...", notify=notify, watch=None)
    assert not outcome.run
    assert not outcome.gone
    assert "no approvals store" in outcome.message
    assert not notified
    assert not holds.waiting
    assert _logged(out, "decision")[-1]["why"] == "hold refused"


# -- the skeleton ----------------------------------------------------------------


class Driver(Session):
    """A minimal protocol: the client's first line names the subject; the
    relay does what the test says."""

    protocol = "postgres"
    protocol_errors = (EOFError,)

    def __init__(self, services: Services, client: trio.abc.Stream, relay: str) -> None:
        super().__init__(services, client, "127.0.0.1")
        self.plan = relay
        self.steps: list[str] = []

    async def handshake(self) -> Admission | None:
        if self.plan == "slow-handshake":
            await trio.sleep_forever()
        data = await self.client.receive_some(100)
        if not data:
            return None
        resource = self.config.resource("app")
        assert resource is not None
        self.steps.append("handshake")
        return Admission(_identity(data.decode().strip()), resource)

    async def connect_upstream(self) -> None:
        self.steps.append("upstream")

    async def login(self) -> None:
        assert self.recorder is not None  # the skeleton opened the recording first
        assert self.judge is not None
        self.steps.append("login")

    async def relay(self) -> None:
        self.steps.append("relay")
        if self.plan == "two-reasons":
            self.finish(SessionEnd("08006", "first"))
            self.finish(SessionEnd("57P05", "second"))
        elif self.plan == "idle":
            with trio.CancelScope() as scope:
                await self.idle_watch(
                    scope, lambda: trio.current_time() - self.last_activity, lambda: False
                )
        elif self.plan == "forever":
            await trio.sleep_forever()
        elif self.plan in TASK_ERRORS:
            async with trio.open_nursery() as nursery:  # the error reaches run() in a group
                nursery.start_soon(trio.sleep_forever)
                nursery.start_soon(_raise, TASK_ERRORS[self.plan])

    def fatal_bytes(self, end: SessionEnd) -> bytes:
        return f"FATAL {end.code} {end.message}\n".encode()

    async def close_upstream(self) -> None:
        self.steps.append("close_upstream")


TASK_ERRORS: dict[str, BaseException] = {
    "task-eof": EOFError("the peer is gone"),  # a protocol error of this driver
    "task-end": SessionEnd("08006", "ended in a task"),
    "task-reset": ConnectionResetError("reset"),
    "task-bug": KeyError("bug"),
}


async def _raise(exc: BaseException) -> None:
    await trio.sleep(0)
    raise exc


async def _run(svc: Services, plan: str, subject: str = "bot") -> tuple[Driver, bytes]:
    ours, theirs = trio.testing.memory_stream_pair()
    session = Driver(svc, ours, plan)
    received = bytearray()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.run)
        await theirs.send_all(subject.encode())
        while chunk := await theirs.receive_some(100):
            received += chunk
    return session, bytes(received)


async def test_the_first_end_reason_wins(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
) -> None:
    svc, recorders, out = services
    session, received = await _run(svc, "two-reasons")
    assert session.steps == ["handshake", "upstream", "login", "relay", "close_upstream"]
    assert received == b"FATAL 08006 first\n"
    (recorder,) = recorders
    assert recorder.closed
    events = [json.loads(e) for e in recorder.of("event")]
    assert events[-2] == {"event": "fatal", "code": "08006", "message": "first"}
    assert events[-1] == {"event": "end", "reason": "08006"}
    (start,) = _logged(out, "session_start")
    (end,) = _logged(out, "session_end")
    assert start["session"] == end["session"] == session.session_id
    assert end["reason"] == "08006"
    assert not svc.per_identity  # the connection count was released


@pytest.mark.parametrize(
    ("plan", "reply", "reason"),
    [
        (
            "task-eof",
            b"FATAL 08P01 protocol error: the peer is gone; closing this connection\n",
            "protocol_error",
        ),
        ("task-end", b"FATAL 08006 ended in a task\n", "08006"),
        ("task-reset", b"", "connection_lost"),
    ],
)
async def test_an_error_in_a_relay_task_ends_only_its_session(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
    plan: str,
    reply: bytes,
    reason: str,
) -> None:
    svc, recorders, out = services
    session, received = await _run(svc, plan)
    assert received == reply
    assert session.steps[-1] == "close_upstream"
    (end,) = _logged(out, "session_end")
    assert end["reason"] == reason
    assert recorders[0].closed
    assert not svc.per_identity


async def test_a_bug_in_a_relay_task_still_propagates_from_run(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
) -> None:
    svc, recorders, _ = services
    with pytest.RaisesGroup(KeyError, flatten_subgroups=True):
        await _run(svc, "task-bug")
    assert recorders[0].closed  # the cleanup ran all the same
    assert not svc.per_identity


async def test_an_idle_session_ends(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
    autojump_clock: trio.testing.MockClock,
) -> None:
    session, received = await _run(services[0], "idle")
    assert received.startswith(b"FATAL 57P05 idle for 30s")
    assert session.end is not None
    assert session.end.code == "57P05"


async def test_the_handshake_times_out(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
    autojump_clock: trio.testing.MockClock,
) -> None:
    svc, recorders, out = services
    _, received = await _run(svc, "slow-handshake")
    assert received == b"FATAL 08P01 the connection handshake timed out\n"
    assert not recorders  # nothing was recorded before the identity
    assert not _logged(out, "session_end")


async def test_kill_ends_a_relaying_session_and_the_identity_limit_holds(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
) -> None:
    svc = services[0]
    ours, theirs = trio.testing.memory_stream_pair()
    session = Driver(svc, ours, "forever")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.run)
        await theirs.send_all(b"bot")
        while session.steps[-1:] != ["relay"]:
            await trio.sleep(0)
        # a second session of the same identity is over the limit (1)
        _, refused = await _run(svc, "forever")
        assert refused.startswith(b"FATAL 53300 too many connections for 'bot'")
        session.kill("57P01", "draining")
        received = await theirs.receive_some(100)
    assert received == b"FATAL 57P01 draining\n"
    assert not svc.per_identity


class DriverListener(Listener):
    """Accepts :class:`Driver` sessions; each connection's plan is the
    next in ``plans``."""

    protocol = "postgres"

    def __init__(self, services: Services, plans: list[str]) -> None:
        super().__init__(services)
        self.plans = plans

    def new_session(self, stream: trio.abc.Stream, peer_host: str) -> Session:
        return Driver(self.services, stream, self.plans.pop(0))


async def test_a_session_bug_never_ends_the_listener(
    services: tuple[Services, list[MemoryRecorder], io.StringIO],
) -> None:
    svc, recorders, out = services
    listener = DriverListener(svc, ["task-bug", "two-reasons"])
    async with trio.open_nursery() as nursery:
        (sock,) = await nursery.start(listener.serve, "127.0.0.1", 0)
        port = sock.socket.getsockname()[1]
        replies = []
        for _ in range(2):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(b"bot")
            received = b""
            while chunk := await stream.receive_some(100):
                received += chunk
            replies.append(received)
            await stream.aclose()
        await listener.drain(1)
    assert replies == [b"", b"FATAL 08006 first\n"]  # the bug closed only its connection
    (failed,) = _logged(out, "session_failed")
    assert failed["error"] == "KeyError"
    assert len(recorders) == 2
    assert all(r.closed for r in recorders)
