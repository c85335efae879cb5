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
from limen.policy import Decision
from limen.policy.mysql import Server
from limen.policy.mysql.lexer import NUMBER, OP, QIDENT, VAR, WORD, LexError, Token, tokenize

__all__ = ["DERIVED", "MySqlColumns", "Catalog", "load", "mask_rules"]

DERIVED: Final = b"[MASKED:derived]"
SYSTEM_SCHEMAS: Final = ("information_schema", "mysql", "performance_schema", "sys")
_NOT_SYSTEM = ", ".join(f"'{s}'" for s in SYSTEM_SCHEMAS)
CATALOG_SQL: Final = (
    "SELECT 't', TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
    f"WHERE TABLE_SCHEMA NOT IN ({_NOT_SYSTEM}) "
    "UNION ALL SELECT 'c', TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS "
    f"WHERE TABLE_SCHEMA NOT IN ({_NOT_SYSTEM}) "
    "UNION ALL SELECT 'v', TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS "
    f"WHERE TABLE_SCHEMA NOT IN ({_NOT_SYSTEM}) "
    "UNION ALL SELECT 'r', ROUTINE_SCHEMA, ROUTINE_NAME, NULL FROM information_schema.ROUTINES "
    f"WHERE ROUTINE_SCHEMA NOT IN ({_NOT_SYSTEM})"
)
"""Base tables and views of every schema the upstream user sees (system
schemas aside), their columns, view definitions and stored routines."""

_PREDICATE: Final = frozenset({"WHERE", "ON", "USING", "HAVING", "ORDER", "GROUP", "PARTITION"})
_ALIASABLE: Final = frozenset({"HAVING", "ORDER", "GROUP"})
_POSITIONAL: Final = frozenset({"ORDER", "GROUP"})
_OTHER: Final = frozenset({"SELECT", "FROM", "SET", "LIMIT", "VALUES", "INTO", "JOIN", "WINDOW"})
_QUERY_STARTS: Final = frozenset({"SELECT", "WITH", "VALUES", "TABLE"})
_SET_OPS: Final = frozenset({"UNION", "INTERSECT", "EXCEPT"})
_READS: Final = frozenset({"harmless", "read"})


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


