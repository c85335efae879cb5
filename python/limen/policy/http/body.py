"""JSON body conditions of HTTP routes: ``$.action == "delete"``.

A route (:mod:`limen.policy.http.routes`) may name conditions on the JSON
request body; it matches only when they all hold. A condition is a path
and, optionally, a comparison:

- ``$.action == "delete"``, ``$.spec.replicas != 0``: the value at the
  path equals (is not equal to) a JSON literal;
- ``$.action in ["delete", "purge"]``: the value is one of a JSON array's;
- ``$.force``: the path is present (whatever its value).

A path is ``$`` then ``.name`` steps (a member of an object; a name is
letters, digits, ``_`` and ``-``), ``["any name"]`` steps (a JSON string)
and ``[N]`` steps (an array element). Comparison is strict JSON equality:
the same type and value (``1`` is not ``true``, ``"1"`` is not ``1``;
``1`` and ``1.0`` are equal numbers); strings are compared exactly (case
matters). A path that is absent (a missing member, an index past the end,
a step into a scalar) makes ``==``, ``in`` and presence false and ``!=``
true.

:func:`parse_body` reads a body for the conditions. Fail closed: a body that
is not one JSON document (empty, not UTF-8, trailing bytes, ``NaN``), or
that has the same member twice in an object (the upstream might read the
other one), or nests deeper than :data:`MAX_DEPTH`, is a
:class:`BodyError`: the gateway refuses the request rather than guess.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "MAX_DEPTH",
    "BodyCondition",
    "BodyError",
    "ConditionError",
    "parse_body",
    "parse_condition",
]

MAX_DEPTH: Final = 128

_NAME_STEP: Final = re.compile(r"\.([A-Za-z0-9_-]+)")
_INDEX_STEP: Final = re.compile(r"\[(0|[1-9][0-9]{0,8})\]")
_QUOTED_STEP: Final = re.compile(r'\[("(?:[^"\\]|\\.)*")\]')
_OPS: Final = re.compile(r"\s*(==|!=|in\b)\s*")

Op = Literal["==", "!=", "in", "exists"]


class ConditionError(ValueError):
    """A body condition that does not parse."""


class BodyError(ValueError):
    """A request body the conditions cannot read (see the module docs)."""


_ABSENT: Final = object()


@dataclass(frozen=True)
class BodyCondition:
    """One condition: ``text`` as written, its path steps, op and operand."""

    text: str
    steps: tuple[str | int, ...]
    op: Op
    values: tuple[object, ...] = ()

    def holds(self, doc: object) -> bool:
        value = _lookup(doc, self.steps)
        if value is _ABSENT:
            return self.op == "!="
        if self.op == "exists":
            return True
        found = any(_same(value, v) for v in self.values)
        return not found if self.op == "!=" else found


def _lookup(doc: object, steps: Sequence[str | int]) -> object:
    here = doc
    for step in steps:
        if isinstance(step, int):
            if not isinstance(here, list) or step >= len(here):
                return _ABSENT
            here = here[step]
        else:
            if not isinstance(here, dict) or step not in here:
                return _ABSENT
            here = here[step]
    return here


def _same(a: object, b: object) -> bool:
    """Strict JSON equality (a bool is not a number)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def parse_condition(text: str) -> BodyCondition:
    """A condition from its config text (:class:`ConditionError`)."""
    src = text.strip()
    if not src.startswith("$"):
        raise ConditionError(f"a body condition starts with a path ($.name): {text!r}")
    steps: list[str | int] = []
    at = 1
    while at < len(src) and src[at] in ".[":
        if m := _NAME_STEP.match(src, at):
            steps.append(m.group(1))
        elif m := _INDEX_STEP.match(src, at):
            steps.append(int(m.group(1)))
        elif m := _QUOTED_STEP.match(src, at):
            steps.append(str(json.loads(m.group(1))))
        else:
            raise ConditionError(
                f'cannot read the path at {src[at:]!r}: steps are .name, ["name"], [N]'
            )
        at = m.end()
    if not steps:
        raise ConditionError(f"a body condition names a field: $.name, not $ alone: {text!r}")
    rest = src[at:]
    if not rest.strip():
        return BodyCondition(src, tuple(steps), "exists")
    m = _OPS.match(rest)
    if m is None:
        raise ConditionError(f"expected ==, != or in after the path in {text!r}")
    op: Op = "in" if m.group(1) == "in" else ("==" if m.group(1) == "==" else "!=")
    literal = rest[m.end() :]
    try:
        value = _strict_loads(literal.encode())
    except BodyError as exc:
        raise ConditionError(f"the operand of {text!r} is not a JSON value: {exc}") from None
    if op == "in":
        if not isinstance(value, list) or not value:
            raise ConditionError(f"`in` takes a non-empty JSON array: {text!r}")
        return BodyCondition(src, tuple(steps), op, tuple(value))
    return BodyCondition(src, tuple(steps), op, (value,))


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise BodyError(f"the member {key[:64]!r} is in one object twice")
        out[key] = value
    return out


def _no_constant(name: str) -> object:
    raise BodyError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BodyError(f"the number {text[:32]} is out of range")
    return value


def _depth_ok(data: bytes) -> bool:
    """Whether brackets (outside strings) nest at most MAX_DEPTH deep."""
    depth = 0
    for m in re.finditer(rb'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]', data, re.DOTALL):
        tok = m.group(0)
        if tok in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif tok in (b"]", b"}"):
            depth -= 1
    return True


def _strict_loads(data: bytes) -> object:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("it is not UTF-8") from None
    if not text.strip():
        raise BodyError("it is empty")
    if not _depth_ok(data):
        raise BodyError(f"it nests deeper than {MAX_DEPTH}")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite,
        )
    except BodyError:
        raise
    except json.JSONDecodeError as exc:
        raise BodyError(f"it is not JSON ({exc.msg} at byte {exc.pos})") from None
    except ValueError as exc:  # an integer too long to convert
        raise BodyError(f"it holds a value limen cannot read: {str(exc)[:80]}") from None
    except RecursionError:
        raise BodyError("it nests too deep") from None
    return value


def parse_body(data: bytes) -> object:
    """The JSON document of a request body (:class:`BodyError`)."""
    return _strict_loads(data)
