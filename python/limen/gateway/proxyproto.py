"""The PROXY protocol (versions 1 and 2, as HAProxy's ``send-proxy`` and
``send-proxy-v2`` send it): a load balancer in front of limen tells it the
client's real address, so that sessions, logs and the loopback rule see
the bot and not the balancer.

Only connections from ``[listeners] proxy_protocol_from`` are read this
way, and every one of them must start with a header (a header that does
not parse, or does not arrive within the handshake timeout, closes the
connection: fail closed). A connection from anywhere else is never asked
for one: a client cannot claim an address by sending a header itself.

The header is read off the socket exactly — peeked, then consumed to its
last byte — so the session behind it gets the socket untouched (the native
pump needs the socket itself).

Formats (HAProxy's "The PROXY protocol", versions 1 and 2):

- v1: ``PROXY TCP4|TCP6 SRC DST SPORT DPORT\\r\\n`` or ``PROXY UNKNOWN …\\r\\n``,
  at most 107 bytes;
- v2: a 12-byte signature, version and command (``0x20`` LOCAL: the
  balancer's own connection, e.g. a health check, whose endpoints are the
  real ones; ``0x21`` PROXY), family and transport, a 16-bit length, the
  addresses (IPv4 12 bytes, IPv6 36), then TLVs (skipped).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Final

import trio

__all__ = ["V1_MAX", "V2_MAX", "ProxyError", "ProxyHeader", "parse", "read_header"]

V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX: Final = b"PROXY "
V1_MAX: Final = 107
V2_MAX: Final = 16 + 1024
"""Addresses and TLVs beyond 1 KiB are refused (HAProxy sends far less)."""


class ProxyError(ValueError):
    """The connection did not start with a valid PROXY header."""


@dataclass(frozen=True)
class ProxyHeader:
    """A parsed header: its length, and the client it names (None: the
    connection's own endpoints count, a v2 LOCAL or v1 UNKNOWN)."""

    length: int
    source: str | None = None
    source_port: int | None = None


def _address(text: str, version: int) -> str:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise ProxyError(f"not an IP address: {text[:40]!r}") from None
    if addr.version != version:
        raise ProxyError(f"not an IPv{version} address: {text[:40]!r}")
    return str(addr)


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or int(text) > 65535:
        raise ProxyError(f"not a port: {text[:8]!r}")
    return int(text)


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyError("a v1 header longer than 107 bytes")
        return None
    try:
        line = data[:end].decode("ascii")
    except UnicodeDecodeError:
        raise ProxyError("a v1 header that is not ASCII") from None
    parts = line.split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyHeader(end + 2)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyError("a v1 header is PROXY TCP4|TCP6|UNKNOWN SRC DST SPORT DPORT")
    version = 4 if parts[1] == "TCP4" else 6
    source = _address(parts[2], version)
    _address(parts[3], version)
    sport = _port(parts[4])
    _port(parts[5])
    return ProxyHeader(end + 2, source, sport)


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < 16:
        return None
    ver_cmd, fam, length = data[12], data[13], struct.unpack_from("!H", data, 14)[0]
    if ver_cmd >> 4 != 2:
        raise ProxyError(f"PROXY protocol version {ver_cmd >> 4} (expected 2)")
    if 16 + length > V2_MAX:
        raise ProxyError(f"a v2 header of {16 + length} bytes (at most {V2_MAX})")
    if len(data) < 16 + length:
        return None
    command = ver_cmd & 0x0F
    if command == 0:  # LOCAL: the balancer's own connection
        return ProxyHeader(16 + length)
    if command != 1:
        raise ProxyError(f"unknown v2 command {command}")
    body = data[16 : 16 + length]
    family, transport = fam >> 4, fam & 0x0F
    if transport != 1:
        raise ProxyError("a v2 header for a transport other than TCP")
    if family == 1 and length >= 12:
        source = str(ipaddress.IPv4Address(body[0:4]))
        sport = struct.unpack_from("!H", body, 8)[0]
    elif family == 2 and length >= 36:
        source = str(ipaddress.IPv6Address(body[0:16]))
        sport = struct.unpack_from("!H", body, 32)[0]
    else:
        raise ProxyError(f"a v2 header of family {family} with {length} address bytes")
    return ProxyHeader(16 + length, source, sport)


def parse(data: bytes) -> ProxyHeader | None:
    """The header at the start of ``data``; None while more bytes are
    needed; :class:`ProxyError` when it cannot be one."""
    if data[:12] == V2_SIGNATURE[: len(data[:12])] and len(data) < 12:
        return None
    if data.startswith(V2_SIGNATURE):
        return _parse_v2(data)
    if V1_PREFIX.startswith(data[:6]) and len(data) < 6:
        return None
    if data.startswith(V1_PREFIX):
        return _parse_v1(data)
    raise ProxyError("the connection does not start with a PROXY protocol header")


async def read_header(stream: trio.SocketStream) -> ProxyHeader:
    """Reads the header off ``stream``'s socket, and nothing after it."""
    sock = stream.socket
    while True:
        data = await sock.recv(V2_MAX, socket.MSG_PEEK)
        if not data:
            raise ProxyError("the connection closed before its PROXY header")
        header = parse(data)
        if header is not None:
            break
        if len(data) >= V2_MAX:  # pragma: no cover (parse refuses first)
            raise ProxyError("no PROXY header in the first bytes")
        await trio.sleep(0.005)  # the rest of the header is on its way
    left = header.length
    while left:
        got = await sock.recv(left)
        if not got:
            raise ProxyError("the connection closed inside its PROXY header")
        left -= len(got)
    return header
