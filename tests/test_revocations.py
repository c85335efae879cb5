"""Revocations: two gateways ("nodes") on one state store, in memory with
a MockClock; a revocation written to the store ends the covered sessions
on both within the poll interval and refuses new ones, by subject, by
token id and by static key, and lets others be; and the CLI that writes,
lists and lifts them."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio
import trio.testing

from fakepg import message
from limen.gateway import PgGateway
from limen.gateway.revocations import Revoker
from limen.recording import MemoryRecorder
from limen.store import Revocation, open_store
from memclient import Client
from memsession import Env, config_text, fatal, key, make_env
from test_session_memory import SCRIPT, USERS


def revocation(kind: str, value: str, *, expires_in: float | None = 3600) -> Revocation:
    now = time.time()
    return Revocation(
        id=f"rev_{kind}",
        kind=kind,
        value=value,
        reason="leaked in a CI log",
        revoked_by="test",
        revoked_at=now,
        expires_at=None if expires_in is None else now + expires_in,
    )


class Nodes:
    """The env's gateway and a second one on the same store and upstream."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.other = PgGateway(
            env.gw.config,
            env.gw.authenticator,
            recorder_factory=MemoryRecorder,
            log=lambda event, **f: env.logs.append((event, f)),
            open_upstream=env.fake.open,
        )

    async def start_revokers(self) -> None:
        assert self.env.hub is not None
        self.revokers = [
            Revoker(
                self.env.hub.store, [gw], log=lambda event, **f: self.env.logs.append((event, f))
            )
            for gw in (self.env.gw, self.other)
        ]
        for revoker in self.revokers:
            await self.env.nursery.start(revoker.run)

    async def polled(self) -> None:
        """Every node has read the store (the poll's store read runs in a
        thread: a clock jump alone does not wait for it)."""
        for revoker in self.revokers:
            await revoker.poll()

    async def connect_other(self) -> Client:
        client_end, gateway_end = trio.testing.memory_stream_pair()
        done = trio.Event()

        async def run() -> None:
            try:
                await self.other.run_session(gateway_end, "127.0.0.1")
            finally:
                done.set()

        self.env.nursery.start_soon(run)
        self.env.ended.append(done)
        return Client(client_end)

    async def session_other(self, subject: str, token: str) -> Client:
        client = await self.connect_other()
        reply = await client.login(subject, token)
        assert reply.status == "I", reply.messages
        return client


async def nodes(
    nursery: trio.Nursery, clock: trio.testing.MockClock, tmp_path: Path, *, dev_idp: bool = False
) -> Nodes:
    env = await make_env(nursery, clock, tmp_path, SCRIPT, dev_idp=dev_idp)
    n = Nodes(env)
    await n.start_revokers()
    return n


async def test_a_subject_revoked_on_the_store_ends_its_sessions_on_every_node(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    n = await nodes(nursery, mock_clock, tmp_path)
    env = n.env
    assert env.hub is not None
    here = await env.session("bot")
    there = await n.session_other("bot", key("bot"))
    bystander = await env.session("carer")
    env.hub.store.revoke(revocation("subject", "bot"))
    await env.jump(1)  # one poll interval
    for client in (here, there):
        err = await fatal(client)
        assert (err["C"], err["M"]) == (
            "28P01",
            "the credential was revoked (rev_subject); the session is closed",
        )
    # Another identity's session goes on.
    assert (await bystander.query("SELECT id, name FROM users")).rows == list(USERS.rows)
    # New sessions of the subject are refused on both nodes, before any upstream.
    opened = len(env.fake.opened)
    for connect in (env.connect, n.connect_other):
        client = await connect()
        err = await fatal(client, await client.login("bot", key("bot")))
        assert err["C"] == "28P01"
        assert err["M"] == "token refused (revoked): the credential was revoked (rev_subject)"
    assert len(env.fake.opened) == opened
    assert len(env.logged("session_revoked")) == 2
    refused = [f for f in env.logged("auth_refused") if f["reason"] == "revoked"]
    assert len(refused) == 2
    await bystander.send(message(b"X"))


async def test_a_token_is_revoked_by_its_id_and_the_subjects_other_tokens_still_work(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    n = await nodes(nursery, mock_clock, tmp_path, dev_idp=True)
    env = n.env
    assert env.hub is not None
    assert env.idp is not None
    leaked = env.idp.mint("bot", ["ci"], ttl=600)
    other = env.idp.mint("bot", ["ci"], ttl=600)
    jti = json.loads(base64.urlsafe_b64decode(leaked.split(".")[1] + "==").decode())["jti"]
    victim = await env.session("bot", token=leaked)
    fine = await n.session_other("bot", other)
    env.hub.store.revoke(revocation("token", jti))
    await env.jump(1)
    err = await fatal(victim)
    assert err["C"] == "28P01"
    assert (await fine.query("SELECT id, name FROM users")).rows == list(USERS.rows)
    await fine.send(message(b"X"))


async def test_a_static_key_is_revoked_until_lifted(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    n = await nodes(nursery, mock_clock, tmp_path)
    env = n.env
    assert env.hub is not None
    client = await env.session("carer")
    env.hub.store.revoke(revocation("key", "carer", expires_in=None))
    await env.jump(1)
    assert (await fatal(client))["C"] == "28P01"
    env.hub.store.lift_revocation("rev_key")
    await n.polled()
    again = await n.session_other("carer", key("carer"))
    assert (await again.query("SELECT id, name FROM users")).rows == list(USERS.rows)
    await again.send(message(b"X"))


async def test_an_expired_revocation_no_longer_refuses(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    n = await nodes(nursery, mock_clock, tmp_path)
    env = n.env
    assert env.hub is not None
    env.hub.store.revoke(revocation("subject", "bot", expires_in=-1))  # the tokens are gone
    await n.polled()
    client = await env.session("bot")
    assert (await client.query("SELECT id, name FROM users")).rows == list(USERS.rows)
    await client.send(message(b"X"))


# -- the CLI ------------------------------------------------------------------------


def limen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limen", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "limen.toml"
    path.write_text(config_text())
    return path


def test_the_cli_revokes_lists_and_lifts(config_file: Path, tmp_path: Path) -> None:
    cfg = str(config_file)
    done = limen("identity", "revoke", "--config", cfg, "--sub", "bot", "--reason", "leaked")
    assert done.returncode == 0, done.stderr
    rev = json.loads(done.stdout)
    assert (rev["kind"], rev["value"], rev["reason"]) == ("subject", "bot", "leaked")
    assert rev["expires_at"] is not None  # a token revocation lasts as long as the tokens
    key_rev = json.loads(limen("identity", "revoke", "--config", cfg, "--key", "carer").stdout)
    assert key_rev["expires_at"] is None
    listed = limen("identity", "revocations", "--config", cfg)
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [
        rev["id"],
        key_rev["id"],
    ]
    store = open_store("sqlite://state/limen.db", tmp_path)
    assert {r.id for r in store.revocations(now=time.time())} == {rev["id"], key_rev["id"]}
    assert limen("identity", "lift", "--config", cfg, rev["id"]).returncode == 0
    assert [r.id for r in store.revocations(now=time.time())] == [key_rev["id"]]
    unknown = limen("identity", "lift", "--config", cfg, "rev_nope")
    assert unknown.returncode == 1
    assert "no revocation 'rev_nope'" in unknown.stderr
    both = limen("identity", "revoke", "--config", cfg, "--key", "k", "--issuer", "https://x")
    assert both.returncode == 2
    assert "--issuer goes with --sub" in both.stderr
