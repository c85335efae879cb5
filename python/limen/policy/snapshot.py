"""What the database's catalog said when a session started, and what the
session created since: :class:`Snapshot` (used by
:class:`~limen.policy.colplan.ColumnPlanner`; see :mod:`limen.policy.colplan`).

Every relation's columns and the definitions of views and materialized
views (each parsed once when first used, fail closed: a definition limen
cannot read masks every column), plus the relations this session created
(``CREATE TABLE``/``VIEW``/``MATERIALIZED VIEW``, from their parse trees).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pglast.parser import parse_sql_json

from limen.policy.columns import Analyzer
from limen.policy.taint import Col, Item, Relation, Run, union

__all__ = ["Snapshot", "name_view"]


@dataclass
class Snapshot:
    """The catalog as the session saw it (see the module docs)."""

    relations: dict[tuple[str, str], Relation]
    search_path: list[str]
    rules: frozenset[str]
    """``column:`` rule bodies, lower case: ``col``, ``table.col``, ``schema.table.col``."""
    created: dict[str, tuple[Relation, tuple[Item, ...] | None]] = field(default_factory=dict)
    views: dict[tuple[str, str], tuple[Item, ...]] = field(default_factory=dict)
    used_views: bool = False
    _resolving: set[tuple[str, str]] = field(default_factory=set)

    def lookup(self, schema: str | None, name: str) -> Relation | None:
        if schema is None and name in self.created:
            return self.created[name][0]
        if schema is not None:
            return self.relations.get((schema, name))
        for s in ["pg_catalog", *self.search_path]:
            rel = self.relations.get((s, name))
            if rel is not None:
                return rel
        return None

    def column_rule(self, rel: Relation, column: str) -> str | None:
        """The rule masking ``column`` of ``rel``: by the relation's own
        name, or an ancestor's (a partition or inheritance child read
        directly), or by the bare column name."""
        c = column.lower()
        for schema, name in ((rel.schema, rel.name), *rel.parents):
            for rule in (f"{schema}.{name}.{c}".lower(), f"{name}.{c}".lower()):
                if rule in self.rules:
                    return rule
        return c if c in self.rules else None

    def masked_columns(self, rel: Relation) -> list[str]:
        return [c for c in rel.columns if self.column_rule(rel, c)]

    def view_items(self, rel: Relation) -> tuple[Item, ...]:
        self.used_views = True
        key = (rel.schema, rel.name)
        made = self.created.get(rel.name)
        if made is not None and made[0] is rel and made[1] is not None:
            return made[1]
        if key in self.views:
            return self.views[key]
        if key in self._resolving or rel.viewdef is None:
            return tuple(Col(c, frozenset({f"?view {rel.name}"})) for c in rel.columns)
        self._resolving.add(key)
        try:
            tree = json.loads(parse_sql_json(rel.viewdef))
            items = Analyzer(self, 1).query(tree["stmts"][0]["stmt"], None)
        except Exception:  # fail closed: a definition limen cannot read
            items = [Run(frozenset({f"?view {rel.name}"}))]
        finally:
            self._resolving.discard(key)
        out = name_view(rel, items)
        self.views[key] = out
        return out


def name_view(rel: Relation, items: list[Item] | tuple[Item, ...]) -> tuple[Item, ...]:
    """A view's items under its own column names; when they do not line up
    one to one, every column carries the taint of all of them."""
    if len(items) == len(rel.columns) and all(isinstance(i, Col) for i in items):
        return tuple(Col(c, i.taint) for c, i in zip(rel.columns, items, strict=True))
    every = union(items)
    return tuple(Col(c, every) for c in rel.columns)
