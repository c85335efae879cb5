"""The classes of statement and what a classification says.

:data:`SEVERITY` orders the classes; :class:`Classification` is what
:func:`limen.policy.classify` returns for a query, one :class:`StatementInfo`
per statement. What each class covers: :mod:`limen.policy.classifier`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from limen.config.schema.base import MYSQL_DANGERS

__all__ = [
    "ADMIN",
    "DANGERS",
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
    "most_dangerous",
    "unknown_classification",
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
DANGERS: Final[frozenset[str]] = frozenset(MYSQL_DANGERS)
"""MySQL dangers (:data:`limen.policy.mysql.DANGERS` that rules name): a
classification for a MySQL session carries the ones a rule must name among
its classes; they are not ranked (:func:`most_dangerous` skips them)."""

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
    limen does not know; ``harmless`` for none; :data:`DANGERS` are skipped)."""
    best = HARMLESS
    for c in classes:
        if c in DANGERS:
            continue
        if _RANK.get(c, _RANK[UNKNOWN]) > _RANK[best]:
            best = c if c in _RANK else UNKNOWN
    return best


def unknown_classification(command: str, why: str) -> Classification:
    """A classification that is ``unknown`` only, for ``why``."""
    only = frozenset({UNKNOWN})
    info = StatementInfo(command, only, frozenset(), why, direct_classes=only)
    return Classification(only, frozenset(), (info,), why)
