"""Whether an UPDATE, DELETE or MERGE restricts the rows it changes (the
``unbounded-write`` heuristic): conditions that are false for certain, and
conditions that name no column of the target."""

from __future__ import annotations

from typing import Final

from limen.policy.nodes import NOT_CONST, const_value, is_const, names, strip_consts, unwrap
from limen.policy.sealed import Constants

__all__ = ["Target", "is_false"]

_COMPARE: Final = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def is_false(node: object, consts: Constants) -> bool:
    """True only for a condition that is false for certain (``false``,
    ``1 = 0``, ``NOT true``)."""
    kind, body = unwrap(node)
    value = const_value(node, consts)
    if value is not NOT_CONST:
        return value is False or value is None
    if kind == "BoolExpr":
        args = body.get("args", [])
        op = body.get("boolop")
        if op == "NOT_EXPR" and args:
            return const_value(args[0], consts) is True
        if op == "AND_EXPR":
            return any(is_false(a, consts) for a in args)
        if op == "OR_EXPR":
            return all(is_false(a, consts) for a in args)
    if kind == "A_Expr" and body.get("kind") == "AEXPR_OP":
        op = names(body.get("name"))
        lexpr, rexpr = body.get("lexpr"), body.get("rexpr")
        if len(op) != 1 or op[0] not in _COMPARE or not (is_const(lexpr) and is_const(rexpr)):
            return False
        left, right = const_value(lexpr, consts), const_value(rexpr, consts)
        if NOT_CONST not in (left, right):
            if left is None or right is None:
                return True
            try:
                return not _COMPARE[op[0]](left, right)
            except TypeError:
                return False
    return False


class Target:
    """The relation an UPDATE/DELETE/MERGE changes, and the names that refer to it."""

    def __init__(self, relation: object, consts: Constants) -> None:
        self.consts = consts
        rel = relation if isinstance(relation, dict) else {}
        alias = rel.get("alias", {})
        alias_name = alias.get("aliasname") if isinstance(alias, dict) else None
        self.names = {alias_name} if alias_name else {rel.get("relname", "")}

    def referenced(self, expr: object) -> bool:
        """Whether ``expr`` mentions a column of the target: unqualified outside
        sub-queries, or qualified with the target's name or alias anywhere."""
        stack: list[tuple[object, bool]] = [(expr, False)]
        while stack:
            node, inside = stack.pop()
            if isinstance(node, list):
                stack.extend((v, inside) for v in node)
                continue
            if not isinstance(node, dict):
                continue
            kind, body = unwrap(node)
            if kind == "ColumnRef":
                fields = body.get("fields", [])
                column = names(fields)
                if len(fields) == 1 and column and not inside:
                    return True
                if len(fields) >= 2:
                    qualifier = names(fields[-2:-1])
                    if qualifier and qualifier[0] in self.names:
                        return True
                continue
            if kind == "SubLink":
                stack.append((body.get("testexpr"), inside))
                stack.append((body.get("subselect"), True))
                continue
            sub = inside or kind == "SelectStmt"
            stack.extend((v, sub) for v in (body if kind else node).values())
        return False

    def unbounded(self, where: object) -> bool:
        """Whether a WHERE (or join) condition fails to restrict the target's rows."""
        if where is None:
            return True
        kind, body = unwrap(where)
        if kind == "CurrentOfExpr":
            return False
        if is_false(where, self.consts):
            return False
        if is_const(where):
            return True
        if kind == "BoolExpr":
            args = body.get("args", [])
            op = body.get("boolop")
            if op == "AND_EXPR":
                return all(self.unbounded(a) for a in args)
            if op == "OR_EXPR":
                return any(self.unbounded(a) for a in args)
        if kind == "A_Expr" and body.get("kind") in ("AEXPR_OP", "AEXPR_NOT_DISTINCT"):
            op = names(body.get("name"))
            if op in (("=",), (">=",), ("<=",)) or body.get("kind") == "AEXPR_NOT_DISTINCT":
                left, right = body.get("lexpr"), body.get("rexpr")
                # `f(1) = f(1)` vs `f(1) = f(2)`: comparing opens the constants
                if (
                    left is not None
                    and strip_consts(left) == strip_consts(right)
                    and self.consts.equal(left, right)
                ):
                    return True
        return not self.referenced(where)
