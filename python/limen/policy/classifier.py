"""Statement classification with PostgreSQL's own parser.

:func:`classify` parses SQL text with ``pglast`` (libpg_query: the grammar of
the PostgreSQL server itself), walks every node of the tree
(:mod:`limen.policy.walker`), and says which classes of statement the text
contains (:mod:`limen.policy.classes`). It is cached by text and by template
(bounded).

Classes, from the most dangerous down (:data:`SEVERITY`):

``unknown``
    could not be classified: a syntax error, a statement type limen does not
    know, a NUL byte or a lone surrogate in the text, ``EXECUTE`` of a prepared
    statement that was not seen (:class:`~limen.policy.SessionPolicy` resolves
    those). Denied unless a rule names it.
``admin``
    roles and grants, server settings (``SET`` of anything but a short list of
    client settings, ``ALTER SYSTEM``), server-side files and programs
    (``COPY`` to or from a file or program, ``LOAD``, ``pg_read_file()``),
    other sessions (``pg_terminate_backend()``), maintenance (``VACUUM``,
    ``ANALYZE``, ``CLUSTER``, ``REINDEX``, ``CHECKPOINT``), extensions,
    foreign servers, replication, two-phase commit, and arbitrary code: ``DO``
    blocks and functions whose body is in a procedural language.
``ddl``
    schema changes: ``CREATE``/``ALTER``/``DROP``/``COMMENT`` …, and
    ``SELECT … INTO``/``CREATE TABLE … AS``, which create tables.
``unbounded-write``
    ``UPDATE``/``DELETE`` with no ``WHERE``, or one that does not restrict
    the target's rows (``WHERE true``, ``WHERE 1 = 1``, ``WHERE id = id``,
    ``WHERE x = 1 OR true``, a condition with no column of the target),
    ``MERGE`` whose join condition is like that, and ``TRUNCATE``. Always
    comes with ``write``.
``write``
    ``INSERT``/``UPDATE``/``DELETE``/``MERGE``, data-modifying CTEs, ``COPY
    … FROM STDIN``, ``LOCK``, ``SELECT … FOR UPDATE/SHARE`` (row locks block
    other writers), ``NOTIFY``, ``CALL``, ``REFRESH MATERIALIZED VIEW``, and
    any call of a function not known to be free of side effects (see
    :mod:`limen.policy.catalog`).
``read``
    queries: ``SELECT``, ``VALUES``, ``TABLE t``, ``SHOW``, ``FETCH``,
    ``LISTEN``, plain ``EXPLAIN``, ``COPY … TO STDOUT``, ``DECLARE CURSOR``.
``harmless``
    not a class a rule can name: transaction control (``BEGIN``,
    ``COMMIT``, ``ROLLBACK``, ``SAVEPOINT``), ``DEALLOCATE``, ``DISCARD``,
    ``CLOSE``, ``UNLISTEN``, ``SET CONSTRAINTS``, ``SET``/``RESET`` of client
    settings (:data:`SAFE_SETTINGS`), and the empty query (only comments).
    Allowed for anyone a rule gives access to the resource.

A statement has a *set* of classes (``UPDATE t SET x = 1`` is ``write`` and
``unbounded-write``; ``WITH d AS (DELETE …) SELECT …`` is ``read`` and
``write``; ``SELECT pg_read_file(…)`` is ``read`` and ``admin``), and its
:attr:`~Classification.klass` is the most dangerous of them. A query with
several statements has the union of their classes.

What a statement really does is what is judged:

- ``EXPLAIN ANALYZE`` runs its statement (classes of both); plain ``EXPLAIN``
  does not (``read``; function calls inside still count, since the planner
  may evaluate stable functions).
- ``PREPARE p AS …`` has the classes of its statement; ``EXECUTE p`` is
  ``unknown`` here and resolved per session. ``CREATE TABLE … AS EXECUTE p``
  and ``EXPLAIN ANALYZE EXECUTE p`` are tracked the same way.
- Function calls, operators and sub-statements are found anywhere in the
  tree: target lists, ``WHERE``, ``FROM`` functions, ``LATERAL``, CTEs,
  subqueries, ``VALUES``, ``ORDER BY``, ``RETURNING``, ``COPY`` queries,
  column defaults, index expressions, view bodies, rule actions and
  ``BEGIN ATOMIC`` function bodies (code that runs later counts now).
  Identifiers arrive folded and unescaped from the parser, so quoting,
  case and ``U&"…"`` escapes change nothing.
- A ``LANGUAGE sql`` function body given as a string is parsed and judged
  too; a body in any other language is ``admin``.
- Sub-queries inside a write do not add ``read``: a write is judged as a
  write.

Limits (the statement text is all limen sees): the database's own objects may
run code that the text does not show — triggers, rules, views over volatile
functions, column defaults, domain checks, user-defined casts and types, and
a function ``f(t)`` called in attribute notation (``SELECT x.f FROM t x``),
which the parser cannot tell from a column.
``unbounded-write`` is a heuristic: ``WHERE id > 0`` is not caught, and an
unqualified column in ``DELETE … USING`` counts as the target's.

The parse assumes ``standard_conforming_strings = on`` and a UTF-8 client
encoding (the server defaults); changing either is ``admin``. The session
must make sure the upstream runs with both.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import replace
from functools import lru_cache
from typing import Final

from pglast.parser import parse_sql_json

from limen import _native
from limen.policy.classes import Classification, unknown_classification
from limen.policy.sealed import sealed
from limen.policy.walker import walk_tree

__all__ = [
    "CACHE_MAX_TEXT",
    "CACHE_SIZE",
    "classify",
    "classify_uncached",
    "template_reference",
]

CACHE_SIZE: Final = 4096
"""Statement texts remembered by :func:`classify`."""
CACHE_MAX_TEXT: Final = 16 * 1024
"""Longer texts are classified every time (keeps the cache's memory bounded)."""


def classify(sql: str) -> Classification:
    """Classify SQL text (cached). Never raises: anything that cannot be
    classified is ``unknown`` with :attr:`Classification.error` set.

    Two caches: by exact text, and by *template* — the parse tree with every
    literal constant's value and every location removed — so that the same
    statement with other literals (``WHERE aid = 1``, ``= 2``, ...) is parsed
    but not walked again. A classification is stored under its template only
    when the walk read no constant (the walk sees constants sealed: see
    :mod:`limen.policy.sealed`): ``WHERE true``, ``1 = 1``, ``SET
    client_encoding = ...`` are judged by their value and only cached by text.
    See docs/decision-cache.md.
    """
    if len(sql) > CACHE_MAX_TEXT:
        return classify_uncached(sql)
    return _classify_cached(sql)


@lru_cache(maxsize=CACHE_SIZE)
def _classify_cached(sql: str) -> Classification:
    try:
        return _classify(sql, 0, templates=True)
    except Exception as exc:  # fail closed: anything unexpected is unknown
        return unknown_classification(
            "UNKNOWN", f"limen could not classify it ({type(exc).__name__})"
        )


def classify_uncached(sql: str) -> Classification:
    """:func:`classify` without either cache."""
    try:
        return _classify(sql, 0)
    except Exception as exc:  # fail closed: anything unexpected is unknown
        return unknown_classification(
            "UNKNOWN", f"limen could not classify it ({type(exc).__name__})"
        )


# --- the template cache ---------------------------------------------------------------

# Literal values and source locations in pglast's JSON parse tree. A string
# constant's text is a JSON string (quotes and backslashes escaped).
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_CONST_VALUE: Final = re.compile(
    r'"A_Const":\{"(ival|fval|sval|boolval|bsval)":\{(?:"\w+":(?:'
    + _JSON_STRING
    + r'|[^{}",]*))?\}'
)
_LOCATION: Final = re.compile(r'"(?:\w*location|stmt_len|(?:rexpr_)?list_(?:start|end))":-?\d+')
_TEMPLATES: OrderedDict[str, tuple[Classification, Classification]] = OrderedDict()
"""template -> the classification, without and with ``shape_reusable``."""
_TEMPLATES_LOCK: Final = threading.Lock()


def _template(tree_json: str) -> str:
    """The template (native: one pass, equal to :func:`template_reference`)."""
    return _native.pg_tree_template(tree_json)


def template_reference(tree_json: str) -> str:
    """The template by its definition: two regular-expression substitutions
    (the native one-pass version is tested against this)."""
    return _LOCATION.sub("", _CONST_VALUE.sub(r'"A_Const":{"\1":{}', tree_json))


# --- parsing ------------------------------------------------------------------------

_QUOTED: Final = re.compile(r'"(?:[^"]|"")*"?')


def _parse_error(exc: Exception) -> str:
    """A parse error as text that names where, but never quotes the SQL."""
    args: tuple[object, ...] = tuple(getattr(exc, "args", ()))
    message = str(args[0]) if args else "syntax error"
    message = message.split(" at or near ", 1)[0]
    message = _QUOTED.sub('"…"', message)[:120]
    where = args[1] if len(args) > 1 else None
    if isinstance(where, int):
        return f"{message} at character {where + 1}"
    return message


def _classify(sql: str, depth: int, *, templates: bool = False) -> Classification:
    if "\x00" in sql:
        return unknown_classification("UNKNOWN", "the text contains a NUL byte")
    try:
        tree_json = parse_sql_json(sql)
        key = _template(tree_json) if templates else ""
        if templates:
            with _TEMPLATES_LOCK:
                hit = _TEMPLATES.get(key)
                if hit is not None:
                    _TEMPLATES.move_to_end(key)
            if hit is not None:
                return hit[1] if _shape_proven(sql, tree_json) else hit[0]
        tree, consts = sealed(tree_json)
    except UnicodeError:
        return unknown_classification("UNKNOWN", "the text is not valid Unicode")
    except Exception as exc:
        return unknown_classification("UNKNOWN", _parse_error(exc))
    result = walk_tree(tree, depth, consts, _classify)
    if not templates or consts.read:
        return result
    pair = (
        replace(result, literal_free=True),
        replace(result, literal_free=True, shape_reusable=True),
    )
    with _TEMPLATES_LOCK:
        _TEMPLATES[key] = pair
        if len(_TEMPLATES) > CACHE_SIZE:
            _TEMPLATES.popitem(last=False)
    return pair[1] if _shape_proven(sql, tree_json) else pair[0]


def _shape_proven(sql: str, tree_json: str) -> bool:
    """Whether every constant of ``sql`` (as the pump's shape lexer finds
    them) is an ``A_Const`` of its tree: see ``limen_pump::shape::proven``."""
    try:
        data = sql.encode("utf-8")
    except UnicodeError:
        return False
    return _native.pg_shape_proven(data, tree_json)
