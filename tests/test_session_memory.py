"""A PostgreSQL session with no PostgreSQL: the gateway's upstream opener
hands it a memory stream to a scripted server (tests/fakepg.py), the client
is a memory stream too, the clock is Trio's MockClock moved by the test.
Handshake, judging, endings and recording here; holds and cancels in
test_session_memory_holds.py. The Trio relay (memory streams cannot go to
the native pump); tests/test_gateway_pg*.py test both relays against a
real PostgreSQL."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

import trio
import trio.testing

from fakepg import MARKER, Result, message
from limen.identity import DevIdP
from memclient import Reply
from memsession import Env, fatal, key, make_env

USERS = Result("SELECT 2", ("id", "name"), (("1", "alice"), ("2", None)))
SCRIPT = {
    "SELECT id, name FROM users": USERS,
    "UPDATE users SET name = 'x' WHERE id = 1": Result("UPDATE 1"),
}


async def env_for(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path, **kw: Any
) -> Env:
    return await make_env(nursery, mock_clock, tmp_path, SCRIPT, hub=False, **kw)


# -- handshake -------------------------------------------------------------------


async def test_login_reaches_the_upstream_as_the_resource_says(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.connect()
    reply = await client.login("bot", key("bot"))
    assert reply.kinds[0] == "R"
    assert reply.kinds[-1] == "Z"
    assert reply.status == "I"
    assert env.fake.opened == [("db.internal", 5433)]
    (conn,) = env.fake.conns
    assert conn.params == {"user": "app_rw", "database": "appdb", "application_name": "memtest"}
    statuses = [body.split(b"\x00")[:2] for body in reply.of("S")]
    assert [b"server_version", b"16.4 (fakepg)"] in statuses
    # The client gets the gateway's own cancel key, never the upstream's.
    assert client.key is not None
    assert client.key != (conn.process_id, conn.secret)


async def test_a_refused_token_gets_28P01_with_the_reason_and_no_upstream(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.connect()
    err = await fatal(client, await client.login("bot", "not-a-known-key"))
    assert err["C"] == "28P01"
    assert "token refused (unknown_credential)" in err["M"]
    assert "not-a-known-key" not in json.dumps(err)
    assert env.fake.opened == []
    (refused,) = env.logged("auth_refused")
    assert refused["reason"] == "unknown_credential"


async def test_the_user_name_must_be_the_tokens_subject(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.connect()
    err = await fatal(client, await client.login("carer", key("bot")))
    assert err["C"] == "28P01"
    assert "the user name 'carer' is not the token's subject" in err["M"]
    assert env.fake.opened == []


async def test_plaintext_is_refused_off_loopback_before_the_token_is_asked_for(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.connect(peer="203.0.113.9")
    await client.startup("bot", "app")
    first = await client.read()  # no AuthenticationCleartextPassword first
    assert first is not None
    assert first[0] == "E"
    err = await fatal(client, Reply([first]))
    assert (err["C"], err["M"]) == ("28000", "limen asks for the token only over TLS")


async def test_an_unknown_resource_is_3D000(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.connect()
    await client.startup("bot", "nope")
    err = await fatal(client)
    assert err["C"] == "3D000"
    assert "no PostgreSQL resource named 'nope'" in err["M"]


async def test_only_protocol_3_0_is_spoken(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.connect()
    await client.startup("bot", "app", version=(3, 2))
    err = await fatal(client)
    assert err["C"] == "0A000"
    assert "protocol version 3.2 is not supported" in err["M"]


async def test_ssl_request_without_a_certificate_is_answered_N_then_login_works(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.connect()
    await client.send(struct.pack("!ii", 8, 80877103))
    assert await client.reader.exact(1) == b"N"
    reply = await client.login("bot", key("bot"))
    assert reply.status == "I"


async def test_a_silent_client_is_dropped_after_the_handshake_timeout(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.connect()
    await env.jump(9)
    await trio.testing.wait_all_tasks_blocked()
    assert not env.ended[0].is_set()  # still waiting for a startup message
    await env.jump(2)
    err = await fatal(client)
    assert (err["C"], err["M"]) == ("08P01", "the connection handshake timed out")


async def test_an_unreachable_upstream_is_08006(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    env.fake.refuse = ConnectionRefusedError(111, "Connection refused")
    client = await env.connect()
    err = await fatal(client, await client.login("bot", key("bot")))
    assert (err["C"], err["M"]) == ("08006", "cannot reach the upstream of 'app'")
    (line,) = env.logged("upstream_unreachable")
    assert line["resource"] == "app"


async def test_connections_per_identity_are_limited_and_counted_back_down(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    first, _second = await env.session(), await env.session()
    third = await env.connect()
    err = await fatal(third, await third.login("bot", key("bot")))
    assert (err["C"], err["M"]) == ("53300", "too many connections for 'bot' (limit 2)")
    assert len(env.fake.opened) == 2
    await first.send(message(b"X"))  # Terminate: its count is given back
    await env.ended[0].wait()
    assert (await (await env.session()).query("SELECT id, name FROM users")).rows == list(
        USERS.rows
    )


async def test_a_full_gateway_turns_a_connection_away_with_53300(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    def edit(text: str) -> str:
        limits = "max_connections = 2\nmax_connections_per_identity = 1"
        return text.replace("max_connections_per_identity = 2", limits)

    env = await env_for(nursery, mock_clock, tmp_path, edit=edit)
    first, _second = await env.session("bot"), await env.session("carer")
    third = await env.connect()
    err = await fatal(third, await third.login("bot", key("bot")))  # after its startup
    assert (err["S"], err["C"]) == ("FATAL", "53300")
    assert err["M"] == "too many connections to the gateway (limit 2)"
    # A client that asks for TLS first gets its answer, then the refusal
    # (libpq shows no message sent in place of the answer).
    fourth = await env.connect()
    await fourth.send(struct.pack("!ii", 8, 80877103))
    assert await fourth.reader.exact(1) == b"N"
    err = await fatal(fourth, await fourth.login("bot", key("bot")))
    assert (err["C"], err["M"]) == ("53300", "too many connections to the gateway (limit 2)")
    assert len(env.fake.opened) == 2
    assert env.logged("refused") == [{"reason": "max_connections", "peer": "127.0.0.1"}] * 2
    await first.send(message(b"X"))
    await env.ended[0].wait()
    await env.session("bot")  # room again


async def test_a_resources_max_connections_is_enforced(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    def edit(text: str) -> str:
        return text.replace('idle_timeout = "1m"', 'idle_timeout = "1m"\nmax_connections = 1', 1)

    env = await env_for(nursery, mock_clock, tmp_path, edit=edit)
    first = await env.session("bot")
    other = await env.connect()
    err = await fatal(other, await other.login("carer", key("carer")))
    assert (err["C"], err["M"]) == ("53300", "too many connections to 'app' (limit 1)")
    assert len(env.fake.opened) == 1  # refused before the upstream is opened
    await first.send(message(b"X"))
    await env.ended[0].wait()
    await env.session("carer")


# -- judging ---------------------------------------------------------------------


async def test_an_allowed_statement_reaches_the_upstream_and_its_rows_come_back(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.session()
    reply = await client.query("SELECT id, name FROM users")
    assert reply.kinds == "TDDCZ"
    assert reply.rows == [("1", "alice"), ("2", None)]
    assert env.fake.statements() == ["SELECT id, name FROM users"]


async def test_a_denied_statement_never_reaches_the_upstream(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.session()
    reply = await client.query("DROP TABLE users")
    (err,) = reply.errors
    assert (err["S"], err["C"]) == ("ERROR", "42501")
    assert err["M"].startswith("limen: ")
    assert err["D"].startswith("rule: ci-app; class: ddl; action: deny")
    assert "marker" not in err["M"]
    assert "limen_denied" not in json.dumps(err)
    assert reply.status == "I"
    # The upstream saw only the marker statement, and failed it itself.
    (seen,) = env.fake.statements()
    assert MARKER.fullmatch(seen), seen
    # The session goes on.
    assert (await client.query("SELECT id, name FROM users")).rows == list(USERS.rows)
    (denial,) = env.logged("decision")
    assert (denial["action"], denial["rule"], denial["klass"]) == ("deny", "ci-app", "ddl")


async def test_a_denial_inside_a_transaction_fails_the_block_upstream_too(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.session()
    assert (await client.query("BEGIN")).status == "T"
    denied = await client.query("DROP TABLE users")
    assert [e["C"] for e in denied.errors] == ["42501"]
    assert denied.status == "E"  # the upstream's own ReadyForQuery: the block failed
    after = await client.query("SELECT id, name FROM users")
    assert [e["C"] for e in after.errors] == ["25P02"]
    rollback = await client.query("ROLLBACK")
    assert (rollback.of("C"), rollback.status) == ([b"ROLLBACK\x00"], "I")


async def test_an_extended_denial_discards_until_sync(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.session()
    reply = await client.extended("DROP TABLE users", describe=True)
    assert reply.kinds == "EZ"
    assert reply.errors[0]["C"] == "42501"
    assert "class: ddl" in reply.errors[0]["D"]
    (conn,) = env.fake.conns
    # Parse (the marker's) and Sync: the Bind, Describe and Execute were dropped.
    assert conn.kinds() == "PS"
    assert MARKER.fullmatch(conn.statements[0])
    # The next extended statement runs; the gateway's own Describe before
    # Execute is answered upstream and not passed on.
    ok = await client.extended("SELECT id, name FROM users")
    assert ok.kinds == "12DDCZ"
    assert ok.rows == list(USERS.rows)
    assert conn.kinds() == "PS" + "PBDES"


async def test_a_function_call_is_refused(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.session()
    await client.send(message(b"F", struct.pack("!ihhh", 1234, 0, 0, 0)))
    reply = await client.reply()
    assert reply.errors[0]["C"] == "42501"
    assert "function call interface is not allowed" in reply.errors[0]["M"]
    assert "F" not in env.fake.conns[0].kinds()


async def test_a_statement_that_cannot_be_judged_is_denied(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.session()
    await client.send(message(b"Q", b"SELECT '\xff\xfe'\x00"))
    reply = await client.reply()
    assert reply.errors[0]["C"] == "42501"
    assert "could not be judged" in reply.errors[0]["M"]
    assert all(MARKER.fullmatch(s) for s in env.fake.statements())


# -- ending ----------------------------------------------------------------------


async def test_an_idle_session_ends_with_57P05(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.session()
    await env.jump(40)
    await client.query("SELECT id, name FROM users")  # activity restarts the wait
    await env.jump(40)
    await trio.testing.wait_all_tasks_blocked()
    assert not env.ended[0].is_set()
    await env.jump(21)  # the resource's idle_timeout, not [gateway]'s 5m
    err = await fatal(client)
    assert (err["C"], err["M"]) == ("57P05", "idle for 1m; the session is closed")
    await env.all_ended()
    assert env.fake.conns[0].kinds().endswith("X")  # Terminate sent upstream
    assert env.fake.conns[0].closed


async def test_the_session_ends_when_the_token_expires(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path, dev_idp=True)
    assert env.idp is not None
    client = await env.session(token=env.idp.mint("bot", ["ci"], ttl=60))
    await env.jump(30)
    assert (await client.query("SELECT id, name FROM users")).rows == list(USERS.rows)
    await env.jump(31)
    err = await fatal(client)
    assert err["C"] == "28P01"
    assert err["M"] == "the token expired; the session is closed"
    await env.all_ended()
    (rec,) = env.recorders
    assert (rec.closed, rec.reason) == (True, "28P01")  # the index keeps why it ended


async def test_an_expired_token_is_refused(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path, dev_idp=True)
    assert env.idp is not None
    past = DevIdP(  # the env's IdP, two minutes ago
        issuer=env.idp.issuer,
        audience=env.idp.audience,
        store=env.idp.store,
        clock=lambda: time.time() - 120,
    )
    old = past.mint("bot", ["ci"], ttl=60)
    client = await env.connect()
    err = await fatal(client, await client.login("bot", old))
    assert err["C"] == "28P01"
    assert "token refused (expired)" in err["M"]
    assert old not in json.dumps(err)
    assert old not in json.dumps(env.logs)


async def test_the_upstream_closing_ends_the_session_with_08006(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.session()
    await env.fake.conns[0].close()
    err = await fatal(client)
    assert (err["C"], err["M"]) == ("08006", "the upstream server closed the connection")


async def test_a_drain_waits_then_ends_sessions_with_57P01(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.session()
    nursery.start_soon(env.gw.drain)
    await env.jump(29)
    await trio.testing.wait_all_tasks_blocked()
    assert not env.ended[0].is_set()  # the drain waits for drain_timeout
    assert (await client.query("SELECT id, name FROM users")).rows == list(USERS.rows)
    await env.jump(2)
    err = await fatal(client)
    assert err["C"] == "57P01"
    assert "shutting down" in err["M"]


async def test_a_malformed_message_closes_that_connection_only(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    bad, good = await env.session(), await env.session()
    await bad.send(b"Q" + struct.pack("!i", 2))  # a length shorter than itself
    err = await fatal(bad)
    assert err["C"] == "08P01"
    assert err["M"].startswith("protocol error: ")
    assert (await good.query("SELECT id, name FROM users")).rows == list(USERS.rows)


# -- recording -------------------------------------------------------------------


async def test_the_recorder_gets_statements_decisions_and_the_end(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await env_for(nursery, mock_clock, tmp_path)
    client = await env.session()
    await client.query("SELECT id, name FROM users")
    await client.query("DROP TABLE users")
    await client.send(message(b"X"))  # Terminate
    await env.all_ended()
    (rec,) = env.recorders
    assert (rec.closed, rec.reason) == (True, "closed")
    assert rec.info is not None
    assert (rec.info.subject, rec.info.resource) == ("bot", "app")
    assert rec.of("c2u") == [b"SELECT id, name FROM users", b"DROP TABLE users"]
    events = [json.loads(p) for p in rec.of("event")]
    decisions = [(e["action"], e["rule"], e["class"]) for e in events if e["event"] == "decision"]
    assert decisions == [("allow", "ci-app", "read"), ("deny", "ci-app", "ddl")]
    assert events[-1] == {"event": "end", "reason": "closed"}
    assert any(b"alice" in p for p in rec.of("u2c"))
    everything = b"".join(p for _, p in rec.records)
    assert key("bot").encode() not in everything
    assert env.fake.conns[0].kinds().endswith("X")
