"""Statement policy: what a SQL statement does, and whether a rule lets an
identity do it.

- :func:`classify` parses SQL with PostgreSQL's own parser and returns a
  :class:`Classification` (classes, tables, one :class:`StatementInfo` per
  statement); see :mod:`limen.policy.classifier` for what each class covers.
- :class:`Policy` decides for one identity and resource, statelessly.
- :class:`SessionPolicy` decides for one connection and remembers its
  prepared statements (SQL ``PREPARE`` and protocol-level Parse).
"""

from limen.policy.classes import (
    ADMIN,
    DDL,
    HARMLESS,
    READ,
    SAFE_SETTINGS,
    SEVERITY,
    UNBOUNDED_WRITE,
    UNKNOWN,
    WRITE,
    Classification,
    StatementInfo,
    most_dangerous,
)
from limen.policy.classifier import classify, classify_uncached
from limen.policy.engine import Action, Decision, Policy
from limen.policy.session import SessionPolicy

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
    "Action",
    "Classification",
    "Decision",
    "Policy",
    "SessionPolicy",
    "StatementInfo",
    "classify",
    "classify_uncached",
    "most_dangerous",
]
