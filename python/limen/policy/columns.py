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

from limen.policy import catalog as fn_catalog
from limen.policy.taint import (
    EMPTY,
    MAX_DEPTH,
    STATISTICS,
    Catalog,
    Col,
    Entry,
    Item,
    Node,
    Refusal,
    Run,
    Scope,
    Taint,
    body_of,
    label_of,
    merge_star,
    names,
    opaque,
    positional,
    real,
    rename,
    union,
    unwrap,
)

__all__ = ["Analyzer"]


class Analyzer:
    """Taints of one statement's output columns (see the module docs)."""

    def __init__(self, catalog: Catalog, depth: int = 0) -> None:
        self.catalog = catalog
        self.depth = depth
        self.predicates: set[str] = set()

    # -- expressions ---------------------------------------------------------

    def expr(self, node: object, scope: Scope) -> Taint:
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

    def func(self, body: Node, scope: Scope) -> Taint:
        fname = names(body.get("funcname"))
        args = self.expr([body.get("args"), body.get("agg_order"), body.get("agg_filter")], scope)
        over = self.expr(body.get("over"), scope)
        self.predicates |= over | self.expr(body.get("agg_filter"), scope)
        shown = ".".join(fname)
        if real(args) and fn_catalog.function_class(fname)[0] is not None:
            col = real(args)[0]
            raise Refusal(col, f"it passes a masked value to {shown}(), which has side effects")
        taint = args | over
        if opaque(fname):
            taint |= {f"?function {shown}"}
        return taint

    def column_ref(self, body: Node, scope: Scope) -> Taint:
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

    def _entry(self, qual: tuple[str, ...], scope: Scope) -> Entry | None:
        if not qual:
            return None
        return scope.entry(qual[-1], qual[-2] if len(qual) >= 2 else None) or (
            scope.entry(qual[-1]) if len(qual) >= 2 else None
        )

    def indirection(self, body: Node, scope: Scope) -> Taint:
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

    def query(self, node: object, parent: Scope | None) -> list[Item]:
        """The output columns of a query (``SELECT``, or a data-modifying
        statement with ``RETURNING``)."""
        if self.depth > MAX_DEPTH:
            return [Run(frozenset({"?nesting too deep"}))]
        kind, body = unwrap(node)
        scope = Scope([], [], {}, parent)
        if kind == "SelectStmt":
            return self.select(body, scope)
        if kind in ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"):
            return self.write(kind, body, scope)
        return [Run(self.expr(node, scope))] if node else []

    def _with(self, body: Node, scope: Scope) -> None:
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
                self.select(seed, Scope([], [], {}, scope))
                if isinstance(seed, dict)
                else [Run(frozenset({f"?recursive {name}"}))]
            )
            for _ in range(8):  # to a fixed point: taints only grow
                scope.ctes[name] = self._cte_names(items, c)
                again = self.query(query, scope)
                if again == items:
                    break
                items = positional(items, again)
            else:
                items = [Run(union(items) | {f"?recursive {name}"})]
            scope.ctes[name] = self._cte_names(items, c)

    @staticmethod
    def _cte_names(items: list[Item], cte: Node) -> list[Item]:
        cols = names(cte.get("aliascolnames"))
        return rename(items, {"colnames": [{"String": {"sval": n}} for n in cols]})

    def select(self, body: Node, scope: Scope) -> list[Item]:
        self._with(body, scope)
        for key in ("limitCount", "limitOffset"):
            self.predicates |= self.expr(body.get(key), scope)
        if body.get("op", "SETOP_NONE") != "SETOP_NONE":
            left = self.select(body_of(body.get("larg")), Scope([], [], {}, scope))
            right = self.select(body_of(body.get("rarg")), Scope([], [], {}, scope))
            self.predicates |= union(left) | union(right)  # set operations compare rows
            out = positional(left, right)
            self._clauses(body, Scope([], out, {}, scope), out)
            return out
        if body.get("valuesLists"):
            rows = [body_of(r).get("items") or [] for r in body["valuesLists"]]
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

    def _clauses(self, body: Node, scope: Scope, out: list[Item]) -> None:
        by_name = {i.name: i.taint for i in out if isinstance(i, Col) and i.name}
        for key in ("groupClause", "havingClause", "sortClause", "distinctClause", "windowClause"):
            for node in body.get(key) or []:
                kind, b = unwrap(node)
                if kind == "SortBy":
                    label = label_of(b.get("node"))
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

    def targets(self, targets: list[object], scope: Scope) -> list[Item]:
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
            label = rt.get("name") or label_of(val)
            out.append(Col(str(label) if label else None, self.expr(val, scope)))
        return out

    def write(self, kind: str, body: Node, scope: Scope) -> list[Item]:
        self._with(body, scope)
        target = self.range_var(body_of(body.get("relation")), scope)
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
            check["*conflict"] = self.expr(conflict, Scope([target], [], {}, scope))
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

    def range_var(self, body: Node, scope: Scope) -> Entry:
        name = str(body.get("relname", ""))
        schema = body.get("schemaname")
        alias = body.get("alias")
        aliasname = alias.get("aliasname") if isinstance(alias, dict) else None
        cte = scope.cte(name) if not schema else None
        if cte is not None:
            return Entry(aliasname or name, rename(cte, alias))
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
        return Entry(aliasname or name, rename(items, alias), schema_seen)

    def from_item(self, node: object, scope: Scope) -> tuple[list[Entry], list[Item]]:
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
            e = Entry(aliasname, rename(items, alias))
            return [e], list(e.items)
        if kind == "JoinExpr":
            left, lstar = self.from_item(body.get("larg"), scope)
            right, rstar = self.from_item(body.get("rarg"), scope)
            both = Scope(left + right, lstar + rstar, {}, scope)
            self.predicates |= self.expr(body.get("quals"), both)
            using = list(names(body.get("usingClause")))
            if body.get("isNatural"):
                lnames = [i.name for i in lstar if isinstance(i, Col) and i.name]
                using = [
                    n for n in lnames if any(isinstance(i, Col) and i.name == n for i in rstar)
                ]
                if any(isinstance(i, Run) for i in lstar + rstar):
                    using = ["?"]
            star = merge_star(lstar, rstar, using)
            self.predicates |= frozenset().union(
                *(i.taint for i in lstar + rstar if isinstance(i, Col) and i.name in using)
            )
            entries = left + right
            if aliasname:
                entries = [Entry(aliasname, rename(star, alias))]
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
        e = Entry(aliasname, made)
        return [e], made
