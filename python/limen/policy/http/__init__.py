"""HTTP request policy: canonical paths (:mod:`limen.policy.http.paths`)
and method/path routes (with JSON body conditions,
:mod:`limen.policy.http.body`) that give a request its statement class
(:mod:`limen.policy.http.routes`); the rules' ``allow``/``hold``/``deny``
lists then decide as for SQL (:class:`limen.policy.Policy`)."""

from limen.policy.http.body import BodyCondition, BodyError, ConditionError, parse_body
from limen.policy.http.paths import Path, PathError, normalise
from limen.policy.http.routes import (
    NO_BODY,
    READ_METHODS,
    HttpMatch,
    Route,
    RouteError,
    classify,
    compile_route,
    needs_body,
)

__all__ = [
    "NO_BODY",
    "READ_METHODS",
    "BodyCondition",
    "BodyError",
    "ConditionError",
    "HttpMatch",
    "Path",
    "PathError",
    "Route",
    "RouteError",
    "classify",
    "compile_route",
    "needs_body",
    "normalise",
    "parse_body",
]
