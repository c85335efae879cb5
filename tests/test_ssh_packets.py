"""The native AES-GCM packet layer (``limen.gateway.ssh.packets``,
``native/limen-wire/src/ssh.rs``) against paramiko's own.

- Differential: the same messages sealed by paramiko's ``Packetizer``
  (``cryptography``'s AES-GCM) are read by :class:`GcmPacketizer`, and the
  other way round; same message numbers, same payloads, in order.
- Property: any changed byte of a sealed packet is refused; arbitrary
  bytes raise ``ValueError`` only.
- A real transport pair rekeys in the middle of a transfer (new native
  engines both ways) and delivers every byte.
- The receive side (``inbound.py``): paramiko seals, limen reads ahead in
  arbitrary pieces (across the read-ahead buffer's end too); channel data
  comes out as ``DataMessage`` with what paramiko's ``Message`` reads, the
  rest as paramiko's ``Message``; ``SshGcm.open_message`` against
  ``SshGcm.open``.
"""

from __future__ import annotations

import os
import random
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
from limen.gateway.ssh.inbound import BUFFER, DataMessage
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
        # The rekey started after the first MiB; the window (8 MiB) may let
        # every byte through before it ends. Wait for it (bounded), then
        # the new engines carry more.
        rekeyed = threading.Event()
        for _ in range(200):
            if getattr(server.packetizer, "_seal") is not before:  # noqa: B009
                rekeyed.set()
                break
            rekeyed.wait(0.05)
        assert rekeyed.is_set()
        more = os.urandom(1 << 20)
        data += more
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        send_all(sender, more)
        reader.join(60)
        assert bytes(received) == data


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


# -- the receive side: read ahead, channel data without copies ------------


class _Wire:
    """A socket stand-in: ``send`` collects what a packetizer writes;
    ``recv_into`` hands it back in the pieces given (then whatever is left)."""

    def __init__(self, pieces: list[int] | None = None) -> None:
        self.out = bytearray()
        self.at = 0
        self.pieces = list(pieces or [])

    def send(self, data: bytes) -> int:
        self.out += data
        return len(data)

    def recv_into(self, view: memoryview, nbytes: int = 0) -> int:
        left = len(self.out) - self.at
        if left == 0:
            return 0
        n = min(len(view), left, self.pieces.pop(0) if self.pieces else left)
        view[:n] = self.out[self.at : self.at + n]
        self.at += n
        return n


def _data_message(chanid: int, ext: int | None, data: bytes, extra: bytes = b"") -> bytes:
    head = bytes([94 if ext is None else 95]) + chanid.to_bytes(4, "big")
    if ext is not None:
        head += ext.to_bytes(4, "big")
    return head + len(data).to_bytes(4, "big") + data + extra


payloads = st.lists(
    st.one_of(
        st.builds(
            _data_message,
            st.integers(0, 2**32 - 1),
            st.one_of(st.none(), st.integers(0, 2**32 - 1)),
            st.one_of(st.binary(max_size=300), st.integers(0, 70_000).map(lambda n: b"\xa5" * n)),
        ),
        # trailing bytes or a cut string: paramiko's own Message reads them
        st.builds(
            _data_message,
            st.integers(0, 9),
            st.none(),
            st.binary(max_size=20),
            st.binary(min_size=1, max_size=3),
        ),
        st.builds(lambda b: b"\x5e\x00\x00\x00\x01\xff\xff\xff\xff" + b, st.binary(max_size=9)),
        st.builds(lambda t, b: bytes([t]) + b, st.integers(1, 255), st.binary(max_size=200)),
    ),
    min_size=1,
    max_size=10,
)


def _sealed_by_paramiko(payload_list: list[bytes]) -> bytes:
    wire = _Wire()
    sender = paramiko.Packetizer(wire)  # type: ignore[arg-type]  # a socket stand-in
    _aead(sender, AESGCM(KEY), IV, out=True)
    for p in payload_list:
        m = Message()
        m.add_bytes(p)
        sender.send_message(m)
    return bytes(wire.out)


def _read_by_limen(stream: bytes, pieces: list[int], count: int) -> list[tuple[int, object]]:
    wire = _Wire(pieces)
    wire.out += stream
    reader = GcmPacketizer(wire)  # type: ignore[arg-type]  # a socket stand-in
    _aead(reader, _native.SshGcm(KEY, IV), IV, out=False)
    got: list[tuple[int, object]] = []
    for _ in range(count):
        ptype, m = reader.read_message()
        whole = m.asbytes()
        if ptype in (94, 95) and isinstance(m, DataMessage):
            fields = (m.get_int(),) if ptype == 94 else (m.get_int(), m.get_int())
            got.append((ptype, (fields, m.get_binary(), whole)))
        else:
            got.append((ptype, whole))
    return got


