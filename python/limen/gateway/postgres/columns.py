"""Column masks of one PostgreSQL session: the catalog it is judged
against and the output plans the relay masks by.

At the session's start (when a rule applying to it has a ``column:`` mask)
:func:`load` reads the upstream's catalog once, through the relay's capture
mode: every relation's columns, the definitions of views and materialized
views, and the ``search_path`` — or, when the catalog's fingerprint is the
one read last for the same resource and rules, reuses that (per process).
It gives the relay the (table OID, attnum) of every masked column (plain
references are masked by those even without a plan) and returns the
session's :class:`SessionColumns`.

:meth:`SessionColumns.judge` runs for every Query and Parse the policy
allowed (or holds): it derives the statement's output plan
(:class:`~limen.policy.colplan.ColumnPlanner`) and hands it to the relay
before the message goes upstream (:meth:`PgServerRelay.plan_query` for the
cycle of a simple query, :meth:`PgServerRelay.plan_statement` for a Parse;
portals take their statement's plan at Bind). A statement that would
unmask a column is refused (42501 naming the column and why), and so is
one limen cannot plan (fail closed). It is the session's column hook
(:class:`limen.gateway.judging.ColumnHook`), so the same code runs for both
relays: the native pump asks the session's judge for every statement it
has no cached decision for, and only decisions of statements with no
masked column, no view and no session state are cached (:attr:`cacheable`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import trio

from limen import _native
from limen.config import Rule
from limen.gateway.postgres.upstream import upstream_events
from limen.gateway.session import SessionEnd
from limen.policy import Decision
from limen.policy.colplan import ColumnPlanner, QueryPlan, Snapshot
from limen.policy.taint import Refusal, Relation

__all__ = ["Catalog", "SessionColumns", "load", "read"]

#: Changes whenever a relation, a column or a view's rule is created,
#: changed or dropped (row counts and the sum of row versions of pg_class,
#: pg_attribute and pg_rewrite), or the search path differs.
FINGERPRINT_SQL = (
    "SELECT 'f', concat_ws('/', "
    "(SELECT count(*) || '.' || coalesce(sum(xmin::text::int8), 0) FROM pg_catalog.pg_class), "
    "(SELECT count(*) || '.' || coalesce(sum(xmin::text::int8), 0) FROM pg_catalog.pg_attribute), "
    "(SELECT count(*) || '.' || coalesce(sum(xmin::text::int8), 0) FROM pg_catalog.pg_rewrite), "
    "(SELECT count(*) || '.' || coalesce(sum(xmin::text::int8), 0) FROM pg_catalog.pg_namespace), "
    "(SELECT count(*) || '.' || coalesce(sum(xmin::text::int8), 0) FROM pg_catalog.pg_inherits), "
    "array_to_string(pg_catalog.current_schemas(false), ','), pg_catalog.pg_my_temp_schema(), "
    "pg_catalog.current_database(), pg_catalog.inet_server_port())"
)
CATALOG_SQL = (
    "SELECT 'a', c.oid::int8::text, n.nspname, c.relname, c.relkind::text, a.attnum::text, "
    "a.attname::text FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
    "AND NOT a.attisdropped "
    "WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND n.nspname NOT LIKE 'pg\\_toast%' "
    "AND (n.nspname NOT LIKE 'pg\\_temp%' OR n.oid = pg_catalog.pg_my_temp_schema()) "
    "UNION ALL SELECT 'v', c.oid::int8::text, n.nspname, c.relname, c.relkind::text, NULL, "
    "pg_catalog.pg_get_viewdef(c.oid) FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "UNION ALL SELECT 'i', NULL, cn.nspname, c.relname, NULL, NULL, pn.nspname || '.' || p.relname "
    "FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid "
    "JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace "
    "JOIN pg_catalog.pg_class p ON p.oid = i.inhparent "
    "JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace "
    "UNION ALL SELECT 's', NULL, s, NULL, NULL, o::text, NULL "
    "FROM unnest(pg_catalog.current_schemas(false)) WITH ORDINALITY AS x(s, o)"
)


class SessionColumns:
    """The session's planner and the relay it registers plans on."""

    def __init__(self, planner: ColumnPlanner, relay: _native.PgServerRelay) -> None:
        self.planner = planner
        self.relay = relay
        self.cacheable = True
        """Whether the last judged statement's decision may be reused by
        text (the pump's cache): no masked column, no view, no state."""
        self.masked: list[dict[str, object]] = []
        """The last judged statement's masked output columns (recorded)."""

    def judge(self, decision: Decision, sql: str, *, extended: bool, name: str) -> Decision:
        """Plans an allowed (or held) statement and registers the plan;
        a refusal comes back as a denial."""
        self.masked = []
        self.cacheable = False
        if decision.action == "deny":
            return decision
        try:
            plan = self.planner.plan(sql)
        except Refusal as exc:
            return _refused(decision, exc.column, exc.why)
        except Exception as exc:  # fail closed: what cannot be planned is refused
            return _refused(decision, "?", f"limen could not plan it ({type(exc).__name__})")
        self._register(plan, extended=extended, name=name)
        self.cacheable = plan.cacheable and not plan.planned
        return decision

    def _register(self, plan: QueryPlan, *, extended: bool, name: str) -> None:
        for i, out in enumerate(plan.outputs):
            for position, label, taint in out.columns() if out is not None else ():
                self.masked.append(
                    {"statement": i + 1, "column": position, "name": label, "from": taint}
                )
        for prepared in self.planner.prepared_now:  # SQL PREPARE: Bind may use it
            out = self.planner.prepared.get(prepared)
            self.relay.plan_statement(prepared.encode(), out.relay() if out else None)
        for cursor in self.planner.declared_now:  # a cursor is a portal
            out = self.planner.cursors.get(cursor)
            self.relay.plan_portal(cursor.encode(), out.relay() if out and out.masked else None)
        if extended:
            first = plan.outputs[0] if plan.outputs else None
            if name:  # SQL EXECUTE runs protocol-prepared statements too
                self.planner.prepared[name] = first
            self.relay.plan_statement(name.encode(), first.relay() if first else None)
        elif plan.planned:
            self.relay.plan_query([o.relay() if o is not None else None for o in plan.outputs])

    def replay(self, history: Iterable[tuple[str, bool, str]], old: SessionColumns | None) -> str:
        """After a reload: plans again the statements that left state in the
        session (``history``: SQL ``PREPARE`` and ``DECLARE``, named Parse
        messages, as (text, extended, name)) under this planner, and gives
        the relay their new plans (and forgets ``old``'s plans of names
        this one does not know). "" when done, else why one of them would
        be refused now (the caller then ends the session: fail closed)."""
        planner = self.planner
        for sql, extended, name in history:
            try:
                plan = planner.plan(sql)
            except Refusal as exc:
                return f"masked column {exc.column}: {exc.why}"
            except Exception as exc:  # fail closed, as when judging
                return f"limen could not plan it ({type(exc).__name__})"
            if extended and name:
                planner.prepared[name] = plan.outputs[0] if plan.outputs else None
        statements, portals = dict(planner.prepared), dict(planner.cursors)
        if old is not None:
            for name in old.planner.prepared:
                statements.setdefault(name, None)
            for name in old.planner.cursors:
                portals.setdefault(name, None)
        for name, out in statements.items():
            self.relay.plan_statement(name.encode(), out.relay() if out else None)
        for name, out in portals.items():
            self.relay.plan_portal(name.encode(), out.relay() if out and out.masked else None)
        return ""


