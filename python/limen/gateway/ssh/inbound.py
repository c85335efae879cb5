"""The receive side of :class:`~limen.gateway.ssh.packets.GcmPacketizer`.

paramiko reads a packet with two ``recv`` calls (its 4 length bytes, then
the rest), builds a ``Message`` around the payload and, for channel data,
copies the data out of it again (``get_binary``) on its way into the
channel's pipe. Here:

- :class:`Inbound` reads ahead: one ``recv_into`` takes what the socket
  holds (up to :data:`BUFFER`), whole packets are cut from it as views;
  paramiko's timeout handling (closed packetizer, handshake timeout,
  keepalive, a pending rekey) as in its ``read_all``.
- ``SshGcm.open_message`` opens a packet and, for a well-formed channel
  data message (``native/limen-wire/src/ssh/data.rs``), copies out only
  the data: :class:`DataMessage` hands paramiko those ``bytes`` as they
  are, and :class:`~limen.gateway.ssh.pipes.ChunkPipe` keeps them so.
  Any other message is paramiko's own ``Message``.

Tests: ``tests/test_ssh_packets.py`` (paramiko's packetizer seals, this
side reads, the same messages; packets split at every boundary).
"""

from __future__ import annotations

import errno
import socket
from io import BytesIO
from typing import TYPE_CHECKING

from paramiko.message import Message
from paramiko.packet import NeedRekeyException

from limen import _native

if TYPE_CHECKING:
    from paramiko.packet import Packetizer

__all__ = ["BUFFER", "DataMessage", "Inbound"]

BUFFER = 1 << 20
"""Bytes read ahead at most (a packet is at most 256 KiB and its tag)."""


class DataMessage(Message):
    """``SSH_MSG_CHANNEL_DATA`` (``EXTENDED_DATA`` with ``ext``) as read
    natively: ``get_int`` gives the channel (then the data type code),
    ``get_binary`` the data, the ``bytes`` object as it came. Any other
    use of the message (``asbytes``, ``get_remainder``, other getters)
    sees the message's bytes after its number, as paramiko's own
    ``Message`` would."""

    def __init__(self, chanid: int, ext: int | None, data: bytes) -> None:
        # No Message.__init__: ``packet`` is made only when asked for.
        self._fields = (chanid,) if ext is None else (chanid, ext)
        self._taken = 0
        """Parts read so far (the fields, then the data)."""
        self._data = data
        self._packet: BytesIO | None = None
        self.seqno = 0

    @property
    def packet(self) -> BytesIO:
        """paramiko's attribute, made on demand."""
        if self._packet is None:
            data = self._data
            content = b"".join(f.to_bytes(4, "big") for f in self._fields)
            content += len(data).to_bytes(4, "big") + data
            packet = BytesIO(content)
            at = 4 * min(self._taken, len(self._fields))
            if self._taken > len(self._fields):
                at += 4 + len(data)
            packet.seek(at)
            self._packet = packet
        return self._packet

    @packet.setter
    def packet(self, value: BytesIO) -> None:
        self._packet = value

    def get_int(self) -> int:
        if self._packet is None and self._taken < len(self._fields):
            self._taken += 1
            return self._fields[self._taken - 1]
        out: int = super().get_int()
        return out

    def get_binary(self) -> bytes:
        if self._packet is None and self._taken == len(self._fields):
            self._taken += 1
            return self._data
        out: bytes = super().get_binary()
        return out

    get_string = get_binary


class Inbound:
    """Packets cut from bytes read ahead of them, for one packetizer."""

    def __init__(self, sock: socket.socket, packetizer: Packetizer) -> None:
        self.sock = sock
        self.packetizer = packetizer
        self.buf = bytearray(BUFFER)
        self.view = memoryview(self.buf)
        self.start = 0
        """Where the next packet starts."""
        self.end = 0
        """Where the bytes read end."""

    def take(self) -> bytes:
        """The bytes read and not cut into packets (they leave the buffer)."""
        out = bytes(self.view[self.start : self.end])
        self.start = self.end = 0
        return out

    def put(self, data: bytes) -> None:
        """Bytes read elsewhere (paramiko's own read-ahead), in front of the
        buffered ones."""
        rest = data + self.take()
        if len(rest) > BUFFER:
            raise EOFError()  # cannot happen: paramiko reads ahead a banner line
        self.buf[: len(rest)] = rest
        self.end = len(rest)

    def packet(self, cap: int) -> memoryview:
        """The next packet: its 4 length bytes and exactly the bytes after
        them. ValueError when its length is refused (over ``cap``, not
        whole blocks); EOFError, NeedRekeyException or OSError as
        paramiko's ``read_all`` raises them."""
        if self.end - self.start < 4:
            self._fill(4, first=True)
        at = self.start
        whole = 4 + _native.SshGcm.body_len(bytes(self.view[at : at + 4]), cap)
        if self.end - at < whole:
            self._fill(whole, first=False)
            at = self.start
        self.start = at + whole
        return self.view[at : at + whole]

    def _fill(self, need: int, *, first: bool) -> None:
        """Reads until ``need`` bytes from ``start`` are there."""
        if self.start + need > len(self.buf):
            n = self.end - self.start
            self.buf[:n] = self.buf[self.start : self.end]
            self.start, self.end = 0, n
        packetizer = self.packetizer
        while self.end - self.start < need:
            if packetizer.handshake_timed_out():
                raise EOFError()
            try:
                got = self.sock.recv_into(self.view[self.end :])
            except TimeoutError:
                got = -1
            except OSError as exc:
                if exc.errno != errno.EAGAIN:
                    if _closed(packetizer):
                        raise EOFError() from None
                    raise
                got = -1
            if got == 0:
                raise EOFError()
            if got > 0:
                self.end += got
                continue
            if _closed(packetizer):
                raise EOFError()
            if first and self.end == self.start and packetizer.need_rekey():
                raise NeedRekeyException()
            getattr(packetizer, "_check_keepalive")()  # noqa: B009  # paramiko's own


def _closed(packetizer: Packetizer) -> bool:
    """paramiko's own flag (set by ``Packetizer.close``)."""
    return bool(vars(packetizer).get("_Packetizer__closed"))
