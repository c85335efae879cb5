"""Which result columns of a statement derive from masked columns.

A ``column:TABLE.COLUMN`` mask follows the value, not the result column's
origin: :class:`Analyzer` walks a statement's parse tree (``pglast``: the
server's own grammar) with what the database's catalog says
(:class:`Catalog`: each relation's columns, the definitions of views and
materialized views) and gives, for every output column, the set of masked
columns it derives from — its *taint*. A plain reference, an alias, any
expression, cast, operator, function, aggregate or window function, a
whole-row reference (``u``, ``u.*``, ``row_to_json(u)``, ``u::text``), a
subquery, a CTE, ``LATERAL``, a view, and each position of
``UNION``/``INTERSECT``/``EXCEPT``/``VALUES`` carry the taints of everything
they read. The relay then masks a tainted column whole.

Fail closed: what limen cannot see through taints with an *unknown* label
(``?…``), masked like a column rule's: a function that is not a known
built-in (its body may read a masked column), a built-in that runs SQL text
(``query_to_xml``), a relation the catalog did not list, a statistics view
(``pg_stats`` holds sample values), a cursor or prepared statement limen
did not see declared. A ``*`` over something whose columns limen cannot
count becomes a :class:`Run` (the relay counts it from the RowDescription).

Refused (:class:`Refusal`): a statement that would copy a masked value
somewhere it is no longer masked (``INSERT … SELECT secret``, ``UPDATE …
SET other = secret``, ``CREATE TABLE … AS``, ``SELECT … INTO``, a function
with side effects given a masked value). Conditions (``WHERE``, ``JOIN``,
``ORDER BY``, ``GROUP BY``, ``HAVING``, window and ``DISTINCT ON`` clauses)
are collected in :attr:`Analyzer.predicates` for ``mask_predicates``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from limen.policy import catalog as fn_catalog

__all__ = ["Analyzer", "Catalog", "Col", "Item", "Refusal", "Relation", "Run", "Taint"]

Taint = frozenset[str]
EMPTY: Final[Taint] = frozenset()
_Node = dict[str, Any]

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


def unwrap(node: object) -> tuple[str, _Node]:
    if isinstance(node, dict) and len(node) == 1:
        ((kind, body),) = node.items()
        if isinstance(body, dict) and kind[:1].isupper():
            return kind, body
    return "", node if isinstance(node, dict) else {}


def names(items: object) -> tuple[str, ...]:
    out: list[str] = []
    for item in items if isinstance(items, list) else ():
        kind, body = unwrap(item)
        if kind == "String":
            out.append(str(body.get("sval", "")))
    return tuple(out)


def _opaque(fname: tuple[str, ...]) -> bool:
    """True when a function's result may carry data its arguments do not:
    anything but a built-in that only computes from its arguments."""
    name = fname[-1] if fname else ""
    schema = fname[-2] if len(fname) >= 2 else None
    if name in SQL_RUNNING or (schema is not None and schema != "pg_catalog"):
        return True
    if name in fn_catalog.HARMLESS_FUNCTIONS or name in fn_catalog.WRITE_FUNCTIONS:
        return False
    return f"pg_catalog.{name}" not in fn_catalog._generated()[0]


class _Entry:
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
class _Scope:
    entries: list[_Entry]
    star: list[Item]
    ctes: dict[str, list[Item]]
    parent: _Scope | None

    def entry(self, alias: str, schema: str | None = None) -> _Entry | None:
        scope: _Scope | None = self
        while scope is not None:
            for e in scope.entries:
                if e.alias == alias and (schema is None or e.schema == schema):
                    return e
            scope = scope.parent
        return None

    def column(self, name: str) -> Taint | None:
        scope: _Scope | None = self
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
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.ctes:
                return scope.ctes[name]
            scope = scope.parent
        return None


def _rename(items: list[Item], alias: object) -> list[Item]:
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


def _label(node: object) -> str | None:
    """The output column's name where PostgreSQL takes it from a name."""
    kind, body = unwrap(node)
    if kind == "ColumnRef":
        fields = names(body.get("fields"))
        return fields[-1] if fields and len(fields) == len(body.get("fields", [])) else None
    if kind == "A_Indirection":
        last = names(body.get("indirection"))
        return last[-1] if last else None
    return None


