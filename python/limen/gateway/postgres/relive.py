"""A reload's column masks for a live PostgreSQL session (both relays).

``column:table.column`` masks are resolved to the upstream's column
identities (table OID, attnum) by a catalog query
(:mod:`limen.gateway.postgres.columns`). At login that query runs on the
session's own connection; a reload that changes a live session's column
masks cannot use that connection (the client owns it between statements),
so :func:`start` resolves them on a side connection to the same upstream,
logged in as the session's login was (the resource's credential, the
same user and database), then swaps them in between statements:

- while the side query runs, the session's next statement waits
  (:attr:`~limen.gateway.postgres.judge.PgJudge.pending`: the Trio relay
  before judging it; the native pump hands it to the Trio side, which
  waits), so no statement is judged or planned by the old column masks
  after the reload;
- the relay gets the new (OID, attnum) replacements, the judge a new
  column planner, and the statements that left plan state in the session
  (named Parse messages, SQL ``PREPARE`` and ``DECLARE``, remembered by
  the judge) are planned again under it, their relay plans replaced; then
  the rest of the new masks (results, statement texts) as for any reload
  (:mod:`limen.gateway.postgres.remask`), and the statement goes on;
- fail closed: when the side connection, its login or its catalog query
  fails, or a remembered statement would now be refused (or more were
  made than the judge remembers), the session is ended (``57P01``, saying
  why; its client reconnects and logs in under the new masks), never left
  serving a column the new config masks.

Another reload while this runs is picked up before the swap (the side
query runs again for the newest config). The side connection's
``search_path`` is the one a login gets, as at login; relations only the
session sees (temporary ones) are unknown to the new planner, which
refuses what it cannot see.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

import trio

from limen import _native
from limen.config import Resource
from limen.gateway.closing import say_goodbye
from limen.gateway.judging import Judge
from limen.gateway.postgres import upstream as pg_upstream
from limen.gateway.postgres.columns import Catalog, SessionColumns, read
from limen.gateway.postgres.judge import PgJudge
from limen.gateway.services import Services
from limen.gateway.session import SessionEnd
from limen.identity import Identity
from limen.policy.colplan import RelayPlan, marker

__all__ = ["FAILED", "start"]

#: How a session whose new column masks could not be resolved ends.
FAILED = (
    "57P01",
    "the column masks of this session changed (a configuration reload) and the gateway "
    "could not apply them live ({why}); reconnect",
)
_WHOLE = marker(frozenset({"?reload"}))


class Relivable(Protocol):
    """What :func:`start` reads and sets of a live session (``PgSession``)."""

    services: Services
    session_id: str
    identity: Identity | None
    resource: Resource | None
    judge: Judge | None
    pg_judge: PgJudge | None
    server_relay: _native.PgServerRelay | None
    params: dict[str, str]
    tasks: trio.Nursery | None
    mask_key: tuple[str, ...] | None

    def kill(self, code: str, message: str) -> None: ...


def start(session: Relivable, apply: Callable[[tuple[str, ...]], None]) -> bool:
    """Starts resolving the session's new column masks (see the module
    docs); ``apply(key)`` then gives it the rest of the masks of ``key``.
    False when it cannot run (no relay yet): the caller ends the session."""
    judge, relay = session.pg_judge, session.server_relay
    if session.tasks is None or judge is None or relay is None or judge.history_lost:
        return False
    if judge.pending is None:  # else the running one picks the newest config
        judge.pending = trio.Event()
        _mask_everything(session, judge, relay)
        session.tasks.start_soon(_relive, session, judge, apply)
    return True


_PREPARE = re.compile(r"\bprepare\s+([A-Za-z_][\w$]*)", re.IGNORECASE)
_DECLARE = re.compile(r"\bdeclare\s+([A-Za-z_][\w$]*)", re.IGNORECASE)
#: The interim plan of a prepared statement or cursor: every column masked.
_EVERYTHING: RelayPlan = ([], True, _WHOLE, [], _WHOLE, None, True)


def _mask_everything(session: Relivable, judge: PgJudge, relay: _native.PgServerRelay) -> None:
    """Until the new plans are in: statements and cursors made before the
    reload (a Bind and Execute is not judged, so it does not wait) mask
    every column of their results."""
    statements = {name for _, extended, name in judge.history.values() if extended}
    portals: set[str] = set()
    for text, extended, _ in judge.history.values():
        if not extended:  # SQL PREPARE and DECLARE (unquoted names fold to lower case)
            statements |= {n.lower() for n in _PREPARE.findall(text)}
            portals |= {n.lower() for n in _DECLARE.findall(text)}
    old = session.judge.columns if session.judge is not None else None
    if isinstance(old, SessionColumns):
        statements |= set(old.planner.prepared)
        portals |= set(old.planner.cursors)
    for name in statements:
        relay.plan_statement(name.encode(), _EVERYTHING)
    for name in portals:
        relay.plan_portal(name.encode(), _EVERYTHING)


async def _relive(
    session: Relivable, judge: PgJudge, apply: Callable[[tuple[str, ...]], None]
) -> None:
    services = session.services
    assert session.identity is not None
    assert session.resource is not None
    identity, resource = session.identity, session.resource.name
    try:
        try:
            while True:
                generation = services.generation
                key = tuple(sorted(services.policy.mask_for(identity, resource)))
                catalog = await _side_catalog(session, key)
                if services.generation == generation:
                    break
            why = _install(session, judge, catalog)
        except Exception as exc:  # fail closed: the session ends below
            why = exc.message if isinstance(exc, SessionEnd) else type(exc).__name__
        if why:
            services.log("session_remask_refused", session=session.session_id, reason=why)
            code, message = FAILED
            session.kill(code, message.format(why=why))
        else:
            apply(key)
    finally:  # the statement waiting goes on (or sees the session end)
        pending, judge.pending = judge.pending, None
        if pending is not None:
            pending.set()


async def _side_catalog(session: Relivable, key: tuple[str, ...]) -> Catalog | None:
    """The catalog of the masks of ``key``, read on a side connection
    (None, without connecting, when none is a column mask)."""
    if not any(m.startswith("column:") for m in key):
        return None
    services, identity, resource = session.services, session.identity, session.resource
    assert identity is not None
    assert resource is not None
    masker = services.masker_for(identity, resource.name)
    assert masker is not None  # a column mask makes one
    rules = services.policy.rules_for(identity, resource.name)
    gateway = services.config.gateway
    capture = _native.PgServerRelay(None, int(gateway.max_message_size))
    with trio.fail_after(gateway.connect_timeout.seconds + gateway.handshake_timeout.seconds):
        side = await pg_upstream.connect(services, resource)
        try:
            user = resource.user or identity.subject
            await pg_upstream.login(side, capture, resource, user, session.params)
            return await read(side.stream, capture, resource.name, rules, masker)
        finally:
            with trio.CancelScope(shield=True):
                await say_goodbye(side.stream, pg_upstream.TERMINATE)


def _install(session: Relivable, judge: PgJudge, catalog: Catalog | None) -> str:
    """Swaps the session's column masks for ``catalog``'s; "" when done,
    else why it cannot."""
    relay, core = session.server_relay, session.judge
    assert relay is not None
    assert core is not None
    old = core.columns if isinstance(core.columns, SessionColumns) else None
    if catalog is None:
        relay.set_columns({})
        statements = {name for _, extended, name in judge.history.values() if extended}
        if old is not None:
            statements |= set(old.planner.prepared)
            for name in old.planner.cursors:
                relay.plan_portal(name.encode(), None)
        for name in statements:  # their plans mask nothing now
            relay.plan_statement(name.encode(), None)
        core.columns = None
        return ""
    if judge.history_lost:
        return "the session prepared more statements than the gateway remembers"
    new = catalog.install(relay)
    why = new.replay(list(judge.history.values()), old)
    if why:
        return f"a statement the session prepared would now be refused: {why}"
    core.columns = new
    return ""
