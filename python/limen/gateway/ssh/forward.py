"""Port forwarding through limen, when a rule allows it.

- Local (``ssh -L``, a ``direct-tcpip`` channel): judged as
  ``@forward-local HOST:PORT`` (the destination the client names); limen
  opens the same ``direct-tcpip`` channel upstream, so the connection
  starts from the upstream host.
- Remote (``ssh -R``, a ``tcpip-forward`` request): judged as
  ``@forward-remote ADDRESS:PORT`` (what the upstream binds); limen asks
  the upstream for the same forward, and each connection the upstream
  accepts comes back to the client as a ``forwarded-tcpip`` channel.

A forward that is not allowed (held counts as refused: nobody waits on a
tunnel) is refused like before: ``administratively prohibited`` for a
channel, a failed global request for ``-R``. A tunnel's bytes are relayed
as they are (another protocol: nothing to mask), and recorded as events
(open, the byte counts, close), never their content. Agent forwarding and
X11 stay refused (docs/ssh.md).

paramiko asks on its transport thread (:meth:`Forwards.local`,
:meth:`Forwards.remote`); the judgement and the relays run in Trio.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable

import paramiko
import trio

from limen.gateway.ssh.bridge import READ, close_quietly, send_all

__all__ = ["MAX_TUNNELS", "Forwards"]

READY_TIMEOUT = 15.0
"""Seconds a forward request waits for the session to be ready."""
MAX_TUNNELS = 64
"""Forwarded connections one session may have open at once."""

Address = tuple[str, int]
#: ``await judge(words)`` -> True when a rule allows the forward.
Judge = Callable[[str], Awaitable[bool]]
#: ``await thread(fn, *args)``: a blocking paramiko call on a worker thread.
Thread = Callable[..., Awaitable[object]]
#: ``event(obj)``: one recording event.
Event = Callable[[dict[str, object]], None]


class Forwards:
    """One session's forwards (module docs)."""

    def __init__(self, token: trio.lowlevel.TrioToken, judge: Judge) -> None:
        self.token = token
        self.judge = judge
        self.lock = threading.Lock()
        self.pending: dict[int, tuple[Address, Address]] = {}
        """Allowed direct-tcpip channels (by id) not yet accepted."""
        self.client: paramiko.Transport | None = None
        self.upstream: paramiko.Transport | None = None
        self.nursery: trio.Nursery | None = None
        self.thread: Thread | None = None
        self.event: Event = lambda obj: None
        self.tunnels = 0
        self.ready = threading.Event()
        """Set once the session relays (a client may ask for a forward
        right after authentication, before limen's side is ready)."""

    def attach(
        self,
        client: paramiko.Transport,
        upstream: paramiko.Transport,
        nursery: trio.Nursery,
        thread: Thread,
        event: Event,
    ) -> None:
        """Ready to forward (the session relays now); before, every
        forward is refused."""
        self.client, self.upstream, self.nursery = client, upstream, nursery
        self.thread, self.event = thread, event
        # paramiko sets a transport's forwarded-connection handler only after
        # the upstream answered tcpip-forward; a connection the upstream
        # accepts at once would be refused. Set it before any request.
        setattr(upstream, "_tcp_handler", self._incoming)  # noqa: B010
        nursery.start_soon(self._accept)
        self.ready.set()

    def _allowed(self, words: str) -> bool:
        if not self.ready.wait(READY_TIMEOUT):
            return False
        try:
            return bool(trio.from_thread.run(self.judge, words, trio_token=self.token))
        except (trio.RunFinishedError, trio.Cancelled):
            return False

    # -- on paramiko's transport thread -------------------------------------------------

    def local(self, chanid: int, origin: Address, destination: Address) -> bool:
        """A ``direct-tcpip`` channel: allowed (then accepted in Trio)?"""
        if not self._allowed(f"@forward-local {destination[0]}:{destination[1]}"):
            return False
        with self.lock:
            self.pending[chanid] = (origin, destination)
        return True

    def remote(self, address: str, port: int) -> int | bool:
        """A ``tcpip-forward`` request: the port the upstream bound, or False."""
        if not self._allowed(f"@forward-remote {address}:{port}"):
            return False
        upstream = self.upstream
        assert upstream is not None

        try:
            bound = upstream.request_port_forward(address, port, self._incoming)
        except (paramiko.SSHException, EOFError, OSError):
            return False
        return int(bound) if bound else port

    def _incoming(self, chan: paramiko.Channel, origin: Address, server: Address) -> None:
        """A connection the upstream accepted on a forward limen asked for
        (on the upstream transport's thread): back to the client."""
        try:
            trio.from_thread.run_sync(
                self._start, self._remote_tunnel, chan, origin, server, trio_token=self.token
            )
        except trio.RunFinishedError:
            close_quietly(chan)

    def cancel(self, address: str, port: int) -> None:
        upstream = self.upstream
        if upstream is not None:
            with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
                upstream.cancel_port_forward(address, port)

    # -- in Trio --------------------------------------------------------------------------

    def _start(self, fn: Callable[..., Awaitable[None]], *args: object) -> None:
        if self.nursery is None or self.tunnels >= MAX_TUNNELS:
            for arg in args:
                if isinstance(arg, paramiko.Channel):
                    close_quietly(arg)
            return
        self.tunnels += 1
        self.nursery.start_soon(fn, *args)

    async def _accept(self) -> None:
        """paramiko queues the channels it opened for the client; the
        allowed direct-tcpip ones start their tunnel."""
        assert self.client is not None
        assert self.thread is not None
        while self.client.is_active():
            chan = await self.thread(self.client.accept, 1.0)
            if not isinstance(chan, paramiko.Channel):
                continue
            with self.lock:
                ends = self.pending.pop(chan.get_id(), None)
            if ends is not None:
                self._start(self._local_tunnel, chan, *ends)

    async def _local_tunnel(self, chan: paramiko.Channel, origin: Address, dest: Address) -> None:
        assert self.upstream is not None
        assert self.thread is not None
        try:
            up = await self.thread(self.upstream.open_channel, "direct-tcpip", dest, origin)
        except (paramiko.SSHException, EOFError, OSError):
            self.tunnels -= 1
            close_quietly(chan)
            return
        assert isinstance(up, paramiko.Channel)
        await self._relay(chan, up, "local", dest)

    async def _remote_tunnel(self, up: paramiko.Channel, origin: Address, bound: Address) -> None:
        assert self.client is not None
        assert self.thread is not None
        try:
            chan = await self.thread(self.client.open_forwarded_tcpip_channel, origin, bound)
        except (paramiko.SSHException, EOFError, OSError):
            self.tunnels -= 1
            close_quietly(up)
            return
        assert isinstance(chan, paramiko.Channel)
        await self._relay(chan, up, "remote", bound)

    async def _relay(
        self, chan: paramiko.Channel, up: paramiko.Channel, kind: str, target: Address
    ) -> None:
        assert self.thread is not None
        thread = self.thread
        moved = {"c2u": 0, "u2c": 0}
        where = f"{target[0]}:{target[1]}"
        self.event({"event": "tunnel", "kind": kind, "target": where, "channel": chan.get_id()})

        async def copy(src: paramiko.Channel, dst: paramiko.Channel, key: str) -> None:
            with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
                while data := await thread(src.recv, READ):
                    assert isinstance(data, bytes)
                    moved[key] += len(data)
                    await thread(send_all, dst, data)
                await thread(dst.shutdown_write)

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(copy, chan, up, "c2u")
                nursery.start_soon(copy, up, chan, "u2c")
        finally:
            self.tunnels -= 1
            close_quietly(up)
            close_quietly(chan)
            self.event({"event": "tunnel_end", "channel": chan.get_id(), "target": where, **moved})
