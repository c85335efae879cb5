"""Test-only: a tiny blocking MySQL proxy in front of the local MariaDB that
passes the login through untouched and relays every command's response
through `limen._native.MySqlServerRelay` (one command at a time, as the
gateway does). Real clients (PyMySQL, the raw client of
test_native_mysql_live) talk to it and decode what the relay produced."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from limen import _native as n

E = n.MySqlExpect
EXPECT = {
    0x01: E.NONE,  # COM_QUIT
    0x03: E.QUERY,
    0x04: E.FIELD_LIST,
    0x09: E.RAW,  # COM_STATISTICS
    0x16: E.PREPARE,
    0x17: E.EXECUTE,
    0x18: E.NONE,  # COM_STMT_SEND_LONG_DATA
    0x19: E.NONE,  # COM_STMT_CLOSE
    0x1C: E.FETCH,
}
#: EXECUTE, SEND_LONG_DATA, CLOSE, RESET, FETCH: a statement id follows.
STATEMENT_COMMANDS = {0x17, 0x18, 0x19, 0x1A, 0x1C}
UPSTREAM = ("127.0.0.1", 3306)


@dataclass
class Proxy:
    masker: n.Masker | None
    plan: Callable[[bytes], n.MySqlColumnPlan | None] = lambda _: None
    max_packet_size: int = 64 << 20
    allow_infile: bool = False
    events: list[n.MySqlRelayEvent] = field(default_factory=list)
    masked_values: list[int] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    listener: socket.socket = field(init=False)

    def start(self) -> int:
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()
        port: int = self.listener.getsockname()[1]
        return port

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(UPSTREAM, timeout=30)
        try:
            caps = _login(client, upstream)
            relay = n.MySqlServerRelay(self.masker, caps, max_packet_size=self.max_packet_size)
            while self._command(client, upstream, relay):
                pass
        except (ConnectionError, n.MySqlProtocolError, ValueError, RuntimeError) as e:
            self.errors.append(e)
        finally:
            client.close()
            upstream.close()

    def _command(
        self, client: socket.socket, upstream: socket.socket, relay: n.MySqlServerRelay
    ) -> bool:
        dec = n.MySqlPacketDecoder()
        dec.set_authenticated()
        packets: list[n.MySqlPacket] = []
        while not packets:
            chunk = client.recv(1 << 20)
            if not chunk:
                return False
            packets = dec.feed(chunk)
        (packet,) = packets  # one command at a time
        upstream.sendall(packet.raw)
        payload = packet.payload
        expect = EXPECT.get(payload[0], E.OK)
        with_id = payload[0] in STATEMENT_COMMANDS
        statement = int.from_bytes(payload[1:5], "little") if with_id else None
        if payload[0] == 0x19 and statement is not None:
            relay.forget_statement(statement)
        relay.expect(expect, packet.seq, self.plan(payload), statement_id=statement)
        if expect == E.NONE:
            return payload[0] != 0x01
        while not relay.done:
            chunk = upstream.recv(1 << 16)
            if not chunk:
                raise ConnectionError("upstream closed")
            out = relay.feed(chunk)
            self.events.extend(out.events)
            if out.done:  # before the client can read the end
                self.masked_values.append(relay.masked_values)
            client.sendall(out.data)
            for ev in out.events:
                if not isinstance(ev, n.MySqlInfileRequest):
                    continue
                if not self.allow_infile:
                    upstream.sendall(relay.refuse_infile(1148, "42000", b"LOCAL INFILE refused"))
                    continue
                client.sendall(relay.allow_infile())
                _forward_file(client, upstream, relay)
        return True


def _forward_file(
    client: socket.socket, upstream: socket.socket, relay: n.MySqlServerRelay
) -> None:
    """The client's file packets, then its empty packet, go upstream."""
    dec = n.MySqlPacketDecoder()
    dec.set_authenticated()
    dec.ignore_sequence()  # the relay numbers what goes upstream
    while True:
        chunk = client.recv(1 << 16)
        if not chunk:
            raise ConnectionError("client closed")
        for packet in dec.feed(chunk):
            upstream.sendall(relay.forward_infile(packet.payload))
            if not packet.payload:
                return


def _read(sock: socket.socket, dec: n.MySqlPacketDecoder) -> n.MySqlPacket:
    while True:
        packets = dec.feed(sock.recv(1 << 16))
        if packets:
            (packet,) = packets
            return packet


def _login(client: socket.socket, upstream: socket.socket) -> int:
    """Passes the login through; returns the negotiated capabilities."""
    up, down = n.MySqlPacketDecoder(), n.MySqlPacketDecoder()
    greeting = _read(upstream, up)
    client.sendall(greeting.raw)
    server_caps = n.MySqlHandshakeV10.parse(greeting.payload).capabilities
    down.set_sequence(1)
    hello = _read(client, down)
    upstream.sendall(hello.raw)
    parsed = n.mysql_parse_client_hello(hello.payload)
    assert isinstance(parsed, n.MySqlHandshakeResponse41)
    caps = parsed.capabilities & server_caps
    up.set_sequence((hello.last_seq + 1) % 256)
    while True:
        packet = _read(upstream, up)
        client.sendall(packet.raw)
        if packet.payload[:1] in (b"\x00", b"\xff"):
            return caps
        if packet.payload == b"\x01\x03":  # caching_sha2 fast auth: OK follows
            continue
        down.set_sequence((packet.last_seq + 1) % 256)
        answer = _read(client, down)
        upstream.sendall(answer.raw)
        up.set_sequence((answer.last_seq + 1) % 256)
