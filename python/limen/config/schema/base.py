"""What every config table shares: the :class:`Strict` base (unknown fields
are errors) and the closed vocabularies (statement classes, protocols, token
algorithms, mask detectors)."""

from __future__ import annotations

from typing import Final, Literal, get_args

import msgspec

StatementClass = Literal["read", "write", "ddl", "admin", "unbounded-write", "unknown"]
STATEMENT_CLASSES: Final[tuple[str, ...]] = get_args(StatementClass)
MysqlDanger = Literal[
    "local-infile",
    "server-file",
    "set-global",
    "grant",
    "plugin",
    "handler",
    "do",
    "call",
    "multi-statement",
    "use",
]
"""MySQL dangers a rule may name in ``allow``/``hold``/``deny`` (rules whose
resources are all ``mysql``): a statement showing one is denied unless a rule
names it (docs/mysql-classifier.md). ``prepare-from-variable`` is not among
them: such a statement is ``unknown``."""
MYSQL_DANGERS: Final[tuple[str, ...]] = get_args(MysqlDanger)
RuleClass = Literal[StatementClass, MysqlDanger]
"""What ``allow``/``hold``/``deny`` accept."""
Protocol = Literal["postgres", "mysql", "ssh", "http", "kubernetes"]
PROTOCOLS: Final[tuple[str, ...]] = get_args(Protocol)
Algorithm = Literal["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
ALLOWED_ALGORITHMS: Final[tuple[Algorithm, ...]] = get_args(Algorithm)


def known_detectors() -> frozenset[str]:
    """Detector names a rule's ``mask`` list may use besides ``builtin`` and
    ``column:TABLE.COLUMN``: the native masker's built-in detectors."""
    from limen.mask import BUILTIN_DETECTORS

    return frozenset(BUILTIN_DETECTORS)


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base for every config table: unknown fields are errors."""
