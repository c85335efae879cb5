"""A minimal MySQL client built only on the `limen._native` MySQL bindings
logs in to the local MariaDB (root without a password, plus users with
mysql_native_password and ed25519 passwords it creates) and runs
`SELECT 1`: the pieces the gateway driver will use for its upstream login
work against a real server."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pymysql
import pytest

from limen import _native as n
from limen import mysql_rsa

pytestmark = pytest.mark.mysql

PROTOCOL_41 = 1 << 9
WANTED = (
    1  # CLIENT_MYSQL / LONG_PASSWORD (MariaDB: no extended capabilities)
    | (1 << 3)  # CONNECT_WITH_DB
    | PROTOCOL_41
    | (1 << 13)  # TRANSACTIONS
    | (1 << 15)  # SECURE_CONNECTION
    | (1 << 17)  # MULTI_RESULTS
    | (1 << 19)  # PLUGIN_AUTH
    | (1 << 21)  # PLUGIN_AUTH_LENENC_CLIENT_DATA
)
DEPRECATE_EOF = 1 << 24

# One database per xdist worker.
LIVE_DB = "limen_py_test_" + os.environ.get("PYTEST_XDIST_WORKER", "main")


class Client:
    """Blocking, test-only: one packet at a time over a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.dec = n.MySqlPacketDecoder()
        self.pending: list[n.MySqlPacket] = []
        self.seq = 0
        self.caps = 0
        self.columns: list[n.MySqlColumnDefinition] = []

    def read(self) -> n.MySqlPacket:
        while not self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed")
            self.pending.extend(self.dec.feed(chunk))
        packet = self.pending.pop(0)
        self.seq = (packet.last_seq + 1) % 256
        return packet

    def send(self, payload: bytes) -> None:
        framed = n.mysql_packet(self.seq, payload)
        self.sock.sendall(framed.data)
        self.seq = framed.next_seq
        self.dec.set_sequence(framed.next_seq)

    def login(self, user: bytes, password: str, *, extra: int = 0) -> n.MySqlHandshakeV10:
        hello = n.MySqlHandshakeV10.parse(self.read().payload)
        self.caps = hello.capabilities & n.MYSQL_GATEWAY_CAPABILITIES & (WANTED | extra)
        auth = n.MySqlClientAuth(hello.auth_plugin, hello.scramble, password)
        self.send(
            n.mysql_encode_handshake_response(
                capabilities=self.caps,
                max_packet_size=1 << 24,
                collation=45,
                username=user,
                auth_response=auth.initial_response,
                database=b"",
                auth_plugin=auth.plugin,
            )
        )
        while True:
            payload = self.read().payload
            if payload[:1] == b"\xff":
                err = n.mysql_parse_err(payload)
                assert isinstance(err, n.MySqlErr)
                raise PermissionError(err.code)
            step = auth.handle(payload, self.caps)
            if isinstance(step, n.MySqlAuthDone):
                self.dec.set_authenticated()
                return hello
            if isinstance(step, n.MySqlAuthSend):
                self.send(step.data)
            elif isinstance(step, n.MySqlAuthRsaEncrypt):
                self.send(mysql_rsa.encrypt_prepared(step.public_key_pem, step.plaintext))

    def query(self, sql: bytes) -> list[list[bytes | None]]:
        self.seq = 0
        self.dec.set_sequence(0)
        self.send(n.mysql_encode_query(sql))
        first = self.read().payload
        if first[:1] == b"\xff":
            err = n.mysql_parse_err(first)
            assert isinstance(err, n.MySqlErr)
            raise RuntimeError(err.code)
        if first[:1] == b"\x00":  # OK: no result set (a column count is never 0)
            n.mysql_parse_ok(first, self.caps)
            return []
        columns = n.mysql_parse_column_count(first, self.caps)
        self.columns = [
            n.mysql_parse_column_definition(self.read().payload, self.caps) for _ in range(columns)
        ]
        if not self.caps & DEPRECATE_EOF:
            n.mysql_parse_eof(self.read().payload)
        rows: list[list[bytes | None]] = []
        while True:
            payload = self.read().payload
            if payload[:1] == b"\xfe" and len(payload) < 0xFFFFFF:
                if self.caps & DEPRECATE_EOF:
                    n.mysql_parse_ok(payload, self.caps)
                else:
                    n.mysql_parse_eof(payload)
                return rows
            rows.append(n.mysql_parse_text_row(payload, columns))


def connect() -> Client:
    return Client(socket.create_connection(("127.0.0.1", 3306), timeout=10))


@pytest.fixture(scope="module")
def users() -> Iterator[dict[str, str]]:
    root = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    made = {"limen_py_native": "n@t pw 1"}
    with root.cursor() as cur:
        cur.execute(
            "CREATE OR REPLACE USER 'limen_py_native'@'127.0.0.1' "
            "IDENTIFIED VIA mysql_native_password USING PASSWORD('n@t pw 1')"
        )
        try:
            cur.execute(
                "CREATE OR REPLACE USER 'limen_py_ed'@'127.0.0.1' "
                "IDENTIFIED VIA ed25519 USING PASSWORD('ed pw 2')"
            )
            made["limen_py_ed"] = "ed pw 2"
        except pymysql.err.MySQLError:
            pass  # the ed25519 plugin is not loaded here
    yield made
    with root.cursor() as cur:
        for user in made:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
    root.close()


def test_root_logs_in_and_selects_1() -> None:
    c = connect()
    hello = c.login(b"root", "")
    assert hello.capabilities & PROTOCOL_41
    assert len(hello.scramble) == 20
    assert c.query(b"SELECT 1") == [[b"1"]]
    assert c.query(b"SELECT NULL, 'a'") == [[None, b"a"]]
    c.query(f"CREATE DATABASE IF NOT EXISTS {LIVE_DB}".encode())
    c.query(f"CREATE OR REPLACE TABLE {LIVE_DB}.t (id INT, secret VARCHAR(10))".encode())
    c.query(f"INSERT INTO {LIVE_DB}.t VALUES (1, 'x'), (2, NULL)".encode())
    rows = c.query(f"SELECT id, secret AS s FROM {LIVE_DB}.t AS a ORDER BY id".encode())
    assert rows == [[b"1", b"x"], [b"2", None]]
    assert [(col.name, col.org_name) for col in c.columns] == [(b"id", b"id"), (b"s", b"secret")]
    assert {(col.schema, col.table, col.org_table) for col in c.columns} == {
        (LIVE_DB.encode(), b"a", b"t")
    }
    c.query(f"DROP DATABASE {LIVE_DB}".encode())
    c.sock.close()


def test_password_users_log_in(users: dict[str, str]) -> None:
    assert "limen_py_native" in users
    for user, password in users.items():
        c = connect()
        c.login(user.encode(), password)
        assert c.query(b"SELECT CURRENT_USER()") == [[f"{user}@127.0.0.1".encode()]]
        c.sock.close()


def test_wrong_password_is_refused(users: dict[str, str]) -> None:
    c = connect()
    with pytest.raises(PermissionError) as refused:
        c.login(b"limen_py_native", "not it")
    assert refused.value.args == (1045,)  # ER_ACCESS_DENIED_ERROR
    c.sock.close()
