"""Statement classification with PostgreSQL's own parser.

:func:`classify` parses SQL text with ``pglast`` (libpg_query: the grammar of
the PostgreSQL server itself), walks every node of the tree, and says which
classes of statement the text contains. It is cached by text (bounded).

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Final

import msgspec
from pglast.parser import parse_sql_json

from limen import _native
from limen.policy.catalog import function_class, is_builtin_operator, tablesample_is_builtin
from limen.policy.sealed import Constants, sealed

__all__ = [
    "ADMIN",
    "DDL",
    "HARMLESS",
    "READ",
    "SAFE_SETTINGS",
    "SEVERITY",
    "UNBOUNDED_WRITE",
    "UNKNOWN",
    "WRITE",
    "Classification",
    "StatementInfo",
    "classify",
    "classify_uncached",
    "most_dangerous",
]

HARMLESS: Final = "harmless"
READ: Final = "read"
WRITE: Final = "write"
UNBOUNDED_WRITE: Final = "unbounded-write"
DDL: Final = "ddl"
ADMIN: Final = "admin"
UNKNOWN: Final = "unknown"

SEVERITY: Final[tuple[str, ...]] = (HARMLESS, READ, WRITE, UNBOUNDED_WRITE, DDL, ADMIN, UNKNOWN)
"""Every class, least dangerous first."""
_RANK: Final = {c: i for i, c in enumerate(SEVERITY)}

SAFE_SETTINGS: Final = frozenset(
    {
        "application_name",
        "datestyle",
        "intervalstyle",
        "timezone",
        "extra_float_digits",
        "statement_timeout",
        "lock_timeout",
        "idle_in_transaction_session_timeout",
        "idle_session_timeout",
        "transaction_timeout",
        "client_min_messages",
        "bytea_output",
        "search_path",
        "xmloption",
        "lc_monetary",
        "lc_numeric",
        "lc_time",
        "escape_string_warning",
        "transaction_isolation",
        "transaction_read_only",
        "transaction_deferrable",
        "default_transaction_isolation",
        "default_transaction_deferrable",
        "transaction",  # SET TRANSACTION …
        "session characteristics",  # SET SESSION CHARACTERISTICS AS TRANSACTION …
        "transaction snapshot",
    }
)
"""Settings a client may ``SET``/``RESET`` as ``harmless``: formatting,
timeouts, the search path, transaction modes. Any other setting is ``admin``.
``client_encoding`` is harmless only when set to UTF-8 and
``standard_conforming_strings`` only when set on: other values would make the
server read a statement differently from limen."""

_UTF8_NAMES: Final = frozenset({"utf8", "utf-8", "unicode"})
_ON_VALUES: Final = frozenset({"on", "true", "yes", "1"})
_FALSE_VALUES: Final = frozenset({"off", "false", "no", "0"})

CACHE_SIZE: Final = 4096
"""Statement texts remembered by :func:`classify`."""
CACHE_MAX_TEXT: Final = 16 * 1024
"""Longer texts are classified every time (keeps the cache's memory bounded)."""
_MAX_BODY_DEPTH: Final = 4
"""Nesting of SQL function bodies parsed inside function bodies."""


@dataclass(frozen=True, slots=True)
class StatementInfo:
    """One statement of a query."""

    command: str
    """The command, like PostgreSQL's command tag: ``SELECT``, ``DELETE``,
    ``CREATE TABLE``, ``EXPLAIN ANALYZE``."""
    classes: frozenset[str]
    """Its classes without knowledge of the session (an ``EXECUTE`` adds
    ``unknown``)."""
    tables: frozenset[str]
    """Tables (and views, sequences …) named, ``schema.name`` where the
    statement qualifies them; CTE names are left out."""
    why: str
    """Why the most dangerous class: short, never quoting literals."""
    direct_classes: frozenset[str] = frozenset()
    """Classes from the statement's own text (without ``EXECUTE`` targets)."""
    executes: tuple[str, ...] = ()
    """Names of prepared statements it runs (``EXECUTE p``)."""
    prepares: str | None = None
    """The name it defines (``PREPARE p AS …``)."""
    functions: frozenset[str] = frozenset()
    """Functions called that are not known to be harmless, as written."""

    @property
    def klass(self) -> str:
        return most_dangerous(self.classes)

    def resolve(self, prepared: Mapping[str, frozenset[str]]) -> frozenset[str]:
        """Its classes given what the session's prepared statements are."""
        if not self.executes:
            return self.classes
        out = set(self.direct_classes)
        for name in self.executes:
            out |= prepared.get(name, frozenset({UNKNOWN}))
        return frozenset(out) or frozenset({HARMLESS})


@dataclass(frozen=True, slots=True)
class Classification:
    """What a query (one or more statements) does."""

    classes: frozenset[str]
    tables: frozenset[str]
    statements: tuple[StatementInfo, ...]
    error: str | None = None
    """Why it is ``unknown`` (a parse error says where, never what)."""
    literal_free: bool = field(default=False, compare=False)
    """True when the walk read no constant (see :mod:`limen.policy.sealed`):
    the template cache reuses it for every text with the same template."""
    shape_reusable: bool = field(default=False, compare=False)
    """True when it is also proven for every text with the same shape key
    (``literal_free`` and every constant of *this* text is an ``A_Const``:
    ``_native.pg_shape_proven``): the pump may cache its allow by shape.
    Computed for each text, never inherited through the template cache."""

    @property
    def klass(self) -> str:
        """The most dangerous class (``unknown`` > ``admin`` > ``ddl`` >
        ``unbounded-write`` > ``write`` > ``read`` > ``harmless``)."""
        return most_dangerous(self.classes)

    @property
    def commands(self) -> tuple[str, ...]:
        return tuple(s.command for s in self.statements)

    @property
    def why(self) -> str:
        """The reason of the statement that decides the class."""
        if self.error is not None:
            return self.error
        klass = self.klass
        for stmt in self.statements:
            if stmt.klass == klass:
                return stmt.why
        return ""


def most_dangerous(classes: Iterable[str]) -> str:
    """The class ranked highest in :data:`SEVERITY` (``unknown`` for a class
    limen does not know; ``harmless`` for none)."""
    best = HARMLESS
    for c in classes:
        if _RANK.get(c, _RANK[UNKNOWN]) > _RANK[best]:
            best = c if c in _RANK else UNKNOWN
    return best


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
        return _unknown("UNKNOWN", f"limen could not classify it ({type(exc).__name__})")


def classify_uncached(sql: str) -> Classification:
    """:func:`classify` without either cache."""
    try:
        return _classify(sql, 0)
    except Exception as exc:  # fail closed: anything unexpected is unknown
        return _unknown("UNKNOWN", f"limen could not classify it ({type(exc).__name__})")


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

_DECODER: Final = msgspec.json.Decoder()
_QUOTED: Final = re.compile(r'"(?:[^"]|"")*"?')


def _unknown(command: str, why: str) -> Classification:
    only = frozenset({UNKNOWN})
    info = StatementInfo(command, only, frozenset(), why, direct_classes=only)
    return Classification(only, frozenset(), (info,), why)


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
        return _unknown("UNKNOWN", "the text contains a NUL byte")
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
        return _unknown("UNKNOWN", "the text is not valid Unicode")
    except Exception as exc:
        return _unknown("UNKNOWN", _parse_error(exc))
    result = _walk_tree(tree, depth, consts)
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


def _walk_tree(tree: object, depth: int, consts: Constants) -> Classification:
    stmts = tree.get("stmts", []) if isinstance(tree, dict) else []
    infos = []
    for raw in stmts:
        node = raw.get("stmt") if isinstance(raw, dict) else None
        if not isinstance(node, dict) or len(node) != 1:
            infos.append(_unknown("UNKNOWN", "the parser returned no statement").statements[0])
            continue
        ((kind, body),) = node.items()
        walker = _Walker(depth, consts)
        infos.append(walker.statement(kind, body if isinstance(body, dict) else {}))
    if not infos:
        empty = frozenset({HARMLESS})
        info = StatementInfo("EMPTY", empty, frozenset(), "an empty query", direct_classes=empty)
        return Classification(empty, frozenset(), (info,))
    classes = frozenset().union(*(i.classes for i in infos))
    tables = frozenset().union(*(i.tables for i in infos))
    error = next((i.why for i in infos if UNKNOWN in i.classes), None)
    return Classification(classes, tables, tuple(infos), error)


# --- the walk -----------------------------------------------------------------------

_Node = dict[str, Any]

_ADMIN_STATEMENTS: Final = frozenset(
    {
        "CreateRoleStmt",
        "AlterRoleStmt",
        "AlterRoleSetStmt",
        "DropRoleStmt",
        "GrantStmt",
        "GrantRoleStmt",
        "AlterDefaultPrivilegesStmt",
        "CreatedbStmt",
        "AlterDatabaseStmt",
        "AlterDatabaseSetStmt",
        "AlterDatabaseRefreshCollStmt",
        "DropdbStmt",
        "CreateTableSpaceStmt",
        "DropTableSpaceStmt",
        "AlterTableSpaceOptionsStmt",
        "AlterTableMoveAllStmt",
        "CreateExtensionStmt",
        "AlterExtensionStmt",
        "AlterExtensionContentsStmt",
        "CreatePLangStmt",
        "CreateFdwStmt",
        "AlterFdwStmt",
        "CreateForeignServerStmt",
        "AlterForeignServerStmt",
        "CreateUserMappingStmt",
        "AlterUserMappingStmt",
        "DropUserMappingStmt",
        "ImportForeignSchemaStmt",
        "CreateSubscriptionStmt",
        "AlterSubscriptionStmt",
        "DropSubscriptionStmt",
        "CreatePublicationStmt",
        "AlterPublicationStmt",
        "CreateEventTrigStmt",
        "AlterEventTrigStmt",
        "SecLabelStmt",
        "ReassignOwnedStmt",
        "DropOwnedStmt",
        "AlterOwnerStmt",
        "CreatePolicyStmt",
        "AlterPolicyStmt",
        "AlterSystemStmt",
        "LoadStmt",
        "CheckPointStmt",
        "VacuumStmt",
        "ClusterStmt",
        "ReindexStmt",
        "DoStmt",
        "CreateAmStmt",
        "CreateTransformStmt",
        "ReplicaIdentityStmt",
    }
)
_DDL_STATEMENTS: Final = frozenset(
    {
        "AlterCollationStmt",
        "AlterDomainStmt",
        "AlterEnumStmt",
        "AlterFunctionStmt",
        "AlterObjectDependsStmt",
        "AlterObjectSchemaStmt",
        "AlterOpFamilyStmt",
        "AlterOperatorStmt",
        "AlterSeqStmt",
        "AlterStatsStmt",
        "AlterTSConfigurationStmt",
        "AlterTSDictionaryStmt",
        "AlterTableStmt",
        "AlterTypeStmt",
        "CommentStmt",
        "CompositeTypeStmt",
        "CreateCastStmt",
        "CreateConversionStmt",
        "CreateDomainStmt",
        "CreateEnumStmt",
        "CreateForeignTableStmt",
        "CreateFunctionStmt",
        "CreateOpClassStmt",
        "CreateOpFamilyStmt",
        "CreateRangeStmt",
        "CreateSchemaStmt",
        "CreateSeqStmt",
        "CreateStatsStmt",
        "CreateStmt",
        "CreateTableAsStmt",
        "CreateTrigStmt",
        "DefineStmt",
        "DropStmt",
        "IndexStmt",
        "RenameStmt",
        "RuleStmt",
        "ViewStmt",
    }
)
_WRITE_STATEMENTS: Final = {
    "InsertStmt": "INSERT changes data",
    "UpdateStmt": "UPDATE changes data",
    "DeleteStmt": "DELETE changes data",
    "MergeStmt": "MERGE changes data",
    "TruncateStmt": "TRUNCATE empties whole tables",
    "LockStmt": "LOCK takes table locks",
    "NotifyStmt": "NOTIFY signals other sessions",
    "CallStmt": "CALL runs a procedure, which may change data",
    "RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW rewrites stored data",
}
_READ_STATEMENTS: Final = {
    "SelectStmt": "a query",
    "VariableShowStmt": "SHOW reads a setting",
    "FetchStmt": "FETCH reads from a cursor judged when it was declared",
    "ListenStmt": "LISTEN receives notifications",
    "DeclareCursorStmt": "DECLARE CURSOR for a query",
}
_HARMLESS_STATEMENTS: Final = {
    "DeallocateStmt": "DEALLOCATE forgets a prepared statement",
    "DiscardStmt": "DISCARD resets session state",
    "ClosePortalStmt": "CLOSE closes a cursor",
    "UnlistenStmt": "UNLISTEN stops notifications",
    "ConstraintsSetStmt": "SET CONSTRAINTS changes when constraints are checked",
}
_ADMIN_DROPS: Final = frozenset(
    {
        "OBJECT_EXTENSION",
        "OBJECT_FDW",
        "OBJECT_FOREIGN_SERVER",
        "OBJECT_EVENT_TRIGGER",
        "OBJECT_PUBLICATION",
        "OBJECT_LANGUAGE",
        "OBJECT_POLICY",
        "OBJECT_ACCESS_METHOD",
        "OBJECT_TRANSFORM",
    }
)
_ADMIN_RENAMES: Final = frozenset({"OBJECT_ROLE", "OBJECT_DATABASE", "OBJECT_TABLESPACE"})
_ADMIN_ALTER_TABLE: Final = frozenset(
    {
        "AT_ChangeOwner",
        "AT_EnableRowSecurity",
        "AT_DisableRowSecurity",
        "AT_ForceRowSecurity",
        "AT_NoForceRowSecurity",
    }
)
_TABLE_OBJECTS: Final = frozenset(
    {
        "OBJECT_TABLE",
        "OBJECT_VIEW",
        "OBJECT_MATVIEW",
        "OBJECT_FOREIGN_TABLE",
        "OBJECT_SEQUENCE",
        "OBJECT_INDEX",
    }
)
_TRANSACTION_COMMANDS: Final = {
    "TRANS_STMT_BEGIN": "BEGIN",
    "TRANS_STMT_START": "START TRANSACTION",
    "TRANS_STMT_COMMIT": "COMMIT",
    "TRANS_STMT_ROLLBACK": "ROLLBACK",
    "TRANS_STMT_SAVEPOINT": "SAVEPOINT",
    "TRANS_STMT_RELEASE": "RELEASE",
    "TRANS_STMT_ROLLBACK_TO": "ROLLBACK TO SAVEPOINT",
}
_TWO_PHASE: Final = {
    "TRANS_STMT_PREPARE": "PREPARE TRANSACTION",
    "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED",
    "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED",
}
_BETWEEN_KINDS: Final = frozenset(
    {
        "AEXPR_BETWEEN",
        "AEXPR_NOT_BETWEEN",
        "AEXPR_BETWEEN_SYM",
        "AEXPR_NOT_BETWEEN_SYM",
    }
)
_CAMEL: Final = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _names(items: object) -> tuple[str, ...]:
    """A list of ``String`` nodes as a tuple of names."""
    out: list[str] = []
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                value = item.get("String")
                if isinstance(value, dict):
                    out.append(str(value.get("sval", "")))
    return tuple(out)


def _unwrap(node: object) -> tuple[str, _Node]:
    if isinstance(node, dict) and len(node) == 1:
        ((kind, body),) = node.items()
        if isinstance(body, dict) and kind[:1].isupper():
            return kind, body
    return "", node if isinstance(node, dict) else {}


def _strip_consts(node: object) -> object:
    """The node with every constant's ordinal blanked (reads nothing)."""
    if isinstance(node, dict):
        if len(node) == 1 and "A_Const" in node:
            return "A_Const"
        return {k: _strip_consts(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_strip_consts(v) for v in node]
    return node


_COMMANDS: Final = {
    "CreatedbStmt": "CREATE DATABASE",
    "DropdbStmt": "DROP DATABASE",
    "CheckPointStmt": "CHECKPOINT",
    "CreatePLangStmt": "CREATE LANGUAGE",
    "SecLabelStmt": "SECURITY LABEL",
    "CreateFdwStmt": "CREATE FOREIGN DATA WRAPPER",
    "AlterFdwStmt": "ALTER FOREIGN DATA WRAPPER",
    "CreateTableSpaceStmt": "CREATE TABLESPACE",
    "DropTableSpaceStmt": "DROP TABLESPACE",
    "AlterOwnerStmt": "ALTER … OWNER TO",
    "ConstraintsSetStmt": "SET CONSTRAINTS",
    "VariableShowStmt": "SHOW",
    "ClosePortalStmt": "CLOSE",
    "RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW",
    "CreateEventTrigStmt": "CREATE EVENT TRIGGER",
    "CreateTrigStmt": "CREATE TRIGGER",
    "IndexStmt": "CREATE INDEX",
    "ViewStmt": "CREATE VIEW",
    "CreateStmt": "CREATE TABLE",
    "RuleStmt": "CREATE RULE",
    "DefineStmt": "CREATE",
    "CompositeTypeStmt": "CREATE TYPE",
    "CreateSeqStmt": "CREATE SEQUENCE",
    "AlterSeqStmt": "ALTER SEQUENCE",
    "CreateStatsStmt": "CREATE STATISTICS",
    "AlterStatsStmt": "ALTER STATISTICS",
    "ReplicaIdentityStmt": "ALTER TABLE … REPLICA IDENTITY",
    "ReturnStmt": "RETURN",
}


def _command(kind: str) -> str:
    known = _COMMANDS.get(kind)
    if known is not None:
        return known
    return _CAMEL.sub(" ", kind.removesuffix("Stmt")).upper()


def _const_value(node: object, consts: Constants) -> object:
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
        return _NOT_CONST
    kind, body = _unwrap(node)
    if kind == "TypeCast":
        value = _const_value(body.get("arg"), consts)
        names = _names(body.get("typeName", {}).get("names"))
        if names and names[-1] == "bool" and isinstance(value, str):
            low = value.strip().lower()
            if low in _ON_VALUES or low in ("t", "y"):
                return True
            if low in _FALSE_VALUES or low in ("f", "n"):
                return False
        return value
    return _NOT_CONST


def _is_const(node: object) -> bool:
    """Whether :func:`_const_value` would find a constant (without reading it)."""
    kind, body = _unwrap(node)
    if kind == "TypeCast":
        return _is_const(body.get("arg"))
    return Constants.ordinal(node) is not None


_NOT_CONST: Final = object()
_COMPARE: Final = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def _is_false(node: object, consts: Constants) -> bool:
    """True only for a condition that is false for certain (``false``,
    ``1 = 0``, ``NOT true``)."""
    kind, body = _unwrap(node)
    value = _const_value(node, consts)
    if value is not _NOT_CONST:
        return value is False or value is None
    if kind == "BoolExpr":
        args = body.get("args", [])
        op = body.get("boolop")
        if op == "NOT_EXPR" and args:
            return _const_value(args[0], consts) is True
        if op == "AND_EXPR":
            return any(_is_false(a, consts) for a in args)
        if op == "OR_EXPR":
            return all(_is_false(a, consts) for a in args)
    if kind == "A_Expr" and body.get("kind") == "AEXPR_OP":
        op = _names(body.get("name"))
        lexpr, rexpr = body.get("lexpr"), body.get("rexpr")
        if len(op) != 1 or op[0] not in _COMPARE or not (_is_const(lexpr) and _is_const(rexpr)):
            return False
        left, right = _const_value(lexpr, consts), _const_value(rexpr, consts)
        if _NOT_CONST not in (left, right):
            if left is None or right is None:
                return True
            try:
                return not _COMPARE[op[0]](left, right)
            except TypeError:
                return False
    return False


class _Target:
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
            kind, body = _unwrap(node)
            if kind == "ColumnRef":
                fields = body.get("fields", [])
                names = _names(fields)
                if len(fields) == 1 and names and not inside:
                    return True
                if len(fields) >= 2:
                    qualifier = _names(fields[-2:-1])
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
        kind, body = _unwrap(where)
        if kind == "CurrentOfExpr":
            return False
        if _is_false(where, self.consts):
            return False
        if _is_const(where):
            return True
        if kind == "BoolExpr":
            args = body.get("args", [])
            op = body.get("boolop")
            if op == "AND_EXPR":
                return all(self.unbounded(a) for a in args)
            if op == "OR_EXPR":
                return any(self.unbounded(a) for a in args)
        if kind == "A_Expr" and body.get("kind") in ("AEXPR_OP", "AEXPR_NOT_DISTINCT"):
            op = _names(body.get("name"))
            if op in (("=",), (">=",), ("<=",)) or body.get("kind") == "AEXPR_NOT_DISTINCT":
                left, right = body.get("lexpr"), body.get("rexpr")
                # `f(1) = f(1)` vs `f(1) = f(2)`: comparing opens the constants
                if (
                    left is not None
                    and _strip_consts(left) == _strip_consts(right)
                    and self.consts.equal(left, right)
                ):
                    return True
        return not self.referenced(where)


class _Walker:
    """Collects the classes of one statement (and everything nested in it)."""

    def __init__(self, depth: int, consts: Constants) -> None:
        self.depth = depth
        self.consts = consts
        self.reasons: dict[str, str] = {}
        self.tables: set[str] = set()
        self.ctes: set[str] = set()
        self.targets: set[str] = set()
        self.executes: list[str] = []
        self.functions: set[str] = set()
        self.prepares: str | None = None

    def add(self, klass: str, why: str) -> None:
        self.reasons.setdefault(klass, why)

    def statement(self, kind: str, body: _Node) -> StatementInfo:
        command = self.visit_statement(kind, body, top=True, executed=True)
        self.walk(body, executed=self._children_executed(kind, body))
        direct = frozenset(self.reasons)
        classes = direct | ({UNKNOWN} if self.executes else frozenset())
        if not classes:
            classes = direct = frozenset({HARMLESS})
            self.reasons[HARMLESS] = _HARMLESS_STATEMENTS.get(
                kind, f"{command} has no effect on data"
            )
        if self.executes:
            self.reasons.setdefault(
                UNKNOWN, "EXECUTE of a prepared statement not seen on this session"
            )
        tables = {t for t in self.tables if t not in self.ctes} | self.targets
        klass = most_dangerous(classes)
        return StatementInfo(
            command=command,
            classes=classes,
            tables=frozenset(tables),
            why=self.reasons.get(klass, ""),
            direct_classes=direct,
            executes=tuple(self.executes),
            prepares=self.prepares,
            functions=frozenset(self.functions),
        )

    @staticmethod
    def _children_executed(kind: str, body: _Node) -> bool:
        if kind == "ExplainStmt":
            return _explain_analyze(body)
        if kind == "CreateTableAsStmt":
            into = body.get("into", {})
            return not (isinstance(into, dict) and into.get("skipData"))
        return True

    def walk(self, root: object, executed: bool) -> None:
        stack: list[tuple[object, bool]] = [(root, executed)]
        while stack:
            node, run = stack.pop()
            if isinstance(node, list):
                stack.extend((v, run) for v in node if isinstance(v, dict | list))
                continue
            if not isinstance(node, dict):
                continue
            kind, body = _unwrap(node)
            if kind:
                run = self.visit(kind, body, run)
                stack.extend((v, run) for v in body.values() if isinstance(v, dict | list))
                continue
            if "relname" in node and "relpersistence" in node:
                self.visit("RangeVar", node, run)
            elif "funcname" in node and "funcformat" in node:
                self.visit("FuncCall", node, run)
            elif "rel" in node and "onCommit" in node and run:
                # an IntoClause (SELECT … INTO), also inside UNION branches
                self.add(DDL, "SELECT … INTO creates a table")
            stack.extend((v, run) for v in node.values() if isinstance(v, dict | list))

    def visit(self, kind: str, body: _Node, executed: bool) -> bool:
        """Note one node; return whether its children run now."""
        if kind == "RangeVar":
            name = body.get("relname", "")
            schema = body.get("schemaname")
            self.tables.add(f"{schema}.{name}" if schema else name)
        elif kind == "FuncCall":
            names = _names(body.get("funcname"))
            klass, why = function_class(names)
            if klass is not None:
                self.add(klass, why)
                self.functions.add(".".join(names))
        elif kind == "A_Expr":
            if body.get("kind") not in _BETWEEN_KINDS:
                self._operator(_names(body.get("name")))
        elif kind == "SubLink":
            if body.get("operName"):
                self._operator(_names(body.get("operName")))
        elif kind == "SortBy":
            if body.get("useOp"):
                self._operator(_names(body.get("useOp")))
        elif kind == "RangeTableSample":
            method = _names(body.get("method"))
            if not tablesample_is_builtin(method):
                self.add(WRITE, "TABLESAMPLE with a method limen does not know")
        elif kind == "CommonTableExpr":
            self.ctes.add(str(body.get("ctename", "")))
        elif kind == "LockingClause":
            if executed:
                self.add(WRITE, "SELECT … FOR UPDATE/SHARE locks rows")
        elif kind.endswith("Stmt"):
            if executed:
                self.visit_statement(kind, body, top=False, executed=executed)
            return executed and self._children_executed(kind, body)
        return executed

    def _operator(self, names: tuple[str, ...]) -> None:
        if not is_builtin_operator(names):
            self.add(WRITE, f"uses operator {'.'.join(names)}, which is not built in")

    def visit_statement(self, kind: str, body: _Node, *, top: bool, executed: bool) -> str:
        """Add the classes of one statement node itself; return its command."""
        if kind in _WRITE_STATEMENTS:
            self.add(WRITE, _WRITE_STATEMENTS[kind])
            return self._write(kind, body)
        if kind == "SelectStmt":
            if top:
                self.add(READ, "a query")
            into = body.get("intoClause")
            if isinstance(into, dict):
                self.add(DDL, "SELECT … INTO creates a table")
                return "SELECT INTO"
            return "SELECT"
        if kind in _READ_STATEMENTS:
            self.add(READ, _READ_STATEMENTS[kind])
            if kind == "FetchStmt" and body.get("ismove"):
                return "MOVE"
            return _command(kind)
        if kind in _HARMLESS_STATEMENTS:
            return _command(kind)
        if kind == "TransactionStmt":
            tx = str(body.get("kind", ""))
            if tx in _TWO_PHASE:
                self.add(ADMIN, f"{_TWO_PHASE[tx]} is two-phase commit")
                return _TWO_PHASE[tx]
            if tx in _TRANSACTION_COMMANDS:
                return _TRANSACTION_COMMANDS[tx]
            self.add(UNKNOWN, "a transaction command limen does not know")
            return "TRANSACTION"
        if kind == "VariableSetStmt":
            return self._set(body)
        if kind == "ExplainStmt":
            self.add(READ, "EXPLAIN shows a plan")
            if _explain_analyze(body):
                return "EXPLAIN ANALYZE"
            return "EXPLAIN"
        if kind == "CopyStmt":
            return self._copy(body)
        if kind == "PrepareStmt":
            self.prepares = str(body.get("name", ""))
            inner, _ = _unwrap(body.get("query"))
            if inner == "SelectStmt":
                self.add(READ, "PREPARE of a query")
            return "PREPARE"
        if kind == "ExecuteStmt":
            self.executes.append(str(body.get("name", "")))
            return "EXECUTE"
        if kind == "ReturnStmt":
            return "RETURN"
        if kind in _ADMIN_STATEMENTS:
            command = _command(kind)
            if kind in ("GrantStmt", "GrantRoleStmt"):
                command = "GRANT" if body.get("is_grant") else "REVOKE"
            elif kind == "VacuumStmt":
                command = "VACUUM" if body.get("is_vacuumcmd") else "ANALYZE"
            self.add(ADMIN, f"{command} is an administrative command")
            return command
        if kind in _DDL_STATEMENTS:
            return self._ddl(kind, body)
        self.add(UNKNOWN, f"{_command(kind)} is a statement type limen does not classify")
        return _command(kind)

    def _write(self, kind: str, body: _Node) -> str:
        command = _command(kind)
        relation = body.get("relation")
        if isinstance(relation, dict) and relation.get("relname"):
            # a target is always a table, even when a CTE has its name
            schema = relation.get("schemaname")
            name = str(relation["relname"])
            self.targets.add(f"{schema}.{name}" if schema else name)
        if kind == "TruncateStmt":
            self.add(UNBOUNDED_WRITE, "TRUNCATE empties whole tables")
        elif kind in ("UpdateStmt", "DeleteStmt"):
            target = _Target(body.get("relation"), self.consts)
            if target.unbounded(body.get("whereClause")):
                self.add(UNBOUNDED_WRITE, f"{command} without a WHERE that restricts its rows")
        elif kind == "MergeStmt":
            target = _Target(body.get("relation"), self.consts)
            join_unbounded = target.unbounded(body.get("joinCondition"))
            for clause in body.get("mergeWhenClauses", []):
                _, when = _unwrap(clause)
                if when.get("commandType") not in ("CMD_UPDATE", "CMD_DELETE"):
                    continue
                match = when.get("matchKind")
                if (match == "MERGE_WHEN_MATCHED" and join_unbounded) or (
                    match == "MERGE_WHEN_NOT_MATCHED_BY_SOURCE"
                    and target.unbounded(when.get("condition"))
                ):
                    self.add(UNBOUNDED_WRITE, "MERGE that does not restrict the rows it changes")
        return command

    def _set(self, body: _Node) -> str:
        setting = str(body.get("name", "")).lower()
        kind = body.get("kind")
        command = "RESET" if kind in ("VAR_RESET", "VAR_RESET_ALL") else "SET"
        if kind == "VAR_RESET_ALL":
            return "RESET ALL"
        text: list[str] = []
        if setting in ("client_encoding", "standard_conforming_strings"):
            values = [_const_value(a, self.consts) for a in body.get("args", [])]
            text = [str(v).lower() for v in values if isinstance(v, str | bool | int)]
        if setting == "client_encoding":
            if kind == "VAR_RESET" or (kind == "VAR_SET_VALUE" and text and text[0] in _UTF8_NAMES):
                return command
        elif setting == "standard_conforming_strings":
            if kind == "VAR_RESET" or (kind == "VAR_SET_VALUE" and text and text[0] in _ON_VALUES):
                return command
        elif setting in SAFE_SETTINGS:
            return command
        if setting in ("role", "session_authorization"):
            self.add(ADMIN, f"{command} {setting.upper().replace('_', ' ')} changes privileges")
        else:
            self.add(ADMIN, f"{command} of server setting {setting[:63]}")
        return command

    def _copy(self, body: _Node) -> str:
        if body.get("is_program"):
            self.add(ADMIN, "COPY with PROGRAM runs a server-side program")
        elif body.get("filename") is not None:
            self.add(ADMIN, "COPY with a file name reads or writes server-side files")
        if body.get("is_from"):
            self.add(WRITE, "COPY … FROM loads data")
            return "COPY FROM"
        self.add(READ, "COPY … TO exports data")
        return "COPY TO"

    def _ddl(self, kind: str, body: _Node) -> str:
        command = _command(kind)
        why = "changes the schema"
        if kind == "DropStmt":
            obj = str(body.get("removeType", "OBJECT_TABLE"))
            command = "DROP " + obj.removeprefix("OBJECT_").replace("_", " ")
            if obj in _ADMIN_DROPS:
                self.add(ADMIN, f"{command} is an administrative command")
            if obj in _TABLE_OBJECTS:
                for item in body.get("objects", []):
                    names = _names(_unwrap(item)[1].get("items"))
                    if names:
                        self.tables.add(".".join(names[-2:]))
        elif kind == "RenameStmt":
            command = "ALTER … RENAME"
            if body.get("renameType") in _ADMIN_RENAMES:
                self.add(ADMIN, "renames a role, database or tablespace")
        elif kind == "AlterTableStmt":
            command = "ALTER " + str(body.get("objtype", "OBJECT_TABLE")).removeprefix("OBJECT_")
            for cmd in body.get("cmds", []):
                _, inner = _unwrap(cmd)
                if inner.get("subtype") in _ADMIN_ALTER_TABLE:
                    self.add(ADMIN, "changes a table's owner or row security")
        elif kind == "CreateTableAsStmt":
            matview = body.get("objtype") == "OBJECT_MATVIEW"
            command = "CREATE MATERIALIZED VIEW" if matview else "CREATE TABLE AS"
            why = "creates a table from a query"
        elif kind == "CreateFunctionStmt":
            command = "CREATE PROCEDURE" if body.get("is_procedure") else "CREATE FUNCTION"
            self._function_body(body)
        self.add(DDL, f"{command} {why}")
        return command

    def _function_body(self, body: _Node) -> None:
        language = "sql"
        text: str | None = None
        for option in body.get("options", []):
            _, opt = _unwrap(option)
            name = opt.get("defname")
            arg = opt.get("arg")
            if name == "language":
                _, value = _unwrap(arg)
                language = str(value.get("sval", "")).lower()
            elif name == "as":
                _, items = _unwrap(arg)
                parts = _names(items.get("items"))
                text = parts[0] if len(parts) == 1 else None
                if len(parts) != 1:
                    language = language if language != "sql" else "c"
        if language != "sql":
            self.add(
                ADMIN, f"a function body in language {language[:63]} is code limen cannot inspect"
            )
            return
        if text is None:
            return  # BEGIN ATOMIC: the body is part of the tree and walked
        if self.depth >= _MAX_BODY_DEPTH:
            self.add(UNKNOWN, "SQL function bodies nested too deeply")
            return
        inner = _classify(text, self.depth + 1)
        for klass in inner.classes - {READ, HARMLESS}:
            why = next((s.why for s in inner.statements if klass in s.classes), "")
            self.add(klass, f"the function body: {why}")
        self.functions |= {f for s in inner.statements for f in s.functions}


def _explain_analyze(body: _Node) -> bool:
    """Whether EXPLAIN's options include ANALYZE (anything but an explicit false)."""
    for option in body.get("options", []):
        _, opt = _unwrap(option)
        if str(opt.get("defname", "")).lower() != "analyze":
            continue
        arg = opt.get("arg")
        if arg is None:
            return True
        kind, inner = _unwrap(arg)
        value: object
        if kind == "String":
            value = inner.get("sval", "")
        elif kind == "Integer":
            value = inner.get("ival", 0)
        elif kind == "Boolean":
            value = inner.get("boolval", False)
        else:
            return True
        if value is False or value == 0 or str(value).lower() in _FALSE_VALUES:
            continue
        return True
    return False
