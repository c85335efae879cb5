"""A reload's masks for a live MySQL session (both relays).

A reload (:mod:`limen.gateway.reload`) rebinds every live session to the
new rules; a MySQL session whose masks changed (its mask list, or the
definition of a ``[[mask_rules]]`` entry it uses:
:func:`limen.gateway.livemasks.signature`) also takes the new masks, so
that its next statements see them as they see the new rules
(:meth:`MySqlSession.rebind <limen.gateway.mysql.session.MySqlSession.rebind>`,
:func:`swap`):

- results: the session's ``MySqlServerRelay`` gets the new content masker
  (the next value is masked by it), and the ``u2c`` records' ``MASKED``
  flag follows it; on the native pump through the core's mask swap
  (``limen_pump::mysql::MySqlMaskSwap``, under the relay's lock, taken
  before the pump handles the next client command), which also forgets
  the pump's cached decisions;
- statement texts as recorded: the session's statement masker (the
  judge's, the approvers' view, and the pump core's, which records cached
  decisions) becomes the new one; a session whose rules now keep
  statements raw says so in its log (``input_raw``);
- column masks (``column:schema.table.column``): the judge plans each
  statement from the upstream's catalog, read at login on the session's
  own connection. A reload that changes a live session's column masks
  cannot use that connection (the client owns it between commands), so
  :func:`start` reads the catalog again on a side connection to the same
  upstream, logged in as the session's login was (the resource's
  credential, the same user and database). Meanwhile the session's next
  command waits (:attr:`MySqlJudge.pending
  <limen.gateway.mysql.judge.MySqlJudge.pending>`: the Trio relay before
  judging it; the native pump hands it to the Trio side, which waits).
  Then the judge plans by the new catalog, and its prepared statements are
  planned again; statements the pump prepared on a cached decision (never
  seen by the judge, and cached only when no column was masked) have every
  column of their results masked from the reload on
  (:data:`EVERYTHING`), while the new config masks any column;
- fail closed: when the side connection, its login or its catalog query
  fails, or a prepared statement would now be refused, the session is
  ended (``57P01``, saying why; its client reconnects and logs in under
  the new masks), never left serving a column the new config masks.

Another reload while the side query runs is picked up before the judge
takes the catalog (the query runs again for the newest config). A value
of a result set streaming when the reload lands may be masked by either
content masker.
"""

from __future__ import annotations

from typing import Protocol

import trio

from limen import _native
from limen.gateway.closing import say_goodbye
from limen.gateway.livemasks import Live, Masks, take_input_masker
from limen.gateway.mysql import upstream as my_upstream
from limen.gateway.mysql.columns import DERIVED, MySqlColumns, load, mask_rules
from limen.gateway.mysql.judge import MySqlJudge
from limen.gateway.session import SessionEnd
from limen.policy import Decision

__all__ = ["EVERYTHING", "FAILED", "MaskTarget", "start", "swap"]

#: The column plan of statements prepared on a cached decision, while the
#: session masks any column: every column masked.
EVERYTHING = _native.MySqlColumnPlan([], DERIVED, [])
#: How a session whose new column masks could not be resolved ends.
FAILED = (
    "57P01",
    "the column masks of this session changed (a configuration reload) and the gateway "
    "could not apply them live ({why}); reconnect",
)


class MaskTarget(Live, Protocol):
    """What a reload reads and sets of a live MySQL session
    (``MySqlSession``; a protocol, so that this module does not import the
    session's, which imports it)."""

    mysql_judge: MySqlJudge | None
    server_relay: _native.MySqlServerRelay | None
    pump: _native.PgPump | None
    tasks: trio.Nursery | None
    caps: int
    collation: int
    max_packet_size: int

    def kill(self, code: str, message: str) -> None: ...

    def results_now_masked(self, masked: bool) -> None: ...