class Refused(Exception):
    """A statement refused for a masked column."""


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
        self.direct = _direct(catalog, masker)
        self.tainted = _tainted_views(catalog, frozenset(names))
        self._lower_tables = {(s.lower(), t.lower()) for s, t in catalog.base_tables}
        self._lower_views = {(s.lower(), t.lower()) for s, t in catalog.views}

    def use(self, database: str | None) -> None:
        self.database = database

    def everything(self) -> _native.MySqlColumnPlan:
        """A plan that masks every column."""
        return _native.MySqlColumnPlan(self.direct, DERIVED, [])

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
            statements = tokenize(
                sql, server=self.server, backslash_escapes=self.backslash_escapes
            )
        except LexError:
            return self.everything()
        tokens = [t for stmt in statements for t in stmt]
        classification = decision.classification
        hidden = (
            len(statements) != 1
            or classification is None
            or any(s.executes or s.functions for s in classification.statements)
            or any(t.kind == VAR and not t.text.startswith("@@") for t in tokens)
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
        mentions = [t for t in tokens if _ident(t) and t.text.lower() in self.names]
        wide = bool(mentions) or _star(tokens)
        complex_ = _complex(tokens)
        if self.deny:
            self._predicates(tokens, wide, complex_)
        if wide and not decision.classes <= _READS:
            self._copies(tokens, decision)
        if hidden or (wide and (complex_ or views)):
            plan = self.everything()
        elif wide:
            plan = _native.MySqlColumnPlan(
                self.direct, DERIVED, sorted(self.catalog.base_tables)
            )
        else:
            plan = _native.MySqlColumnPlan(self.direct)
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

    def _predicates(self, tokens: list[Token], wide: bool, complex_: bool) -> None:
        """``mask_predicates = "deny"``: refuses conditions on masked columns."""
        aliases = {
            tokens[i + 1].text.lower()
            for i, t in enumerate(tokens[:-1])
            if t.upper == "AS" and _ident(tokens[i + 1])
        }
        stack: list[str] = [""]
        any_predicate = False
        for t in tokens:
            if t.kind == OP and t.text == "(":
                stack.append(stack[-1] if stack[-1] in _PREDICATE else "")
                continue
            if t.kind == OP and t.text == ")":
                if len(stack) > 1:
                    stack.pop()
                continue
            region = t.upper
            if region in _PREDICATE or region in _OTHER:
                # a subquery inside a condition stays a condition
                inside = len(stack) > 1 and stack[-2] in _PREDICATE
                stack[-1] = region if region in _PREDICATE or not inside else stack[-2]
                any_predicate = any_predicate or region in _PREDICATE
                continue
            if stack[-1] not in _PREDICATE:
                continue
            if _ident(t) and t.text.lower() in self.deny:
                raise Refused(f"{t.text} is masked and used in a condition ({stack[-1]})")
            if wide and stack[-1] in _ALIASABLE:
                positional = t.kind == NUMBER and stack[-1] in _POSITIONAL
                if positional or (_ident(t) and t.text.lower() in aliases):
                    raise Refused("a masked column may be used in a condition by position or alias")
        if wide and complex_ and any_predicate:
            raise Refused("a masked column may reach a condition through a subquery")

    def _copies(self, tokens: list[Token], decision: Decision) -> None:
        """Refuses a write that would copy a masked value (see the module docs)."""
        if decision.classes - {"harmless", "read", "write", "unbounded-write"}:
            raise Refused("a schema change or administrative statement names a masked column")
        lead = tokens[0].upper if tokens else ""
        source = list(tokens)
        if lead in ("INSERT", "REPLACE"):
            source = _without_insert_targets(tokens)
        elif lead == "UPDATE":
            source = _without_set_targets(tokens)
        if lead in ("UPDATE", "DELETE"):
            source = _before_where(source)
        if any(_ident(t) and t.text.lower() in self.names for t in source) or _star(source):
            raise Refused("the statement would copy a masked value into a table")


def _ident(t: Token) -> bool:
    return t.kind in (WORD, QIDENT)


def _star(tokens: list[Token]) -> bool:
    """Whether the statement reads whole rows: a ``*`` column (not
    ``COUNT(*)``, not a product) or a ``TABLE t`` query."""
    insert = bool(tokens) and tokens[0].upper in ("INSERT", "REPLACE")
    for i, t in enumerate(tokens):
        prev = tokens[i - 1] if i > 0 else None
        before = prev.upper if prev is not None else ""
        if t.kind == OP and t.text == "*":
            if prev is None or before in ("SELECT", "DISTINCT", "ALL", "DISTINCTROW"):
                return True
            if prev.kind == OP and prev.text in (",", "."):
                return True
        elif t.upper == "TABLE":
            if prev is None or before in _SET_OPS or before in ("ALL", "DISTINCT"):
                return True
            if prev.kind == OP and prev.text == "(" or (insert and before != "INTO"):
                return True
    return False


def _complex(tokens: list[Token]) -> bool:
    if tokens and tokens[0].upper == "WITH":
        return True
    for i, t in enumerate(tokens):
        if t.upper in _SET_OPS:
            return True
        if t.kind == OP and t.text == "(" and i + 1 < len(tokens):
            if tokens[i + 1].upper in _QUERY_STARTS:
                return True
    return False


def _without_insert_targets(tokens: list[Token]) -> list[Token]:
    """INSERT's tokens without its column list (the first parenthesis
    after the table name, when it holds no query)."""
    for i, t in enumerate(tokens):
        if t.kind == OP and t.text == "(":
            if i + 1 < len(tokens) and tokens[i + 1].upper in _QUERY_STARTS:
                return tokens
            depth = 0
            for j in range(i, len(tokens)):
                if tokens[j].kind == OP and tokens[j].text in "()":
                    depth += 1 if tokens[j].text == "(" else -1
                    if depth == 0:
                        return tokens[:i] + tokens[j + 1 :]
            return tokens
        if t.upper in ("VALUES", "VALUE", "SELECT", "SET", "TABLE", "WITH"):
            return tokens
    return tokens


def _without_set_targets(tokens: list[Token]) -> list[Token]:
    """UPDATE's tokens without the columns it assigns (``col =`` at the top
    level of SET, possibly qualified)."""
    out: list[Token] = []
    depth = 0
    in_set = False
    start = True
    for i, t in enumerate(tokens):
        if t.kind == OP and t.text in "()":
            depth += 1 if t.text == "(" else -1
        if depth == 0 and t.upper == "SET":
            in_set, start = True, True
            out.append(t)
            continue
        if depth == 0 and t.upper in ("WHERE", "ORDER", "LIMIT"):
            in_set = False
        if in_set and depth == 0 and t.kind == OP and t.text == ",":
            start = True
        elif in_set and start and _ident(t) and _is_target(tokens, i):
            continue
        elif in_set and start and t.kind == OP and t.text == ".":
            continue
        elif in_set and depth == 0 and t.kind == OP and t.text == "=":
            start = False
        out.append(t)
    return out


def _is_target(tokens: list[Token], i: int) -> bool:
    """Whether tokens[i] is part of ``a.b.c =``."""
    j = i + 1
    while j + 1 < len(tokens) and tokens[j].kind == OP and tokens[j].text == ".":
        j += 2
    return j < len(tokens) and tokens[j].kind == OP and tokens[j].text == "="


def _before_where(tokens: list[Token]) -> list[Token]:
    depth = 0
    for i, t in enumerate(tokens):
        if t.kind == OP and t.text in "()":
            depth += 1 if t.text == "(" else -1
        if depth == 0 and t.upper == "WHERE":
            return tokens[:i]
    return tokens


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


def _tainted_views(catalog: Catalog, names: frozenset[str]) -> frozenset[tuple[str, str]]:
    """Views whose definition names a masked column, a tainted view or a
    stored routine (to a fixpoint), lower case; unreadable ones too."""
    words: dict[tuple[str, str], set[str]] = {}
    for (schema, view), text in catalog.views.items():
        try:
            stmts = tokenize(text, server=None)
            words[(schema.lower(), view.lower())] = {
                t.text.lower() for s in stmts for t in s if _ident(t)
            } | {"*" for s in stmts for t in s if t.kind == OP and t.text == "*"}
        except LexError:
            words[(schema.lower(), view.lower())] = {"*"}
        if not text.strip():  # no definition shown (no SHOW VIEW privilege)
            words[(schema.lower(), view.lower())] = {"*"}
    routines = {r.lower() for r in catalog.routines}
    tainted: set[tuple[str, str]] = set()
    changed = True
    while changed:
        changed = False
        bad = names | routines | {v for _, v in tainted} | {"*"}
        for key, seen in words.items():
            if key not in tainted and seen & bad:
                tainted.add(key)
                changed = True
    return frozenset(tainted)


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
