"""MySQL sessions on memory streams against a fake upstream, under a
MockClock the test moves (tests/mysql_memory.py): the token's expiry, the
idle watch, a drain, a silent client, the upstream going away, plaintext
off loopback, a malformed packet — each as the MySQL error a client shows,
with nothing waiting on real time."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from limen import _native as n
from mysql_memory import KEY, MySqlErrorReply, make_env


async def test_login_and_a_query_reach_the_fake_upstream(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await make_env(nursery, mock_clock, tmp_path)
    client = await env.session()
    assert await client.query("SELECT v FROM t") == [[b"hello"]]
    assert env.fake.conns[0].queries == [b"SELECT v FROM t"]


async def test_the_session_ends_with_1045_when_the_token_expires(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await make_env(nursery, mock_clock, tmp_path, dev_idp=True)
    assert env.idp is not None
    client = await env.session(env.idp.mint("bot", ["ci"], ttl=60))
    await env.jump(30)
    assert await client.query("SELECT v FROM t") == [[b"hello"]]
    await env.jump(31)
    with pytest.raises(MySqlErrorReply) as ended:
        await client.reply()
    code, state, message = ended.value.args
    assert (code, state) == (1045, "28000")
    assert "the token expired" in message
    assert client.last_seq == 1  # the answer to the client's next command
    await client.p.stream.aclose()
    await env.all_ended()
    assert env.recorders[0].closed
    assert env.fake.conns[0].closed  # COM_QUIT upstream


async def test_an_idle_session_ends_with_4031(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await make_env(nursery, mock_clock, tmp_path)
    client = await env.session()
    await env.jump(4 * 60)
    assert await client.query("SELECT 1") == [[b"hello"]]  # activity restarts the watch
    await env.jump(5 * 60 + 1)
    with pytest.raises(MySqlErrorReply) as ended:
        await client.reply()
    assert ended.value.args[0] == 4031
    assert "idle for 5m" in ended.value.args[2]


async def test_a_drain_ends_sessions_with_1053_after_drain_timeout(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await make_env(nursery, mock_clock, tmp_path)
    client = await env.session()
    nursery.start_soon(env.gw.drain)
    await env.jump(29)
    assert await client.query("SELECT 1") == [[b"hello"]]
    await env.jump(2)
    with pytest.raises(MySqlErrorReply) as ended:
        await client.reply()
    assert ended.value.args[:2] == (1053, "08S01")


async def test_a_silent_client_is_dropped_after_the_handshake_timeout(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await make_env(nursery, mock_clock, tmp_path)
    client = await env.connect()
    greeting = await client.p.read()
    assert greeting is not None
    await env.jump(11)
    with pytest.raises(MySqlErrorReply) as ended:
        await client.reply()
    assert "handshake timed out" in ended.value.args[2]
    assert env.fake.conns == []


async def test_the_upstream_going_away_is_2013(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await make_env(nursery, mock_clock, tmp_path)
    client = await env.session()
    await env.fake.close_all()
    client.p.seq = 0
    await client.p.send(n.mysql_encode_query(b"SELECT 1"))
    with pytest.raises(MySqlErrorReply) as ended:
        await client.reply()
    assert ended.value.args[0] == 2013
    assert "upstream server closed" in ended.value.args[2]


async def test_plaintext_off_loopback_is_3159_before_the_token_is_read(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await make_env(nursery, mock_clock, tmp_path)
    client = await env.connect(peer="10.1.2.3")
    with pytest.raises(MySqlErrorReply) as refused:
        await client.login("bot", KEY)
    assert refused.value.args[0] == 3159
    assert "only over TLS" in refused.value.args[2]
    assert env.fake.conns == []
    assert not any(e == "session_start" for e, _ in env.logs)


async def test_a_malformed_command_closes_only_its_connection(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await make_env(nursery, mock_clock, tmp_path)
    bad = await env.session()
    good = await env.session()
    await bad.p.stream.send_all(b"\x01\x00\x00\x07\x03")  # sequence id 7, not 0
    with pytest.raises(MySqlErrorReply) as ended:
        await bad.reply()
    assert ended.value.args[0] == 1835
    assert ended.value.args[2].startswith("limen: protocol error")
    assert await good.query("SELECT 2") == [[b"hello"]]


async def test_a_refused_key_is_1045_and_never_logged(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await make_env(nursery, mock_clock, tmp_path)
    client = await env.connect()
    wrong = "key-not-registered-9d1e"
    with pytest.raises(MySqlErrorReply) as refused:
        await client.login("bot", wrong)
    code, state, message = refused.value.args
    assert (code, state) == (1045, "28000")
    assert "token refused" in message
    assert wrong not in message
    assert wrong not in repr(env.logs)
    assert [f["reason"] for e, f in env.logs if e == "auth_refused"] == ["unknown_credential"]
    assert env.fake.conns == []  # nothing reached the upstream


async def test_the_gateway_full_is_an_err_as_the_first_packet(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    env = await make_env(nursery, mock_clock, tmp_path, max_connections=1)
    await env.session()
    second = await env.connect()
    with pytest.raises(MySqlErrorReply) as refused:
        await second.reply()
    assert second.last_seq == 0  # instead of the greeting
    assert refused.value.args[0] == 1203
    assert "too many connections" in refused.value.args[2]
