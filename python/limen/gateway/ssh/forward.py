"""Port forwarding through limen, when a rule allows it.

- Local (``ssh -L``, a ``direct-tcpip`` channel): judged as
  ``@forward-local HOST:PORT`` (the destination the client names); limen
  opens the same ``direct-tcpip`` channel upstream, so the connection
  starts from the upstream host.
- Remote (``ssh -R``, a ``tcpip-forward`` request): judged as
  ``@forward-remote ADDRESS:PORT`` (what the upstream binds); limen asks
  the upstream for the same forward, and each connection the upstream
  accepts comes back to the client as a ``forwarded-tcpip`` channel.

- Agent (``ssh -A``, ``auth-agent-req@openssh.com`` on a session
  channel): judged as ``@agent``; limen asks the upstream for agent
  forwarding on that channel, and each agent connection the upstream opens
  comes back to the client as an ``auth-agent@openssh.com`` channel.
- X11 (``ssh -X``/``-Y``, ``x11-req``): judged as ``@x11``; limen passes
  the request (the client's own fake cookie: the client checks it and puts
  in the real one) upstream, and each X11 connection comes back to the
  client as an ``x11`` channel.

A forward that is not allowed (held counts as refused: nobody waits on a
tunnel) is refused like before: ``administratively prohibited`` for a
channel, a failed global request for ``-R``, a failed channel request for
agent and X11. A tunnel's bytes are relayed as they are (another protocol:
nothing to mask), and recorded as events (open, the byte counts, close),
never their content (docs/ssh.md).

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
#: An allowed X11 request: (screen, auth protocol, the client's cookie, single connection).
X11 = tuple[int, str, str, bool]


class Forwards:
    """One session's forwards (module docs)."""

    def __init__(self, token: trio.lowlevel.TrioToken, judge: Judge) -> None:
        self.token = token
        self.judge = judge
        self.lock = threading.Lock()
        self.pending: dict[int, tuple[Address, Address]] = {}
        """Allowed direct-tcpip channels (by id) not yet accepted."""
        self.agents: set[int] = set()
        self.x11s: dict[int, X11] = {}
        """Session channels (by id) allowed agent forwarding or X11, not
        yet asked for upstream (:meth:`prepare`)."""
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

    def agent(self, chanid: int) -> bool:
        """Agent forwarding on session channel ``chanid``: allowed?"""
        if not self._allowed("@agent"):
            return False
        with self.lock:
            self.agents.add(chanid)
        return True

    def x11(self, chanid: int, request: X11) -> bool:
        """X11 on session channel ``chanid``: allowed?"""
        if not self._allowed("@x11"):
            return False
        with self.lock:
            self.x11s[chanid] = request
        return True

    def _agent_incoming(self, up: paramiko.Channel) -> None:
        """An agent connection the upstream opened (on its thread)."""
        self._from_upstream(self._agent_tunnel, up)

    def _x11_incoming(self, up: paramiko.Channel, origin: Address) -> None:
        """An X11 connection the upstream opened (on its thread)."""
        self._from_upstream(self._x11_tunnel, up, origin)

    def _from_upstream(self, fn: Callable[..., Awaitable[None]], *args: object) -> None:
        try:
            trio.from_thread.run_sync(self._start, fn, *args, trio_token=self.token)
        except trio.RunFinishedError:
            for arg in args:
                if isinstance(arg, paramiko.Channel):
                    close_quietly(arg)

    def _incoming(self, chan: paramiko.Channel, origin: Address, server: Address) -> None:
        """A connection the upstream accepted on a forward limen asked for
        (on the upstream transport's thread): back to the client."""
        self._from_upstream(self._remote_tunnel, chan, origin, server)

    def cancel(self, address: str, port: int) -> None:
        upstream = self.upstream
        if upstream is not None:
            with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
                upstream.cancel_port_forward(address, port)

    # -- in Trio --------------------------------------------------------------------------

    async def prepare(self, chanid: int, up: paramiko.Channel) -> None:
        """Before session channel ``chanid`` starts upstream (as ``up``):
        asks the upstream for the agent forwarding and X11 allowed on it.
        An upstream that refuses is told in the recording; the client's
        agent or X11 then just gets no connections."""
        assert self.thread is not None
        with self.lock:
            agent = chanid in self.agents
            self.agents.discard(chanid)
            x11 = self.x11s.pop(chanid, None)
        try:
            if agent:
                await self.thread(up.request_forward_agent, self._agent_incoming)
            if x11 is not None:
                screen, protocol, cookie, single = x11
                await self.thread(
                    up.request_x11, screen, protocol, cookie, single, self._x11_incoming
                )
        except (paramiko.SSHException, EOFError, OSError):
            self.event({"event": "forward_refused_upstream", "channel": chanid})

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
        await self._relay(chan, up, "local", f"{dest[0]}:{dest[1]}")

    async def _remote_tunnel(self, up: paramiko.Channel, origin: Address, bound: Address) -> None:
        assert self.client is not None
        opener = self.client.open_forwarded_tcpip_channel
        await self._to_client(up, "remote", f"{bound[0]}:{bound[1]}", opener, origin, bound)

    async def _agent_tunnel(self, up: paramiko.Channel) -> None:
        await self._to_client(up, "agent", "agent", self._open_agent)

    async def _x11_tunnel(self, up: paramiko.Channel, origin: Address) -> None:
        await self._to_client(up, "x11", f"{origin[0]}:{origin[1]}", self._open_x11, origin)

    def _open_agent(self) -> paramiko.Channel:
        assert self.client is not None
        return self.client.open_forward_agent_channel()

    def _open_x11(self, origin: Address) -> paramiko.Channel:
        assert self.client is not None
        return self.client.open_x11_channel(origin)

    async def _to_client(
        self,
        up: paramiko.Channel,
        kind: str,
        where: str,
        opener: Callable[..., paramiko.Channel],
        *args: object,
    ) -> None:
        """A connection the upstream opened, back to the client as a
        channel ``opener`` opens."""
        assert self.thread is not None
        try:
            chan = await self.thread(opener, *args)
        except (paramiko.SSHException, EOFError, OSError):
            self.tunnels -= 1
            close_quietly(up)
            return
        assert isinstance(chan, paramiko.Channel)
        await self._relay(chan, up, kind, where)

    async def _relay(
        self, chan: paramiko.Channel, up: paramiko.Channel, kind: str, where: str
    ) -> None:
        assert self.thread is not None
        thread = self.thread
        moved = {"c2u": 0, "u2c": 0}
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
