"""Token scans of :mod:`limen.gateway.mysql.columns`: whole-row reads,
subqueries, conditions and copies of masked columns, and the views whose
definitions show one. Sound rather than clever: when unsure, a scan says
"masked" (or refuses)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Final

from limen.policy.mysql.lexer import NUMBER, OP, QIDENT, WORD, LexError, Token, tokenize

__all__ = [
    "Refused",
    "complex_query",
    "ident",
    "scan_copies",
    "scan_predicates",
    "star",
    "tainted_views",
]

_PREDICATE: Final = frozenset({"WHERE", "ON", "USING", "HAVING", "ORDER", "GROUP", "PARTITION"})
_ALIASABLE: Final = frozenset({"HAVING", "ORDER", "GROUP"})
_POSITIONAL: Final = frozenset({"ORDER", "GROUP"})
_OTHER: Final = frozenset({"SELECT", "FROM", "SET", "LIMIT", "VALUES", "INTO", "JOIN", "WINDOW"})
_QUERY_STARTS: Final = frozenset({"SELECT", "WITH", "VALUES", "TABLE"})
_SET_OPS: Final = frozenset({"UNION", "INTERSECT", "EXCEPT"})
_READS: Final = frozenset({"harmless", "read"})


class Refused(Exception):
    """A statement refused for a masked column."""


def scan_predicates(tokens: list[Token], deny: frozenset[str], wide: bool, complex_: bool) -> None:
    """``mask_predicates = "deny"``: refuses conditions on masked columns."""
    aliases = {
        tokens[i + 1].text.lower()
        for i, t in enumerate(tokens[:-1])
        if t.upper == "AS" and ident(tokens[i + 1])
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
        if ident(t) and t.text.lower() in deny:
            raise Refused(f"{t.text} is masked and used in a condition ({stack[-1]})")
        if wide and stack[-1] in _ALIASABLE:
            positional = t.kind == NUMBER and stack[-1] in _POSITIONAL
            if positional or (ident(t) and t.text.lower() in aliases):
                raise Refused("a masked column may be used in a condition by position or alias")
    if wide and complex_ and any_predicate:
        raise Refused("a masked column may reach a condition through a subquery")


def scan_copies(tokens: list[Token], classes: frozenset[str], names: Collection[str]) -> None:
    """Refuses a write that would copy a masked value (see the module docs):
    ``classes`` are the statement's (MySQL dangers aside)."""
    if classes - {"harmless", "read", "write", "unbounded-write"}:
        raise Refused("a schema change or administrative statement names a masked column")
    lead = tokens[0].upper if tokens else ""
    writes = any(t.upper in ("INSERT", "REPLACE", "UPDATE", "DELETE") for t in tokens)
    if (lead in _QUERY_STARTS or lead == "(") and not (lead == "WITH" and writes):
        return  # a query (FOR UPDATE makes it write): its INTO @var is read back masked
    source = list(tokens)
    if lead in ("INSERT", "REPLACE"):
        source = _without_insert_targets(tokens)
    elif lead == "UPDATE":
        source = _without_set_targets(tokens)
    if lead in ("UPDATE", "DELETE"):
        source = _before_where(source)
    if any(ident(t) and t.text.lower() in names for t in source) or star(source):
        raise Refused("the statement would copy a masked value into a table")


def ident(t: Token) -> bool:
    return t.kind in (WORD, QIDENT)


def star(tokens: list[Token]) -> bool:
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
            if (prev.kind == OP and prev.text == "(") or (insert and before != "INTO"):
                return True
    return False


def complex_query(tokens: list[Token]) -> bool:
    if tokens and tokens[0].upper == "WITH":
        return True
    for i, t in enumerate(tokens):
        if t.upper in _SET_OPS:
            return True
        opens = t.kind == OP and t.text == "(" and i + 1 < len(tokens)
        if opens and tokens[i + 1].upper in _QUERY_STARTS:
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
        elif (in_set and start and ident(t) and _is_target(tokens, i)) or (
            in_set and start and t.kind == OP and t.text == "."
        ):
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


def tainted_views(
    views: Mapping[tuple[str, str], str], routines: Collection[str], names: frozenset[str]
) -> frozenset[tuple[str, str]]:
    """Views whose definition names a masked column, a tainted view or a
    stored routine (to a fixpoint), lower case; unreadable ones too."""
    words: dict[tuple[str, str], set[str]] = {}
    for (schema, view), text in views.items():
        try:
            stmts = tokenize(text, server=None)
            words[(schema.lower(), view.lower())] = {
                t.text.lower() for s in stmts for t in s if ident(t)
            } | {"*" for s in stmts for t in s if t.kind == OP and t.text == "*"}
        except LexError:
            words[(schema.lower(), view.lower())] = {"*"}
        if not text.strip():  # no definition shown (no SHOW VIEW privilege)
            words[(schema.lower(), view.lower())] = {"*"}
    routines = {r.lower() for r in routines}
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
