"""TLS with its keys in native code: :class:`NativeTlsStream`, a Trio
stream over a socket and a rustls session (``_native.TlsSession``).

PostgreSQL sessions use it on both sides (the listener's, and the
upstream's when ``[resources.tls]`` asks for TLS): Python drives the
handshake, the token and the login through this stream as through any
other; then the native pump takes the session's TLS connection with its
socket (:mod:`limen.gateway.postgres.relay_pump`) and decrypts and
encrypts on its own thread, and gives it back when it ends (the final
FATAL and close_notify go out here). Python's ``ssl`` cannot hand its
session keys to native code, hence rustls from the first byte.

The listener's certificate and key are read in one place,
:class:`ListenerTls`, which also reloads them (``SIGHUP``) when the files
changed.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import trio

from limen import _native

__all__ = ["ListenerTls", "NativeTlsStream", "upstream_config"]

RECEIVE_SIZE = 65536


class NativeTlsStream(trio.abc.Stream):
    """A TLS stream over ``transport`` with the keys in ``session``."""

    def __init__(self, transport: trio.SocketStream, session: _native.TlsSession) -> None:
        self.transport = transport
        self.session = session
        self._send_lock = trio.Lock()

    @property
    def socket(self) -> trio.socket.SocketType:
        return self.transport.socket

    async def _flush(self) -> None:
        data = self.session.take_tls()
        if data:
            async with self._send_lock:
                await self.transport.send_all(data)

    async def _feed(self, data: bytes) -> None:
        try:
            self.session.feed(data)
        except _native.TlsError as exc:
            # An alert may be waiting: best effort, then the stream is broken.
            with trio.move_on_after(1):
                with contextlib.suppress(
                    trio.BrokenResourceError, trio.ClosedResourceError, OSError
                ):
                    await self._flush()
            raise trio.BrokenResourceError(f"TLS failed: {exc}") from exc
        await self._flush()

    async def do_handshake(self) -> None:
        """Runs the handshake to its end."""
        await self._flush()
        while self.session.handshaking:
            data = await self.transport.receive_some(RECEIVE_SIZE)
            if not data:
                raise trio.BrokenResourceError("the peer closed during the TLS handshake")
            await self._feed(data)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self.session.write_plain(bytes(data))
        except _native.TlsError as exc:
            raise trio.BrokenResourceError(f"TLS failed: {exc}") from exc
        await self._flush()

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        size = RECEIVE_SIZE if max_bytes is None else max_bytes
        while True:
            data = self.session.read_plain(size)
            if data or self.session.peer_closed:
                return data
            cipher = await self.transport.receive_some(RECEIVE_SIZE)
            await self._feed(cipher)

    async def aclose(self) -> None:
        """Sends close_notify (best effort) and closes the socket, under
        ``trio.aclose_forcefully`` too, so that a peer such as libpq after a
        CancelRequest sees a clean end (OpenSSL calls an end without the
        alert "unexpected eof")."""
        try:
            if not self._send_lock.locked():  # else a send is under way: no alert
                self.session.close()
                data = self.session.take_tls()
                # A plain write, not an await: a cancelled scope would stop
                # trio's send before it starts. The alert is a few dozen
                # bytes; a full socket buffer just loses it.
                os.write(self.transport.socket.fileno(), data)
        except (OSError, _native.TlsError):
            pass
        finally:
            await self.transport.aclose()


def upstream_config(
    mode: str, ca_file: Path | None, cert_file: Path | None, key_file: Path | None
) -> _native.TlsClientConfig:
    """The upstream's TLS configuration for libpq's sslmode ``mode``
    (prefer/require: not verified; verify-ca: the chain; verify-full: the
    chain and the name), with the CA file or the system's bundle."""
    verify = {"verify-ca": "ca", "verify-full": "full"}.get(mode, "none")
    roots: bytes | None = None
    if verify != "none":
        bundle = ca_file or _system_bundle()
        roots = bundle.read_bytes() if bundle is not None else None
    cert = cert_file.read_bytes() if cert_file is not None and key_file is not None else None
    key = key_file.read_bytes() if cert_file is not None and key_file is not None else None
    return _native.TlsClientConfig(verify, roots, cert, key)


def _system_bundle() -> Path | None:
    paths = ssl.get_default_verify_paths()
    for name in (paths.cafile, paths.openssl_cafile):
        if name and Path(name).is_file():
            return Path(name)
    return None


@dataclass(frozen=True)
class _Stamp:
    mtime_ns: int
    size: int


def _stamp(path: Path) -> _Stamp:
    st = os.stat(path)
    return _Stamp(st.st_mtime_ns, st.st_size)


class ListenerTls:
    """The listeners' certificate and key: Python's context (HTTP, MySQL,
    the admin API) and the native configuration (PostgreSQL), both from
    the same files, reloaded together by :meth:`reload_if_changed`."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert, self.key = cert, key
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.stamps = (_stamp(cert), _stamp(key))
        self.native = self._load()

    def _load(self) -> _native.TlsServerConfig:
        native = _native.TlsServerConfig(self.cert.read_bytes(), self.key.read_bytes())
        self.context.load_cert_chain(str(self.cert), str(self.key))
        return native

    def reload_if_changed(self) -> bool:
        """Reads the files again if either changed since they were read:
        True when new ones are in force (for the next handshakes). A pair
        that does not load raises (``ssl.SSLError``, ``OSError`` or
        ``_native.TlsError``) and the old one stays."""
        stamps = (_stamp(self.cert), _stamp(self.key))
        if stamps == self.stamps:
            return False
        native = _native.TlsServerConfig(self.cert.read_bytes(), self.key.read_bytes())
        # Checked on a spare context first: a pair that fails half way
        # would leave the live one with a certificate and another's key.
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            str(self.cert), str(self.key)
        )
        self.context.load_cert_chain(str(self.cert), str(self.key))
        self.native = native
        self.stamps = stamps
        return True
