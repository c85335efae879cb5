"""A tiny PostgreSQL client on one end of a Trio memory stream pair (the
gateway's session runs on the other end): the startup message, the token as
the cleartext password, Query, Parse/Bind/(Describe)/Execute/Sync, and the
replies read frame by frame (tests/fakepg.py's reader, not limen's)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import trio

from fakepg import Reader, cstr, fields, message
from limen import _native


@dataclass
class Reply:
    """What the gateway sent until (and with) a ReadyForQuery or the end."""

    messages: list[tuple[str, bytes]]

    def of(self, kind: str) -> list[bytes]:
        return [body for k, body in self.messages if k == kind]

    @property
    def kinds(self) -> str:
        return "".join(k for k, _ in self.messages)

    @property
    def errors(self) -> list[dict[str, str]]:
        return [fields(b) for b in self.of("E")]

    @property
    def fatal(self) -> list[dict[str, str]]:
        return [e for e in self.errors if e.get("S") == "FATAL"]

    @property
    def notices(self) -> list[dict[str, str]]:
        return [fields(b) for b in self.of("N")]

    @property
    def rows(self) -> list[tuple[str | None, ...]]:
        out = []
        for body in self.of("D"):
            (n,), pos, row = struct.unpack("!h", body[:2]), 2, []
            for _ in range(n):
                (size,) = struct.unpack("!i", body[pos : pos + 4])
                pos += 4
                row.append(None if size < 0 else body[pos : pos + size].decode())
                pos += max(size, 0)
            out.append(tuple(row))
        return out

    @property
    def status(self) -> str | None:
        ready = self.of("Z")
        return ready[-1].decode() if ready else None


class Client:
    """A PostgreSQL client on the other end of a memory stream pair."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.reader = Reader(stream)
        self.key: tuple[int, bytes] | None = None

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def startup(self, user: str, database: str, version: tuple[int, int] = (3, 0)) -> None:
        body = struct.pack("!hh", *version) + cstr("user") + cstr(user)
        body += cstr("database") + cstr(database) + cstr("application_name") + cstr("memtest")
        await self.send(struct.pack("!i", len(body) + 5) + body + b"\x00")

    async def login(self, user: str, token: str, database: str = "app") -> Reply:
        """Startup, the token as the cleartext password; the reply to it."""
        await self.startup(user, database)
        ask = await self.reply()
        if ask.kinds != "R" or ask.of("R")[0] != struct.pack("!i", 3):
            return ask
        await self.send(message(b"p", cstr(token)))
        done = await self.reply()
        for body in done.of("K"):
            self.key = struct.unpack("!i", body[:4])[0], body[4:]
        return done

    async def read(self) -> tuple[str, bytes] | None:
        return await self.reader.typed()

    async def reply(self) -> Reply:
        """Messages until ReadyForQuery, an authentication request, a
        FATAL error, or EOF."""
        got: list[tuple[str, bytes]] = []
        while True:
            msg = await self.read()
            if msg is None:
                return Reply(got)
            got.append(msg)
            if msg[0] == "Z" or (msg[0] == "R" and msg[1] != struct.pack("!i", 0)):
                return Reply(got)
            if msg[0] == "E" and fields(msg[1]).get("S") == "FATAL":
                return Reply(got)  # the gateway waits for the client to close

    async def query(self, sql: str) -> Reply:
        await self.send(_native.pg_query(sql.encode()))
        return await self.reply()

    async def extended(self, sql: str, *, name: bytes = b"", describe: bool = False) -> Reply:
        """Parse, Bind, (Describe), Execute, Sync in one write."""
        data = _native.pg_parse(name, sql.encode())
        data += message(b"B", cstr(b"") + cstr(name) + struct.pack("!hhh", 0, 0, 0))
        if describe:
            data += _native.pg_describe("P", b"")
        data += message(b"E", cstr(b"") + struct.pack("!i", 0)) + message(b"S")
        await self.send(data)
        return await self.reply()

    async def rest(self) -> Reply:
        """Everything until the gateway closes the connection."""
        got: list[tuple[str, bytes]] = []
        while (msg := await self.read()) is not None:
            got.append(msg)
        return Reply(got)
