"""SSH packets under AES-GCM sealed and opened natively, inside paramiko.

paramiko's ``Packetizer`` builds and reads every packet in Python: the
packet assembled by concatenation, the AES-GCM call through
``cryptography``, the payload sliced out twice, four to six copies of
every byte and a few dozen Python calls per packet. Once the key exchange
picked ``aes128-gcm@openssh.com`` or ``aes256-gcm@openssh.com``,
:class:`GcmPacketizer` seals and opens each packet with
``limen._native.SshGcm`` (``native/limen-wire/src/ssh.rs``: one copy in,
AES-GCM in place, one copy out) and keeps paramiko's own bookkeeping
(sequence numbers, rekey counters, strict-kex resets, keepalives). Before
that (the key exchange itself) and with any other cipher, paramiko's own
code runs unchanged.

:class:`ChannelData` lets a channel send its data without paramiko's
``Message``: a slice of the caller's buffer becomes one or more data
packets in one native call and one socket write
(:func:`limen.gateway.ssh.bridge.send_all`).

Tests: ``tests/test_ssh_packets.py`` (the same packets through paramiko's
path and this one, both ways; rekeying mid-stream; any changed byte
refused); fuzz target ``ssh_gcm_packet`` in ``native/limen-wire/fuzz``.
"""

from __future__ import annotations

import errno
import socket
import time
from typing import TYPE_CHECKING, Any

import paramiko
from paramiko.common import MSG_CHANNEL_DATA, MSG_CHANNEL_EXTENDED_DATA
from paramiko.message import Message
from paramiko.packet import Packetizer

from limen import _native
from limen.gateway.ssh.inbound import DataMessage, Inbound
from limen.gateway.ssh.pipes import ChunkChannels

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = ["ChannelData", "GcmEngines", "GcmPacketizer"]

_SEQ_IN = "_Packetizer__sequence_number_in"
MAX_IN = 256 << 10
"""The largest packet accepted from a peer (OpenSSH's own limit)."""


class ChannelData:
    """Channel data to send as one or more ``SSH_MSG_CHANNEL_DATA`` (or
    ``EXTENDED_DATA`` of type ``ext``) messages of ``chunk`` bytes: a slice
    of the caller's buffer, never copied into a ``Message``. The caller
    took the channel's window for all of it."""

    __slots__ = ("chanid", "chunk", "data", "ext", "length", "offset")

    def __init__(
        self, chanid: int, ext: int | None, data: bytes, offset: int, length: int, chunk: int
    ) -> None:
        self.chanid = chanid
        self.ext = ext
        self.data = data
        self.offset = offset
        self.length = length
        self.chunk = chunk

    def messages(self) -> list[Message]:
        """The same as paramiko ``Message`` objects (paramiko's own path)."""
        out = []
        view = memoryview(self.data)[self.offset : self.offset + self.length]
        for at in range(0, self.length, self.chunk):
            m = Message()
            m.add_byte(bytes([MSG_CHANNEL_DATA if self.ext is None else MSG_CHANNEL_EXTENDED_DATA]))
            m.add_int(self.chanid)
            if self.ext is not None:
                m.add_int(self.ext)
            m.add_string(bytes(view[at : at + self.chunk]))
            out.append(m)
        return out


def _engine(args: tuple[Any, ...], kwargs: dict[str, Any]) -> object:
    return kwargs["block_engine"] if "block_engine" in kwargs else args[0]


