"""The listener's certificate and key in one place (``ListenerTls``): read
once, read again on ``SIGHUP`` (``Reloader.reload_tls``) only when the
files changed, a pair that does not load refused with the old one kept;
and ``NativeTlsStream`` between two Trio socket streams."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import trio

from limen import _native
from limen.gateway.tlsnative import ListenerTls, NativeTlsStream
from oidc_provider import self_signed


def _handshake(server_cfg: _native.TlsServerConfig, trusted: bytes) -> bool:
    """True when a verify-full client trusting `trusted` accepts the server."""
    server = _native.TlsSession.server(server_cfg)
    client = _native.TlsSession.client(_native.TlsClientConfig("full", trusted), "127.0.0.1")
    try:
        for _ in range(6):
            server.feed(client.take_tls())
            client.feed(server.take_tls())
    except _native.TlsError:
        return False
    return not client.handshaking


def _bump(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_listener_tls_reloads_changed_files_only(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    _, cert_a = self_signed(first)
    _, cert_b = self_signed(second)
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(cert_a, live / "cert.pem")
    shutil.copy(first / "key.pem", live / "key.pem")
    tls = ListenerTls(live / "cert.pem", live / "key.pem")
    assert _handshake(tls.native, cert_a.read_bytes())
    assert not tls.reload_if_changed()  # nothing changed

    shutil.copy(cert_b, live / "cert.pem")
    shutil.copy(second / "key.pem", live / "key.pem")
    _bump(live / "cert.pem")
    assert tls.reload_if_changed()
    assert _handshake(tls.native, cert_b.read_bytes())
    assert not _handshake(tls.native, cert_a.read_bytes())
    assert tls.context.cert_store_stats() is not None  # Python's context reloaded too

    # A certificate with another pair's key: refused, the live pair stays.
    shutil.copy(cert_a, live / "cert.pem")
    _bump(live / "cert.pem")
    with pytest.raises((_native.TlsError, OSError)):
        tls.reload_if_changed()
    assert _handshake(tls.native, cert_b.read_bytes())


def test_reloader_logs_tls_reloads(tmp_path: Path) -> None:
    from limen.config import load_config_text
    from limen.gateway.reload import Reloader
    from limen.gateway.services import Services
    from limen.identity import Authenticator

    _, cert = self_signed(tmp_path)
    text = f"""
[gateway]
state = "sqlite://state/limen.db"
[listeners]
postgres = "127.0.0.1:0"
tls_cert = "{cert}"
tls_key = "{tmp_path / "key.pem"}"
[identity.dev]
enabled = true
"""
    cfg = tmp_path / "limen.toml"
    cfg.write_text(text)
    config = load_config_text(text, base_dir=tmp_path)
    auth = Authenticator.from_config(config, dev_discovery_url="http://127.0.0.1:9/")
    services = Services(config, auth)
    out = io.StringIO()

    def log(event: str, **fields: object) -> None:
        out.write(json.dumps({"event": event, **fields}) + "\n")

    reloader = Reloader(cfg, services, [], log=log)
    reloader.reload_tls()
    assert out.getvalue() == ""
    other = tmp_path / "other"
    other.mkdir()
    _, new_cert = self_signed(other)
    shutil.copy(new_cert, cert)
    shutil.copy(other / "key.pem", tmp_path / "key.pem")
    _bump(cert)
    reloader.reload_tls()
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["tls_reloaded"]
    assert services.listener_tls is not None
    assert _handshake(services.listener_tls.native, new_cert.read_bytes())
    (tmp_path / "key.pem").write_text("not a key")
    reloader.reload_tls()
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["tls_reloaded", "tls_reload_refused"]
    assert "not a key" not in out.getvalue()


async def test_native_tls_stream_between_sockets() -> None:
    directory = Path(tempfile.mkdtemp(prefix="limen-test-stream-"))
    _, cert = self_signed(directory)
    server_cfg = _native.TlsServerConfig(cert.read_bytes(), (directory / "key.pem").read_bytes())
    client_cfg = _native.TlsClientConfig("full", cert.read_bytes())
    a, b = trio.socket.socketpair()
    server = NativeTlsStream(trio.SocketStream(a), _native.TlsSession.server(server_cfg))
    client = NativeTlsStream(
        trio.SocketStream(b), _native.TlsSession.client(client_cfg, "127.0.0.1")
    )
    payload = os.urandom(300_000)
    got = bytearray()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.do_handshake)
        await client.do_handshake()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.send_all, payload)
        while len(got) < len(payload):
            got += await server.receive_some(65536)
    assert bytes(got) == payload
    await client.aclose()
    assert await server.receive_some(100) == b""
    await server.aclose()
    shutil.rmtree(directory, ignore_errors=True)
