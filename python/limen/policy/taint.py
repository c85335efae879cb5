"""The data model of :mod:`limen.policy.columns`: output columns and their
*taints* (the masked columns a value derives from), relations, the catalog
they come from, FROM-clause scopes, and the parse-tree helpers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from limen.policy import catalog as fn_catalog
from limen.policy.nodes import names, unwrap

__all__ = [
    "EMPTY",
    "Catalog",
    "Col",
    "Item",
    "Refusal",
    "Relation",
    "Run",
    "Taint",
    "names",
    "real",
    "union",
    "unwrap",
]

Taint = frozenset[str]
EMPTY: Final[Taint] = frozenset()
Node = dict[str, Any]

#: Built-ins that run SQL text or read whole relations or cursors by name.
SQL_RUNNING: Final = frozenset(
    {
        f"{what}_to_{kind}"
        for what in ("query", "cursor", "table", "schema", "database")
        for kind in ("xml", "xmlschema", "xml_and_xmlschema")
    }
    | {"ts_stat", "ts_rewrite"}
)
#: Catalog relations that hold sample values of every column.
STATISTICS: Final = frozenset(
    {"pg_statistic", "pg_stats", "pg_stats_ext", "pg_stats_ext_exprs", "pg_statistic_ext_data"}
)
MAX_DEPTH: Final = 16


@dataclass(frozen=True, slots=True)
class Col:
    """One output column: its expected label (``None``: not checked) and
    the masked columns it derives from."""

    name: str | None
    taint: Taint


@dataclass(frozen=True, slots=True)
class Run:
    """Output columns limen cannot count (a ``*`` over a set-returning
    function, say), all with the same taint."""

    taint: Taint


Item = Col | Run


@dataclass(frozen=True, slots=True)
class Relation:
    """A table, view, materialized view or foreign table."""

    schema: str
    name: str
    kind: str
    columns: tuple[str, ...]
    viewdef: str | None = None
    parents: tuple[tuple[str, str], ...] = ()
    """(schema, name) of every ancestor (partitioned parents, inheritance
    parents), nearest first: their column rules apply here too."""


class Catalog(Protocol):
    def lookup(self, schema: str | None, name: str) -> Relation | None: ...
    def column_rule(self, rel: Relation, column: str) -> str | None: ...
    def view_items(self, rel: Relation) -> tuple[Item, ...]: ...


class Refusal(Exception):
    """The statement is refused: it would unmask a masked column."""

    def __init__(self, column: str, why: str) -> None:
        super().__init__(f"{why} (masked column {column})")
        self.column = column
        self.why = why


def real(taint: Iterable[str]) -> list[str]:
    """The column rules among a taint's labels (not the unknown ones)."""
    return sorted(t for t in taint if not t.startswith("?"))


def union(items: Iterable[Item]) -> Taint:
    out: set[str] = set()
    for item in items:
        out |= item.taint
    return frozenset(out)


def opaque(fname: tuple[str, ...]) -> bool:
    """True when a function's result may carry data its arguments do not:
    anything but a built-in that only computes from its arguments."""
    name = fname[-1] if fname else ""
    schema = fname[-2] if len(fname) >= 2 else None
    if name in SQL_RUNNING or (schema is not None and schema != "pg_catalog"):
        return True
    if name in fn_catalog.HARMLESS_FUNCTIONS or name in fn_catalog.WRITE_FUNCTIONS:
        return False
    return f"pg_catalog.{name}" not in fn_catalog._generated()[0]


class Entry:
    """A FROM item as a name can see it."""

    def __init__(self, alias: str | None, items: list[Item], schema: str | None = None) -> None:
        self.alias = alias
        self.schema = schema
        self.items = items
        self.cols: dict[str, Taint] | None = None
        if all(isinstance(i, Col) for i in items):
            self.cols = {}
            for i in items:
                if isinstance(i, Col) and i.name is not None:
                    self.cols[i.name] = self.cols.get(i.name, EMPTY) | i.taint
        self.whole = union(items)

    def column(self, name: str) -> Taint | None:
        if self.cols is None:
            return self.whole  # cannot tell which column: all of them
        return self.cols.get(name)


@dataclass
class Scope:
    entries: list[Entry]
    star: list[Item]
    ctes: dict[str, list[Item]]
    parent: Scope | None

    def entry(self, alias: str, schema: str | None = None) -> Entry | None:
        scope: Scope | None = self
        while scope is not None:
            for e in scope.entries:
                if e.alias == alias and (schema is None or e.schema == schema):
                    return e
            scope = scope.parent
        return None

    def column(self, name: str) -> Taint | None:
        scope: Scope | None = self
        while scope is not None:
            for e in scope.entries:
                if e.cols is not None and name in e.cols:
                    return e.cols[name]
            unknown = [e.whole for e in scope.entries if e.cols is None]
            if unknown:
                return frozenset().union(*unknown)
            scope = scope.parent
        return None

    def cte(self, name: str) -> list[Item] | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.ctes:
                return scope.ctes[name]
            scope = scope.parent
        return None


def rename(items: list[Item], alias: object) -> list[Item]:
    if not isinstance(alias, dict):
        return items
    colnames = names(alias.get("colnames"))
    if not colnames:
        return items
    out = list(items)
    for i, n in enumerate(colnames):
        if i < len(out) and isinstance(out[i], Col):
            out[i] = Col(n, out[i].taint)
    return out


def label_of(node: object) -> str | None:
    """The output column's name where PostgreSQL takes it from a name."""
    kind, body = unwrap(node)
    if kind == "ColumnRef":
        fields = names(body.get("fields"))
        return fields[-1] if fields and len(fields) == len(body.get("fields", [])) else None
    if kind == "A_Indirection":
        last = names(body.get("indirection"))
        return last[-1] if last else None
    return None


def body_of(node: object) -> Node:
    kind, body = unwrap(node)
    return body if kind else (node if isinstance(node, dict) else {})


def positional(left: list[Item], right: list[Item]) -> list[Item]:
    if any(isinstance(i, Run) for i in left + right):
        return [Run(union(left) | union(right))]
    out: list[Item] = []
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else None
        b = right[i] if i < len(right) else None
        name = a.name if isinstance(a, Col) else None
        out.append(Col(name, (a.taint if a else EMPTY) | (b.taint if b else EMPTY)))
    return out


def merge_star(left: list[Item], right: list[Item], using: list[str]) -> list[Item]:
    """``*`` over a join: ``USING``/``NATURAL`` columns once, first."""
    if not using:
        return left + right
    if "?" in using or any(isinstance(i, Run) for i in left + right):
        return [Run(union(left) | union(right))]
    merged: list[Item] = []
    for n in using:
        t = frozenset().union(
            *(i.taint for i in left + right if isinstance(i, Col) and i.name == n)
        )
        merged.append(Col(n, t))
    rest = [i for i in left + right if not (isinstance(i, Col) and i.name in using)]
    return merged + rest