def _refused(decision: Decision, column: str, why: str) -> Decision:
    shown = column if not column.startswith("?") else "derived from what limen cannot see"
    return dataclasses.replace(
        decision,
        action="deny",
        message=f"refused: masked column {shown}: {why}",
        hint="read the column itself (it comes back masked), or ask for a rule without this "
        "column mask",
    )


def _mask_rules(rules: Iterable[Rule]) -> tuple[frozenset[str], frozenset[str]]:
    """(every ``column:`` rule body, those whose rule denies predicates)."""
    every: set[str] = set()
    deny: set[str] = set()
    for rule in rules:
        for m in rule.mask:
            if m.startswith("column:"):
                body = m.removeprefix("column:").lower()
                every.add(body)
                if rule.mask_predicates == "deny":
                    deny.add(body)
    return frozenset(every), frozenset(deny)


async def _capture(
    upstream: trio.abc.Stream, relay: _native.PgServerRelay, sql: str
) -> list[list[str]]:
    """The rows of one of the gateway's own queries (never the client's)."""
    relay.capture_rows = True
    await upstream.send_all(_native.pg_query(sql.encode()))
    rows: list[list[str]] = []
    done = False
    while not done:
        for ev in await upstream_events(upstream, relay):
            match ev:
                case _native.PgDataRow(values=values):
                    rows.append([v.decode() if v is not None else "" for v in values])
                case _native.PgErrorResponse():
                    raise SessionEnd("08006", "the gateway could not read the column catalog")
                case _native.PgReadyForQuery():
                    done = True
                case _:
                    pass  # the other messages of the answer (RowDescription, ...)
    relay.capture_rows = False
    return rows