class Analyzer:
    """Taints of one statement's output columns (see the module docs)."""

    def __init__(self, catalog: Catalog, depth: int = 0) -> None:
        self.catalog = catalog
        self.depth = depth
        self.predicates: set[str] = set()

    # -- expressions ---------------------------------------------------------

    def expr(self, node: object, scope: _Scope) -> Taint:
        out: set[str] = set()
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, list):
                stack.extend(n)
                continue
            if not isinstance(n, dict):
                continue
            kind, body = unwrap(n)
            if kind == "ColumnRef":
                out |= self.column_ref(body, scope)
            elif kind == "A_Indirection":
                out |= self.indirection(body, scope)
            elif kind == "SubLink":
                out |= union(self.query(body.get("subselect"), scope))
                out |= self.expr(body.get("testexpr"), scope)
            elif kind == "FuncCall":
                out |= self.func(body, scope)
            elif kind in ("SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt"):
                out |= union(self.query(n, scope))
            else:
                stack.extend(n.values())
        return frozenset(out)

    def func(self, body: _Node, scope: _Scope) -> Taint:
        fname = names(body.get("funcname"))
        args = self.expr([body.get("args"), body.get("agg_order"), body.get("agg_filter")], scope)
        over = self.expr(body.get("over"), scope)
        self.predicates |= over | self.expr(body.get("agg_filter"), scope)
        shown = ".".join(fname)
        if real(args) and fn_catalog.function_class(fname)[0] is not None:
            col = real(args)[0]
            raise Refusal(col, f"it passes a masked value to {shown}(), which has side effects")
        taint = args | over
        if _opaque(fname):
            taint |= {f"?function {shown}"}
        return taint

    def column_ref(self, body: _Node, scope: _Scope) -> Taint:
        raw = body.get("fields") or []
        fields = names(raw)
        star = len(fields) != len(raw)
        if star and not fields:
            return union(scope.star)
        if star:
            e = self._entry(fields, scope)
            return e.whole if e is not None else frozenset({f"?relation {'.'.join(fields)}"})
        if len(fields) == 1:
            found = scope.column(fields[0])
            if found is not None:
                return found
            e = scope.entry(fields[0])
            return e.whole if e is not None else frozenset({f"?column {fields[0]}"})
        e = self._entry(fields[:-1], scope)
        if e is not None:
            col = e.column(fields[-1])
            # not a column: a function in attribute notation f(row)
            return col if col is not None else e.whole | {f"?function {fields[-1]}"}
        first = scope.column(fields[0])  # a composite column's field
        return first if first is not None else frozenset({f"?column {'.'.join(fields)}"})

    def _entry(self, qual: tuple[str, ...], scope: _Scope) -> _Entry | None:
        if not qual:
            return None
        return scope.entry(qual[-1], qual[-2] if len(qual) >= 2 else None) or (
            scope.entry(qual[-1]) if len(qual) >= 2 else None
        )

    def indirection(self, body: _Node, scope: _Scope) -> Taint:
        kind, arg = unwrap(body.get("arg"))
        ind = body.get("indirection") or []
        first = unwrap(ind[0])[0] if ind else ""
        rest = self.expr(ind, scope)
        if kind == "ColumnRef" and first == "String":
            fields = names(arg.get("fields"))
            if len(fields) == 1 and scope.column(fields[0]) is None:
                e = scope.entry(fields[0])
                if e is not None:  # (u).secret
                    col = e.column(names(ind[:1])[0])
                    return (col if col is not None else e.whole) | rest
        return self.expr(body.get("arg"), scope) | rest

    # -- queries -------------------------------------------------------------

    def query(self, node: object, parent: _Scope | None) -> list[Item]:
        """The output columns of a query (``SELECT``, or a data-modifying
        statement with ``RETURNING``)."""
        if self.depth > MAX_DEPTH:
            return [Run(frozenset({"?nesting too deep"}))]
        kind, body = unwrap(node)
        scope = _Scope([], [], {}, parent)
        if kind == "SelectStmt":
            return self.select(body, scope)
        if kind in ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"):
            return self.write(kind, body, scope)
        return [Run(self.expr(node, scope))] if node else []

    def _with(self, body: _Node, scope: _Scope) -> None:
        w = body.get("withClause")
        if not isinstance(w, dict):
            return
        for cte in w.get("ctes") or []:
            _, c = unwrap(cte)
            name = str(c.get("ctename", ""))
            query = c.get("ctequery")
            if not w.get("recursive"):
                scope.ctes[name] = self._cte_names(self.query(query, scope), c)
                continue
            qk, qb = unwrap(query)
            seed = qb.get("larg") if qk == "SelectStmt" else None
            items: list[Item] = (
                self.select(seed, _Scope([], [], {}, scope))
                if isinstance(seed, dict)
                else [Run(frozenset({f"?recursive {name}"}))]
            )
            for _ in range(8):  # to a fixed point: taints only grow
                scope.ctes[name] = self._cte_names(items, c)
                again = self.query(query, scope)
                if again == items:
                    break
                items = _positional(items, again)
            else:
                items = [Run(union(items) | {f"?recursive {name}"})]
            scope.ctes[name] = self._cte_names(items, c)

    @staticmethod
    def _cte_names(items: list[Item], cte: _Node) -> list[Item]:
        cols = names(cte.get("aliascolnames"))
        return _rename(items, {"colnames": [{"String": {"sval": n}} for n in cols]})

    def select(self, body: _Node, scope: _Scope) -> list[Item]:
        self._with(body, scope)
        for key in ("limitCount", "limitOffset"):
            self.predicates |= self.expr(body.get(key), scope)
        if body.get("op", "SETOP_NONE") != "SETOP_NONE":
            left = self.select(_body(body.get("larg")), _Scope([], [], {}, scope))
            right = self.select(_body(body.get("rarg")), _Scope([], [], {}, scope))
            self.predicates |= union(left) | union(right)  # set operations compare rows
            out = _positional(left, right)
            self._clauses(body, _Scope([], out, {}, scope), out)
            return out
        if body.get("valuesLists"):
            rows = [_body(r).get("items") or [] for r in body["valuesLists"]]
            width = max(len(r) for r in rows)
            return [
                Col(None, frozenset().union(*(self.expr(r[i], scope) for r in rows if i < len(r))))
                for i in range(width)
            ]
        for item in body.get("fromClause") or []:
            entries, star = self.from_item(item, scope)
            scope.entries.extend(entries)
            scope.star.extend(star)
        self.predicates |= self.expr(body.get("whereClause"), scope)
        out = self.targets(body.get("targetList") or [], scope)
        self._clauses(body, scope, out)
        into = body.get("intoClause")
        if into and real(union(out)):
            raise Refusal(real(union(out))[0], "SELECT … INTO would copy it into a new table")
        return out

    def _clauses(self, body: _Node, scope: _Scope, out: list[Item]) -> None:
        by_name = {i.name: i.taint for i in out if isinstance(i, Col) and i.name}
        for key in ("groupClause", "havingClause", "sortClause", "distinctClause", "windowClause"):
            for node in body.get(key) or []:
                kind, b = unwrap(node)
                if kind == "SortBy":
                    label = _label(b.get("node"))
                    const = unwrap(b.get("node"))[0] == "A_Const"
                    if const:  # ORDER BY 2
                        self.predicates |= union(out)
                        continue
                    if label in by_name and scope.column(label) is None:
                        self.predicates |= by_name[label]
                        continue
                self.predicates |= self.expr(node, scope)
        if body.get("distinctClause") == [{}]:
            self.predicates |= union(out)

    def targets(self, targets: list[object], scope: _Scope) -> list[Item]:
        out: list[Item] = []
        for t in targets:
            _, rt = unwrap(t)
            val = rt.get("val")
            kind, body = unwrap(val)
            if kind == "ColumnRef":
                raw = body.get("fields") or []
                fields = names(raw)
                if len(fields) != len(raw):  # a star
                    if not fields:
                        out.extend(scope.star)
                    else:
                        e = self._entry(fields, scope)
                        out.extend(e.items if e is not None else [Run(frozenset({"?relation"}))])
                    continue
            label = rt.get("name") or _label(val)
            out.append(Col(str(label) if label else None, self.expr(val, scope)))
        return out

    def write(self, kind: str, body: _Node, scope: _Scope) -> list[Item]:
        self._with(body, scope)
        target = self.range_var(_body(body.get("relation")), scope)
        check: dict[str, Taint] = {}
        if kind == "InsertStmt":
            values = self.query(body.get("selectStmt"), scope)
            cols = [str(unwrap(c)[1].get("name", "")) for c in body.get("cols") or []]
            if not cols:
                cols = [i.name or "" for i in target.items if isinstance(i, Col)]
            if any(isinstance(i, Run) for i in values) or len(values) > len(cols):
                check["*"] = union(values)
            for column, item in zip(cols, values, strict=False):
                check[column] = check.get(column, EMPTY) | item.taint
        else:
            for item in body.get("fromClause") or body.get("usingClause") or []:
                entries, star = self.from_item(item, scope)
                scope.entries.extend(entries)
                scope.star.extend(star)
            if kind == "MergeStmt":
                src, star = self.from_item(body.get("sourceRelation"), scope)
                scope.entries.extend(src)
                scope.star.extend(star)
            scope.entries.append(target)
            self.predicates |= self.expr(
                [body.get("whereClause"), body.get("joinCondition")], scope
            )
            for t in body.get("targetList") or []:
                _, rt = unwrap(t)
                check[str(rt.get("name", ""))] = self.expr(rt.get("val"), scope)
            check["*"] = self.expr(body.get("mergeWhenClauses"), scope)
        conflict = body.get("onConflictClause")
        if conflict:
            check["*conflict"] = self.expr(conflict, _Scope([target], [], {}, scope))
        for column, taint in check.items():
            mine = (target.column(column) or EMPTY) if column[:1] not in ("", "*") else EMPTY
            extra = [t for t in real(taint) if t not in mine]
            if extra:
                raise Refusal(extra[0], "the statement would write it where it is not masked")
        if kind == "InsertStmt":
            scope.entries.append(target)
        returning = body.get("returningClause")
        exprs = returning.get("exprs") if isinstance(returning, dict) else None
        return self.targets(exprs or body.get("returningList") or [], scope)

    # -- FROM ------------------------------------------------------------------

    def range_var(self, body: _Node, scope: _Scope) -> _Entry:
        name = str(body.get("relname", ""))
        schema = body.get("schemaname")
        alias = body.get("alias")
        aliasname = alias.get("aliasname") if isinstance(alias, dict) else None
        cte = scope.cte(name) if not schema else None
        if cte is not None:
            return _Entry(aliasname or name, _rename(cte, alias))
        rel = self.catalog.lookup(schema, name)
        if rel is None:
            items: list[Item] = [Run(frozenset({f"?relation {name}"}))]
        elif rel.name in STATISTICS and rel.schema == "pg_catalog":
            items = [Col(c, frozenset({f"?statistics {rel.name}"})) for c in rel.columns]
        elif rel.kind in ("v", "m") and rel.schema not in ("pg_catalog", "information_schema"):
            items = list(self.catalog.view_items(rel))
        else:
            items = []
            for c in rel.columns:
                rule = self.catalog.column_rule(rel, c)
                items.append(Col(c, frozenset({rule}) if rule else EMPTY))
        schema_seen = None if aliasname else (rel.schema if rel else schema)
        return _Entry(aliasname or name, _rename(items, alias), schema_seen)

    def from_item(self, node: object, scope: _Scope) -> tuple[list[_Entry], list[Item]]:
        kind, body = unwrap(node)
        alias = body.get("alias")
        aliasname = alias.get("aliasname") if isinstance(alias, dict) else None
        if kind == "RangeVar":
            e = self.range_var(body, scope)
            return [e], list(e.items)
        if kind == "RangeSubselect":
            sub = Analyzer(self.catalog, self.depth + 1)
            items = sub.query(body.get("subquery"), scope)
            self.predicates |= sub.predicates
            e = _Entry(aliasname, _rename(items, alias))
            return [e], list(e.items)
        if kind == "JoinExpr":
            left, lstar = self.from_item(body.get("larg"), scope)
            right, rstar = self.from_item(body.get("rarg"), scope)
            both = _Scope(left + right, lstar + rstar, {}, scope)
            self.predicates |= self.expr(body.get("quals"), both)
            using = list(names(body.get("usingClause")))
            if body.get("isNatural"):
                lnames = [i.name for i in lstar if isinstance(i, Col) and i.name]
                using = [
                    n for n in lnames if any(isinstance(i, Col) and i.name == n for i in rstar)
                ]
                if any(isinstance(i, Run) for i in lstar + rstar):
                    using = ["?"]
            star = _merge(lstar, rstar, using)
            self.predicates |= frozenset().union(
                *(i.taint for i in lstar + rstar if isinstance(i, Col) and i.name in using)
            )
            entries = left + right
            if aliasname:
                entries = [_Entry(aliasname, _rename(star, alias))]
            return entries, star
        if kind == "RangeTableSample":
            self.predicates |= self.expr(body.get("args"), scope)
            return self.from_item(body.get("relation"), scope)
        # functions, XMLTABLE, JSON_TABLE …: columns limen does not count
        taint = self.expr(body, scope)
        defs = [unwrap(d)[1].get("colname") for d in body.get("coldeflist") or []]
        colnames = names(alias.get("colnames")) if isinstance(alias, dict) else ()
        labels = list(colnames) or [str(d) for d in defs if d]
        made: list[Item] = [Col(n, taint) for n in labels] or [Run(taint)]
        e = _Entry(aliasname, made)
        return [e], made


def _body(node: object) -> _Node:
    kind, body = unwrap(node)
    return body if kind else (node if isinstance(node, dict) else {})


def _positional(left: list[Item], right: list[Item]) -> list[Item]:
    if any(isinstance(i, Run) for i in left + right):
        return [Run(union(left) | union(right))]
    out: list[Item] = []
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else None
        b = right[i] if i < len(right) else None
        name = a.name if isinstance(a, Col) else None
        out.append(Col(name, (a.taint if a else EMPTY) | (b.taint if b else EMPTY)))
    return out


def _merge(left: list[Item], right: list[Item], using: list[str]) -> list[Item]:
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
