"""The SFTP packets limen reads (protocol version 3, draft-ietf-secsh-
filexfer-02, as OpenSSH speaks it, and OpenSSH's extensions).

:class:`Framer` cuts a byte stream into whole packets (``uint32 length,
byte type, payload``; at most :data:`MAX_PACKET` bytes each). :func:`
client_op` reads what a client's packet asks for: the operation and its
paths, or a handle-bound operation. :func:`reply_id` and :func:`handle_of`
read the server's replies limen needs (which request a reply answers, the
handle an ``open`` got). Everything else passes through unread.

Anything that does not parse raises :class:`SftpError`, and only that: the
relay then ends the channel (fail closed). A packet type or extension this
module does not know is not an error here: :func:`client_op` names it
``unknown`` and the policy denies it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from limen.policy.ssh.files import normalise

__all__ = [
    "MAX_PACKET",
    "Framer",
    "Op",
    "SftpError",
    "client_op",
    "handle_of",
    "reply_id",
    "status_packet",
]

MAX_PACKET = 256 * 1024 + 1024
"""The largest packet either side may send (OpenSSH's own limit is 256 KiB)."""
MAX_PATH = 4096

INIT, VERSION = 1, 2
OPEN, CLOSE, READ, WRITE, LSTAT, FSTAT, SETSTAT, FSETSTAT = 3, 4, 5, 6, 7, 8, 9, 10
OPENDIR, READDIR, REMOVE, MKDIR, RMDIR, REALPATH, STAT = 11, 12, 13, 14, 15, 16, 17
RENAME, READLINK, SYMLINK = 18, 19, 20
STATUS, HANDLE, DATA, NAME, ATTRS = 101, 102, 103, 104, 105
EXTENDED, EXTENDED_REPLY = 200, 201

FXF_READ, FXF_WRITE, FXF_APPEND, FXF_CREAT, FXF_TRUNC, FXF_EXCL = 1, 2, 4, 8, 16, 32
FX_PERMISSION_DENIED = 3

_ONE_PATH = {
    LSTAT: "stat",
    STAT: "stat",
    REALPATH: "stat",
    READLINK: "stat",
    OPENDIR: "list",
    REMOVE: "remove",
    MKDIR: "mkdir",
    RMDIR: "rmdir",
    SETSTAT: "setstat",
}
_TWO_PATHS = {RENAME: "rename", SYMLINK: "symlink"}
_ON_HANDLE = {CLOSE: "close", READ: "read", WRITE: "write", FSTAT: "stat", READDIR: "list"}
_EXT_ONE_PATH = {
    "statvfs@openssh.com": "stat",
    "expand-path@openssh.com": "stat",
    "lsetstat@openssh.com": "setstat",
}
_EXT_TWO_PATHS = {"posix-rename@openssh.com": "rename", "hardlink@openssh.com": "link"}
_EXT_ON_HANDLE = {
    "fstatvfs@openssh.com": "stat",
    "fsync@openssh.com": "write",
}
_EXT_FREE = {"limits@openssh.com"}


class SftpError(ValueError):
    """Bytes that are not the SFTP limen can read."""


@dataclass(frozen=True)
class Op:
    """What one client packet asks for.

    ``name`` is the operation the rules see (``read``, ``write``, ``list``,
    ``stat``, ``setstat``, ``remove``, ``mkdir``, ``rmdir``, ``rename``,
    ``symlink``, ``link``), ``init`` for the first packet, ``free`` for a
    request that names no file, or ``unknown``. ``paths`` are the paths it
    names (normalised), ``handle`` the handle it works on, if any.
    """

    kind: int
    id: int | None
    name: str
    paths: tuple[str, ...] = ()
    handle: bytes | None = None
    extension: str = ""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise SftpError("a truncated SFTP packet")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self, cap: int = MAX_PACKET) -> bytes:
        n = self.u32()
        if n > cap:
            raise SftpError("an SFTP string over its limit")
        return self.take(n)

    def path(self) -> str:
        raw = self.string(MAX_PATH)
        if b"\x00" in raw:
            raise SftpError("a NUL byte in an SFTP path")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SftpError("an SFTP path that is not UTF-8") from None
        return normalise(text)


