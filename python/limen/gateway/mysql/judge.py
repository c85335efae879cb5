"""MySQL judging: one client command packet in, one :class:`MySqlVerdict`
out (docs/interface.md "MySQL commands").

MySQL is request/response: the gateway judges a command, then either
forwards the client's own packet upstream (and relays the whole answer,
masked by the verdict's column plan) or answers the client itself with an
ERR packet (sequence id = the command's + 1) and sends nothing upstream.

- ``COM_QUERY``: the session's judge (:class:`limen.gateway.judging.Judge`:
  recorded, decided, logged) with the MySQL classifier.
- ``COM_STMT_PREPARE``: judged like ``PREPARE``; a denied one is refused,
  an allowed or held one is forwarded (preparing runs nothing) and
  remembered under the statement id of the server's ``PREPARE_OK``.
  ``COM_STMT_EXECUTE`` of that id gets the prepare's decision again
  (recorded as an ``execute`` decision): allowed, or held for approval
  every time it runs. ``FETCH``/``SEND_LONG_DATA``/``RESET`` of a known id
  are forwarded; ``CLOSE`` forgets it. An id limen did not see prepared is
  refused (``SEND_LONG_DATA``/``CLOSE`` have no answer: dropped).
- ``COM_INIT_DB`` is judged as ``USE``; ``COM_FIELD_LIST`` as a read of the
  table's columns; ``COM_PING``, ``COM_STATISTICS``, ``COM_SET_OPTION`` and
  ``COM_RESET_CONNECTION`` (which forgets every prepared statement) are
  forwarded; ``COM_PROCESS_KILL``, ``COM_SHUTDOWN``, replication, ``COM_DEBUG``
  and the rest are refused (see :mod:`limen.gateway.mysql.errors`).
- ``COM_QUIT`` and ``COM_CHANGE_USER`` are the driver's (:attr:`MySqlVerdict.command`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import trio

from limen import _native
from limen.gateway.judging import HELD, Judge, Verdict, local_denial
from limen.gateway.mysql.errors import (
    ER_COLUMNACCESS_DENIED,
    ER_SPECIFIC_ACCESS_DENIED,
    ER_UNKNOWN_COM,
    REFUSED_COMMANDS,
    denial,
    refused_command,
    unknown_statement,
)
from limen.gateway.mysql.verdict import (
    LAST_PREPARED,
    NO_BACKSLASH_ESCAPES,
    MySqlVerdict,
    PlanSource,
    Prepared,
    decision_event,
)
from limen.policy import Decision, SessionPolicy
from limen.policy.mysql import Server
from limen.policy.mysql.session import MySqlSessionPolicy
from limen.recording import EVENT

__all__ = ["LAST_PREPARED", "NO_BACKSLASH_ESCAPES", "MySqlJudge", "MySqlVerdict", "PlanSource"]


class MySqlJudge:
    """Verdicts on one MySQL session's commands."""

    def __init__(
        self,
        judge: Judge,
        policy: SessionPolicy,
        *,
        database: str | None,
        server: Server | None,
        caps: int,
        columns: PlanSource | None,
    ) -> None:
        if isinstance(policy, MySqlSessionPolicy):
            mysql_policy = policy
            mysql_policy.database = database
            mysql_policy.server = server
        else:  # the framework's session policy: judge with the MySQL classifier instead
            mysql_policy = MySqlSessionPolicy(
                policy.policy, policy.identity, policy.resource, database=database, server=server
            )
        judge.policy = mysql_policy
        self.judge = judge
        self.policy = mysql_policy
        self.database = database
        self.caps = caps
        self.columns = columns
        if columns is not None:
            columns.server = server
            judge.columns = columns
        self.statements: dict[int, Prepared] = {}
        self._secret_sql_prepared: set[str] = set()
        """SQL-level prepared statements (``PREPARE p FROM …``) whose text
        held a secret."""
        self._pending_prepare: Prepared | None = None
        self._last_prepared: int | None = None
        """The id of the last COM_STMT_PREPARE, when it was forwarded and
        succeeded: MariaDB runs statement id 0xffffffff as "the last one
        prepared" (its connectors send prepare and execute together)."""
        self._pending_use: tuple[str | None] | None = None
        self._pending_reset = False
        self.current_database = database
        """The session's database now (None: unknown after a USE)."""
        self.pending: trio.Event | None = None
        """Set while a reload's column masks are being resolved: the next
        command waits for it (both relays, :mod:`limen.gateway.mysql.relive`)."""

    # --- commands -----------------------------------------------------------------

    def command(self, seq: int, payload: bytes) -> MySqlVerdict:
        """Judges one client command packet (``payload`` without its header;
        ``seq`` its sequence id). Raises :class:`_native.MySqlProtocolError`
        on a malformed packet (the driver closes the connection)."""
        self._pending_prepare = None
        self._pending_use = None
        self._pending_reset = False
        raw = _native.mysql_packet(seq, payload).data
        cmd = _native.mysql_parse_command(payload, self.caps)
        expect = _native.MySqlExpect
        match cmd:
            case _native.MySqlQuery(sql=sql):
                return self._statement(seq, raw, sql, "query", expect.QUERY, prepare=False)
            case _native.MySqlStmtPrepare(sql=sql):
                return self._statement(seq, raw, sql, "prepare", expect.PREPARE, prepare=True)
            case _native.MySqlInitDb(schema=schema):
                sql = b"USE `" + schema.replace(b"`", b"``") + b"`"
                return self._statement(seq, raw, sql, "init_db", expect.OK, prepare=False)
            case _native.MySqlFieldList(table=table):
                sql = b"SHOW COLUMNS FROM `" + table.replace(b"`", b"``") + b"`"
                return self._statement(
                    seq, raw, sql, "field_list", expect.FIELD_LIST, prepare=False
                )
            case _native.MySqlStmtExecute(statement_id=sid):
                return self._execute(seq, raw, sid)
            case _native.MySqlStmtFetch(statement_id=sid):
                return self._known(seq, raw, sid, "fetch", expect.FETCH)
            case _native.MySqlStmtReset(statement_id=sid):
                return self._known(seq, raw, sid, "reset", expect.OK)
            case _native.MySqlStmtSendLongData(statement_id=sid):
                return self._known(seq, raw, sid, "send_long_data", expect.NONE)
            case _native.MySqlStmtClose(statement_id=sid):
                if sid == LAST_PREPARED:
                    sid = self._last_prepared if self._last_prepared is not None else sid
                known = self.statements.pop(sid, None) is not None
                if self._last_prepared == sid:
                    self._last_prepared = None
                v = self._plain(seq, raw if known else None, "close", expect.NONE)
                return dataclasses.replace(v, statement_id=sid)
            case _native.MySqlPing():
                return self._plain(seq, raw, "ping", expect.OK)
            case _native.MySqlStatistics():
                return self._plain(seq, raw, "statistics", expect.RAW)
            case _native.MySqlSetOption():
                return self._plain(seq, raw, "set_option", expect.OK)
            case _native.MySqlResetConnection():
                self._pending_reset = True
                return self._plain(seq, raw, "reset_connection", expect.OK)
            case _native.MySqlQuit():
                return self._plain(seq, None, "quit", expect.NONE)
            case _native.MySqlChangeUser():
                return self._plain(seq, None, "change_user", expect.NONE)
            case _native.MySqlProcessKill():
                return self._refuse_command(seq, "COM_PROCESS_KILL", ER_SPECIFIC_ACCESS_DENIED)
            case _native.MySqlOtherCommand(code=code):
                name = REFUSED_COMMANDS.get(code)
                if name is None:
                    return self._refuse_command(seq, f"command 0x{code:02x}", ER_UNKNOWN_COM)
                return self._refuse_command(seq, name, ER_SPECIFIC_ACCESS_DENIED)
        return self._refuse_command(seq, "this command", ER_UNKNOWN_COM)  # pragma: no cover

    def response(self, events: Sequence[object], status: int) -> None:
        """What the upstream's answer to the last forwarded command said:
        the prepared statement's id, whether a ``USE``/``COM_INIT_DB`` or a
        reset happened, and the status flags (backslash escapes)."""
        ok = any(isinstance(e, _native.MySqlOkSeen) for e in events)
        failed = any(isinstance(e, _native.MySqlErrSeen) for e in events)
        prepared = [e.statement_id for e in events if isinstance(e, _native.MySqlPrepareOk)]
        self.answered(ok=ok, failed=failed, prepared=prepared, status=status)

    def answered(self, *, ok: bool, failed: bool, prepared: Sequence[int], status: int) -> None:
        """:meth:`response` from its summary (the native pump's note):
        whether an OK and an ERR came, the statement ids of PREPARE_OKs."""
        for sid in prepared:
            if self._pending_prepare is not None:
                self.statements[sid] = self._pending_prepare
                self._last_prepared = sid
                self._pending_prepare = None
        if failed and self._pending_prepare is not None:  # a failed prepare has no id
            self._pending_prepare = None
            self._last_prepared = None
        if self._pending_use is not None and ok:
            # a statement after the USE failed: whether the USE ran is not known
            self.current_database = None if failed else self._pending_use[0]
            if self.columns is not None:
                self.columns.use(self.current_database)
            self._pending_use = None
        if self._pending_reset and ok:
            self.forget_all()
            self._pending_reset = False
        backslash = not status & NO_BACKSLASH_ESCAPES
        self.policy.backslash_escapes = backslash
        if self.columns is not None:
            self.columns.backslash_escapes = backslash

    def closed(self, sids: Sequence[int]) -> None:
        """Statements closed without this judge (the native pump handled
        their ``COM_STMT_CLOSE``): a later command naming one is refused."""
        for sid in sids:
            self.statements.pop(sid, None)
            if self._last_prepared == sid:
                self._last_prepared = None

    def replan(self, plan: Callable[[Decision, bytes], _native.MySqlColumnPlan | None]) -> None:
        """Plans every prepared statement again, ``plan(decision, sql)`` (a
        reload changed the column masks; it raises to refuse one)."""

        def redo(p: Prepared) -> Prepared:
            return dataclasses.replace(p, plan=plan(p.decision, p.sql))

        self.statements = {sid: redo(p) for sid, p in self.statements.items()}
        if self._pending_prepare is not None:
            self._pending_prepare = redo(self._pending_prepare)

    def forget_all(self) -> None:
        """Forget every prepared statement (the server did: a
        ``COM_RESET_CONNECTION`` or a ``COM_CHANGE_USER`` that succeeded;
        the driver calls this after the latter)."""
        self.statements.clear()
        self._pending_prepare = None
        self._last_prepared = None
        self.policy.forget_prepared()

    # --- internals ----------------------------------------------------------------

    def _statement(
        self,
        seq: int,
        raw: bytes,
        sql: bytes,
        command: str,
        expect: _native.MySqlExpect,
        *,
        prepare: bool,
    ) -> MySqlVerdict:
        reply_seq = seq + 1

        def refuse(decision: Decision) -> tuple[bytes, bool]:
            columns = self.columns is not None and self.columns.refused
            code = ER_COLUMNACCESS_DENIED if columns else None
            return denial(reply_seq, decision, code=code), False

        verdict = self.judge.judge(sql, extended=prepare, name="", allow=raw, refuse=refuse)
        decision = verdict.decision
        secret = self._secret(decision)
        plan = self.columns.plan if self.columns is not None else None
        if prepare:
            self._last_prepared = None
        if decision.action == "deny":
            assert isinstance(verdict.send, bytes)
            return MySqlVerdict(None, verdict.send, expect.NONE, seq, None, None, command)
        classification = decision.classification
        statements = classification.statements if classification is not None else ()
        if command == "init_db" or any(s.command == "USE" for s in statements):
            # where the session's unqualified names point once it succeeded
            dbs = self.policy.databases_of(sql)
            one = len(dbs) == 1 and len(statements) == 1
            self._pending_use = (next(iter(dbs)) if one else None,)
        infile = decision.action == "allow" and "local-infile" in decision.classes
        # A cache (the native pump's) may reuse an allow without a column
        # plan, secret, database switch or file.
        reuse = verdict.cache and plan is None and not secret and self._pending_use is None
        if prepare:  # preparing runs nothing: a held statement is held at each execute
            self._pending_prepare = Prepared(decision, plan, sql, secret)
            cached = None
            if reuse and decision.action == "allow" and verdict.event is not None:
                execute = decision_event(decision, "execute", statement=0)
                assert execute.endswith(b":0}")
                cached = verdict.event + b"\n" + execute[:-2]
            v = MySqlVerdict(raw, None, expect, seq, plan, None, command, secret=secret)
            return dataclasses.replace(v, cache_event=cached)
        if decision.action == "hold":
            held = (None, None, expect, seq, plan, verdict, command)
            return MySqlVerdict(*held, on_approval=raw, statement=sql, secret=secret)
        ok = (raw, None, expect, seq, plan, None, command)
        cached = verdict.event if reuse and command == "query" and not infile else None
        # By shape only without column rules (a column plan is made from the text).
        shape = cached is not None and verdict.shape and self.columns is None
        return MySqlVerdict(
            *ok, allow_infile=infile, secret=secret, cache_event=cached, cache_shape=shape
        )

    def _secret(self, decision: Decision) -> bool:
        """Whether the statement just judged held a secret (its expression
        columns' names are masked), or runs an SQL-level prepared statement
        whose text held one (``PREPARE p FROM '…'`` then ``EXECUTE p``)."""
        masked = self.judge.last_masked
        secret = masked is not None and masked.structural
        classification = decision.classification
        for s in classification.statements if classification is not None else ():
            if s.prepares is not None:
                if secret:
                    self._secret_sql_prepared.add(s.prepares.lower())
                else:
                    self._secret_sql_prepared.discard(s.prepares.lower())
            if any(name.lower() in self._secret_sql_prepared for name in s.executes):
                secret = True
        return secret

    def _prepared(self, sid: int) -> Prepared | None:
        if sid == LAST_PREPARED:
            if self._last_prepared is None:
                return None
            sid = self._last_prepared
        return self.statements.get(sid)

    def _execute(self, seq: int, raw: bytes, sid: int) -> MySqlVerdict:
        expect = _native.MySqlExpect
        prepared = self._prepared(sid)
        if prepared is None:
            return self._unknown_statement(seq, sid, "execute")
        decision = prepared.decision
        event = self._record(decision, "execute", statement=sid)
        if decision.action == "hold":
            held = Verdict(decision, event, HELD)
            return MySqlVerdict(
                None,
                None,
                expect.EXECUTE,
                seq,
                prepared.plan,
                held,
                "execute",
                on_approval=raw,
                statement=prepared.sql,
                statement_id=sid,
                secret=prepared.secret,
            )
        ok = (raw, None, expect.EXECUTE, seq, prepared.plan, None, "execute")
        return MySqlVerdict(*ok, statement_id=sid, secret=prepared.secret)

    def _known(
        self, seq: int, raw: bytes, sid: int, command: str, expect: _native.MySqlExpect
    ) -> MySqlVerdict:
        prepared = self._prepared(sid)
        if prepared is not None:
            ok = (raw, None, expect, seq, prepared.plan, None, command)
            return MySqlVerdict(*ok, statement_id=sid, secret=prepared.secret)
        if expect == _native.MySqlExpect.NONE:  # no answer is expected: drop it
            return self._plain(seq, None, command, expect)
        return self._unknown_statement(seq, sid, command)

    def _unknown_statement(self, seq: int, sid: int, command: str) -> MySqlVerdict:
        decision = local_denial(
            "unknown",
            f"denied: statement id {sid} was not prepared through limen on this session",
            "prepare the statement again",
        )
        self._record(decision, command, statement=sid)
        self._log(decision, command)
        reply = unknown_statement(seq, decision)
        return MySqlVerdict(None, reply, _native.MySqlExpect.NONE, seq, None, None, command)

    def _refuse_command(self, seq: int, name: str, code: int) -> MySqlVerdict:
        decision = local_denial(
            "admin",
            f"denied: {name} is not allowed through the gateway",
            "run the equivalent SQL statement (it is judged by the rules), or ask the "
            "limen operator",
        )
        self._record(decision, name)
        self._log(decision, name)
        reply = refused_command(seq, code, decision)
        return MySqlVerdict(None, reply, _native.MySqlExpect.NONE, seq, None, None, name)

    def _plain(
        self, seq: int, raw: bytes | None, command: str, expect: _native.MySqlExpect
    ) -> MySqlVerdict:
        return MySqlVerdict(raw, None, expect, seq, None, None, command)

    def _record(self, decision: Decision, command: str, *, statement: int | None = None) -> bytes:
        event = decision_event(decision, command, statement=statement)
        self.judge.recorder.append(EVENT, event)
        if self.judge.on_decision is not None:  # counted like the judge's own
            self.judge.on_decision(decision)
        return event

    def _log(self, decision: Decision, command: str) -> None:
        self.judge.log(
            "decision",
            session=self.judge.session_id,
            action=decision.action,
            rule=decision.rule,
            klass=decision.klass,
            command=command,
        )
