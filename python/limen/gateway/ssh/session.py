"""The SSH session: ``ssh -p PORT RESOURCE@gateway`` with the token as the
password.

The user name is the resource; the token (password or keyboard-interactive
authentication) names the identity. paramiko (threads) speaks SSH on both
sides over socket pairs bridged to the session's Trio streams
(:mod:`limen.gateway.ssh.bridge`); every decision is made on the Trio side.

The authentication answer waits for the whole login: a token refused (or
revoked, or over a connection limit) fails authentication; once the token
is good, a failure upstream (unreachable, a host key that is not the
pinned one, limen's login refused) is told on the first channel's stderr
(``limen: …``, exit status 255) before the connection closes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

import paramiko
import trio

from limen.gateway.inrecord import record_statement
from limen.gateway.livemasks import new_masks, take_input_masker
from limen.gateway.services import Services
from limen.gateway.session import Admission, Session, SessionEnd
from limen.gateway.ssh.bridge import (
    Counted,
    Detached,
    bridge,
    close_quietly,
    handoff,
)
from limen.gateway.ssh.channels import ChannelRelay
from limen.gateway.ssh.clientside import MAX_CHANNELS, ChannelRequest, ClientSide, Pty
from limen.gateway.ssh.forward import Forwards
from limen.gateway.ssh.transport import ServerTransport
from limen.gateway.ssh.upstream import login_upstream
from limen.identity import Identity, IdentityError
from limen.identity.sshca import CERT_SUFFIX, CertError, SshCa
from limen.identity.statickeys import SshPublicKeys
from limen.policy import Decision
from limen.policy.ssh import Request, decide_file, decide_ssh

__all__ = ["SshSession"]

THREADS = 4 * MAX_CHANNELS + 8
"""Worker threads one session may block at once (4 per channel, the
transports' own waits)."""

FAILED_STATUS = 255
"""The exit status of a channel refused because the session failed."""


@dataclass
class _Auth:
    """The token check's answer, once the login is settled."""

    done: trio.Event
    ok: bool = False


class SshSession(Session):
    protocol = "ssh"
    protocol_errors = (paramiko.SSHException, EOFError)

    def __init__(
        self,
        services: Services,
        key: paramiko.PKey,
        client: trio.abc.Stream,
        peer_host: str,
        ca: SshCa | None = None,
        ssh_keys: SshPublicKeys | None = None,
    ) -> None:
        super().__init__(services, client, peer_host)
        self.host_key = key
        self.ca = ca
        self.ssh_keys = ssh_keys
        self.limiter = trio.CapacityLimiter(THREADS)
        self.nursery: trio.Nursery | None = None
        self.counted_client = Counted()
        self.counted_upstream = Counted()
        self.counted_payload = Counted()
        """Channel bytes (client to upstream: ``inbound``), counted by the
        relay when paramiko owns the sockets (no bridge counts them)."""
        send, receive = trio.open_memory_channel[ChannelRequest](16)
        self.requests_in = send
        self.requests = receive
        self.admissions_in, self.admissions = trio.open_memory_channel[Admission](1)
        self.auth = _Auth(trio.Event())
        self.transport: paramiko.Transport | None = None
        self.upstream: paramiko.Transport | None = None
        self.upstream_stream: trio.abc.Stream | None = None
        self.channels: ChannelRelay | None = None
        self.mask_generation = services.generation
        """The services' config generation the channels' masks come from."""
        self.client_side: ClientSide | None = None
        self.forwards = Forwards(trio.lowlevel.current_trio_token(), self.judge_forward)

    # -- the client's side ------------------------------------------------------------

    async def check_token(self, username: str, token: str) -> bool:
        """paramiko's password check (on the Trio side): False refuses the
        attempt; True once the whole login succeeded (or failed upstream,
        which the first channel then tells)."""
        if self.auth.done.is_set() or self.identity is not None:
            return False  # one admission per connection
        resource = self.config.resource(username)
        if resource is None or resource.protocol != "ssh":
            self.services.auth_refused("ssh", "unknown_resource", resource=username[:64])
            return False
        try:
            identity = await self.services.authenticator.authenticate(token)
        except IdentityError as exc:
            self.services.auth_refused("ssh", exc.reason.value, resource=resource.name)
            return False
        return await self.admit(username, identity)

    async def admit(self, username: str, identity: Identity) -> bool:
        """Lets ``identity`` (a token's, or a certificate's whose key the
        client proved it holds) in to the resource ``username``."""
        if self.auth.done.is_set() or self.identity is not None:
            return False
        resource = self.config.resource(username)
        if resource is None or resource.protocol != "ssh":
            self.services.auth_refused("ssh", "unknown_resource", resource=username[:64])
            return False
        try:
            self.admissions_in.send_nowait(Admission(identity, resource))
        except trio.WouldBlock:
            return False
        await self.auth.done.wait()
        return self.auth.ok

    def verify_key(self, key_type: str, blob: bytes) -> Identity:
        """A certificate's identity (limen's CA, valid now), or a known SSH
        key's ([[identity.keys]], not expired); else CertError."""
        now = time.time()
        if key_type.endswith(CERT_SUFFIX):
            if self.ca is None:
                raise CertError("no SSH CA")
            return self.ca.verify(key_type, blob, now=now)
        identity = self.ssh_keys.match(blob, now) if self.ssh_keys is not None else None
        if identity is None:
            raise CertError("not a key limen knows")
        return identity

    def settle(self, ok: bool) -> None:
        """Answers the waiting token check (the first answer stays)."""
        if self.auth.done.is_set():
            return
        self.auth.ok = ok
        self.auth.done.set()

    async def handshake(self) -> Admission | None:
        nursery = self.nursery
        assert nursery is not None
        raw = self.client
        # The bridge owns the connection now: the skeleton's fatal-error
        # path must not read or write it (SSH errors go on channels).
        self.client = Detached(raw)
        sock = await handoff(raw)
        if sock is None:
            sock = await nursery.start(bridge, raw, self.counted_client)
        else:
            self.counted_client = self.counted_payload
        transport = ServerTransport(sock, gcm_only=self.config.gateway.ssh_ciphers == "fast")
        self.transport = transport
        transport.add_server_key(self.host_key)
        iface = ClientSide(
            trio.lowlevel.current_trio_token(),
            self.check_token,
            self.requests_in,
            self.resize,
            verify_key=self.verify_key,
            admit=self.admit,
            forwards=self.forwards,
        )
        self.client_side = iface
        await trio.to_thread.run_sync(
            transport.start_server, None, iface, abandon_on_cancel=True, limiter=self.limiter
        )
        return await self.admissions.receive()

    def resize(self, chanid: int, pty: Pty) -> None:
        if self.channels is not None:
            self.channels.resize(chanid, pty.width, pty.height)

    # -- upstream ---------------------------------------------------------------------

    async def connect_upstream(self) -> None:
        assert self.resource is not None
        assert self.nursery is not None
        address = self.resource.upstream_address()
        try:
            stream = await self.services.open_upstream(address.host, address.port)
        except OSError as exc:
            await self._upstream_failed(
                SessionEnd("08006", f"cannot reach {self.resource.name}: {exc.strerror or exc}")
            )
        self.upstream_stream = stream

    async def login(self) -> None:
        assert self.resource is not None
        assert self.nursery is not None
        assert self.upstream_stream is not None
        sock = await handoff(self.upstream_stream)
        if sock is None:
            sock = await self.nursery.start(bridge, self.upstream_stream, self.counted_upstream)
        else:
            self.counted_upstream = self.counted_payload
        try:
            self.upstream = await trio.to_thread.run_sync(
                login_upstream,
                sock,
                self.config,
                self.resource,
                abandon_on_cancel=True,
                limiter=self.limiter,
            )
        except SessionEnd as end:
            await self._upstream_failed(end)
        self.settle(True)

    async def _upstream_failed(self, end: SessionEnd) -> NoReturn:
        """Lets the client in, tells the failure on its first channel, ends."""
        self.settle(True)
        with trio.move_on_after(10):
            item = await self.requests.receive()
            text = f"limen: {end.message}\n" + (f"limen: hint: {end.hint}\n" if end.hint else "")
            chan = item.channel
            await trio.to_thread.run_sync(chan.sendall_stderr, text.encode(), limiter=self.limiter)
            await trio.to_thread.run_sync(
                chan.send_exit_status, FAILED_STATUS, limiter=self.limiter
            )
            close_quietly(chan)
        raise end

    # -- the relay --------------------------------------------------------------------

    def decide(self, item: ChannelRequest) -> Decision:
        assert self.identity is not None
        assert self.resource is not None
        return decide_ssh(self.services.policy, self.identity, self.resource.name, item.request)

    async def judge_forward(self, words: str) -> bool:
        """A forward (``@forward-local HOST:PORT``, ``@forward-remote
        ADDR:PORT``), recorded and judged: only ``allow`` lets it through."""
        channels = self.channels
        if channels is None or self.identity is None or self.resource is None:
            return False
        request = Request("forward", words)
        decision = decide_ssh(self.services.policy, self.identity, self.resource.name, request)
        record_statement(channels.recorder, channels.input_masker, words.encode())
        channels.event(
            {
                "event": "decision",
                "action": decision.action,
                "rule": decision.rule,
                "class": decision.klass,
                "request": "forward",
            }
        )
        if decision.action != "allow":
            self.services.log(
                "decision",
                session=self.session_id,
                action=decision.action,
                rule=decision.rule,
                klass=decision.klass,
            )
        return decision.action == "allow"

    def decide_file(self, item: ChannelRequest, op: str, paths: Sequence[str]) -> Decision:
        assert self.identity is not None
        assert self.resource is not None
        return decide_file(self.services.policy, self.identity, self.resource.name, op, paths)

    async def relay(self) -> None:
        identity, resource = self.identity, self.resource
        assert identity is not None
        assert resource is not None
        assert self.recorder is not None
        assert self.upstream is not None
        assert self.transport is not None
        holds = self.new_holds()

        def mask_text(text: bytes) -> str:
            # Approvers see command lines masked even when the session records raw.
            shown = self.input_masker or self.services.input_maskers.builtin_shell
            return self.services.mask_statement(text, shown)

        self.mask_generation = self.services.generation
        self.channels = channels = ChannelRelay(
            recorder=self.recorder,
            input_masker=self.input_masker,
            masker=self.services.masker_for(identity, resource.name),
            holds=holds,
            decide=self.decide,
            decide_file=self.decide_file,
            mask_text=mask_text,
            upstream=self.upstream,
            log=self.services.log,
            session_id=self.session_id,
            touch=self.touch,
            limiter=self.limiter,
            ended=lambda: self.end,
            counted=self.counted_payload,
            prepare=self.forwards.prepare,
        )
        client, upstream = self.transport, self.upstream
        async with trio.open_nursery() as nursery:
            self.forwards.attach(client, upstream, nursery, channels.thread, channels.event)

            async def ended(transport: paramiko.Transport, end: SessionEnd | None) -> None:
                await trio.to_thread.run_sync(
                    transport.join, abandon_on_cancel=True, limiter=self.limiter
                )
                if end is not None:
                    self.finish(end)
                nursery.cancel_scope.cancel()

            nursery.start_soon(ended, client, None)
            nursery.start_soon(
                ended, upstream, SessionEnd("08006", "the upstream closed the connection")
            )
            nursery.start_soon(
                self.idle_watch,
                nursery.cancel_scope,
                lambda: trio.current_time() - self.last_activity,
                lambda: holds.waiting,
            )
            async for item in self.requests:
                nursery.start_soon(self._channel, channels, item)

    def rebind(self) -> bool:
        """The new rules (:meth:`Session.rebind`) and masks: each channel's
        next chunk is masked by the new ones (:mod:`limen.gateway.livemasks`)."""
        rebound = super().rebind()
        channels = self.channels
        masks = new_masks(self) if channels is not None else None
        if masks is None or channels is None:
            return rebound
        channels.masker = masks.masker
        channels.input_masker = masks.input_masker
        take_input_masker(self, masks)
        return True

    async def _channel(self, channels: ChannelRelay, item: ChannelRequest) -> None:
        try:
            await channels.serve(item)
        finally:
            if self.client_side is not None:
                self.client_side.closed(item.channel.get_id())

    def fatal_bytes(self, end: SessionEnd) -> bytes:
        self.settle(False)  # a refusal before the login: authentication fails
        return b""  # the SSH connection carries no raw error bytes

    async def close_upstream(self) -> None:
        self.settle(False)
        for transport in (self.upstream, self.transport):
            if transport is not None:
                await trio.to_thread.run_sync(transport.close, limiter=self.limiter)

    def release(self) -> None:
        self.settle(False)
        if self.channels is not None:
            self.statements = self.channels.requests
        self.services.relay_ended(
            self.protocol,
            client_bytes=self.counted_client.inbound,
            upstream_bytes=self.counted_upstream.outbound
            if self.counted_upstream is self.counted_payload
            else self.counted_upstream.inbound,
            cache_hits=0,
        )

    async def run(self) -> None:
        """The skeleton's run, with the bridges' nursery around it."""
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            await super().run()
            nursery.cancel_scope.cancel()