class Framer:
    """Whole packets out of a byte stream, one :meth:`feed` at a time."""

    def __init__(self, limit: int = MAX_PACKET) -> None:
        self.buf = bytearray()
        self.limit = limit

    def feed(self, data: bytes) -> list[bytes]:
        """The packets ``data`` completes (each with its length prefix)."""
        self.buf += data
        out: list[bytes] = []
        while len(self.buf) >= 4:
            (n,) = struct.unpack_from(">I", self.buf)
            if n < 1 or n > self.limit:
                raise SftpError(f"an SFTP packet of {n} bytes")
            if len(self.buf) < 4 + n:
                break
            out.append(bytes(self.buf[: 4 + n]))
            del self.buf[: 4 + n]
        return out

    @property
    def pending(self) -> int:
        return len(self.buf)


def _open_name(pflags: int) -> str:
    if pflags & ~(FXF_READ | FXF_WRITE | FXF_APPEND | FXF_CREAT | FXF_TRUNC | FXF_EXCL):
        raise SftpError("unknown SFTP open flags")
    if pflags & (FXF_WRITE | FXF_APPEND | FXF_CREAT | FXF_TRUNC):
        return "write"
    if pflags & FXF_READ:
        return "read"
    raise SftpError("an SFTP open that neither reads nor writes")


def client_op(packet: bytes) -> Op:
    """What a client's packet (from :class:`Framer`) asks for."""
    r = _Reader(packet)
    r.take(4)
    kind = r.u8()
    if kind == INIT:
        r.u32()
        return Op(kind, None, "init")
    rid = r.u32()
    if kind == OPEN:
        path = r.path()
        return Op(kind, rid, _open_name(r.u32()), (path,))
    if kind in _ONE_PATH:
        return Op(kind, rid, _ONE_PATH[kind], (r.path(),))
    if kind in _TWO_PATHS:
        first = r.path()
        return Op(kind, rid, _TWO_PATHS[kind], (first, r.path()))
    if kind in _ON_HANDLE or kind == FSETSTAT:
        name = "setstat" if kind == FSETSTAT else _ON_HANDLE[kind]
        return Op(kind, rid, name, handle=r.string(256))
    if kind == EXTENDED:
        try:
            ext = r.string(256).decode("ascii")
        except UnicodeDecodeError:
            raise SftpError("an SFTP extension name that is not ASCII") from None
        if ext in _EXT_ONE_PATH:
            return Op(kind, rid, _EXT_ONE_PATH[ext], (r.path(),), extension=ext)
        if ext in _EXT_TWO_PATHS:
            first = r.path()
            return Op(kind, rid, _EXT_TWO_PATHS[ext], (first, r.path()), extension=ext)
        if ext in _EXT_ON_HANDLE:
            return Op(kind, rid, _EXT_ON_HANDLE[ext], handle=r.string(256), extension=ext)
        if ext in _EXT_FREE:
            return Op(kind, rid, "free", extension=ext)
        return Op(kind, rid, "unknown", extension=ext[:64])
    return Op(kind, rid, "unknown")


def reply_id(packet: bytes) -> tuple[int, int | None]:
    """A server packet's type and the request id it answers (None for
    ``VERSION``)."""
    r = _Reader(packet)
    r.take(4)
    kind = r.u8()
    if kind == VERSION:
        r.u32()
        return kind, None
    return kind, r.u32()


def handle_of(packet: bytes) -> bytes:
    """The handle of a server's ``HANDLE`` reply."""
    r = _Reader(packet)
    r.take(9)
    return r.string(256)


def status_packet(rid: int, code: int, message: str) -> bytes:
    """A server ``STATUS`` reply (what limen answers a refused request)."""
    text = message.encode("utf-8")
    body = (
        struct.pack(">BII", STATUS, rid, code)
        + struct.pack(">I", len(text))
        + text
        + struct.pack(">I", 2)
        + b"en"
    )
    return struct.pack(">I", len(body)) + body
