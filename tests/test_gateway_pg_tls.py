"""TLS sessions on both relays (this module runs with "native", "trio",
"native-tls" and "trio-tls": tests/conftest.py): the same session through
a TLS listener and through plaintext records and masks the same bytes;
upstream TLS (``[resources.tls] mode = "require"``, the local PostgreSQL
has ``ssl = on``) moves through the pump; the native TLS session alone
(``_native.TlsSession``, sans-IO) handshakes, verifies as libpq's sslmode
says and refuses what it must."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import msgspec
import psycopg
import pytest
import trio
from psycopg import errors as pgerrors

from gateway_pg_support import Gateway, database, gateway_config, start_gateway, tls_files
from limen import _native
from limen.config import UpstreamTLS
from limen.gateway import JsonLog
from oidc_provider import self_signed

pytestmark = pytest.mark.integration
__all__ = ["database"]


def _script(gw: Gateway, sslmode: str) -> list[object]:
    """A fixed session: simple and extended statements, a masked result, a
    denial, a prepared statement run twice."""
    dsn = gw.dsn(gw.token()).replace("sslmode=disable", f"sslmode={sslmode}")
    dsn = dsn.replace("sslmode=require", f"sslmode={sslmode}")
    out: list[object] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        out.append(conn.execute("SELECT id, email, card FROM users ORDER BY id").fetchall())
        out.append(conn.execute("SELECT name FROM users WHERE id = %s", (2,)).fetchall())
        with pytest.raises(pgerrors.InsufficientPrivilege):
            conn.execute("DROP TABLE users")
        for _ in range(2):
            out.append(
                conn.execute(
                    "SELECT api_key FROM users WHERE id = %s", (1,), prepare=True
                ).fetchall()
            )
        out.append(conn.execute("SELECT ssl FROM pg_stat_ssl LIMIT 0").fetchall())
    return out


async def _closed(gw: Gateway, count: int) -> None:
    with trio.fail_after(15):
        while len(gw.recorders) < count or not all(r.closed for r in gw.recorders):
            await trio.sleep(0.01)


def _session_bytes(records: list[tuple[str, bytes]]) -> tuple[bytes, bytes, list[str]]:
    """What the client sent, what it got after its first statement (the
    login's BackendKeyData differs per session), and the decisions."""
    c2u = b"".join(p for k, p in records if k == "c2u")
    first = next(i for i, (k, _) in enumerate(records) if k == "c2u")
    u2c = b"".join(p for k, p in records[first:] if k == "u2c")
    decisions = [json.loads(p)["action"] for k, p in records if k == "event" and b'"decision"' in p]
    return c2u, u2c, decisions


async def test_tls_and_plaintext_sessions_record_the_same_bytes(
    nursery: trio.Nursery, tmp_path: Path, database: str, pg_relay: str
) -> None:
    """Differential: one script over TLS, then over plaintext, through the
    same gateway (a TLS listener also takes plaintext on loopback)."""
    config = gateway_config(tmp_path, database)
    cert, key = tls_files()
    config = msgspec.structs.replace(
        config,
        listeners=msgspec.structs.replace(config.listeners, tls_cert=str(cert), tls_key=str(key)),
    )
    log = io.StringIO()
    gw = await start_gateway(nursery, config, JsonLog(log))
    over_tls = await trio.to_thread.run_sync(_script, gw, "require")
    await _closed(gw, 1)
    plain = await trio.to_thread.run_sync(_script, gw, "disable")
    await _closed(gw, 2)
    assert over_tls == plain
    assert over_tls[0][0] == (1, "[MASKED:email]", "[MASKED:card-number]")  # type: ignore[index]
    tls_rec, plain_rec = gw.recorders
    assert _session_bytes(tls_rec.records) == _session_bytes(plain_rec.records)
    assert "deny" in _session_bytes(tls_rec.records)[2]
    assert b"alice@example.com" not in b"".join(tls_rec.of("u2c"))
    ends = [json.loads(line) for line in log.getvalue().splitlines()]
    pumped = [e for e in ends if e.get("event") == "pump_end"]
    if pg_relay.startswith("native"):
        assert len(pumped) == 2  # the TLS session was pumped too
        assert all(e["reason"] == "terminate" for e in pumped)
    else:
        assert pumped == []


async def test_upstream_tls_through_the_relays(
    nursery: trio.Nursery, tmp_path: Path, database: str, pg_relay: str
) -> None:
    """``mode = "require"`` to the local PostgreSQL (ssl = on): the server
    sees an encrypted connection, results come back masked, and a denial
    and a cached allow behave as in clear."""
    config = gateway_config(tmp_path, database)
    (app,) = config.resources
    app = msgspec.structs.replace(app, tls=UpstreamTLS(mode="require"))
    config = msgspec.structs.replace(config, resources=[app])
    log = io.StringIO()
    gw = await start_gateway(nursery, config, JsonLog(log))

    def client() -> list[object]:
        with gw.connect(autocommit=True) as conn:
            ssl = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            rows: list[object] = [ssl.fetchone()]
            for _ in range(3):
                rows.append(conn.execute("SELECT email FROM users WHERE id = 1").fetchone())
            with pytest.raises(pgerrors.InsufficientPrivilege):
                conn.execute("DROP TABLE users")
            big = conn.execute("SELECT repeat('x', 300000), email FROM users WHERE id = 2")
            rows.append(big.fetchone())
        return rows

    rows = await trio.to_thread.run_sync(client)
    assert rows[0] == (True,)
    assert rows[1:4] == [("[MASKED:email]",)] * 3
    assert rows[4] == ("x" * 300000, "[MASKED:email]")
    await _closed(gw, 1)
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    pumped = [e for e in events if e.get("event") == "pump_end"]
    if pg_relay.startswith("native"):
        assert len(pumped) == 1
        assert pumped[0]["cache_hits"] >= 2


def _pump_pair(server: _native.TlsSession, client: _native.TlsSession, rounds: int = 10) -> None:
    """Runs a handshake between two sans-IO sessions."""
    for _ in range(rounds):
        if not server.handshaking and not client.handshaking:
            break
        server.feed(client.take_tls())
        client.feed(server.take_tls())
    # The last flight (TLS 1.3 tickets, or the server's Finished).
    server.feed(client.take_tls())
    client.feed(server.take_tls())


def _pair(
    verify: str, name: str, roots: bytes | None
) -> tuple[_native.TlsSession, _native.TlsSession]:
    cert, key = tls_files()
    server = _native.TlsSession.server(_native.TlsServerConfig(cert.read_bytes(), key.read_bytes()))
    client = _native.TlsSession.client(_native.TlsClientConfig(verify, roots), name)
    return server, client


def test_native_sessions_handshake_and_carry_bytes() -> None:
    server, client = _pair("full", "127.0.0.1", tls_files()[0].read_bytes())
    _pump_pair(server, client)
    assert not server.handshaking
    assert not client.handshaking
    assert client.version in ("TLSv1_3", "TLSv1_2")
    client.write_plain(b"Q\x00\x00\x00\x0dSELECT 1\x00")
    server.feed(client.take_tls())
    assert server.read_plain(100) == b"Q\x00\x00\x00\x0dSELECT 1\x00"
    assert server.read_plain(100) == b""
    server.close()
    client.feed(server.take_tls())
    assert client.peer_closed


@pytest.mark.parametrize(
    ("verify", "name", "ok"),
    [
        ("none", "db.example", True),  # require: not verified
        ("ca", "db.example", True),  # verify-ca: any name
        ("full", "127.0.0.1", True),
        ("full", "db.example", False),  # verify-full: the name counts
    ],
)
def test_native_client_verifies_as_sslmode_says(verify: str, name: str, ok: bool) -> None:
    roots = tls_files()[0].read_bytes()
    server, client = _pair(verify, name, roots if verify != "none" else None)
    if ok:
        _pump_pair(server, client)
        assert not client.handshaking
    else:
        with pytest.raises(_native.TlsError):
            _pump_pair(server, client)


def test_native_client_refuses_an_untrusted_certificate() -> None:
    other = Path(tempfile.mkdtemp(prefix="limen-test-other-ca-"))
    _, other_cert = self_signed(other)
    server, client = _pair("ca", "127.0.0.1", other_cert.read_bytes())
    with pytest.raises(_native.TlsError):
        _pump_pair(server, client)


def test_native_configs_refuse_bad_pem() -> None:
    cert, key = tls_files()
    with pytest.raises(_native.TlsError):
        _native.TlsServerConfig(b"not a certificate", key.read_bytes())
    with pytest.raises(_native.TlsError):
        _native.TlsServerConfig(cert.read_bytes(), b"-----BEGIN PRIVATE KEY-----\nAAAA\n")
    with pytest.raises(_native.TlsError):
        _native.TlsClientConfig("full", None)  # nothing to verify with
    with pytest.raises(ValueError):
        _native.TlsClientConfig("sometimes", None)


def test_garbage_from_the_peer_is_an_error() -> None:
    server, _client = _pair("none", "127.0.0.1", None)
    with pytest.raises(_native.TlsError):
        server.feed(b"\x16\x03\x01\x00\x05hello-not-tls" * 4)
