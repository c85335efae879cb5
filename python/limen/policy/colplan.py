"""A session's output-column plans: which result columns the relay masks
whole, statement by statement (see :mod:`limen.policy.columns` for how a
column's taint is derived).

:class:`Snapshot` (:mod:`limen.policy.snapshot`) is what the database's
catalog said when the session started (every relation's columns; the
definitions of views and materialized views, each parsed once when first
used), plus the relations this session created (``CREATE
TABLE``/``VIEW``/``MATERIALIZED VIEW``, from their parse trees).
:class:`ColumnPlanner` keeps the session's cursors and
SQL-level prepared statements (their result columns, for ``FETCH`` and
``EXECUTE``) and gives, for a query or a Parse, a :class:`QueryPlan`: one
:class:`Output` per statement, or a :class:`~limen.policy.columns.Refusal`.

Fail closed: ``FETCH``/``EXECUTE`` of a name limen did not see declared,
``CALL``, and a relation the snapshot does not list mask every column; a
statement that renames or moves a relation (or column) under a column rule
is refused, since the rule names it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Final

from pglast.parser import parse_sql_json

from limen.policy.columns import Analyzer
from limen.policy.snapshot import Snapshot, name_view
from limen.policy.taint import (
    EMPTY,
    Col,
    Item,
    Refusal,
    Relation,
    Run,
    Scope,
    Taint,
    names,
    real,
    union,
    unwrap,
)

__all__ = ["ColumnPlanner", "CopyOut", "Output", "QueryPlan", "Snapshot", "marker"]

_PLAN_CACHE: Final = 512
RelayColumn = tuple[bytes | None, bytes | None]
RelayPlan = tuple[
    list[RelayColumn],
    bool,
    bytes | None,
    list[RelayColumn],
    bytes | None,
    tuple[int, int, int, int, bool] | None,
    bool,
]
_MAX_TEXT: Final = 16 * 1024


def marker(taint: Taint) -> bytes:
    """The text a masked value is replaced with."""
    rules = real(taint)
    return f"[MASKED:column:{rules[0]}]".encode() if rules else b"[MASKED:derived]"


@dataclass(frozen=True, slots=True)
class CopyOut:
    """``COPY … TO STDOUT``'s format."""

    format: str  # text, csv, binary
    delimiter: str = "\t"
    quote: str = '"'
    escape: str = '"'
    header: bool = False


@dataclass(frozen=True, slots=True)
class Output:
    """One statement's result columns."""

    items: tuple[Item, ...]
    copy: CopyOut | None = None
    scrub: bool = False
    """It reads a masked column: its error and notice messages, which
    could quote a value (``invalid input syntax for type integer: "…"``),
    are withheld."""

    @property
    def masked(self) -> bool:
        return bool(union(self.items))

    def columns(self) -> list[tuple[int | str, str, list[str]]]:
        """(position or ``*``, label, what it derives from) of each masked
        column, for the recording."""
        out: list[tuple[int | str, str, list[str]]] = []
        for pos, item in enumerate(self.items):
            if item.taint:
                where: int | str = pos + 1 if isinstance(item, Col) else "*"
                label = item.name if isinstance(item, Col) and item.name else "?column?"
                out.append((where, label, sorted(item.taint)))
        return out

    def relay(self) -> RelayPlan:
        """The plan as the native relay takes it: (prefix, has_run,
        run_marker, suffix, all_marker, copy), each column (marker or None,
        expected label or None)."""
        runs = [i for i, item in enumerate(self.items) if isinstance(item, Run)]
        whole: bytes | None = None
        if len(runs) > 1:
            whole = marker(union(self.items))
        run = runs[0] if len(runs) == 1 else len(self.items)

        def col(item: Item) -> RelayColumn:
            rep = marker(item.taint) if item.taint else None
            name = item.name.encode() if isinstance(item, Col) and item.name else None
            return rep, name

        prefix = [col(i) for i in self.items[:run]]
        suffix = [col(i) for i in self.items[run + 1 :]]
        one = len(runs) == 1
        run_rep = marker(self.items[run].taint) if one and self.items[run].taint else None
        copy = None
        if self.copy is not None:
            c = self.copy
            fmt = {"text": 0, "csv": 1}.get(c.format, 2)
            copy = (fmt, ord(c.delimiter[:1] or "\t"), ord(c.quote[:1] or '"'),
                    ord(c.escape[:1] or '"'), c.header)  # fmt: skip
        if not self.masked:  # only scrubbing: no column count to check
            return ([], True, None, [], None, copy, self.scrub)
        return (prefix, len(runs) == 1, run_rep, suffix, whole, copy, self.scrub)


