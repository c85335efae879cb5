"""A PostgreSQL client on a raw socket, for tests that must choose the
protocol message by message: a simple Query, or Parse/Bind/Execute/Sync of
the unnamed statement. It reads every reply up to ReadyForQuery and answers
COPY … FROM STDIN with CopyFail, so any statement text can be sent."""

from __future__ import annotations

import socket
import struct

__all__ = ["RawSession"]


def _msg(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


class RawSession:
    """One logged-in connection to the gateway (the token is the password)."""

    def __init__(self, port: int, token: str, *, timeout: float = 30) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        params = b"user\0bot\0database\0app\0\0"
        self.sock.sendall(struct.pack("!ii", len(params) + 8, 196608) + params)
        tag, _ = self._read()
        assert tag == b"R", tag
        self.sock.sendall(_msg(b"p", token.encode() + b"\0"))
        while (tag := self._read()[0]) != b"Z":
            assert tag != b"E", "login failed"

    def close(self) -> None:
        try:
            self.sock.sendall(_msg(b"X", b""))
        finally:
            self.sock.close()

    def __enter__(self) -> RawSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("the gateway closed the connection")
            out += chunk
        return out

    def _read(self) -> tuple[bytes, bytes]:
        head = self._recv(5)
        (length,) = struct.unpack("!i", head[1:])
        return head[:1], self._recv(length - 4)

    def _until_ready(self, *, extended: bool = False) -> list[tuple[bytes, bytes]]:
        """Replies up to ReadyForQuery: (tag, body) of CommandComplete and
        ErrorResponse (the others are read and dropped)."""
        seen: list[tuple[bytes, bytes]] = []
        while True:
            tag, body = self._read()
            if tag == b"G":  # COPY … FROM STDIN: give up the copy
                # (the extended protocol's Sync sent before was ignored in
                # copy-in mode: another one ends the error)
                fail = _msg(b"f", b"not in this test\0")
                self.sock.sendall(fail + _msg(b"S", b"") if extended else fail)
            elif tag in (b"C", b"E"):
                seen.append((tag, body))
            elif tag == b"Z":
                return seen

    def simple(self, sql: str) -> list[tuple[bytes, bytes]]:
        """One Query message."""
        self.sock.sendall(_msg(b"Q", sql.encode() + b"\0"))
        return self._until_ready()

    def extended(self, sql: str) -> list[tuple[bytes, bytes]]:
        """Parse, Bind, Execute and Sync of the unnamed statement (no
        parameters)."""
        parse = _msg(b"P", b"\0" + sql.encode() + b"\0" + struct.pack("!h", 0))
        bind = _msg(b"B", b"\0\0" + struct.pack("!hhh", 0, 0, 0))
        execute = _msg(b"E", b"\0" + struct.pack("!i", 0))
        self.sock.sendall(parse + bind + execute + _msg(b"S", b""))
        return self._until_ready(extended=True)

    def send(self, sql: str, protocol: str) -> list[tuple[bytes, bytes]]:
        return self.simple(sql) if protocol == "simple" else self.extended(sql)
