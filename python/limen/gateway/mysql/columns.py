"""Column masks of one MySQL session: the catalog read at login and a
:class:`_native.MySqlColumnPlan` per statement (docs/interface.md "MySQL
column masks").

The relay masks a result column by its ``ColumnDefinition``: a
``column:`` rule's (schema, org_table, org_name) is replaced whole. What
MariaDB 10.11 reports there (checked by tests/test_mysql_columns.py):

- a base table's column, also through a table alias or a column alias:
  the table and the column (``SELECT email AS e FROM users u`` is
  ``users.email``);
- an expression (``CONCAT(email)``, ``JSON_EXTRACT``, ``COALESCE``) and
  every column of a ``UNION``: empty org_table and org_name;
- a view's column: the *view* and the view's column name;
- a derived table's or CTE's column: the *alias* and the inner name, in
  the current schema (``(SELECT email AS name FROM users) users`` would
  look like ``users.name``).

So direct references are masked by the rules, and the "derived values
stay masked" guarantee is kept by :meth:`MySqlColumns.judge`, soundly
rather than cleverly, from the statement's tokens (the classifier's lexer:
executable comments opened, strings apart):

- *hidden*: a relation the catalog does not list (created after login,
  temporary, another schema), a user variable, ``EXECUTE``, a stored or
  unknown function, text limen cannot tokenize: every column is masked;
- *wide*: a masked column's name anywhere, ``*``, ``TABLE``, or a view
  whose definition shows a masked column, a tainted view or a stored
  routine: expression columns and columns not of a base table are masked,
  and with a subquery, derived table, CTE or set operation every column is;
- a statement that is not a read and is wide outside its targets (``INSERT
  … SELECT email``, ``UPDATE … SET name = email``, DDL naming it) is
  refused: it would copy a masked value where no rule masks it;
- with ``mask_predicates = "deny"``: a masked name in ``WHERE``/``ON``/
  ``USING``/``HAVING``/``ORDER BY``/``GROUP BY``/``PARTITION BY`` (at any
  depth: a subquery inside a condition counts), or a wide statement whose
  conditions use a position, an alias or a subquery's column, is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final

from limen import _native
from limen.config import Rule
from limen.gateway.mysql.colscan import (
    Refused,
    complex_query,
    ident,
    scan_copies,
    scan_predicates,
    star,
    tainted_views,
)
from limen.policy import Decision
from limen.policy.classes import DANGERS
from limen.policy.mysql import Server
from limen.policy.mysql.lexer import VAR, LexError, tokenize

__all__ = ["DERIVED", "Catalog", "MySqlColumns", "PlanSpec", "load", "mask_rules", "read_catalog"]

DERIVED: Final = b"[MASKED:derived]"
SYSTEM_SCHEMAS: Final = ("information_schema", "mysql", "performance_schema", "sys")
CATALOG_SQL: Final = (
    "SELECT 't', TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys') "
    "UNION ALL SELECT 'c', TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys') "
    "UNION ALL SELECT 'v', TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS "
    "WHERE TABLE_SCHEMA NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys') "
    "UNION ALL SELECT 'r', ROUTINE_SCHEMA, ROUTINE_NAME, NULL FROM information_schema.ROUTINES "
    "WHERE ROUTINE_SCHEMA NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys')"
)
"""Base tables and views of every schema the upstream user sees (system
schemas aside), their columns, view definitions and stored routines."""

_READS: Final = frozenset({"harmless", "read"})
#: Words of statements whose results limen cannot relate to the text: prepared
#: or immediate text, procedures' result sets, PROCEDURE ANALYSE (min/max
#: values), HANDLER reads.
_OPAQUE: Final = frozenset(
    {"EXECUTE", "PREPARE", "IMMEDIATE", "CALL", "PROCEDURE", "ANALYSE", "HANDLER"}
)


@dataclass(frozen=True)
class Catalog:
    """What the upstream said at login (names as it spells them)."""

    base_tables: frozenset[tuple[str, str]]
    views: dict[tuple[str, str], str]
    columns: dict[tuple[str, str], tuple[str, ...]]
    routines: frozenset[str]


def mask_rules(rules: Iterable[Rule]) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """(masked column name -> the ``column:`` bodies naming it, lower case;
    the names whose rule denies predicates)."""
    names: dict[str, set[str]] = {}
    deny: set[str] = set()
    for rule in rules:
        for m in rule.mask:
            if m.startswith("column:"):
                body = m.removeprefix("column:").lower()
                column = body.rsplit(".", 1)[-1]
                names.setdefault(column, set()).add(body)
                if rule.mask_predicates == "deny":
                    deny.add(column)
    return {k: frozenset(v) for k, v in names.items()}, frozenset(deny)


@dataclass(frozen=True)
class PlanSpec:
    """The arguments of the last plan made (recorded, and read by tests)."""

    columns: list[tuple[str | None, str, str, bytes]]
    derived: bytes | None
    base_tables: list[tuple[str, str]] | None

    def masks(self, schema: str, org_table: str, org_name: str) -> bool:
        """Whether the relay masks a column of this ``ColumnDefinition``
        (contract A's rule, for tests and the docs)."""
        low = (schema.lower(), org_table.lower(), org_name.lower())
        for s, t, c, _ in self.columns:
            if (s is None or s.lower() == low[0]) and (t.lower(), c.lower()) == low[1:]:
                return True
        if self.derived is None:
            return False
        if not org_table or not org_name:
            return True
        if self.base_tables is None:
            return False
        return (low[0], low[1]) not in {(s.lower(), t.lower()) for s, t in self.base_tables}


class MySqlColumns:
    """The session's column masks; the judge's column hook
    (:class:`limen.gateway.judging.ColumnHook`)."""

    def __init__(
        self,
        catalog: Catalog,
        names: dict[str, frozenset[str]],
        deny: frozenset[str],
        masker: _native.Masker,
        database: str | None,
    ) -> None:
        self.catalog = catalog
        self.names = names
        self.deny = deny
        self.database = database
        """The session's current database (None: unknown after a USE)."""
        self.server: Server | None = None
        self.backslash_escapes = True
        self.plan: _native.MySqlColumnPlan | None = None
        """The last judged statement's plan."""
        self.masked: list[dict[str, object]] = []
        self.cacheable = True
        self.refused = False
        """The last judged statement was refused for a masked column."""
        self.spec = PlanSpec([], None, None)
        self.direct = _direct(catalog, masker)
        self.tainted = tainted_views(catalog.views, catalog.routines, frozenset(names))
        self._lower_tables = {(s.lower(), t.lower()) for s, t in catalog.base_tables}
        self._lower_views = {(s.lower(), t.lower()) for s, t in catalog.views}

    def use(self, database: str | None) -> None:
        self.database = database

    def everything(self) -> _native.MySqlColumnPlan:
        """A plan that masks every column."""
        return self._make(DERIVED, [])

    def _make(
        self, derived: bytes | None, base_tables: list[tuple[str, str]] | None
    ) -> _native.MySqlColumnPlan:
        self.spec = PlanSpec(self.direct, derived, base_tables)
        return _native.MySqlColumnPlan(self.direct, derived, base_tables)

    def judge(self, decision: Decision, sql: str, *, extended: bool, name: str) -> Decision:
        """Plans an allowed (or held) statement; a refusal is a denial."""
        del extended, name
        self.masked = []
        self.cacheable = False
        self.refused = False
        self.plan = self.everything()
        if decision.action == "deny":
            return decision
        try:
            self.plan = self._plan(decision, sql)
        except Refused as exc:
            self.refused = True
            return _refused(decision, str(exc))
        except Exception as exc:  # fail closed
            self.refused = True
            return _refused(decision, f"limen could not plan it ({type(exc).__name__})")
        return decision

    def _plan(self, decision: Decision, sql: str) -> _native.MySqlColumnPlan:
        try:
            statements = tokenize(sql, server=self.server, backslash_escapes=self.backslash_escapes)
        except LexError:
            return self.everything()
        tokens = [t for stmt in statements for t in stmt]
        classification = decision.classification
        hidden = (
            len(statements) != 1
            or classification is None
            or any(s.executes or s.functions for s in classification.statements)
            or any(t.kind == VAR and not t.text.startswith("@@") for t in tokens)
            or any(t.upper in _OPAQUE for t in tokens)
        )
        views = False
        for table in decision.tables:
            key = self._relation(table)
            if key is None:
                hidden = True
            elif key in self._lower_views:
                views = True
                if key in self.tainted:
                    hidden = True  # a masked value under another name
        mentions = [t for t in tokens if ident(t) and t.text.lower() in self.names]
        whole = star(tokens)
        complex_ = complex_query(tokens)
        # a * of a base table is masked by the rules; of a derived table it hides names
        wide = bool(mentions) or (whole and complex_)
        if self.deny:
            scan_predicates(tokens, self.deny, wide or whole, complex_)
        classes = decision.classes - DANGERS
        if (mentions or whole) and not classes <= _READS:
            scan_copies(tokens, classes, self.names)
        if hidden or (wide and (complex_ or views)):
            plan = self.everything()
        elif wide:
            plan = self._make(DERIVED, sorted(self.catalog.base_tables))
        else:
            plan = self._make(None, None)
            self.cacheable = True
        if mentions or hidden or wide:
            self.masked = [{"statement": 1, "masked": "derived" if hidden or wide else "direct"}]
        return plan

    def _relation(self, table: str) -> tuple[str, str] | None:
        """A table name of the classifier (``db.t`` or ``t``) in the catalog."""
        schema, _, name = table.rpartition(".")
        if not schema:
            if self.database is None:
                return None
            schema = self.database
        key = (schema.lower(), name.lower())
        if key in self._lower_tables or key in self._lower_views:
            return key
        return None


def _direct(catalog: Catalog, masker: _native.Masker) -> list[tuple[str | None, str, str, bytes]]:
    out: list[tuple[str | None, str, str, bytes]] = []
    for (schema, table), cols in sorted(catalog.columns.items()):
        if (schema, table) not in catalog.base_tables:
            continue
        for col in cols:
            rep = masker.column_replacement(f"{schema}.{table}", col) or (
                masker.column_replacement(table, col)
            )
            if rep is not None:
                out.append((schema, table, col, rep))
    return out


def _refused(decision: Decision, why: str) -> Decision:
    return dataclasses.replace(
        decision,
        action="deny",
        message=f"refused: {why}",
        hint="read the column itself (it comes back masked), or ask for a rule without this "
        "column mask",
    )


#: ``await query(sql)``: the rows of one text query run upstream.
Query = Callable[[bytes], Awaitable[list[list[bytes | None]]]]


async def load(
    query: Query,
    database: str | None,
    rules: Iterable[Rule],
    masker: _native.Masker | None,
) -> MySqlColumns | None:
    """Reads the catalog at login; None when no rule masks a column."""
    names, deny = mask_rules(rules)
    if not names or masker is None:
        return None
    rows = await query(CATALOG_SQL.encode())
    return MySqlColumns(read_catalog(rows), names, deny, masker, database)


def read_catalog(rows: list[list[bytes | None]]) -> Catalog:
    tables: set[tuple[str, str]] = set()
    views: dict[tuple[str, str], str] = {}
    columns: dict[tuple[str, str], list[str]] = {}
    routines: set[str] = set()
    for row in rows:
        what, schema, name, value = (v.decode("utf-8") if v is not None else "" for v in row)
        if what == "t" and value == "BASE TABLE":
            tables.add((schema, name))
        elif what == "c":
            columns.setdefault((schema, name), []).append(value)
        elif what == "v":
            views[(schema, name)] = value
        elif what == "r":
            routines.add(name)
    return Catalog(
        frozenset(tables), views, {k: tuple(v) for k, v in columns.items()}, frozenset(routines)
    )