class GcmPacketizer(Packetizer):
    """paramiko's packetizer, with AES-GCM packets sealed and opened by
    ``SshGcm`` engines (which :class:`GcmEngines` hands paramiko)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self._sock = sock
        self._inbound = Inbound(sock, self)
        self._seal: _native.SshGcm | None = None
        self._open: _native.SshGcm | None = None

    # paramiko's name-mangled state, read and written as its own code does
    def _get(self, name: str) -> Any:
        return getattr(self, f"_Packetizer__{name}")

    def _set(self, name: str, value: object) -> None:
        setattr(self, f"_Packetizer__{name}", value)

    def _get_own(self, name: str) -> Any:
        """paramiko's attributes its stubs leave out."""
        return getattr(self, name)

    def _call(self, name: str) -> None:
        getattr(self, name)()

    def set_outbound_cipher(self, *args: Any, **kwargs: Any) -> None:
        super().set_outbound_cipher(*args, **kwargs)
        engine = _engine(args, kwargs)
        self._seal = engine if isinstance(engine, _native.SshGcm) else None

    def set_inbound_cipher(self, *args: Any, **kwargs: Any) -> None:
        super().set_inbound_cipher(*args, **kwargs)
        engine = _engine(args, kwargs)
        self._open = engine if isinstance(engine, _native.SshGcm) else None

    def send_message(self, data: Message | ChannelData) -> None:
        seal = self._seal
        if seal is None:
            for m in data.messages() if isinstance(data, ChannelData) else [data]:
                super().send_message(m)
            return
        with self._get("write_lock"):
            if self._get("compress_engine_out") is not None:
                for m in data.messages() if isinstance(data, ChannelData) else [data]:
                    self._sealed(seal.seal(b"", self._get("compress_engine_out")(m.asbytes())), 1)
            elif isinstance(data, ChannelData):
                out, count = seal.seal_data(
                    data.chanid, data.ext, data.data, data.offset, data.length, data.chunk
                )
                self._sealed(out, count)
            else:
                self._sealed(seal.seal(b"", data.asbytes()), 1)

    def _sealed(self, out: bytes, count: int) -> None:
        """Writes ``count`` sealed packets; paramiko's accounting (sequence
        number, rekey counters) as its ``send_message`` keeps it."""
        seq = self._get("sequence_number_out") + count
        if seq > 0xFFFFFFFF and not self._get_own("_initial_kex_done"):
            raise paramiko.SSHException("Sequence number rolled over during initial kex!")
        self._set("sequence_number_out", seq & 0xFFFFFFFF)
        self.write_all(out)
        sent = self._get("sent_bytes") + len(out)
        packets = self._get("sent_packets") + count
        self._set("sent_bytes", sent)
        self._set("sent_packets", packets)
        if (packets >= self.REKEY_PACKETS or sent >= self.REKEY_BYTES) and not self._get(
            "need_rekey"
        ):
            self._set("received_bytes_overflow", 0)
            self._set("received_packets_overflow", 0)
            self._call("_trigger_rekey")

    def write_all(self, out: ReadableBuffer) -> None:
        """paramiko's ``write_all`` without its copies (it slices off the rest
        of ``out`` after a partial send): a closed or broken socket is
        EOFError, a timeout retried."""
        view = memoryview(out)
        zero = 0
        while view:
            try:
                n = self._sock.send(view)
            except TimeoutError:
                n = -2
            except OSError as exc:
                n = -2 if exc.errno == errno.EAGAIN else -1
            if n == -2:
                if self._get("closed"):
                    raise EOFError()
                continue
            if n == 0:
                zero += 1
                n = -1 if zero > 10 else 0
            if n < 0:
                raise EOFError()
            view = view[n:]
        self._set("keepalive_last", time.time())

    def read_message(self) -> tuple[int, Message]:
        opener = self._open
        inbound = self._inbound
        remainder = self._get("remainder")
        if opener is None:
            if inbound.end > inbound.start:  # read ahead under AES-GCM, now another cipher
                self._set("remainder", inbound.take() + remainder)
            return super().read_message()
        if remainder:
            inbound.put(remainder)
            self._set("remainder", b"")
        try:
            packet = inbound.packet(MAX_IN)
        except ValueError as exc:
            raise paramiko.SSHException(str(exc)) from None
        raw = len(packet)
        decompress = self._get("compress_engine_in")
        try:
            ptype, chanid, ext, data = opener.open_message(packet, decompress is None)
        except ValueError as exc:
            raise paramiko.SSHException(str(exc)) from None
        finally:
            packet.release()
        msg: Message
        if chanid is not None:
            msg = DataMessage(chanid, ext, data)
        else:
            if decompress is not None:
                data = decompress(data)
                ptype = data[0]
            msg = Message(data[1:])  # from its start (kex hashes get_so_far)
        msg.seqno = getattr(self, _SEQ_IN)
        seq = (msg.seqno + 1) & 0xFFFFFFFF
        if seq == 0 and not self._get_own("_initial_kex_done"):
            raise paramiko.SSHException("Sequence number rolled over during initial kex!")
        setattr(self, _SEQ_IN, seq)
        self._count_in(raw)
        return ptype, msg

    def _count_in(self, raw: int) -> None:
        """paramiko's rekey accounting of one packet read."""
        received = self._get("received_bytes") + raw
        packets = self._get("received_packets") + 1
        self._set("received_bytes", received)
        self._set("received_packets", packets)
        if self._get("need_rekey"):
            over_bytes = self._get("received_bytes_overflow") + raw
            over_packets = self._get("received_packets_overflow") + 1
            self._set("received_bytes_overflow", over_bytes)
            self._set("received_packets_overflow", over_packets)
            if (
                over_packets >= self.REKEY_PACKETS_OVERFLOW_MAX
                or over_bytes >= self.REKEY_BYTES_OVERFLOW_MAX
            ):
                raise paramiko.SSHException("Remote transport is ignoring rekey requests")
        elif packets >= self.REKEY_PACKETS or received >= self.REKEY_BYTES:
            self._set("received_bytes_overflow", 0)
            self._set("received_packets_overflow", 0)
            self._call("_trigger_rekey")


class GcmEngines(paramiko.Transport):
    """A transport whose AES-GCM engines are ``SshGcm`` (and whose
    packetizer is :class:`GcmPacketizer`, which uses them), and whose
    channels keep what they receive in
    :class:`~limen.gateway.ssh.pipes.ChunkPipe` buffers."""

    def __init__(self, sock: socket.socket, **kwargs: Any) -> None:
        super().__init__(sock, packetizer_class=GcmPacketizer, **kwargs)
        self._channels = ChunkChannels()  # no channel yet: pipes without copies

    def _get_engine(
        self,
        name: str,
        key: bytes,
        iv: bytes | None = None,
        operation: object = None,
        aead: bool = False,
    ) -> object:
        if aead and iv is not None:
            return _native.SshGcm(key, iv)
        return getattr(super(), "_get_engine")(name, key, iv, operation, aead)  # noqa: B009
