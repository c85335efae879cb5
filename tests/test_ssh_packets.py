"""The native AES-GCM packet layer (``limen.gateway.ssh.packets``,
``native/limen-wire/src/ssh.rs``) against paramiko's own.

- Differential: the same messages sealed by paramiko's ``Packetizer``
  (``cryptography``'s AES-GCM) are read by :class:`GcmPacketizer`, and the
  other way round; same message numbers, same payloads, in order.
- Property: any changed byte of a sealed packet is refused; arbitrary
  bytes raise ``ValueError`` only.
- A real transport pair rekeys in the middle of a transfer (new native
  engines both ways) and delivers every byte.
"""

from __future__ import annotations

import os
import socket
import threading

import paramiko
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paramiko.message import Message

from limen import _native
from limen.gateway.ssh.bridge import send_all
from limen.gateway.ssh.packets import ChannelData, GcmPacketizer
from test_ssh_transport import pair

KEY = bytes(range(16))
IV = bytes(range(100, 112))

messages = st.lists(
    st.tuples(
        st.integers(1, 255),
        st.one_of(st.binary(max_size=200), st.integers(0, 70_000).map(lambda n: b"\x5a" * n)),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)


def _aead(packetizer: paramiko.Packetizer, engine: object, key_iv: bytes, out: bool) -> None:
    if out:
        packetizer.set_outbound_cipher(
            block_engine=engine,
            block_size=16,
            mac_engine=None,
            mac_size=16,
            mac_key=None,
            aead=True,
            iv_out=key_iv,
        )
    else:
        packetizer.set_inbound_cipher(
            block_engine=engine,
            block_size=16,
            mac_engine=None,
            mac_size=16,
            mac_key=None,
            aead=True,
            iv_in=key_iv,
        )


def _through(
    sender: paramiko.Packetizer,
    receiver: paramiko.Packetizer,
    msgs: list[tuple[int, bytes, bool]],
) -> list[tuple[int, bytes]]:
    def write() -> None:
        for cmd, body, as_parts in msgs:
            if as_parts and isinstance(sender, GcmPacketizer) and body:
                # channel data: cmd is the channel, in pieces of up to 5000
                sender.send_message(ChannelData(cmd, None, body, 0, len(body), 5000))
            else:
                m = Message()
                m.add_byte(bytes([cmd]))
                m.add_bytes(body)
                sender.send_message(m)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    got = []
    for cmd, body, as_parts in msgs:
        if as_parts and isinstance(sender, GcmPacketizer) and body:
            data = b""
            for _ in range(0, len(body), 5000):
                ptype, m = receiver.read_message()
                assert (ptype, m.get_int()) == (94, cmd)
                data += m.get_binary()
                assert m.get_remainder() == b""
            got.append((cmd, data))
            continue
        ptype, m = receiver.read_message()
        got.append((ptype, m.get_remainder()))
    writer.join(10)
    return got


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages, st.booleans())
def test_same_packets_as_paramiko(msgs: list[tuple[int, bytes, bool]], native_sends: bool) -> None:
    """Differential, both ways: paramiko seals, limen opens; limen seals,
    paramiko opens."""
    a, b = socket.socketpair()
    try:
        if native_sends:
            sender: paramiko.Packetizer = GcmPacketizer(a)
            _aead(sender, _native.SshGcm(KEY, IV), IV, out=True)
            receiver = paramiko.Packetizer(b)
            _aead(receiver, AESGCM(KEY), IV, out=False)
        else:
            sender = paramiko.Packetizer(a)
            _aead(sender, AESGCM(KEY), IV, out=True)
            receiver = GcmPacketizer(b)
            _aead(receiver, _native.SshGcm(KEY, IV), IV, out=False)
        got = _through(sender, receiver, msgs)
    finally:
        a.close()
        b.close()
    assert got == [(cmd, body) for cmd, body, _ in msgs]


def test_before_aes_gcm_paramiko_runs_unchanged() -> None:
    # No cipher yet (the key exchange): paramiko's own path, plain packets;
    # channel data as paramiko's own messages.
    a, b = socket.socketpair()
    try:
        GcmPacketizer(a).send_message(ChannelData(7, 1, b"abcdefg", 1, 5, 2))
        reader = paramiko.Packetizer(b)
        got = []
        for _ in range(3):
            ptype, m = reader.read_message()
            got.append((ptype, m.get_int(), m.get_int(), m.get_binary()))
    finally:
        a.close()
        b.close()
    assert got == [(95, 7, 1, b"bc"), (95, 7, 1, b"de"), (95, 7, 1, b"f")]


def _sealed(payload: bytes) -> bytes:
    return _native.SshGcm(KEY, IV).seal(b"", payload)


@given(st.binary(min_size=1, max_size=3000), st.data())
def test_any_changed_byte_is_refused(payload: bytes, data: st.DataObject) -> None:
    wire = bytearray(_sealed(payload))
    assert _native.SshGcm(KEY, IV).open(bytes(wire[:4]), bytes(wire[4:])) == payload
    at = data.draw(st.integers(0, len(wire) - 1))
    wire[at] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ValueError):
        _open(bytes(wire))


def _open(wire: bytes) -> bytes:
    size = _native.SshGcm.body_len(wire[:4], 1 << 20)
    return _native.SshGcm(KEY, IV).open(wire[:4], wire[4 : 4 + size])


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_value_error_only(blob: bytes) -> None:
    try:
        _open(blob)
    except ValueError:
        return


def test_bad_keys_and_lengths() -> None:
    with pytest.raises(ValueError):
        _native.SshGcm(b"short", IV)
    with pytest.raises(ValueError):
        _native.SshGcm(KEY, b"\x00" * 11)
    with pytest.raises(ValueError):
        _native.SshGcm.body_len(b"\x00\x10\x00\x00", 1 << 16)  # over the cap
    with pytest.raises(ValueError):
        _native.SshGcm.body_len(b"\x00\x00\x00\x11", 1 << 16)  # not whole blocks


def test_transports_use_native_engines_and_rekey_midstream() -> None:
    with pair() as (server, client, sender, receiver):
        for t in (server, client):
            packetizer = t.packetizer
            assert isinstance(packetizer, GcmPacketizer)
            assert isinstance(getattr(packetizer, "_seal"), _native.SshGcm)  # noqa: B009
            assert isinstance(getattr(packetizer, "_open"), _native.SshGcm)  # noqa: B009
        before = getattr(server.packetizer, "_seal")  # noqa: B009
        server.packetizer.REKEY_BYTES = 1 << 20  # type: ignore[misc]  # instance, not class
        data = os.urandom(6 << 20)
        received = bytearray()

        def drain() -> None:
            while len(received) < len(data) and (chunk := receiver.recv(1 << 20)):
                received.extend(chunk)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        send_all(sender, data)
        reader.join(60)
        assert bytes(received) == data
        assert getattr(server.packetizer, "_seal") is not before  # noqa: B009  # rekeyed


@pytest.mark.parametrize("stderr", [False, True])
def test_batches_respect_a_small_window(stderr: bool) -> None:
    """paramiko's own client (2 MiB window, 32 KiB packets): limen's
    batches wait for window adjustments and stay within its packet size."""
    with pair(limen_client=False) as (_, _, sender, receiver):
        data = os.urandom(5 << 20)
        received = bytearray()
        recv = receiver.recv_stderr if stderr else receiver.recv

        def drain() -> None:
            while len(received) < len(data) and (chunk := recv(1 << 16)):
                received.extend(chunk)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        send_all(sender, data, stderr)
        reader.join(60)
        assert bytes(received) == data
