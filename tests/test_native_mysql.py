"""The MySQL bindings (`limen._native`, native/limen-py/src/mysql) fed bytes,
no sockets: framing, the handshake both ways, commands, OK/ERR/EOF, and
the upstream login state machine. The live login against MariaDB is in
test_native_mysql_live.py."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limen import _native as n
from limen import mysql_rsa

PROTOCOL_41 = 1 << 9
SECURE = 1 << 15
PLUGIN_AUTH = 1 << 19
LENENC_DATA = 1 << 21
CONNECT_WITH_DB = 1 << 3
CONNECT_ATTRS = 1 << 20
SSL = 1 << 11
SESSION_TRACK = 1 << 23
CLIENT_CAPS = 1 | PROTOCOL_41 | SECURE | PLUGIN_AUTH | LENENC_DATA
NONCE = bytes(range(1, 21))


def native_proof(password: bytes, nonce: bytes) -> bytes:
    """mysql_native_password, computed here independently of the Rust."""
    h1 = hashlib.sha1(password).digest()
    h3 = hashlib.sha1(nonce + hashlib.sha1(h1).digest()).digest()
    return bytes(a ^ b for a, b in zip(h1, h3, strict=True))


# --- framing ----------------------------------------------------------------


def test_decoder_joins_split_chunks_and_checks_sequence() -> None:
    first = n.mysql_packet(0, b"\x03SELECT 1")
    assert first.next_seq == 1
    second = n.mysql_packet(first.next_seq, b"\x0e")
    stream = first.data + second.data
    dec = n.MySqlPacketDecoder()
    got = [p for i in range(len(stream)) for p in dec.feed(stream[i : i + 1])]
    assert [(p.payload, p.seq) for p in got] == [(b"\x03SELECT 1", 0), (b"\x0e", 1)]
    assert got[0].raw == first.data
    assert dec.sequence == 2
    dec.set_sequence(0)
    with pytest.raises(n.MySqlProtocolError):
        dec.feed(n.mysql_packet(5, b"x").data)


def test_decoder_caps_the_unauthenticated_size() -> None:
    big = n.mysql_packet(0, b"a" * 2000).data
    dec = n.MySqlPacketDecoder(max_unauthenticated_size=1000)
    with pytest.raises(n.MySqlProtocolError):
        dec.feed(big)
    dec = n.MySqlPacketDecoder(max_unauthenticated_size=1000)
    dec.set_authenticated()
    assert [p.payload for p in dec.feed(big)] == [b"a" * 2000]


def test_decoder_joins_16_mib_continuations() -> None:
    payload = bytes(range(256)) * (0x10000) + b"tail"  # 16 MiB + 4
    framed = n.mysql_packet(3, payload)
    assert framed.next_seq == 5
    dec = n.MySqlPacketDecoder()
    dec.set_authenticated()
    dec.set_sequence(3)
    step = 1 << 20
    out = [p for i in range(0, len(framed.data), step) for p in dec.feed(framed.data[i : i + step])]
    assert len(out) == 1
    assert (out[0].seq, out[0].last_seq) == (3, 4)
    assert out[0].payload == payload


def test_take_pending_hands_over_the_bytes_after_a_packet() -> None:
    ssl = n.mysql_encode_ssl_request(
        capabilities=CLIENT_CAPS | SSL, max_packet_size=1 << 24, collation=45
    )
    dec = n.MySqlPacketDecoder()
    (pkt,) = dec.feed(n.mysql_packet(0, ssl).data + b"\x16\x03\x01")
    assert isinstance(n.mysql_parse_client_hello(pkt.payload), n.MySqlSslRequest)
    assert dec.take_pending() == b"\x16\x03\x01"


# --- handshake --------------------------------------------------------------


def greeting(
    caps: int = CLIENT_CAPS | SSL, plugin: bytes = b"mysql_native_password"
) -> n.MySqlHandshakeV10:
    return n.MySqlHandshakeV10(
        server_version=b"5.5.5-11.0.0-limen",
        connection_id=77,
        scramble=NONCE,
        capabilities=caps,
        collation=45,
        status=2,
        auth_plugin=plugin,
    )


def test_handshake_v10_encode_parse_round_trip() -> None:
    back = n.MySqlHandshakeV10.parse(greeting().encode())
    assert back.server_version == b"5.5.5-11.0.0-limen"
    assert (back.connection_id, back.collation, back.status) == (77, 45, 2)
    assert back.scramble == NONCE
    assert back.capabilities == CLIENT_CAPS | SSL
    assert back.auth_plugin == b"mysql_native_password"


def test_handshake_v10_refuses_what_it_cannot_encode() -> None:
    bad = n.MySqlHandshakeV10(
        server_version=b"x",
        connection_id=1,
        scramble=b"short",
        capabilities=CLIENT_CAPS,
        collation=45,
        status=0,
        auth_plugin=b"mysql_native_password",
    )
    with pytest.raises(ValueError):
        bad.encode()
    with pytest.raises(n.MySqlProtocolError):
        n.MySqlHandshakeV10.parse(b"\x09rest")


def test_handshake_response_round_trip_with_db_and_attributes() -> None:
    caps = CLIENT_CAPS | CONNECT_WITH_DB | CONNECT_ATTRS
    payload = n.mysql_encode_handshake_response(
        capabilities=caps,
        max_packet_size=1 << 24,
        collation=33,
        username=b"alice",
        auth_response=b"\x01" * 20,
        database=b"shop",
        auth_plugin=b"mysql_native_password",
        attributes=[(b"_client_name", b"limen"), (b"program_name", b"t")],
    )
    hello = n.mysql_parse_client_hello(payload)
    assert isinstance(hello, n.MySqlHandshakeResponse41)
    assert (hello.capabilities, hello.max_packet_size, hello.collation) == (caps, 1 << 24, 33)
    assert (hello.username, hello.database, hello.auth_plugin) == (
        b"alice",
        b"shop",
        b"mysql_native_password",
    )
    assert hello.auth_response == b"\x01" * 20
    assert hello.attributes == {b"_client_name": b"limen", b"program_name": b"t"}
    with pytest.raises(n.MySqlProtocolError):
        n.mysql_parse_client_hello(payload[:40])


def test_ssl_request_is_told_apart() -> None:
    payload = n.mysql_encode_ssl_request(
        capabilities=CLIENT_CAPS | SSL, max_packet_size=99, collation=8
    )
    hello = n.mysql_parse_client_hello(payload)
    assert isinstance(hello, n.MySqlSslRequest)
    assert isinstance(hello, n.MySqlClientHello)
    assert (hello.capabilities, hello.max_packet_size, hello.collation) == (
        CLIENT_CAPS | SSL,
        99,
        8,
    )


# --- commands ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "kind", "fields"),
    [
        (b"\x01", n.MySqlQuit, {}),
        (b"\x02shop", n.MySqlInitDb, {"schema": b"shop"}),
        (b"\x03SELECT 1", n.MySqlQuery, {"sql": b"SELECT 1"}),
        (b"\x04t\x00%", n.MySqlFieldList, {"table": b"t", "wildcard": b"%"}),
        (b"\x09", n.MySqlStatistics, {}),
        (b"\x0c\x07\x00\x00\x00", n.MySqlProcessKill, {"connection_id": 7}),
        (b"\x0e", n.MySqlPing, {}),
        (b"\x16SELECT ?", n.MySqlStmtPrepare, {"sql": b"SELECT ?"}),
        (
            b"\x17\x05\x00\x00\x00\x00\x01\x00\x00\x00\xaa",
            n.MySqlStmtExecute,
            {"statement_id": 5, "flags": 0, "iterations": 1, "params": b"\xaa"},
        ),
        (
            b"\x18\x05\x00\x00\x00\x02\x00xy",
            n.MySqlStmtSendLongData,
            {"statement_id": 5, "param_id": 2, "data": b"xy"},
        ),
        (b"\x19\x05\x00\x00\x00", n.MySqlStmtClose, {"statement_id": 5}),
        (b"\x1a\x05\x00\x00\x00", n.MySqlStmtReset, {"statement_id": 5}),
        (b"\x1b\x01\x00", n.MySqlSetOption, {"option": 1}),
        (
            b"\x1c\x05\x00\x00\x00\x0a\x00\x00\x00",
            n.MySqlStmtFetch,
            {"statement_id": 5, "rows": 10},
        ),
        (b"\x1f", n.MySqlResetConnection, {}),
        (b"\x12\x00\x01", n.MySqlOtherCommand, {"code": 0x12, "body": b"\x00\x01"}),
    ],
)
def test_each_command_decodes_to_its_class(
    payload: bytes, kind: type, fields: dict[str, object]
) -> None:
    cmd = n.mysql_parse_command(payload, CLIENT_CAPS)
    assert type(cmd) is kind
    assert isinstance(cmd, n.MySqlCommand)
    assert {k: getattr(cmd, k) for k in fields} == fields


def test_change_user_and_broken_commands() -> None:
    payload = (
        b"\x11bob\x00"
        + bytes([20])
        + b"\x02" * 20
        + b"db\x00"
        + b"\x21\x00"
        + b"mysql_native_password\x00"
    )
    cmd = n.mysql_parse_command(payload, CLIENT_CAPS)
    assert isinstance(cmd, n.MySqlChangeUser)
    assert (cmd.username, cmd.database, cmd.collation) == (b"bob", b"db", 33)
    assert cmd.auth_plugin == b"mysql_native_password"
    for broken in (b"", b"\x19\x05\x00", b"\x0e extra", b"\x04no-nul"):
        with pytest.raises(n.MySqlProtocolError):
            n.mysql_parse_command(broken, CLIENT_CAPS)
    assert n.mysql_encode_query(b"SELECT 2") == b"\x03SELECT 2"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decoders_only_fail_closed(data: bytes) -> None:
    """Any bytes: a typed result or MySqlProtocolError, nothing else."""
    for parse in (
        lambda: n.mysql_parse_command(data, CLIENT_CAPS | CONNECT_ATTRS | SESSION_TRACK),
        lambda: n.mysql_parse_client_hello(data),
        lambda: n.MySqlHandshakeV10.parse(data),
        lambda: n.mysql_parse_ok(data, CLIENT_CAPS | SESSION_TRACK),
        lambda: n.mysql_parse_err(data),
        lambda: n.mysql_parse_column_definition(data, CLIENT_CAPS),
        lambda: n.mysql_parse_text_row(data, 3),
        lambda: n.MySqlPacketDecoder().feed(data),
    ):
        with contextlib.suppress(n.MySqlProtocolError):
            parse()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=100), st.binary(max_size=40).filter(lambda b: b"\0" not in b))
def test_handshake_response_property_round_trip(auth: bytes, user: bytes) -> None:
    payload = n.mysql_encode_handshake_response(
        capabilities=CLIENT_CAPS,
        max_packet_size=1,
        collation=1,
        username=user,
        auth_response=auth,
        auth_plugin=b"caching_sha2_password",
    )
    hello = n.mysql_parse_client_hello(payload)
    assert isinstance(hello, n.MySqlHandshakeResponse41)
    assert (hello.username, hello.auth_response) == (user, auth)


# --- OK / ERR / EOF -----------------------------------------------------------


def test_ok_err_eof_round_trips() -> None:
    for caps in (CLIENT_CAPS, CLIENT_CAPS | SESSION_TRACK):
        ok = n.mysql_parse_ok(
            n.mysql_encode_ok(
                caps, affected_rows=300, last_insert_id=7, status=2, warnings=1, info=b"hi"
            ),
            caps,
        )
        assert (
            ok.header,
            ok.affected_rows,
            ok.last_insert_id,
            ok.status,
            ok.warnings,
            ok.info,
        ) == (0, 300, 7, 2, 1, b"hi")
    err = n.mysql_parse_err(n.mysql_encode_err(1045, "28000", b"Access denied"))
    assert isinstance(err, n.MySqlErr)
    assert (err.code, err.sql_state, err.message) == (1045, "28000", b"Access denied")
    for state in ("2800", "28000x", "28 00"):
        with pytest.raises(ValueError):
            n.mysql_encode_err(1045, state, b"x")
    eof = n.mysql_parse_eof(b"\xfe\x01\x00\x22\x00")
    assert (eof.warnings, eof.status) == (1, 0x22)
    progress = n.mysql_parse_err(b"\xff\xff\xff\x01\x02\x10\x27\x00\x02ab")
    assert isinstance(progress, n.MySqlProgress)
    assert (progress.stage, progress.max_stage, progress.progress, progress.info) == (
        1,
        2,
        10000,
        b"ab",
    )
    assert n.mysql_parse_text_row(b"\x011\xfb\x00", 3) == [b"1", None, b""]
    with pytest.raises(n.MySqlProtocolError):
        n.mysql_parse_text_row(b"\x011", 2)
    assert n.mysql_parse_column_count(b"\x02", CLIENT_CAPS) == 2


# --- the upstream login ---------------------------------------------------------


def test_client_auth_native_then_ok() -> None:
    auth = n.MySqlClientAuth(b"mysql_native_password", NONCE, "s3cret")
    assert auth.plugin == b"mysql_native_password"
    assert auth.initial_response == native_proof(b"s3cret", NONCE)
    assert "s3cret" not in repr(auth)
    done = auth.handle(n.mysql_encode_ok(CLIENT_CAPS, status=2), CLIENT_CAPS)
    assert isinstance(done, n.MySqlAuthDone)
    assert done.status == 2
    with pytest.raises(n.MySqlProtocolError):
        auth.handle(n.mysql_encode_ok(CLIENT_CAPS), CLIENT_CAPS)


def test_client_auth_switch_and_refusal() -> None:
    auth = n.MySqlClientAuth(b"caching_sha2_password", NONCE, "pw")
    other = bytes(range(100, 120))
    switch = n.mysql_encode_auth_switch(b"mysql_native_password", other + b"\x00")
    assert switch == b"\xfemysql_native_password\x00" + other + b"\x00"
    with pytest.raises(ValueError):
        n.mysql_encode_auth_switch(b"bad\x00plugin", b"")
    assert n.mysql_encode_auth_more_data(b"\x04") == b"\x01\x04"
    step = auth.handle(switch, CLIENT_CAPS)
    assert isinstance(step, n.MySqlAuthSend)
    assert step.data == native_proof(b"pw", other)
    with pytest.raises(n.MySqlProtocolError):
        auth.handle(n.mysql_encode_err(1045, "28000", b"Access denied"), CLIENT_CAPS)
    clear = n.MySqlClientAuth(b"mysql_native_password", NONCE, "pw")
    with pytest.raises(n.MySqlProtocolError):  # never clear text without TLS
        clear.handle(b"\xfemysql_clear_password\x00", CLIENT_CAPS)


def test_client_auth_caching_sha2_full_auth_over_rsa() -> None:
    key, pem = mysql_rsa.new_server_key(1024)
    auth = n.MySqlClientAuth(b"caching_sha2_password", NONCE, "long pw")
    assert len(auth.initial_response) == 32
    assert isinstance(auth.handle(b"\x01\x03", CLIENT_CAPS), n.MySqlAuthWait)
    ask = auth.handle(b"\x01\x04", CLIENT_CAPS)
    assert isinstance(ask, n.MySqlAuthSend)
    assert ask.data == b"\x02"
    rsa_step = auth.handle(b"\x01" + pem, CLIENT_CAPS)
    assert isinstance(rsa_step, n.MySqlAuthRsaEncrypt)
    assert isinstance(rsa_step, n.MySqlAuthStep)
    assert rsa_step.public_key_pem == pem
    cipher = mysql_rsa.encrypt_prepared(pem, rsa_step.plaintext)
    assert mysql_rsa.decrypt_password(key, cipher, NONCE) == b"long pw"
    tls = n.MySqlClientAuth(b"caching_sha2_password", NONCE, "long pw", tls=True)
    full = tls.handle(b"\x01\x04", CLIENT_CAPS)
    assert isinstance(full, n.MySqlAuthSend)
    assert full.data == b"long pw\x00"
    with pytest.raises(ValueError):
        n.MySqlClientAuth(b"mysql_native_password", b"short", "pw")
