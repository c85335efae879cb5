"""HTTP request policy: canonical paths (:mod:`limen.policy.http.paths`)
and method/path routes that give a request its statement class
(:mod:`limen.policy.http.routes`); the rules' ``allow``/``hold``/``deny``
lists then decide as for SQL (:class:`limen.policy.Policy`)."""

from limen.policy.http.paths import Path, PathError, normalise
from limen.policy.http.routes import (
    READ_METHODS,
    HttpMatch,
    Route,
    RouteError,
    classify,
    compile_route,
)

__all__ = [
    "READ_METHODS",
    "HttpMatch",
    "Path",
    "PathError",
    "Route",
    "RouteError",
    "classify",
    "compile_route",
    "normalise",
]
