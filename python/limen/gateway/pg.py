"""One PostgreSQL session through the gateway.

Startup: SSLRequest is answered 'S' when the listener has a certificate
(then TLS), else 'N'; GSSENCRequest 'N'. The database names the resource,
the user must be the token's subject, and the token is asked for
(AuthenticationCleartextPassword) only over TLS, or over loopback where
``[listeners] allow_plaintext_loopback`` allows it. A refused token ends
the connection with FATAL 28P01 saying why (never the token).

Upstream: TLS as the resource's ``tls`` table says, then the gateway logs
in with the resource's credential (trust, md5, SCRAM-SHA-256 through the
native state machine; no channel binding yet), forwards the server's
ParameterStatus, and gives the client its own BackendKeyData, mapped to the
upstream's for CancelRequest.

Relay: client messages are framed natively and forwarded raw; Query and
Parse are judged first. Upstream bytes go through the native relay (rows
masked there) and straight back to the client: Python sees only events.

Denied statements keep the transaction state consistent by letting the
upstream fail too: instead of the denied statement the gateway sends a
statement that is a syntax error naming a random marker
(``limen_denied_<hex>``) — as a Query for a simple query, as a Parse for
the extended protocol, after which the client's messages are discarded
until Sync. The native relay swaps the upstream's ErrorResponse that names
the marker for the gateway's 42501 error, and the upstream's own
ReadyForQuery (idle, in a failed transaction block, ...) is what the client
sees: client and upstream agree on the transaction state by construction.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import ssl
import time
from typing import TYPE_CHECKING

import msgspec
import trio

from limen import _native
from limen.approvals import ApprovalRequest, format_duration, new_approval_id
from limen.config import Resource, Rule, SecretError, is_loopback_host
from limen.gateway.colmask import SessionColumns
from limen.gateway.colmask import load as load_columns
from limen.gateway.inrecord import record_statement
from limen.identity import Identity, IdentityError
from limen.policy import Decision, SessionPolicy
from limen.recording import EVENT, U2C, Recorder, SessionInfo

if TYPE_CHECKING:
    from limen.gateway.server import PgGateway
    from limen.inmask import InputMasker, Masked

__all__ = ["PgSession", "SessionEnd"]

RECEIVE_SIZE = 65536
#: Client startup parameters passed upstream; anything else (``options``,
#: ``search_path``, ``role``, ...) is dropped: settings are policy's business.
FORWARDED_PARAMS = (
    "application_name",
    "client_encoding",
    "DateStyle",
    "TimeZone",
    "IntervalStyle",
    "extra_float_digits",
)
TERMINATE = b"X\x00\x00\x00\x04"
SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"  # length 8, code 80877103


def local_denial(klass: str, message: str, hint: str) -> Decision:
    """A denial the gateway makes itself (fail closed), with every field
    named so it does not depend on the policy module's defaults."""
    return Decision(
        action="deny",
        rule=None,
        klass=klass,
        classes=frozenset({klass}),
        tables=frozenset(),
        message=message,
        hint=hint,
        approvers=(),
        hold_timeout=0.0,
        approvals_required=1,
    )