@dataclass(frozen=True)
class _Loaded:
    fingerprint: str
    relations: dict[tuple[str, str], Relation]
    path: list[str]
    columns: dict[tuple[int, int], bytes]


#: (resource, column rules) -> the catalog last read for them: reused while
#: the catalog's fingerprint is unchanged (see FINGERPRINT_SQL).
_CACHE: dict[tuple[str, frozenset[str]], _Loaded] = {}
_CACHE_MAX = 256


@dataclass(frozen=True)
class Catalog:
    """A session's column catalog, read (:func:`read`) but not yet installed."""

    loaded: _Loaded
    columns: frozenset[str]
    deny: frozenset[str]

    def install(self, relay: _native.PgServerRelay) -> SessionColumns:
        """Gives ``relay`` the masked columns; the session's planner."""
        relay.set_columns(self.loaded.columns)
        snapshot = Snapshot(self.loaded.relations, self.loaded.path, self.columns)
        return SessionColumns(ColumnPlanner(snapshot, self.deny), relay)


async def read(
    upstream: trio.abc.Stream,
    relay: _native.PgServerRelay,
    resource: str,
    rules: Iterable[Rule],
    masker: _native.Masker,
) -> Catalog | None:
    """Reads the catalog through ``relay``'s capture mode (see the module
    docs); None when no rule of the session masks a column. The catalog
    read last for the same resource and rules is reused when its
    fingerprint (every relation, column and view rule, as row versions,
    and the search path) has not changed."""
    columns, deny = _mask_rules(rules)
    if not columns:
        return None
    key = (resource, columns)
    (fingerprint,) = (await _capture(upstream, relay, FINGERPRINT_SQL))[0][1:]
    loaded = _CACHE.get(key)
    if loaded is None or loaded.fingerprint != fingerprint:
        loaded = _read(await _capture(upstream, relay, CATALOG_SQL), masker, fingerprint)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = loaded
    return Catalog(loaded, columns, deny)


async def load(
    upstream: trio.abc.Stream,
    relay: _native.PgServerRelay,
    resource: str,
    rules: Iterable[Rule],
    masker: _native.Masker,
) -> SessionColumns | None:
    """:func:`read` on the session's own connection, installed in its relay."""
    catalog = await read(upstream, relay, resource, rules, masker)
    return None if catalog is None else catalog.install(relay)


def _ancestors(
    parents: dict[tuple[str, str], list[tuple[str, str]]],
) -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
    """Every relation's ancestors (partitions of partitions, inheritance
    children of children), nearest first: a rule that names a parent masks
    the column when a partition or child is read directly."""
    out: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
    for child in parents:
        seen: list[tuple[str, str]] = []
        todo = list(parents[child])
        while todo:
            p = todo.pop(0)
            if p not in seen and p != child:
                seen.append(p)
                todo.extend(parents.get(p, ()))
        out[child] = tuple(seen)
    return out


def _read(rows: list[list[str]], masker: _native.Masker, fingerprint: str) -> _Loaded:
    columns: dict[tuple[int, int], bytes] = {}
    attrs: dict[tuple[str, str], tuple[str, list[tuple[int, str]]]] = {}
    oids: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    views: dict[tuple[str, str], str] = {}
    parents: dict[tuple[str, str], list[tuple[str, str]]] = {}
    path: list[tuple[int, str]] = []
    for what, oid, nsp, rel, kind, num, text in rows:
        if what == "a":
            attrs.setdefault((nsp, rel), (kind, []))[1].append((int(num), text))
            if kind in ("r", "p", "f", "m"):
                oids.setdefault((nsp, rel), []).append((int(oid), int(num), text))
        elif what == "v":
            views[(nsp, rel)] = text
        elif what == "i":
            pnsp, _, prel = text.partition(".")
            parents.setdefault((nsp, rel), []).append((pnsp, prel))
        elif what == "s":
            path.append((int(num), nsp))
    ancestors = _ancestors(parents)
    for key, cols in oids.items():
        names = (key, *ancestors.get(key, ()))
        for oid_, num_, col in cols:
            for nsp, rel in names:
                rep = masker.column_replacement(f"{nsp}.{rel}", col) or (
                    masker.column_replacement(rel, col)
                )
                if rep is not None:
                    columns[(oid_, num_)] = rep
                    break
    relations = {
        k: Relation(
            k[0],
            k[1],
            kind,
            tuple(n for _, n in sorted(cols)),
            views.get(k),
            ancestors.get(k, ()),
        )
        for k, (kind, cols) in attrs.items()
    }
    return _Loaded(fingerprint, relations, [s for _, s in sorted(path)], columns)
