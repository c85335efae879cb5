"""A blocking, test-only MySQL client on the `limen._native` bindings, for
what the real clients cannot send: mysql_clear_password logins,
COM_CHANGE_USER, COM_RESET_CONNECTION, malformed packets."""

from __future__ import annotations

import socket

from limen import _native as n

CLIENT_SSL = 1 << 11
CLIENT_DEPRECATE_EOF = 1 << 24


class RawError(Exception):
    """An ERR packet: ``args == (code, sql_state, message)``."""


class Raw:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.dec = n.MySqlPacketDecoder()
        self.pending: list[n.MySqlPacket] = []
        self.seq = 0
        self.caps = 0

    def read(self) -> n.MySqlPacket:
        while not self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the gateway closed the connection")
            self.pending.extend(self.dec.feed(chunk))
        packet = self.pending.pop(0)
        self.seq = (packet.last_seq + 1) % 256
        return packet

    def send(self, payload: bytes) -> None:
        framed = n.mysql_packet(self.seq, payload)
        self.sock.sendall(framed.data)
        self.seq = framed.next_seq
        self.dec.set_sequence(framed.next_seq)

    def check(self, payload: bytes) -> bytes:
        if payload[:1] == b"\xff":
            err = n.mysql_parse_err(payload)
            assert isinstance(err, n.MySqlErr)
            raise RawError(err.code, err.sql_state, err.message.decode())
        return payload

    def login(self, user: str, token: str, database: str = "shop") -> None:
        """mysql_clear_password: the token in the first response."""
        hello = n.MySqlHandshakeV10.parse(self.read().payload)
        self.caps = hello.capabilities & ~CLIENT_SSL
        self.send(
            n.mysql_encode_handshake_response(
                capabilities=self.caps,
                max_packet_size=1 << 24,
                collation=45,
                username=user.encode(),
                auth_response=token.encode() + b"\0",
                database=database.encode(),
                auth_plugin=b"mysql_clear_password",
            )
        )
        self.check(self.read().payload)
        self.dec.set_authenticated()

    def command(self, payload: bytes) -> bytes:
        """Sends one command; the first packet of its answer."""
        self.seq = 0
        self.dec.set_sequence(0)
        self.send(payload)
        return self.check(self.read().payload)

    def query(self, sql: str) -> list[list[bytes | None]]:
        return self.read_result(self.command(n.mysql_encode_query(sql.encode())))

    def read_result(self, first: bytes | None = None) -> list[list[bytes | None]]:
        """A text result set (its first packet already read, or read now)."""
        if first is None:
            first = self.check(self.read().payload)
        if first[:1] == b"\x00":
            return []
        columns = n.mysql_parse_column_count(first, self.caps)
        for _ in range(columns):
            self.read()
        if not self.caps & CLIENT_DEPRECATE_EOF:
            self.read()
        rows: list[list[bytes | None]] = []
        while True:
            payload = self.check(self.read().payload)
            if payload[:1] == b"\xfe" and len(payload) < 0xFFFFFF:
                return rows
            rows.append(n.mysql_parse_text_row(payload, columns))

    def change_user(self, user: str, token: str, database: str = "shop") -> bytes:
        """COM_CHANGE_USER (mysql_native_password): answers the switch to
        caching_sha2 with a proof, then the token in clear after "perform
        full authentication"; the final OK/ERR payload (ERR raises)."""
        body = (
            b"\x11"
            + user.encode()
            + b"\0"
            + bytes([20])
            + b"p" * 20
            + database.encode()
            + b"\0"
            + (45).to_bytes(2, "little")
            + b"mysql_native_password\0"
        )
        switch = self.command(body)
        assert switch[:1] == b"\xfe", switch
        assert switch[1:].startswith(b"caching_sha2_password\0")
        self.send(b"q" * 32)
        more = self.check(self.read().payload)
        assert more == b"\x01\x04"
        self.send(token.encode() + b"\0")
        return self.check(self.read().payload)

    def close(self) -> None:
        self.sock.close()

    def read_until_closed(self) -> bytes:
        out = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return out
            if not chunk:
                return out
            out += chunk
