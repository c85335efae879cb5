"""limen's server side of the MySQL bindings against a real client: a tiny
test server built only on `limen._native` (HandshakeV10 encode,
HandshakeResponse41 and command decode, OK/ERR encode) greets PyMySQL,
checks its password proof, answers a ping and refuses a query with an ERR
the client reports with the code and message we sent."""

from __future__ import annotations

import hashlib
import socket
import threading

import pymysql
import pytest

from limen import _native as n
from limen import mysql_rsa

CAPS = 1 | (1 << 3) | (1 << 9) | (1 << 13) | (1 << 15) | (1 << 19) | (1 << 21)
SCRAMBLE = bytes(range(33, 53))


def native_proof(password: bytes, nonce: bytes) -> bytes:
    h1 = hashlib.sha1(password).digest()
    h3 = hashlib.sha1(nonce + hashlib.sha1(h1).digest()).digest()
    return bytes(a ^ b for a, b in zip(h1, h3, strict=True))


class Server:
    def __init__(self, plugin: bytes = b"mysql_native_password") -> None:
        self.plugin = plugin
        self.token: bytes | None = None
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.hello: n.MySqlHandshakeResponse41 | None = None
        self.commands: list[n.MySqlCommand] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        try:
            conn, _ = self.listener.accept()
            with conn:
                self.serve(conn)
        except BaseException as e:  # reported by the test
            self.error = e

    def serve(self, conn: socket.socket) -> None:
        dec = n.MySqlPacketDecoder()
        pending: list[n.MySqlPacket] = []

        def read() -> n.MySqlPacket | None:
            while not pending:
                chunk = conn.recv(65536)
                if not chunk:
                    return None
                pending.extend(dec.feed(chunk))
            return pending.pop(0)

        greeting = n.MySqlHandshakeV10(
            server_version=b"5.7.0-limen-test",
            connection_id=9,
            scramble=SCRAMBLE,
            capabilities=CAPS,
            collation=45,
            status=0,
            auth_plugin=self.plugin,
        )
        conn.sendall(n.mysql_packet(0, greeting.encode()).data)
        dec.set_sequence(1)
        first = read()
        assert first is not None
        hello = n.mysql_parse_client_hello(first.payload)
        assert isinstance(hello, n.MySqlHandshakeResponse41)
        self.hello = hello
        caps = CAPS & hello.capabilities
        if self.plugin == b"caching_sha2_password":
            # limen's way to receive the token: always "perform full
            # authentication"; on plaintext the client asks for the key.
            key, pem = mysql_rsa.new_server_key(1024)
            seq = first.seq + 1
            conn.sendall(n.mysql_packet(seq, n.mysql_encode_auth_more_data(b"\x04")).data)
            dec.set_sequence(seq + 1)
            ask = read()
            assert ask is not None
            assert ask.payload == b"\x02"
            conn.sendall(n.mysql_packet(ask.seq + 1, n.mysql_encode_auth_more_data(pem)).data)
            dec.set_sequence(ask.seq + 2)
            sealed = read()
            assert sealed is not None
            self.token = mysql_rsa.decrypt_password(key, sealed.payload, SCRAMBLE)
            conn.sendall(n.mysql_packet(sealed.seq + 1, n.mysql_encode_ok(caps)).data)
        elif hello.auth_response != native_proof(b"t0ken", SCRAMBLE):
            denied = n.mysql_encode_err(1045, "28000", b"Access denied")
            conn.sendall(n.mysql_packet(first.seq + 1, denied).data)
            return
        else:
            conn.sendall(n.mysql_packet(first.seq + 1, n.mysql_encode_ok(caps)).data)
        dec.set_authenticated()
        while True:
            dec.set_sequence(0)
            packet = read()
            if packet is None:
                return
            cmd = n.mysql_parse_command(packet.payload, caps)
            self.commands.append(cmd)
            match cmd:
                case n.MySqlQuit():
                    return
                case n.MySqlQuery(sql=sql) if sql.startswith(b"SELECT"):
                    reply = n.mysql_encode_err(1142, "42000", b"denied by limen test")
                case _:
                    reply = n.mysql_encode_ok(caps, affected_rows=3)
            conn.sendall(n.mysql_packet(1, reply).data)


def test_pymysql_logs_in_and_gets_our_replies() -> None:
    server = Server()
    client = pymysql.connect(
        host="127.0.0.1", port=server.port, user="alice", password="t0ken", database="shop"
    )
    client.ping(reconnect=False)
    with client.cursor() as cur:
        assert cur.execute("UPDATE t SET a = 1") == 3
        with pytest.raises(pymysql.err.MySQLError) as denied:
            cur.execute("SELECT secret FROM t")
    assert denied.value.args == (1142, "denied by limen test")
    client.close()
    server.thread.join(10)
    assert server.error is None
    hello = server.hello
    assert hello is not None
    assert (hello.username, hello.database) == (b"alice", b"shop")
    assert hello.auth_plugin == b"mysql_native_password"
    kinds = [type(c) for c in server.commands]
    assert n.MySqlPing in kinds
    assert kinds[-1] is n.MySqlQuit
    sqls = [c.sql for c in server.commands if isinstance(c, n.MySqlQuery)]
    assert b"UPDATE t SET a = 1" in sqls
    assert sqls[-1] == b"SELECT secret FROM t"


def test_pymysql_with_a_wrong_password_gets_our_err() -> None:
    server = Server()
    with pytest.raises(pymysql.err.OperationalError) as refused:
        pymysql.connect(host="127.0.0.1", port=server.port, user="alice", password="nope")
    assert refused.value.args == (1045, "Access denied")
    server.thread.join(10)
    assert server.error is None


def test_caching_sha2_full_auth_hands_us_the_token_over_rsa() -> None:
    server = Server(b"caching_sha2_password")
    client = pymysql.connect(host="127.0.0.1", port=server.port, user="bot", password="tok-123")
    client.ping(reconnect=False)
    client.close()
    server.thread.join(10)
    assert server.error is None
    assert server.token == b"tok-123"
    assert server.hello is not None
    assert server.hello.auth_plugin == b"caching_sha2_password"