def swap(session: MaskTarget, *, column_masks: bool) -> None:
    """Gives the session the services' current masks for results and
    statement texts (its judge's column plans aside: :func:`start`);
    ``column_masks``: whether the new config masks any column."""
    assert session.identity is not None
    assert session.resource is not None
    masks = Masks(session, session.identity, session.resource.name)
    masked = masks.masker is not None
    content = None if masks.input_masker is None else masks.input_masker.content
    plan = EVERYTHING if column_masks else None
    if session.pump is not None:  # the relay's masker too, under its lock
        session.pump.set_masks(masks.masker, content, masked, statement_plan=plan)
    elif session.server_relay is not None:
        session.server_relay.set_masker(masks.masker)
    session.results_now_masked(masked)
    take_input_masker(session, masks)


def start(session: MaskTarget) -> bool:
    """Starts resolving the session's new column masks (see the module
    docs). False when it cannot run (no relay yet): the caller ends the
    session."""
    judge = session.mysql_judge
    if session.tasks is None or judge is None:
        return False
    if judge.pending is None:  # else the running one picks the newest config
        judge.pending = trio.Event()
        session.tasks.start_soon(_relive, session, judge)
    return True


async def _relive(session: MaskTarget, judge: MySqlJudge) -> None:
    services = session.services
    try:
        try:
            while True:
                generation = services.generation
                columns = await _side_columns(session, judge)
                if services.generation == generation:
                    break
            _install(judge, columns)
            why = ""
        except _Refused as exc:
            why = f"a statement the session prepared would now be refused: {exc}"
        except Exception as exc:  # fail closed: the session ends below
            why = exc.message if isinstance(exc, SessionEnd) else type(exc).__name__
        if why:
            services.log("session_remask_refused", session=session.session_id, reason=why)
            code, message = FAILED
            session.kill(code, message.format(why=why))
    finally:  # the command waiting goes on (or sees the session end)
        pending, judge.pending = judge.pending, None
        if pending is not None:
            pending.set()


async def _side_columns(session: MaskTarget, judge: MySqlJudge) -> MySqlColumns | None:
    """The session's column masks under the current config, from a catalog
    read on a side connection (None, without connecting, when no rule
    masks a column)."""
    services, identity, resource = session.services, session.identity, session.resource
    assert identity is not None
    assert resource is not None
    rules = services.policy.rules_for(identity, resource.name)
    masker = services.masker_for(identity, resource.name)
    if masker is None or not mask_rules(rules)[0]:
        return None
    gateway = services.config.gateway
    with trio.fail_after(gateway.connect_timeout.seconds + gateway.handshake_timeout.seconds):
        side = await my_upstream.connect(services, resource)
        try:
            await my_upstream.login(
                side,
                resource,
                resource.user or identity.subject,
                session_caps=session.caps,
                collation=session.collation,
                max_packet_size=session.max_packet_size,
            )

            async def query(sql: bytes) -> list[list[bytes | None]]:
                return await my_upstream.query_rows(side, resource, sql)

            return await load(query, judge.current_database, rules, masker)
        finally:
            with trio.CancelScope(shield=True):
                await say_goodbye(side.stream, my_upstream.COM_QUIT)


class _Refused(Exception):
    """A prepared statement the new column masks refuse."""


def _install(judge: MySqlJudge, columns: MySqlColumns | None) -> None:
    """The judge plans by ``columns`` from now on, its prepared statements
    too (raises :class:`_Refused`, changing nothing, when one is refused)."""
    if columns is not None:
        columns.server = judge.policy.server
        columns.backslash_escapes = judge.policy.backslash_escapes

    def plan(decision: Decision, sql: bytes) -> _native.MySqlColumnPlan | None:
        if columns is None:
            return None
        judged = columns.judge(decision, sql.decode("utf-8", "replace"), extended=True, name="")
        if columns.refused:
            raise _Refused(judged.message)
        return columns.plan

    judge.replan(plan)
    judge.columns = columns
    judge.judge.columns = columns