def _expected(payload_list: list[bytes]) -> list[tuple[int, object]]:
    """Each payload read by hand (RFC 4254 5.2): channel data whose string
    ends at the payload's end as (fields, data, bytes after the number),
    anything else as its bytes after the number."""
    out: list[tuple[int, object]] = []
    for p in payload_list:
        head = {94: 9, 95: 13}.get(p[0], 0)
        if head and len(p) >= head and int.from_bytes(p[head - 4 : head], "big") == len(p) - head:
            fields = tuple(int.from_bytes(p[i : i + 4], "big") for i in range(1, head - 4, 4))
            out.append((p[0], (fields, p[head:], p[1:])))
        else:
            out.append((p[0], p[1:]))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads, st.lists(st.integers(1, 5000), max_size=40))
def test_reads_what_paramiko_sealed_in_any_pieces(
    payload_list: list[bytes], pieces: list[int]
) -> None:
    """Differential: paramiko seals (``cryptography``), limen reads ahead
    in the given pieces; channel data comes as a ``DataMessage`` whose
    fields, data and bytes are what paramiko's ``Message`` reads; anything
    else (trailing bytes, a cut string, other messages) as paramiko's own
    ``Message``."""
    stream = _sealed_by_paramiko(payload_list)
    assert _read_by_limen(stream, pieces, len(payload_list)) == _expected(payload_list)


def test_read_ahead_across_the_buffers_end() -> None:
    """More than the read-ahead buffer in uneven pieces: packets that cross
    its end are moved to its start, every byte arrives."""
    rng = random.Random(7)
    payload_list = [
        _data_message(3, None if i % 3 else 1, os.urandom(rng.randrange(1, 120_000)))
        for i in range(80)
    ]
    stream = _sealed_by_paramiko(payload_list)
    assert len(stream) > 2 * BUFFER
    pieces = [rng.randrange(1, 300_000) for _ in range(400)]
    assert _read_by_limen(stream, pieces, len(payload_list)) == _expected(payload_list)


def test_data_message_reads_like_paramikos_message() -> None:
    m = DataMessage(7, 1, b"hello")
    assert m.asbytes() == _data_message(7, 1, b"hello")[1:]
    assert (m.get_int(), m.get_remainder()) == (7, _data_message(7, 1, b"hello")[5:])
    fresh = DataMessage(7, None, b"abc")
    assert (fresh.get_int(), fresh.get_binary(), fresh.get_remainder()) == (7, b"abc", b"")
    other = DataMessage(9, None, b"xyz")
    assert other.get_so_far() == b""
    assert other.get_int() == 9  # from the made packet now
    assert other.get_string() == b"xyz"


@settings(max_examples=50, deadline=None)
@given(payloads, st.booleans())
def test_open_message_matches_open(payload_list: list[bytes], parse: bool) -> None:
    """``SshGcm.open_message`` (one whole packet, channel data cut out
    natively) against ``SshGcm.open`` and a reading in Python."""
    seal, one, other = (_native.SshGcm(KEY, IV) for _ in range(3))
    for p in payload_list:
        wire = seal.seal(b"", p)
        assert one.open(wire[:4], wire[4:]) == p
        ptype, chanid, ext, data = other.open_message(memoryview(wire), parse)
        assert ptype == p[0]
        expected = _expected([p])[0][1]
        if parse and isinstance(expected, tuple):
            fields, body, _ = expected
            assert ((chanid,) if ext is None else (chanid, ext)) == fields
            assert data == body
        else:
            assert (chanid, ext, data) == (None, None, p)


def test_open_message_refuses_bad_packets() -> None:
    wire = bytearray(_native.SshGcm(KEY, IV).seal(b"", b"\x5e" + b"\x00" * 20))
    for bad in (wire[:10], wire[:-1], wire + b"\x00"):
        with pytest.raises(ValueError):
            _native.SshGcm(KEY, IV).open_message(bytes(bad), True)
    wire[-1] ^= 1
    with pytest.raises(ValueError):
        _native.SshGcm(KEY, IV).open_message(bytes(wire), True)
