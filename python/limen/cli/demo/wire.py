"""A PostgreSQL login by hand on the wire: libpq does not hand a failed
login's SQLSTATE to its callers, so the walkthrough reads the gateway's
ErrorResponse itself."""

from __future__ import annotations

import socket
import struct


def _read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    head = _read_exact(sock, 5)
    length = struct.unpack("!I", head[1:])[0]
    if not 4 <= length <= 65536:
        raise ValueError(f"a message of {length} bytes")
    return head[:1], _read_exact(sock, length - 4)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ValueError("the gateway closed the connection")
        buf += chunk
    return buf


def login_error_fields(port: int, user: str, database: str, password: str) -> dict[str, str]:
    """Log in with a cleartext password over the wire protocol; the fields of
    the ErrorResponse that refuses it (empty when the login succeeds)."""
    params = b"".join(
        k.encode() + b"\0" + v.encode() + b"\0" for k, v in (("user", user), ("database", database))
    )
    body = struct.pack("!I", 196608) + params + b"\0"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(struct.pack("!I", len(body) + 4) + body)
        while True:
            kind, payload = _read_message(sock)
            if kind == b"R" and payload[:4] == struct.pack("!I", 3):  # cleartext password
                secret = password.encode() + b"\0"
                sock.sendall(b"p" + struct.pack("!I", len(secret) + 4) + secret)
            elif kind == b"R" and payload[:4] == struct.pack("!I", 0):  # AuthenticationOk
                return {}
            elif kind == b"E":
                return {
                    f[:1].decode(): f[1:].decode("utf-8", "replace")
                    for f in payload.split(b"\0")
                    if f
                }
            else:
                raise ValueError(f"unexpected message {kind!r} before authentication")
