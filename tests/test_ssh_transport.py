"""limen's paramiko transports: the cipher offer on each leg, and
``send_all`` (paramiko's ``sendall`` without its copies) delivering the
same bytes as ``sendall`` over a real transport pair."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st
from paramiko.common import AUTH_SUCCESSFUL, OPEN_SUCCEEDED

from limen.gateway.ssh.bridge import send_all
from limen.gateway.ssh.transport import (
    GCM,
    ServerTransport,
    client_transport,
    gcm_client,
    prefer_gcm,
)

_PEM = (
    ed25519.Ed25519PrivateKey.generate()
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    .decode()
)
HOST_KEY = paramiko.Ed25519Key.from_private_key(io.StringIO(_PEM))


class _Server(paramiko.ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        return AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED


@contextmanager
def pair(
    client_version: str | None = None, limen_client: bool = True, gcm_only: bool = True
) -> Iterator[tuple[paramiko.Transport, paramiko.Transport, paramiko.Channel, paramiko.Channel]]:
    """limen's server transport and a client transport (limen's own or
    paramiko's plain one) over a socket pair, one channel open."""
    a, b = socket.socketpair()
    server = ServerTransport(a, gcm_only=gcm_only)
    server.add_server_key(HOST_KEY)
    server.start_server(event=threading.Event(), server=_Server())
    client = client_transport(b) if limen_client else paramiko.Transport(b)
    if client_version is not None:
        client.local_version = client_version
    try:
        client.connect(username="u", password="p")
        chan = client.open_session()
        accepted = server.accept(10)
        assert accepted is not None
        yield server, client, accepted, chan
    finally:
        client.close()
        server.close()


def _cipher(transport: paramiko.Transport, side: str) -> str:
    """The negotiated cipher (paramiko's attributes, not in its stubs)."""
    value = getattr(transport, f"{side}_cipher")
    assert isinstance(value, str)
    return value


@pytest.mark.parametrize(
    ("banner", "gcm"),
    [
        ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", True),
        ("SSH-2.0-OpenSSH_6.2", True),
        ("SSH-2.0-OpenSSH_10.0", True),
        ("SSH-2.0-OpenSSH_for_Windows_8.1", True),
        ("SSH-2.0-OpenSSH_6.1", False),
        ("SSH-2.0-OpenSSH_5.3", False),
        ("SSH-2.0-paramiko_5.1.0", False),
        ("SSH-2.0-libssh2_1.10.0", False),
        ("SSH-2.0-Go", False),
        ("SSH-2.0-OpenSSH", False),
        ("", False),
    ],
)
def test_gcm_only_for_openssh_with_gcm(banner: str, gcm: bool) -> None:
    assert gcm_client(banner) is gcm


@given(st.lists(st.sampled_from([*GCM, "aes128-ctr", "aes256-ctr", "3des-cbc"]), unique=True))
def test_prefer_gcm_reorders_only(ciphers: list[str]) -> None:
    out = prefer_gcm(tuple(ciphers))
    assert sorted(out) == sorted(ciphers)
    gcm = [c for c in out if c in GCM]
    assert list(out[: len(gcm)]) == gcm


def test_openssh_client_gets_gcm() -> None:
    # A client calling itself OpenSSH (its own order: CTR first) is offered
    # AES-GCM only, so AES-GCM it is.
    with pair("SSH-2.0-OpenSSH_9.2p1", limen_client=False) as (server, _, _, _):
        assert _cipher(server, "remote") in GCM
        assert _cipher(server, "local") in GCM


def test_openssh_client_keeps_its_choice_with_all_ciphers() -> None:
    # ``ssh_ciphers = "all"``: the OpenSSH-named client's own order (CTR
    # first) decides.
    with pair("SSH-2.0-OpenSSH_9.2p1", limen_client=False, gcm_only=False) as (server, _, _, _):
        assert _cipher(server, "remote") == "aes128-ctr"


def test_other_clients_keep_their_choice() -> None:
    # paramiko's own client prefers AES-CTR: limen still offers it.
    with pair(limen_client=False) as (server, _, _, _):
        assert _cipher(server, "remote") == "aes128-ctr"


def test_upstream_leg_prefers_gcm() -> None:
    with pair() as (server, client, _, _):
        assert _cipher(client, "local") == GCM[0]
        assert _cipher(server, "remote") == GCM[0]


@settings(max_examples=8)
@given(
    st.lists(
        st.one_of(st.binary(max_size=300), st.integers(1, 200_000).map(lambda n: b"\x07" * n)),
        max_size=6,
    ),
    st.booleans(),
)
def test_send_all_same_bytes_as_sendall(chunks: list[bytes], stderr: bool) -> None:
    """Differential: what send_all delivers equals what sendall delivers
    (bytes and order), for chunks around paramiko's packet size."""
    got: dict[str, bytes] = {}
    for how in ("send_all", "sendall"):
        with pair() as (_, _, sender, receiver):
            received = bytearray()
            reader = threading.Thread(target=_drain, args=(receiver, stderr, received), daemon=True)
            reader.start()
            for chunk in chunks:
                if how == "send_all":
                    send_all(sender, chunk, stderr)
                elif stderr:
                    sender.sendall_stderr(chunk)
                else:
                    sender.sendall(chunk)
            sender.send_exit_status(0)
            sender.close()
            reader.join(30)
            got[how] = bytes(received)
    assert got["send_all"] == got["sendall"] == b"".join(chunks)


def _drain(chan: paramiko.Channel, stderr: bool, into: bytearray) -> None:
    recv = chan.recv_stderr if stderr else chan.recv
    while data := recv(1 << 20):
        into += data


def test_send_all_on_closed_channel_raises() -> None:
    with pair() as (_, _, sender, _):
        sender.close()
        with pytest.raises(OSError):
            send_all(sender, b"x" * 100)
