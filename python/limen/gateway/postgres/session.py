"""The PostgreSQL session driver: :class:`PgSession`, the skeleton of
:mod:`limen.gateway.session` with PostgreSQL's steps.

- handshake: :mod:`limen.gateway.postgres.handshake` (startup packets, TLS,
  the token; a CancelRequest goes to the listener's cancel keys);
- upstream and login: :mod:`limen.gateway.postgres.upstream`; then the
  column catalog (:mod:`limen.gateway.postgres.columns`) when a rule masks
  ``column:`` values, and the client gets AuthenticationOk, the server's
  ParameterStatus, limen's own BackendKeyData
  (:mod:`limen.gateway.postgres.cancel`) and ReadyForQuery;
- relay: the native pump (:mod:`limen.gateway.postgres.relay_pump`) when
  both connections are plain TCP or native TLS and ``relay = "native"``, else the Trio
  relay (:mod:`limen.gateway.postgres.relay_trio`); both judge with the
  session's :class:`~limen.gateway.postgres.judge.PgJudge` and wait for
  humans with its :class:`~limen.gateway.postgres.holds.PgHolds`;
- the end: a FATAL ErrorResponse, then Terminate upstream.
"""

from __future__ import annotations

import contextlib

import trio

from limen import _native
from limen.gateway.closing import say_goodbye
from limen.gateway.holds import Holds
from limen.gateway.postgres import handshake, upstream
from limen.gateway.postgres.cancel import CancelKeys, send_cancel
from limen.gateway.postgres.columns import load as load_columns
from limen.gateway.postgres.holds import PgHolds
from limen.gateway.postgres.judge import PgJudge
from limen.gateway.postgres.relay_pump import PumpRelay, pump_eligible
from limen.gateway.postgres.relay_trio import TrioRelay
from limen.gateway.postgres.remask import MaskSetter, mask_key, remask
from limen.gateway.services import Services
from limen.gateway.session import Admission, Session, SessionEnd

__all__ = ["PgSession"]


