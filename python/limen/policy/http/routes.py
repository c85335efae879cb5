"""HTTP requests as statement classes: method and path rules.

A request's class is ``read`` for ``GET``, ``HEAD`` and ``OPTIONS`` and
``write`` for every other method, unless one of the resource's
``[[resources.http_routes]]`` matches it first (config order): a route
names methods (none: any method), a path pattern and the class it gives
(any statement class: ``read``, ``write``, ``admin``, ``unknown``, ...),
and optionally conditions on the JSON body (:mod:`limen.policy.http.body`:
``$.action == "delete"``): such a route matches only when they all hold.

Patterns match the normalised path (:mod:`limen.policy.http.paths`), one
segment at a time: a literal segment matches itself (case-sensitive),
``{name}`` matches any one segment (the match keeps it under ``name``),
``*`` any one segment, and ``**`` as the last segment matches the rest
(zero or more segments). ``/users/{id}/keys/**`` matches
``/users/7/keys`` and ``/users/7/keys/a/b``.

:func:`classify` returns a :class:`~limen.policy.Classification` the
policy engine judges like a SQL statement's (so ``allow``, ``hold`` and
``deny`` lists of ``[[rules]]`` apply as for SQL); its command is
``METHOD pattern`` (or ``METHOD`` alone when no route matched), never
the concrete path or query, which may carry identifiers or secrets (a
route with body conditions adds them as written: ``POST /items
[$.action == "delete"]``).

A request whose class may depend on its body (:func:`needs_body`: a route
with conditions matches its method and path before any route without) is
classified with its parsed body; :func:`classify` refuses to guess without
it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from limen.policy.classes import READ, WRITE, Classification, StatementInfo
from limen.policy.http.body import BodyCondition, ConditionError, parse_condition

__all__ = [
    "NO_BODY",
    "READ_METHODS",
    "HttpMatch",
    "Route",
    "RouteError",
    "classify",
    "compile_route",
    "needs_body",
]

READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_REST: Final = "**"
_ANY: Final = "*"
#: ``classify``'s body when it was not read (no route needs it).
NO_BODY: Final = object()


class RouteError(ValueError):
    """A route pattern that does not parse."""


@dataclass(frozen=True)
class Route:
    """One compiled route: methods (empty: any), pattern segments, class."""

    methods: frozenset[str]
    pattern: str
    parts: tuple[str, ...]
    klass: str
    body: tuple[BodyCondition, ...] = ()

    @property
    def command(self) -> str:
        """The pattern, with the body conditions as written."""
        if not self.body:
            return self.pattern
        return f"{self.pattern} [{' and '.join(c.text for c in self.body)}]"

    def match(self, method: str, segments: Sequence[str]) -> dict[str, str] | None:
        """The named segments when ``method`` and ``segments`` match."""
        if self.methods and method not in self.methods:
            return None
        names: dict[str, str] = {}
        for i, part in enumerate(self.parts):
            if part == _REST:
                return names
            if i >= len(segments):
                return None
            seg = segments[i]
            if part.startswith("{"):
                names[part[1:-1]] = seg
            elif part != _ANY and part != seg:
                return None
        return names if len(segments) == len(self.parts) else None


def compile_route(
    methods: Sequence[str], pattern: str, klass: str, body: Sequence[str] = ()
) -> Route:
    """A route from its config values (:class:`RouteError` when invalid)."""
    if not pattern.startswith("/"):
        raise RouteError("a route pattern starts with /")
    parts = tuple(p for p in pattern.split("/")[1:] if p != "")
    seen: set[str] = set()
    for i, part in enumerate(parts):
        if part == _REST and i != len(parts) - 1:
            raise RouteError("** is only allowed as the last segment")
        if part.startswith("{") or part.endswith("}"):
            name = part[1:-1]
            if not (part.startswith("{") and part.endswith("}")) or not name.isidentifier():
                raise RouteError(f"{part!r} is not a {{name}} segment")
            if name in seen:
                raise RouteError(f"segment name {name!r} is used twice")
            seen.add(name)
        elif part not in (_ANY, _REST) and any(c in part for c in "{}*%;"):
            raise RouteError(f"{part!r}: wildcards are whole segments; no %, ; in patterns")
    upper = frozenset(m.upper() for m in methods)
    if any(not m.isalpha() for m in upper):
        raise RouteError("a method is letters only (GET, POST, ...)")
    conditions = []
    for text in body:
        try:
            conditions.append(parse_condition(text))
        except ConditionError as exc:
            raise RouteError(str(exc)) from None
    return Route(upper, "/" + "/".join(parts), parts, klass, tuple(conditions))


@dataclass(frozen=True)
class HttpMatch:
    """What a request is: its class, the route that said so, the names."""

    klass: str
    route: Route | None
    params: dict[str, str]
    classification: Classification


def needs_body(method: str, segments: Sequence[str], routes: Sequence[Route]) -> bool:
    """Whether the class of ``method`` on ``segments`` may depend on the body."""
    for route in routes:
        if route.match(method, segments) is not None:
            return bool(route.body)
    return False


def classify(
    method: str, segments: Sequence[str], routes: Sequence[Route], body: object = NO_BODY
) -> HttpMatch:
    """The class of ``method`` on the normalised ``segments`` (and ``body``,
    the parsed JSON body, when :func:`needs_body`): the first matching
    route's, else ``read`` for GET/HEAD/OPTIONS, ``write`` otherwise.
    ``ValueError`` when a route needs the body and it was not given."""
    for route in routes:
        params = route.match(method, segments)
        if params is None:
            continue
        if route.body:
            if body is NO_BODY:
                raise ValueError(f"{method} {route.pattern} is judged with its body")
            if not all(c.holds(body) for c in route.body):
                continue
        why = f"{method} {route.command} is {route.klass} (route)"
        return HttpMatch(
            route.klass,
            route,
            params,
            _classification(f"{method} {route.command}", route.klass, why),
        )
    klass = READ if method in READ_METHODS else WRITE
    why = f"{method} is {'a read' if klass == READ else 'a write'} method"
    return HttpMatch(klass, None, {}, _classification(method, klass, why))


def _classification(command: str, klass: str, why: str) -> Classification:
    classes = frozenset({klass})
    info = StatementInfo(command, classes, frozenset(), why, direct_classes=classes)
    return Classification(classes, frozenset(), (info,))
