"""The PROXY protocol: the parser (v1 and v2, every prefix, garbage), and
the listener behind a real HAProxy (``send-proxy`` and ``send-proxy-v2``)
connecting from an address of its own: sessions see the client's address,
connections from elsewhere are never asked for a header, and a trusted
peer without one is closed."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from gateway_pg_support import database, gateway_config, start_gateway
from limen.gateway.proxyproto import V2_SIGNATURE, ProxyError, ProxyHeader, parse

__all__ = ["database"]


def v2(source: str, sport: int, *, command: int = 1, tlvs: bytes = b"") -> bytes:
    addr = ipaddress.ip_address(source)
    if addr.version == 4:
        body = addr.packed + bytes([127, 0, 0, 1]) + struct.pack("!HH", sport, 5432)
        fam = 0x11
    else:
        body = addr.packed + ipaddress.IPv6Address("::1").packed + struct.pack("!HH", sport, 5432)
        fam = 0x21
    body += tlvs
    return V2_SIGNATURE + bytes([0x20 | command, fam]) + struct.pack("!H", len(body)) + body


# -- the parser --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"PROXY TCP4 10.1.2.3 10.0.0.1 51000 5432\r\n", ProxyHeader(41, "10.1.2.3", 51000)),
        (b"PROXY TCP6 2001:db8::7 ::1 40000 3306\r\nX", ProxyHeader(39, "2001:db8::7", 40000)),
        (b"PROXY UNKNOWN\r\n", ProxyHeader(15)),
        (b"PROXY UNKNOWN ff:: ::1 1 2\r\n", ProxyHeader(28)),
        (v2("192.0.2.10", 41000), ProxyHeader(28, "192.0.2.10", 41000)),
        (v2("2001:db8::1", 42000) + b"rest", ProxyHeader(52, "2001:db8::1", 42000)),
        (v2("192.0.2.10", 1, tlvs=b"\x01\x00\x02h2"), ProxyHeader(33, "192.0.2.10", 1)),
        (v2("192.0.2.10", 1, command=0), ProxyHeader(28)),  # LOCAL: a health check
    ],
)
def test_headers_parse_and_every_prefix_asks_for_more(data: bytes, expected: ProxyHeader) -> None:
    assert parse(data) == expected
    for cut in range(1, expected.length):
        assert parse(data[:cut]) is None, cut


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00\x00\x08\x04\xd2\x16\x2f",  # a PostgreSQL SSLRequest: no header
        b"GET / HTTP/1.1\r\n",
        b"PROXY TCP4 10.1.2.3 10.0.0.1 51000\r\n",  # a field missing
        b"PROXY TCP4 ::1 10.0.0.1 1 2\r\n",  # IPv6 in a TCP4 line
        b"PROXY TCP4 10.1.2.3 10.0.0.1 99999 2\r\n",
        b"PROXY TCP4 10.1.2.3 10.0.0.1 \xd9\xa1 2\r\n",  # not ASCII
        b"PROXY TCP4 " + b"1" * 120,  # no end within 107 bytes
        V2_SIGNATURE + b"\x11\x11\x00\x0c" + bytes(12),  # version 1 in a v2 header
        V2_SIGNATURE + b"\x22\x11\x00\x0c" + bytes(12),  # command 2
        V2_SIGNATURE + b"\x21\x12\x00\x0c" + bytes(12),  # UDP
        V2_SIGNATURE + b"\x21\x11\x00\x04" + bytes(4),  # IPv4 in 4 bytes
        V2_SIGNATURE + b"\x21\x11\x10\x00",  # 4 KiB of addresses
    ],
)
def test_what_is_not_a_header_is_refused(data: bytes) -> None:
    with pytest.raises(ProxyError):
        parse(data)


@given(st.binary(max_size=200))
def test_any_bytes_parse_refuse_or_wait_without_reading_past_them(data: bytes) -> None:
    try:
        header = parse(data)
    except ProxyError:
        return
    assert header is None or header.length <= len(data)


@given(st.ip_addresses(), st.integers(0, 65535), st.binary(max_size=64))
def test_a_v2_header_names_its_source_whatever_follows(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, rest: bytes
) -> None:
    data = v2(str(addr), port)
    assert parse(data + rest) == ProxyHeader(len(data), str(addr), port)


# -- behind HAProxy ----------------------------------------------------------------

HAPROXY_SOURCE = "127.0.0.9"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def haproxy_bin() -> str:
    exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(exe).exists():
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    return exe


def start_haproxy(exe: str, tmp: Path, backend_port: int, version: str) -> tuple[Any, int]:
    port = free_port()
    cfg = tmp / f"haproxy-{version}.cfg"
    send = "send-proxy-v2" if version == "v2" else "send-proxy"
    cfg.write_text(
        f"""
global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend pg
    bind 127.0.0.1:{port}
    default_backend limen
backend limen
    server gw 127.0.0.1:{backend_port} {send} source {HAPROXY_SOURCE}
"""
    )
    proc = subprocess.Popen([exe, "-f", str(cfg), "-db"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("haproxy did not start")


class Logs:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))

    def of(self, event: str) -> list[dict[str, Any]]:
        return [f for e, f in self.lines if e == event]


@pytest.fixture
def procs() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_behind_haproxy_sessions_see_the_client_not_the_balancer(
    nursery: trio.Nursery,
    tmp_path: Path,
    database: str,
    haproxy_bin: str,
    procs: list[Any],
    version: str,
) -> None:
    config = gateway_config(tmp_path, database)
    config = msgspec.structs.replace(
        config,
        listeners=msgspec.structs.replace(config.listeners, proxy_protocol_from=["127.0.0.8/31"]),
    )
    logs = Logs()
    gw = await start_gateway(nursery, config, logs)  # type: ignore[arg-type]
    proc, port = start_haproxy(haproxy_bin, tmp_path, gw.port, version)
    procs.append(proc)
    token = gw.token()

    def through_haproxy() -> object:
        dsn = gw.dsn(token).replace(f"port={gw.port}", f"port={port}")
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT 1").fetchone()
            return None if row is None else row[0]

    assert await trio.to_thread.run_sync(through_haproxy) == 1
    (start,) = logs.of("session_start")
    assert start["peer"] == "127.0.0.1"  # the client, not HAProxy's 127.0.0.9

    # Straight from an untrusted address: no header is asked for.
    def direct() -> object:
        with gw.connect() as conn:
            row = conn.execute("SELECT 2").fetchone()
            return None if row is None else row[0]

    assert await trio.to_thread.run_sync(direct) == 2

    # From the balancer's address without a header: closed, nothing else.
    def headerless() -> bytes:
        with socket.create_connection(
            ("127.0.0.1", gw.port), source_address=(HAPROXY_SOURCE, 0), timeout=10
        ) as s:
            s.sendall(struct.pack("!ii", 8, 80877103))  # an SSLRequest
            try:
                return s.recv(100)
            except ConnectionResetError:  # closed with our bytes unread
                return b""

    assert await trio.to_thread.run_sync(headerless) == b""
    (refused,) = logs.of("proxy_header_refused")
    assert refused["peer"] == HAPROXY_SOURCE
    assert "does not start with a PROXY protocol header" in refused["error"]
    assert len(logs.of("session_start")) == 2