class PgSession(Session):
    """One PostgreSQL client connection and its upstream connection."""

    protocol = "postgres"
    protocol_errors = (_native.PgProtocolError,)

    def __init__(
        self,
        services: Services,
        cancel_keys: CancelKeys,
        client: trio.abc.Stream,
        peer_host: str,
    ) -> None:
        super().__init__(services, client, peer_host)
        self.cancel_keys = cancel_keys
        self.decoder = _native.PgClientDecoder(int(self.config.gateway.max_message_size))
        self.params: dict[str, str] = {}
        self.upstream: upstream.Upstream | None = None
        self.upstream_key: tuple[int, bytes] | None = None
        self.client_key: tuple[int, bytes] | None = None
        self.server_relay: _native.PgServerRelay | None = None
        self.results_masked = False
        self.holds: Holds | None = None
        self.mask_key: tuple[str, ...] | None = None
        """The mask list the session's masks were made from (set at login)."""
        self.mask_generation = services.generation
        """The services' config generation the session's masks come from."""
        self.mask_setter: MaskSetter | None = None
        """The running relay's ``set_masks`` (:mod:`limen.gateway.postgres.remask`)."""
        self.pg_judge: PgJudge | None = None
        self.tasks: trio.Nursery | None = None
        """While the relay runs: where a reload resolves new column masks
        (:mod:`limen.gateway.postgres.relive`)."""

    # -- the skeleton's steps ----------------------------------------------------

    async def handshake(self) -> Admission | None:
        started = await handshake.startup(self, self.cancel_keys.forward)
        if started is None:
            return None
        self.params = started.params
        return started.admission

    def admitted(self) -> None:
        self.decoder.set_authenticated()

    async def connect_upstream(self) -> None:
        assert self.resource is not None
        self.upstream = await upstream.connect(self.services, self.resource)

    async def login(self) -> None:
        assert self.identity is not None
        assert self.resource is not None
        assert self.upstream is not None
        assert self.judge is not None
        identity, resource = self.identity, self.resource
        self.mask_generation = self.services.generation
        self.mask_key = mask_key(self)
        masker = self.services.masker_for(identity, resource.name)
        relay = _native.PgServerRelay(masker, int(self.config.gateway.max_message_size))
        self.server_relay = relay
        self.results_masked = masker is not None  # the relay masks what the client gets
        login = await upstream.login(
            self.upstream, relay, resource, resource.user or identity.subject, self.params
        )
        self.upstream_key = login.key
        if masker is not None:
            rules = self.services.policy.rules_for(identity, resource.name)
            self.judge.columns = await load_columns(
                self.upstream.stream, relay, resource.name, rules, masker
            )
        self.holds = self.new_holds()
        self.client_key = self.cancel_keys.new(self)
        out = bytearray(_native.pg_auth_ok())
        for name, value in login.statuses:
            out += _native.pg_parameter_status(name, value)
        out += _native.pg_backend_key_data(*self.client_key)
        out += _native.pg_ready_for_query("I")
        await self.client.send_all(bytes(out))

    async def relay(self) -> None:
        assert self.upstream is not None
        assert self.server_relay is not None
        assert self.judge is not None
        assert self.holds is not None
        masked = self.results_masked
        judge = PgJudge(self.judge, self.server_relay)

        def mask(sql: bytes) -> str:  # the session's masker now (a reload may change it)
            return self.services.mask_statement(sql, self.input_masker)

        holds = PgHolds(self.holds, judge, mask)
        self.pg_judge = judge
        stream = self.upstream.stream
        async with trio.open_nursery() as tasks:
            self.tasks = tasks
            try:
                if pump_eligible(self.config, self.client, stream):
                    pumped = PumpRelay(
                        self, stream, self.decoder, self.server_relay, judge, holds,
                        results_masked=masked,
                    )  # fmt: skip
                    self._masks_reach(pumped.pump.set_masks)
                    await pumped.run()
                else:
                    trio_relay = TrioRelay(
                        self, stream, self.decoder, self.server_relay, judge, holds,
                        results_masked=masked,
                    )  # fmt: skip
                    self._masks_reach(trio_relay.core.set_masks)
                    await trio_relay.run()
            finally:
                self.tasks = None
                tasks.cancel_scope.cancel()

    def _masks_reach(self, setter: MaskSetter) -> None:
        """A reload's masks reach the running relay from now on (and one
        that landed between login and now, at once)."""
        self.mask_setter = setter
        remask(self)

    def rebind(self) -> bool:
        """The new rules (:meth:`Session.rebind`) and the new masks
        (:func:`~limen.gateway.postgres.remask.remask`)."""
        rebound = super().rebind()
        return remask(self) or rebound

    async def refuse(self, end: SessionEnd) -> None:
        with trio.move_on_after(2):
            with contextlib.suppress(
                trio.BrokenResourceError,
                trio.ClosedResourceError,
                OSError,
                _native.PgProtocolError,
            ):
                await handshake.until_startup(self)
        await super().refuse(end)

    def fatal_bytes(self, end: SessionEnd) -> bytes:
        return _native.pg_error("FATAL", end.code, end.message, None, end.hint)

    async def close_upstream(self) -> None:
        if self.upstream is None:
            return
        await say_goodbye(self.upstream.stream, upstream.TERMINATE)

    def release(self) -> None:
        if self.client_key is not None:
            self.cancel_keys.drop(self.client_key)

    # -- cancel requests (limen.gateway.postgres.cancel) ------------------------

    def cancel_hold(self) -> bool:
        """Withdraws the statement waiting for approval, if any (True);
        else the caller cancels upstream."""
        return self.holds is not None and self.holds.cancel()

    async def cancel_upstream(self) -> None:
        """Forwards a CancelRequest for this session's upstream backend."""
        if self.upstream_key is None or self.upstream is None:
            return
        timeout = self.config.gateway.connect_timeout.seconds
        if await send_cancel(
            self.services.open_upstream, self.upstream.address, self.upstream_key, timeout
        ):
            self.services.log("cancel_forwarded", session=self.session_id)