@dataclass(frozen=True, slots=True)
class QueryPlan:
    outputs: tuple[Output | None, ...]
    predicates: Taint = EMPTY
    cacheable: bool = True
    """False when the plan depends on session state or views, which can
    change under the same text."""

    @property
    def planned(self) -> bool:
        """Some statement has a plan (masks or scrubs)."""
        return any(o is not None for o in self.outputs)


class ColumnPlanner:
    """One session's plans (see the module docs)."""

    def __init__(self, snapshot: Snapshot, deny_predicates: frozenset[str] = frozenset()) -> None:
        self.snapshot = snapshot
        self.deny_predicates = deny_predicates
        self.cursors: dict[str, Output | None] = {}
        self.prepared: dict[str, Output | None] = {}
        self._cache: OrderedDict[str, QueryPlan] = OrderedDict()
        self.prepared_now: list[str] = []
        """Names the last planned query prepared (SQL ``PREPARE``): the
        protocol's Bind can use them too."""
        self.declared_now: list[str] = []
        """Cursors the last planned query declared: portals the protocol's
        Execute can read too."""

    def plan(self, sql: str) -> QueryPlan:
        """The plan of a query or Parse (raises Refusal)."""
        self.prepared_now = []
        self.declared_now = []
        cached = self._cache.get(sql)
        if cached is not None:
            self._cache.move_to_end(sql)
            return cached
        tree = json.loads(parse_sql_json(sql))
        outputs: list[Output | None] = []
        predicates: set[str] = set()
        stateful = False
        self.snapshot.used_views = False
        for raw in tree.get("stmts") or []:
            kind, body = unwrap(raw.get("stmt"))
            analyzer = Analyzer(self.snapshot)
            out, state = self._statement(kind, body, analyzer)
            stateful |= state
            reads = bool(analyzer.predicates) or (out is not None and out.masked)
            outputs.append(replace(out or Output(()), scrub=True) if reads else None)
            predicates |= analyzer.predicates
        if stateful:  # relations, cursors or names changed: plans by text may be stale
            self._cache.clear()
        denied = sorted(set(real(predicates)) & self.deny_predicates)
        if denied:
            raise Refusal(denied[0], "the statement filters, joins, orders or groups by it")
        result = QueryPlan(
            tuple(outputs),
            frozenset(predicates),
            cacheable=not stateful and not self.snapshot.used_views,
        )
        if result.cacheable and len(sql) <= _MAX_TEXT:
            self._cache[sql] = result
            if len(self._cache) > _PLAN_CACHE:
                self._cache.popitem(last=False)
        return result

    def _statement(
        self, kind: str, body: dict[str, object], a: Analyzer
    ) -> tuple[Output | None, bool]:
        """(output, whether it reads or changes session state)."""
        if kind in ("SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"):
            return Output(tuple(a.query({kind: body}, None))), False
        if kind == "CopyStmt":
            return self._copy(body, a), False
        if kind == "DeclareCursorStmt":
            self.declared_now.append(str(body.get("portalname", "")))
            self.cursors[self.declared_now[-1]] = Output(tuple(a.query(body.get("query"), None)))
            return None, True
        if kind == "FetchStmt":
            if body.get("ismove"):
                return None, True
            return self._named(self.cursors, str(body.get("portalname", "")), "cursor"), True
        if kind == "PrepareStmt":
            name = str(body.get("name", ""))
            self.prepared[name] = self._inner(body.get("query"), a)
            self.prepared_now.append(name)
            return None, True
        if kind == "ExecuteStmt":
            return self._named(self.prepared, str(body.get("name", "")), "prepared statement"), True
        if kind == "ExplainStmt":
            self._inner(body.get("query"), a)
            return None, False
        if kind in ("CallStmt", "DoStmt"):
            # code limen cannot see: its rows are derived, its messages scrubbed
            a.predicates.add("?code")
            return (
                Output((Run(frozenset({"?procedure"})),)) if kind == "CallStmt" else None
            ), False
        if kind in ("CreateTableAsStmt", "ViewStmt", "CreateStmt"):
            self._create(kind, body, a)
            return None, True
        if kind in ("RenameStmt", "AlterObjectSchemaStmt"):
            self._alter(body)
            return None, True
        return None, False

    def _inner(self, node: object, a: Analyzer) -> Output | None:
        kind, body = unwrap(node)
        out, _ = self._statement(kind, body, a)
        return out

    def _named(self, known: dict[str, Output | None], name: str, what: str) -> Output | None:
        if name in known:
            return known[name]
        return Output((Run(frozenset({f"?{what} {name}"})),))

    def _copy(self, body: dict[str, object], a: Analyzer) -> Output | None:
        if body.get("is_from") or body.get("filename") or body.get("is_program"):
            return None
        opts: dict[str, object] = {}
        for o in body.get("options") or []:  # type: ignore[attr-defined]
            _, d = unwrap(o)
            kind, arg = unwrap(d.get("arg"))
            opts[str(d.get("defname"))] = (
                arg.get("sval", arg.get("boolval", True)) if kind else True
            )
        fmt = str(opts.get("format", "text")).lower()
        copy = CopyOut(
            fmt,
            delimiter=str(opts.get("delimiter", "," if fmt == "csv" else "\t")),
            quote=str(opts.get("quote", '"')),
            escape=str(opts.get("escape", opts.get("quote", '"'))),
            header=opts.get("header") not in (None, False, "false", "off", "0"),
        )
        if body.get("query"):
            items = a.query(body.get("query"), None)
        else:
            entry = a.range_var(body.get("relation") or {}, Scope([], [], {}, None))  # type: ignore[arg-type]
            wanted = names(body.get("attlist"))
            items = list(entry.items)
            if wanted:
                items = [Col(n, _or_unknown(entry.column(n), n)) for n in wanted]
        out = Output(tuple(items), copy)
        if out.masked and fmt not in ("text", "csv"):
            raise Refusal(real(union(items))[0] if real(union(items)) else "?",
                          "binary COPY cannot be masked exactly")  # fmt: skip
        return out

    def _create(self, kind: str, body: dict[str, object], a: Analyzer) -> None:
        snap = self.snapshot
        if kind == "CreateStmt":
            rel = body.get("relation") or {}
            cols = tuple(
                str(unwrap(e)[1].get("colname"))
                for e in body.get("tableElts") or []  # type: ignore[attr-defined]
                if unwrap(e)[0] == "ColumnDef"
            )
            name = str(rel.get("relname", ""))  # type: ignore[attr-defined]
            snap.created[name] = (Relation("", name, "r", cols), None)
            return
        if kind == "ViewStmt":
            rel = body.get("view") or {}
            items = a.query(body.get("query"), None)
            aliases = names(body.get("aliases"))
        else:
            into = unwrap({"IntoClause": body.get("into")})[1]
            rel = into.get("rel") or {}
            items = a.query(body.get("query"), None)
            aliases = names(into.get("colNames"))
            if body.get("objtype") != "OBJECT_MATVIEW" and real(union(items)):
                raise Refusal(
                    real(union(items))[0], "CREATE TABLE … AS would copy it into a new table"
                )
        name = str(rel.get("relname", ""))  # type: ignore[attr-defined]
        cols = tuple(aliases) or tuple(
            (i.name or f"?column{n}") if isinstance(i, Col) else "?" for n, i in enumerate(items)
        )
        made = Relation("", name, "v", cols)
        snap.created[name] = (made, name_view(made, items))

    def _alter(self, body: dict[str, object]) -> None:
        """A rename or move of a relation (or of a column) under a column
        rule is refused: the rule names it."""
        rel = body.get("relation")
        if not isinstance(rel, dict):
            return
        snap = self.snapshot
        schema = rel.get("schemaname")
        found = snap.lookup(str(schema) if schema else None, str(rel.get("relname", "")))
        masked = snap.masked_columns(found) if found is not None else []
        if found is not None and masked:
            raise Refusal(
                snap.column_rule(found, masked[0]) or "?",
                "renaming or moving a relation under a column rule is refused (the rule names it)",
            )


def _or_unknown(taint: Taint | None, column: str) -> Taint:
    return frozenset({f"?column {column}"}) if taint is None else taint
