"""Reading pglast's JSON parse tree: names, node kinds and constants.

Constants are read through :class:`~limen.policy.sealed.Constants`, which
records every look (a classification that read one is not reused for other
literals: see :mod:`limen.policy.sealed`).
"""

from __future__ import annotations

from typing import Any, Final

from limen.policy.sealed import Constants

__all__ = [
    "FALSE_VALUES",
    "NOT_CONST",
    "ON_VALUES",
    "Node",
    "const_value",
    "is_const",
    "names",
    "strip_consts",
    "unwrap",
]

Node = dict[str, Any]

ON_VALUES: Final = frozenset({"on", "true", "yes", "1"})
"""Spellings of a true setting value."""
FALSE_VALUES: Final = frozenset({"off", "false", "no", "0"})
"""Spellings of a false setting value."""
NOT_CONST: Final = object()
"""What :func:`const_value` returns for a node that is not a constant."""


def names(items: object) -> tuple[str, ...]:
    """A list of ``String`` nodes as a tuple of names."""
    out: list[str] = []
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                value = item.get("String")
                if isinstance(value, dict):
                    out.append(str(value.get("sval", "")))
    return tuple(out)


def unwrap(node: object) -> tuple[str, Node]:
    """The kind and body of a node ``{"Kind": {...}}``; ``("", node)`` for
    anything else (``{}`` for what is not a dict)."""
    if isinstance(node, dict) and len(node) == 1:
        ((kind, body),) = node.items()
        if isinstance(body, dict) and kind[:1].isupper():
            return kind, body
    return "", node if isinstance(node, dict) else {}


def strip_consts(node: object) -> object:
    """The node with every constant's ordinal blanked (reads nothing)."""
    if isinstance(node, dict):
        if len(node) == 1 and "A_Const" in node:
            return "A_Const"
        return {k: strip_consts(v) for k, v in node.items()}
    if isinstance(node, list):
        return [strip_consts(v) for v in node]
    return node


def const_value(node: object, consts: Constants) -> object:
    """The value of a literal constant, or a sentinel when not one. Reading
    it is recorded (see :mod:`limen.policy.sealed`)."""
    body = consts.value(node)
    if body is not None:
        if body.get("isnull"):
            return None
        for key in ("ival", "fval", "sval", "boolval"):
            inner = body.get(key)
            if isinstance(inner, dict):
                value = next(iter(inner.values()), 0 if key == "ival" else False)
                if key == "sval" and not inner:
                    return ""
                return value
        if "ival" in body:
            return 0
        return NOT_CONST
    kind, body = unwrap(node)
    if kind == "TypeCast":
        value = const_value(body.get("arg"), consts)
        typename = names(body.get("typeName", {}).get("names"))
        if typename and typename[-1] == "bool" and isinstance(value, str):
            low = value.strip().lower()
            if low in ON_VALUES or low in ("t", "y"):
                return True
            if low in FALSE_VALUES or low in ("f", "n"):
                return False
        return value
    return NOT_CONST


def is_const(node: object) -> bool:
    """Whether :func:`const_value` would find a constant (without reading it)."""
    kind, body = unwrap(node)
    if kind == "TypeCast":
        return is_const(body.get("arg"))
    return Constants.ordinal(node) is not None
