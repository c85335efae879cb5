"""The MySQL session driver: :class:`MySqlSession`, the skeleton of
:mod:`limen.gateway.session` with MySQL's steps.

- handshake: :mod:`limen.gateway.mysql.handshake` (limen's greeting, TLS,
  the token through caching_sha2's full authentication);
- upstream and login: :mod:`limen.gateway.mysql.upstream` (the greeting,
  TLS, limen's login with the resource's credential); then the client gets
  its OK;
- login also builds the native ``MySqlServerRelay`` (the session's masker),
  reads the column catalog when a rule masks ``column:`` values
  (:mod:`limen.gateway.mysql.columns`) and the session's
  :class:`~limen.gateway.mysql.judge.MySqlJudge`;
- relay: the native pump (:mod:`limen.gateway.mysql.relay_pump`) when both
  connections are plain TCP and ``[gateway] relay = "native"``, else
  :mod:`limen.gateway.mysql.relay_trio`, one command at a time;
  ``COM_CHANGE_USER``: :mod:`limen.gateway.mysql.changeuser`;
- the end: an ERR packet (:mod:`limen.gateway.mysql.ending`), then
  COM_QUIT upstream.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from limen import _native
from limen.gateway.closing import say_goodbye
from limen.gateway.holds import Holds
from limen.gateway.livemasks import CHANGED, columns, signature
from limen.gateway.mysql import handshake, relive, upstream
from limen.gateway.mysql.changeuser import change_user
from limen.gateway.mysql.columns import load as load_columns
from limen.gateway.mysql.ending import err_packet
from limen.gateway.mysql.handshake import ServerKey
from limen.gateway.mysql.holds import MySqlHolds
from limen.gateway.mysql.judge import MySqlJudge
from limen.gateway.mysql.relay_pump import MySqlPumpRelay, pump_eligible
from limen.gateway.mysql.relay_trio import CommandRelay
from limen.gateway.mysql.wire import Packets
from limen.gateway.services import Services
from limen.gateway.session import Admission, Session, SessionEnd
from limen.policy.mysql import Server

__all__ = ["MySqlSession"]


class MySqlSession(Session):
    """One MySQL client connection and its upstream connection."""

    protocol = "mysql"
    protocol_errors = (_native.MySqlProtocolError,)

    def __init__(
        self,
        services: Services,
        key: ServerKey,
        connection_id: int,
        client: trio.abc.Stream,
        peer_host: str,
    ) -> None:
        super().__init__(services, client, peer_host)
        self.key = key
        self.connection_id = connection_id
        max_message = int(self.config.gateway.max_message_size)
        self.packets = Packets(
            client, _native.MySqlPacketDecoder(max_packet_size=max_message), max_message
        )
        """The client's packets (the decoder checks sequence ids and sizes)."""
        self.caps = 0
        """The session's capabilities (the client's, which the upstream shares)."""
        self.collation = handshake.COLLATION
        self.max_packet_size = 1 << 24
        self.upstream: upstream.Upstream | None = None
        self.server_relay: _native.MySqlServerRelay | None = None
        self.results_masked = False
        self.mysql_judge: MySqlJudge | None = None
        self.holds: Holds | None = None
        self.mask_generation = services.generation
        self.mask_signature: tuple[tuple[str, ...], tuple[object, ...]] | None = None
        """What the session's masks are made of
        (:func:`limen.gateway.livemasks.signature`)."""
        self.command_relay: CommandRelay | None = None
        """The Trio relay, while it runs (a reload swaps its masker)."""
        self.pump: _native.PgPump | None = None
        """The native pump, while it runs (a reload swaps its masks)."""
        self.tasks: trio.Nursery | None = None
        """The relay's nursery (a reload's column masks resolve there)."""

    # -- the skeleton's steps ----------------------------------------------------

    async def handshake(self) -> Admission | None:
        opened = await handshake.opening(self, self.key, self.connection_id)
        if opened is None:
            return None
        self.caps = opened.caps
        self.collation = opened.collation
        self.max_packet_size = opened.max_packet_size
        return opened.admission

    def admitted(self) -> None:
        self.packets.set_authenticated()

    async def connect_upstream(self) -> None:
        assert self.resource is not None
        self.upstream = await upstream.connect(self.services, self.resource)

    async def login(self) -> None:
        assert self.identity is not None
        assert self.resource is not None
        assert self.upstream is not None
        assert self.judge is not None
        assert self.policy is not None
        identity, resource, up = self.identity, self.resource, self.upstream
        await upstream.login(
            up,
            resource,
            resource.user or identity.subject,
            session_caps=self.caps,
            collation=self.collation,
            max_packet_size=self.max_packet_size,
        )
        self.mask_signature = signature(self)
        masker = self.services.masker_for(identity, resource.name)
        self.server_relay = _native.MySqlServerRelay(
            masker, self.caps, max_packet_size=int(self.config.gateway.max_message_size)
        )
        self.results_masked = masker is not None  # the relay masks what the client gets
        columns = None
        if masker is not None:

            async def query(sql: bytes) -> list[list[bytes | None]]:
                return await upstream.query_rows(up, resource, sql)

            rules = self.services.policy.rules_for(identity, resource.name)
            columns = await load_columns(query, resource.database, rules, masker)
        self.mysql_judge = MySqlJudge(
            self.judge,
            self.policy,
            database=resource.database,
            server=Server.from_greeting(up.greeting.server_version.decode("utf-8", "replace")),
            caps=self.caps,
            columns=columns,
        )
        self.holds = self.new_holds()
        await self.packets.send(_native.mysql_encode_ok(self.caps, status=self.upstream.status))
        self.packets.restart(0)

    async def relay(self) -> None:
        assert self.upstream is not None
        assert self.server_relay is not None
        assert self.mysql_judge is not None
        assert self.holds is not None

        def mask(sql: bytes) -> str:
            # Approvers see statements masked even when the session records raw.
            shown = self.input_masker or self.services.input_maskers.builtin_mysql
            return self.services.mask_statement(sql, shown)

        holds = MySqlHolds(self.holds, self.mysql_judge, mask)
        async with trio.open_nursery() as tasks:
            self.tasks = tasks
            try:
                await self._relay(holds)
            finally:
                self.tasks = None
                tasks.cancel_scope.cancel()

    async def _relay(self, holds: MySqlHolds) -> None:
        assert self.upstream is not None
        assert self.server_relay is not None
        assert self.mysql_judge is not None
        client, up = self.packets.stream, self.upstream.stream
        if (
            pump_eligible(self.config, self.packets, self.upstream)
            and isinstance(client, trio.SocketStream)
            and isinstance(up, trio.SocketStream)
        ):
            pumped = MySqlPumpRelay(
                self,
                client,
                up,
                self.server_relay,
                self.mysql_judge,
                holds,
                results_masked=self.results_masked,
                max_packet_size=int(self.config.gateway.max_message_size),
            )
            self.pump = pumped.pump
            try:
                await pumped.run()
            finally:
                self.pump = None
            if pumped.handoff is None:
                return
            first = pumped.handoff  # a COM_CHANGE_USER: the Trio relay goes on
        else:
            first = None
        relay = CommandRelay(
            self,
            self.packets,
            self.upstream,
            self.server_relay,
            self.mysql_judge,
            holds,
            results_masked=self.results_masked,
            change_user=self.change_user,
            caps=self.caps,
            first=first,
        )
        self.command_relay = relay
        try:
            await relay.run()
        finally:
            self.command_relay = None

    async def change_user(
        self, packet: _native.MySqlPacket, reset_upstream: Callable[[], Awaitable[int]]
    ) -> None:
        """COM_CHANGE_USER (:mod:`limen.gateway.mysql.changeuser`)."""
        await change_user(self, packet, reset_upstream)

    def rebind(self) -> bool:
        """The new rules (:meth:`Session.rebind`) and masks, on either relay
        (:mod:`limen.gateway.mysql.relive`; a session whose column masks
        changed has them resolved first, or is ended)."""
        rebound = super().rebind()
        now, then = signature(self), self.mask_signature
        if now is None or then is None or now == then:
            return rebound
        self.mask_signature = now
        if columns(now) != columns(then) and not relive.start(self):
            self.services.log("session_remask_refused", session=self.session_id, reason="columns")
            self.kill(*CHANGED)
            return True
        relive.swap(self, column_masks=bool(columns(now)))
        return True

    def results_now_masked(self, masked: bool) -> None:
        """Whether the relay masks what the client gets (its records' flag)."""
        self.results_masked = masked
        if self.command_relay is not None:
            self.command_relay.results_masked = masked

    def fatal_bytes(self, end: SessionEnd) -> bytes:
        # Before the greeting the ERR is the first packet (0); during the
        # handshake and mid-command it answers the client's last packet.
        # Between commands it carries 1, as the answer to the command the
        # client sends next: synchronous clients (PyMySQL, libmariadb) then
        # show its message; with MySQL's own 0 they report a lost connection.
        seq = self.packets.next_seq
        if seq == 0 and self.holds is not None:
            seq = 1
        return err_packet(seq, end)

    async def close_upstream(self) -> None:
        if self.upstream is None:
            return
        await say_goodbye(self.upstream.stream, upstream.COM_QUIT)