class SessionEnd(Exception):
    """End the session with a FATAL error to the client."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


class PgSession:
    """One client connection and its upstream connection."""

    def __init__(self, gw: PgGateway, stream: trio.abc.Stream, peer_host: str) -> None:
        self.gw = gw
        self.config = gw.config
        self.client: trio.abc.Stream = stream
        self.peer_host = peer_host
        self.tls = False
        self.session_id = secrets.token_hex(8)
        self.decoder = _native.PgClientDecoder(int(self.config.gateway.max_message_size))
        self.identity: Identity | None = None
        self.resource_name: str | None = None
        self.upstream: trio.abc.Stream | None = None
        self.upstream_addr: tuple[str, int] | None = None
        self.upstream_key: tuple[int, bytes] | None = None
        self.client_key: tuple[int, bytes] | None = None
        self.relay: _native.PgServerRelay | None = None
        self.policy: SessionPolicy | None = None
        self.recorder: Recorder | None = None
        self.input_masker: InputMasker | None = None  # None: statements recorded raw
        self.last_input: Masked | None = None
        self.results_masked = False  # the relay masks what the client gets
        self.status = "I"
        self.discarding = False
        self.last_activity = trio.current_time()
        self.end: SessionEnd | None = None
        self.scope = trio.CancelScope()
        self.counted: str | None = None
        self.statements = 0
        # Holds: the scope a CancelRequest cancels, client bytes read while
        # waiting (processed after the decision), and the one-writer guard
        # for client sends (the notice and the upstream's bytes).
        self._hold_scope: trio.CancelScope | None = None
        self._stash: list[bytes | bytearray] = []
        self._client_busy = False
        self._client_free: trio.Event | None = None
        self.last_decision: Decision | None = None  # the native pump caches some
        self.pump: _native.PgPump | None = None  # while the native pump relays
        self.columns: SessionColumns | None = None  # column masks (limen.gateway.colmask)

    # -- lifecycle ---------------------------------------------------------------

    def kill(self, code: str, message: str) -> None:
        """End the session from outside (drain, shutdown)."""
        if self.end is None:
            self.end = SessionEnd(code, message)
        self.scope.cancel()

    async def run(self) -> None:
        reason = "closed"
        try:
            with self.scope:
                with trio.move_on_after(self.config.gateway.handshake_timeout.seconds) as hs:
                    ready = await self._startup()
                if hs.cancelled_caught:
                    raise SessionEnd("08P01", "the connection handshake timed out")
                if ready:
                    await self._relay()
            if self.end is not None:
                raise self.end
        except SessionEnd as exc:
            reason = exc.code
            await self._fatal(exc)
        except _native.PgProtocolError as exc:
            reason = "protocol_error"
            await self._fatal(
                SessionEnd("08P01", f"protocol error: {exc}; closing this connection")
            )
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            reason = "connection_lost"
        finally:
            await self._cleanup(reason)

    async def _fatal(self, exc: SessionEnd) -> None:
        data = _native.pg_error("FATAL", exc.code, exc.message, None, exc.hint)
        with trio.move_on_after(2) as scope:
            scope.shield = True
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await self.client.send_all(data)
                # Half-close and read what the client still sends for a
                # moment: closing with unread input would reset the
                # connection, and the client could lose the FATAL message.
                if isinstance(self.client, trio.SocketStream):
                    await self.client.send_eof()
                with trio.move_on_after(0.5):
                    while await self.client.receive_some(RECEIVE_SIZE):
                        pass
        if self.recorder is not None:
            self._event({"event": "fatal", "code": exc.code, "message": exc.message})

    async def _cleanup(self, reason: str) -> None:
        with trio.CancelScope(shield=True):
            if self.client_key is not None:
                self.gw.cancel_keys.pop(self.client_key, None)
            if self.counted is not None:
                self.gw.per_identity[self.counted] -= 1
                if self.gw.per_identity[self.counted] <= 0:
                    del self.gw.per_identity[self.counted]
            if self.upstream is not None:
                with trio.move_on_after(1):
                    with contextlib.suppress(
                        trio.BrokenResourceError, trio.ClosedResourceError, OSError
                    ):
                        await self.upstream.send_all(TERMINATE)
                await trio.aclose_forcefully(self.upstream)
            await trio.aclose_forcefully(self.client)
            if self.recorder is not None:
                self._event({"event": "end", "reason": reason})
                self.recorder.close()
            if self.identity is not None:
                self.gw.log(
                    "session_end",
                    session=self.session_id,
                    subject=self.identity.subject,
                    resource=self.resource_name,
                    reason=reason,
                    statements=self.statements,
                )

    def _event(self, obj: dict[str, object]) -> None:
        if self.recorder is not None:
            self.recorder.append(EVENT, msgspec.json.encode(obj))

    # -- startup -----------------------------------------------------------------

    async def _receive_messages(self) -> list[tuple[str, bytes, object, object]]:
        while True:
            data = await self.client.receive_some(RECEIVE_SIZE)
            if not data:
                raise trio.BrokenResourceError("client closed the connection")
            msgs = self.decoder.feed(data)
            if msgs:
                return msgs

    async def _startup(self) -> bool:
        params: dict[str, str] | None = None
        while params is None:
            try:
                msgs = await self._receive_messages()
            except trio.BrokenResourceError:
                return False
            for kind, _raw, a, b in msgs:
                if kind == "ssl_request":
                    if self.gw.ssl_context is not None and not self.tls:
                        await self.client.send_all(b"S")
                        tls = trio.SSLStream(self.client, self.gw.ssl_context, server_side=True)
                        await tls.do_handshake()
                        self.client = tls
                        self.tls = True
                    else:
                        await self.client.send_all(b"N")
                    self.decoder.resume_startup()
                elif kind == "gssenc_request":
                    await self.client.send_all(b"N")
                    self.decoder.resume_startup()
                elif kind == "cancel":
                    assert isinstance(a, int)
                    assert isinstance(b, bytes)
                    await self.gw.forward_cancel(a, b)
                    return False
                elif kind == "startup":
                    assert isinstance(a, dict)
                    assert isinstance(b, tuple)
                    if b != (3, 0):
                        raise SessionEnd(
                            "0A000", f"protocol version {b[0]}.{b[1]} is not supported; use 3.0"
                        )
                    params = {str(k): str(v) for k, v in a.items()}
                else:
                    raise SessionEnd("08P01", "expected a startup message")
        await self._authenticate_client(params)
        await self._connect_upstream(params)
        return True

    async def _authenticate_client(self, params: dict[str, str]) -> None:
        user = params.get("user", "")
        database = params.get("database") or user
        if "replication" in params:
            raise SessionEnd("28000", "replication connections are not supported")
        resource = self.config.resource(database)
        if resource is None or resource.protocol != "postgres":
            raise SessionEnd(
                "3D000",
                f"no PostgreSQL resource named {database!r}",
                "the database name in the connection names the limen resource",
            )
        self.resource_name = resource.name
        if not self.tls and not (
            self.config.listeners.allow_plaintext_loopback and is_loopback_host(self.peer_host)
        ):
            raise SessionEnd(
                "28000",
                "limen asks for the token only over TLS",
                "connect with sslmode=require",
            )
        await self.client.send_all(_native.pg_auth_cleartext_password())
        self.decoder.expect_password()
        msgs = await self._receive_messages()
        kind, _raw, password, _ = msgs[0]
        if kind != "password" or not isinstance(password, bytes) or len(msgs) > 1:
            raise SessionEnd("08P01", "expected a password message (the token)")
        try:
            token = password.decode("utf-8")
            identity = await self.gw.authenticator.authenticate(token)
        except UnicodeDecodeError:
            raise SessionEnd("28P01", "token refused: not valid UTF-8") from None
        except IdentityError as exc:
            self.gw.log("auth_refused", reason=exc.reason.value, user=user, resource=database)
            raise SessionEnd(
                "28P01",
                f"token refused ({exc.reason.value}): {exc.message}",
                "mint a fresh token (limen token) and pass it as the password",
            ) from None
        if identity.subject != user:
            self.gw.log("auth_refused", reason="user_mismatch", resource=database)
            raise SessionEnd(
                "28P01",
                f"token refused: the user name {user!r} is not the token's subject",
                "connect with the token's subject as the user name",
            )
        limit = self.config.gateway.max_connections_per_identity
        key = f"{identity.issuer}|{identity.subject}"
        if self.gw.per_identity[key] >= limit:
            raise SessionEnd(
                "53300", f"too many connections for {identity.subject!r} (limit {limit})"
            )
        self.gw.per_identity[key] += 1
        self.counted = key
        self.identity = identity
        self.decoder.set_authenticated()

    async def _connect_upstream(self, params: dict[str, str]) -> None:
        assert self.identity is not None
        assert self.resource_name is not None
        resource = self.config.resource(self.resource_name)
        assert resource is not None
        try:
            secret = self.config.resolve_password(resource)
        except SecretError as exc:
            self.gw.log("upstream_credential_error", resource=resource.name, error=str(exc))
            raise SessionEnd(
                "08006", f"the gateway cannot read the credential of {resource.name!r}"
            ) from None
        address = resource.upstream_address()
        try:
            with trio.fail_after(self.config.gateway.connect_timeout.seconds):
                self.upstream = await trio.open_tcp_stream(address.host, address.port)
            with trio.fail_after(self.config.gateway.connect_timeout.seconds):
                await self._upstream_tls(resource, address.host)
        except (OSError, trio.TooSlowError, trio.BrokenResourceError) as exc:
            tls_error = exc if isinstance(exc, ssl.SSLError) else exc.__cause__
            if isinstance(tls_error, ssl.SSLError):
                self.gw.log("upstream_tls_failed", resource=resource.name, error=str(tls_error))
                raise SessionEnd(
                    "08006",
                    f"TLS to the upstream of {resource.name!r} failed: {tls_error.reason}",
                ) from None
            self.gw.log("upstream_unreachable", resource=resource.name, error=str(exc))
            raise SessionEnd("08006", f"cannot reach the upstream of {resource.name!r}") from None
        self.upstream_addr = (address.host, address.port)
        self.policy = SessionPolicy(self.gw.policy, self.identity, resource.name)
        masker = self.gw.masker_for(self.identity, resource.name)
        self.relay = _native.PgServerRelay(masker, int(self.config.gateway.max_message_size))
        self.results_masked = masker is not None
        self.recorder = self.gw.recorder_factory(
            SessionInfo(self.session_id, self.identity.subject, resource.name, "postgres")
        )
        self.input_masker = self.gw.input_maskers.start(self.recorder, self.identity, resource.name)
        self.gw.log(
            "session_start",
            session=self.session_id,
            subject=self.identity.subject,
            resource=resource.name,
            peer=self.peer_host,
            tls=self.tls,
        )
        upstream_user = resource.user or self.identity.subject
        startup = [("user", upstream_user), ("database", resource.database or resource.name)]
        startup += [(k, params[k]) for k in FORWARDED_PARAMS if k in params]
        await self.upstream.send_all(_native.pg_startup(startup))
        auth = _native.PgUpstreamAuth(
            upstream_user,
            secret.reveal() if secret is not None else "",
            secrets.token_urlsafe(18),
            allow_cleartext=False,
            allow_md5=True,
        )
        statuses: list[tuple[str, str]] = []
        while True:
            events = await self._upstream_events()
            done = False
            for ev in events:
                kind = ev[0]
                if kind == "authentication":
                    body = ev[1]
                    assert isinstance(body, bytes)
                    if secret is None and body != b"\x00\x00\x00\x00":
                        raise SessionEnd(
                            "08006",
                            f"the upstream of {resource.name!r} asks for a password "
                            "and the resource has none configured",
                        )
                    try:
                        step, data = auth.handle(body)
                    except _native.PgProtocolError as exc:
                        raise SessionEnd(
                            "08006", f"the gateway could not log in to {resource.name!r}: {exc}"
                        ) from None
                    if step == "send" and data is not None:
                        await self.upstream.send_all(data)
                elif kind == "error":
                    fields = ev[1]
                    assert isinstance(fields, dict)
                    raise SessionEnd(
                        "08006",
                        f"the upstream of {resource.name!r} refused the gateway: "
                        f"{fields.get('M', 'no message')}",
                    )
                elif kind == "parameter_status":
                    statuses.append((str(ev[1]), str(ev[2])))
                elif kind == "backend_key_data":
                    pid, key = ev[1], ev[2]
                    assert isinstance(pid, int)
                    assert isinstance(key, bytes)
                    self.upstream_key = (pid, key)
                elif kind == "ready_for_query":
                    done = True
            if done:
                break
        if masker is not None:
            self.columns = await load_columns(self, masker)
        self.client_key = self.gw.new_cancel_key(self)
        out = bytearray(_native.pg_auth_ok())
        for name, value in statuses:
            out += _native.pg_parameter_status(name, value)
        out += _native.pg_backend_key_data(*self.client_key)
        out += _native.pg_ready_for_query("I")
        await self.client.send_all(bytes(out))

    async def _upstream_tls(self, resource: Resource, host: str) -> None:
        """TLS to the upstream as ``[resources.tls] mode`` says (libpq's
        meanings: prefer falls back to clear text, require encrypts without
        verifying, verify-ca checks the chain, verify-full also the name)."""
        tls = resource.tls
        if tls is None or tls.mode == "disable":
            return
        assert self.upstream is not None
        await self.upstream.send_all(SSL_REQUEST)
        answer = await self.upstream.receive_some(1)
        if answer == b"N":
            if tls.mode == "prefer":
                return
            raise SessionEnd(
                "08006", f"the upstream of {resource.name!r} does not offer TLS (mode {tls.mode})"
            )
        if answer != b"S":
            raise SessionEnd("08006", f"the upstream of {resource.name!r} answered TLS oddly")
        ctx = ssl.create_default_context(
            cafile=str(self.config.path(tls.ca_file)) if tls.ca_file else None
        )
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if tls.mode in ("prefer", "require"):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif tls.mode == "verify-ca":
            ctx.check_hostname = False
        if tls.cert_file and tls.key_file:
            ctx.load_cert_chain(
                str(self.config.path(tls.cert_file)), str(self.config.path(tls.key_file))
            )
        stream = trio.SSLStream(self.upstream, ctx, server_hostname=tls.server_name or host)
        await stream.do_handshake()
        self.upstream = stream

    async def _upstream_events(self) -> list[tuple[object, ...]]:
        assert self.upstream is not None
        assert self.relay is not None
        data = await self.upstream.receive_some(RECEIVE_SIZE)
        if not data:
            raise SessionEnd("08006", "the upstream server closed the connection")
        _out, events = self.relay.feed(data)
        return events

    def _rules(self) -> list[Rule]:
        assert self.identity is not None
        assert self.resource_name is not None
        return list(self.gw.policy.rules_for(self.identity, self.resource_name))

    # -- relay -------------------------------------------------------------------

    async def _relay(self) -> None:
        assert self.identity is not None
        expiry = math.inf
        if self.identity.expires_at is not None:
            expiry = trio.current_time() + max(0.0, self.identity.expires_at - time.time())
        from limen.gateway.pump import pump_eligible, run_pump

        with trio.CancelScope(deadline=expiry) as token_scope:
            if pump_eligible(self):
                await run_pump(self)  # the native pump (see limen.gateway.pump)
            else:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._client_to_upstream, nursery.cancel_scope)
                    nursery.start_soon(self._upstream_to_client, nursery.cancel_scope)
                    nursery.start_soon(self._idle_watch, nursery.cancel_scope)
        if token_scope.cancelled_caught and self.end is None:
            raise SessionEnd(
                "28P01",
                "the token expired; the session is closed",
                "reconnect with a fresh token",
            )

    def _touch(self) -> None:
        self.last_activity = trio.current_time()

    async def _idle_watch(self, scope: trio.CancelScope) -> None:
        resource = self.config.resource(self.resource_name or "")
        idle = (resource.idle_timeout if resource and resource.idle_timeout else None) or (
            self.config.gateway.idle_timeout
        )
        while True:
            if self._hold_scope is not None:  # waiting for humans is not idling
                self._touch()
            deadline = self.last_activity + idle.seconds
            if trio.current_time() >= deadline:
                self.end = SessionEnd("57P05", f"idle for {idle}; the session is closed")
                scope.cancel()
                return
            await trio.sleep_until(deadline)

    async def _client_to_upstream(self, scope: trio.CancelScope) -> None:
        assert self.upstream is not None
        assert self.relay is not None
        while True:
            data: bytes | bytearray
            if self._stash:
                data = b"".join(self._stash)
                self._stash.clear()
            else:
                data = await self.client.receive_some(RECEIVE_SIZE)
            if not data:
                scope.cancel()
                return
            self._touch()
            try:
                msgs = self.decoder.feed(data)
            except _native.PgProtocolError as exc:
                self.end = SessionEnd("08P01", f"protocol error: {exc}; closing this connection")
                scope.cancel()
                return
            out = bytearray()
            terminate = False
            described: bytes | None = None  # portal the client just described
            for kind, raw, a, b in msgs:
                if self.discarding and kind != "terminate":
                    if kind == "sync":
                        self.discarding = False
                        out += raw
                        self.relay.push_sync()
                    elif kind == "flush":
                        out += raw
                    continue
                if kind == "query" or kind == "parse":
                    if kind == "query":
                        assert isinstance(a, bytes)
                        sql, extended, name = a, False, ""
                    else:
                        assert isinstance(a, bytes)
                        assert isinstance(b, bytes)
                        sql, extended, name = b, True, a.decode("utf-8", "replace")
                    verdict = self._judge(sql, raw, extended=extended, name=name)
                    if isinstance(verdict, bytes):
                        out += verdict
                    else:
                        # Held: what came before it runs now; the rest waits.
                        if out:
                            await self.upstream.send_all(out)
                            out = bytearray()
                        held = await self._held(verdict, sql, raw, extended=extended)
                        if held is None:  # the client left while waiting
                            scope.cancel()
                            return
                        out += held
                    if kind == "query":
                        self.relay.push_sync()  # what is registered next: the next cycle
                elif kind == "function_call":
                    out += self.deny_function_call()
                    self.relay.push_sync()
                elif kind == "terminate":
                    terminate = True
                    break
                elif kind == "describe":
                    assert isinstance(a, bytes)
                    described = a[1:] if a[:1] == b"P" else None
                    self.relay.push_describe(False, described)
                    out += raw
                    continue
                elif kind == "bind":
                    assert isinstance(a, bytes)
                    assert isinstance(b, bytes)
                    self.relay.note_bind(a, b)  # the portal takes the statement's plan
                    out += raw
                elif kind == "execute":
                    assert isinstance(a, bytes)
                    if described != a:
                        # Learn this portal's columns and formats: the relay
                        # masks by them and swallows the answer.
                        out += _native.pg_describe("P", a)
                        self.relay.push_describe(True, a)
                    out += raw
                else:
                    out += raw
                    if kind == "sync":
                        self.relay.push_sync()
                described = None
            if out:
                await self.upstream.send_all(out)
            if terminate:
                scope.cancel()
                return

    def _judge(
        self, sql_bytes: bytes, raw: bytes, *, extended: bool, name: str
    ) -> bytes | Decision:
        """What to send upstream for this Query/Parse: ``raw`` when allowed,
        the denial's stand-in when denied, or the Decision itself for a hold
        (the caller awaits :meth:`_held`)."""
        assert self.policy is not None
        assert self.recorder is not None
        self.statements += 1
        self.last_input = record_statement(self.recorder, self.input_masker, sql_bytes)
        try:
            sql = sql_bytes.decode("utf-8")
            decision = self.policy.decide_parse(name, sql) if extended else self.policy.decide(sql)
            if self.columns is not None:
                decision = self.columns.judge(decision, sql, extended=extended, name=name)
        except Exception as exc:  # fail closed: a policy that cannot decide denies
            decision = local_denial(
                "unknown",
                f"the statement could not be judged ({type(exc).__name__})",
                "send valid UTF-8 SQL",
            )
        event: dict[str, object] = {
            "event": "decision",
            "action": decision.action,
            "rule": decision.rule,
            "class": decision.klass,
            "classes": sorted(decision.classes),
            "tables": sorted(decision.tables),
            "protocol": "extended" if extended else "simple",
        }
        if self.columns is not None and self.columns.masked:
            event["masked_columns"] = self.columns.masked
        self._event(event)
        self.last_decision = decision
        if decision.action == "allow":
            return raw  # allows are in the recording; the log keeps refusals
        if decision.action == "hold":
            return decision
        self.gw.log(
            "decision",
            session=self.session_id,
            action=decision.action,
            rule=decision.rule,
            klass=decision.klass,
        )
        return self._deny_bytes(decision, extended=extended)

    def deny_function_call(self) -> bytes:
        """The stand-in for a FunctionCall message: always refused."""
        return self._deny_bytes(
            local_denial(
                "admin",
                "the fast-path function call interface is not allowed",
                "call the function in a SQL statement",
            ),
            extended=False,
        )

    def _deny_bytes(self, decision: Decision, *, extended: bool) -> bytes:
        """What the upstream gets instead of a denied message (see the
        module docs), with the relay told to swap in the 42501 error."""
        message = f"limen: {decision.message}"
        hint = decision.hint or "ask for a grant of this statement class"
        detail = (
            f"rule: {decision.rule or '(none)'}; class: {decision.klass}; action: deny "
            "(a denied statement cannot be approved)"
        )
        return self._stand_in(_native.pg_error("ERROR", "42501", message, detail, hint), extended)

    def _stand_in(self, error: bytes, extended: bool) -> bytes:
        """The marker statement that fails upstream in place of a refused
        one; the relay swaps the upstream's error for ``error``."""
        assert self.relay is not None
        marker = f"limen_denied_{secrets.token_hex(8)}".encode()
        self.relay.replace_error(marker, error)
        if extended:
            self.discarding = True
            return _native.pg_parse(b"", marker)
        return _native.pg_query(marker)

    # -- holds -------------------------------------------------------------------

    async def _held(
        self, decision: Decision, sql_bytes: bytes, raw: bytes, *, extended: bool
    ) -> bytes | None:
        """Wait for humans on a held statement (see :mod:`limen.approvals`):
        returns ``raw`` once approved (or when a grant covers it), the
        denial's stand-in on denial, timeout or CancelRequest, and None when
        the client went away (the request is then withdrawn)."""
        assert self.identity is not None
        assert self.resource_name is not None
        hub = self.gw.approvals
        rule = decision.rule or "(none)"
        if hub is None:
            return self._refuse_hold(
                decision,
                extended,
                f"limen: {decision.message}; but this gateway has no approvals store, so it "
                "is refused",
                "ask the operator to run limen serve with a state store",
            )
        identity = self.identity
        try:
            grant = await hub.grant_for(
                subject=identity.subject,
                issuer=identity.issuer,
                resource=self.resource_name,
                klass=decision.klass,
            )
        except Exception as exc:  # fail closed
            self.gw.log("grant_lookup_failed", session=self.session_id, error=type(exc).__name__)
            grant = None
        if grant is not None:
            self._event(
                {
                    "event": "grant_used",
                    "approval": grant.approval_id,
                    "class": decision.klass,
                    "rule": grant.rule,
                    "granted_by": grant.granted_by,
                    "expires_at": grant.expires_at,
                }
            )
            return raw
        timeout = (
            decision.hold_timeout
            if decision.hold_timeout is not None
            else self.config.gateway.hold_timeout.seconds
        )
        now = hub.clock()
        req = ApprovalRequest(
            id=new_approval_id(),
            session_id=self.session_id,
            subject=identity.subject,
            issuer=identity.issuer,
            groups=list(identity.groups),
            resource=self.resource_name,
            protocol="postgres",
            statement=self.gw.mask_statement(sql_bytes, self.input_masker),
            klass=decision.klass,
            rule=rule,
            approvers=list(decision.approvers),
            approvals_required=max(1, decision.approvals_required),
            requested_at=now,
            expires_at=now + timeout,
            node=hub.node,
        )

        async def notify(created: ApprovalRequest) -> None:
            self._event(
                {
                    "event": "hold",
                    "approval": created.id,
                    "rule": rule,
                    "class": decision.klass,
                    "approvers": created.approvers,
                    "approvals_required": created.approvals_required,
                    "timeout": timeout,
                }
            )
            n = created.approvals_required
            notice = _native.pg_error(
                "NOTICE",
                "00000",
                f"limen: statement held for approval {created.id} (rule {rule}, class "
                f"{decision.klass}); waiting up to {format_duration(timeout)}",
                f"{decision.message}. It runs once {n} approver{'s' if n != 1 else ''} "
                f"from [{', '.join(created.approvers)}] {'have' if n != 1 else 'has'} "
                "approved it; a denial or the timeout fails it with SQLSTATE 42501.",
                f"an approver runs: limen approvals approve {created.id} --as NAME "
                f"(or POST /v1/approvals/{created.id}/approve); cancel the query to withdraw",
                notice=True,
            )
            await self._to_client(notice)

        gone = False
        final: ApprovalRequest | None = None
        with trio.CancelScope() as hold_scope:
            self._hold_scope = hold_scope
            try:
                async with trio.open_nursery() as nursery:

                    async def watch_client() -> None:
                        nonlocal gone
                        stashed = 0
                        while stashed < self.config.gateway.max_message_size:
                            data = await self.client.receive_some(RECEIVE_SIZE)
                            if not data:
                                gone = True
                                nursery.cancel_scope.cancel()
                                return
                            self._stash.append(data)
                            stashed += len(data)

                    if self.pump is None:  # the native pump watches the client itself
                        nursery.start_soon(watch_client)
                    final = await hub.hold(
                        req, timeout=timeout, webhook=decision.webhook, on_created=notify
                    )
                    nursery.cancel_scope.cancel()
            finally:
                self._hold_scope = None
                self._touch()
        if gone:
            self._event({"event": "approval_withdrawn", "approval": req.id, "why": "disconnect"})
            return None
        if final is None:  # CancelRequest while waiting
            self._event({"event": "approval_withdrawn", "approval": req.id, "why": "cancel"})
            return self._refuse_hold(
                decision,
                extended,
                f"canceling statement due to user request (approval {req.id} withdrawn)",
                "send the statement again to ask for a new approval",
                code="57014",
            )
        self._event(
            {
                "event": "approval",
                "approval": final.id,
                "status": final.status,
                "by": final.decided_by,
                "votes": [v.name for v in final.votes],
                "reason": final.reason,
                "grant_seconds": final.grant_seconds,
            }
        )
        if final.status == "approved":
            return raw
        if final.status == "denied":
            why = f"denied by {final.decided_by}" + (f": {final.reason}" if final.reason else "")
            hint = "do not retry as is; ask the approver what would be acceptable"
        elif final.status == "timed_out":
            why = f"timed out after {format_duration(timeout)} with no decision"
            hint = "ask an approver to watch for it, then send the statement again"
        else:
            why = final.status.replace("_", " ")
            hint = "send the statement again to ask for a new approval"
        return self._refuse_hold(
            decision,
            extended,
            f"limen: approval {final.id} {why} (rule {rule}, class {decision.klass})",
            hint,
        )

    def _refuse_hold(
        self, decision: Decision, extended: bool, message: str, hint: str, code: str = "42501"
    ) -> bytes:
        self.gw.log(
            "decision",
            session=self.session_id,
            action="deny",
            rule=decision.rule,
            klass=decision.klass,
            why="hold refused",
        )
        detail = (
            f"rule: {decision.rule or '(none)'}; class: {decision.klass}; action: hold "
            "(not approved)"
        )
        return self._stand_in(_native.pg_error("ERROR", code, message, detail, hint), extended)

    def cancel_hold(self) -> bool:
        """A CancelRequest for this session: withdraw the statement waiting
        for approval, if any (True), else the caller cancels upstream."""
        if self._hold_scope is None:
            return False
        self._hold_scope.cancel()
        return True

    async def _to_client(self, data: bytes) -> None:
        """Send whole messages to the client; one sender at a time (the
        upstream direction and a hold's notice), in order."""
        if self.pump is not None:  # pumped: the pump sends at a message boundary
            if self.recorder is not None:
                self.recorder.append(U2C, data, masked=self.results_masked)
            self.pump.send_client(data)
            return
        while self._client_busy:
            if self._client_free is None:
                self._client_free = trio.Event()
            await self._client_free.wait()
        self._client_busy = True
        try:
            if self.recorder is not None:
                self.recorder.append(U2C, data, masked=self.results_masked)
            await self._send_whole(data)
        finally:
            self._client_busy = False
            if self._client_free is not None:
                self._client_free.set()
                self._client_free = None

    async def _upstream_to_client(self, scope: trio.CancelScope) -> None:
        assert self.upstream is not None
        assert self.relay is not None
        assert self.recorder is not None
        while True:
            data = await self.upstream.receive_some(RECEIVE_SIZE)
            if not data:
                self.end = SessionEnd("08006", "the upstream server closed the connection")
                scope.cancel()
                return
            out, events = self.relay.feed(data)
            for ev in events:
                if ev[0] == "ready_for_query":
                    self.status = str(ev[1])
            if out:
                await self._to_client(out)
            self._touch()

    async def _send_whole(self, data: bytes) -> None:
        """Send without being cut by a cancel (session end, expiry): the
        client then gets whole messages before any FATAL. A client that
        reads nothing for the handshake timeout is dropped."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self.config.gateway.handshake_timeout.seconds) as grace:
                await self.client.send_all(data)
        if grace.cancelled_caught:
            raise trio.BrokenResourceError("the client stopped reading")

    async def cancel_upstream(self) -> None:
        """Forward a CancelRequest for this session's upstream backend."""
        if self.upstream_key is None or self.upstream_addr is None:
            return
        host, port = self.upstream_addr
        with trio.move_on_after(self.config.gateway.connect_timeout.seconds):
            try:
                stream = await trio.open_tcp_stream(host, port)
            except OSError:
                return
            try:
                await stream.send_all(_native.pg_cancel_request(*self.upstream_key))
                await stream.receive_some(16)
            except (trio.BrokenResourceError, OSError):
                pass
            finally:
                await trio.aclose_forcefully(stream)
        self.gw.log("cancel_forwarded", session=self.session_id)
