"""Statement classification for MySQL and MariaDB.

:func:`classify_mysql` says which classes of statement a ``COM_QUERY`` (or
``COM_STMT_PREPARE``) text contains, in the classes PostgreSQL's classifier
uses (:data:`limen.policy.SEVERITY`), and which MySQL-specific dangers it
shows (:data:`DANGERS`). See docs/mysql-classifier.md for the parser, what
it reads as code and what it cannot see.

The caller passes what only the connection knows: the upstream server
(:class:`Server`, from the greeting: which executable comments run) and
whether backslashes escape in strings (``SERVER_STATUS_NO_BACKSLASH_ESCAPES``
in the last OK packet's status). With ``server=None`` the text is judged
both with and without the versioned executable comments, and the worse
classes are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from limen.policy import (
    HARMLESS,
    UNKNOWN,
    Classification,
    StatementInfo,
    most_dangerous,
)
from limen.policy.mysql.lexer import LexError, Server, Token, tokenize
from limen.policy.mysql.settings import SAFE_SETTINGS
from limen.policy.mysql.statements import Result, classify_tokens

__all__ = ["DANGERS", "SAFE_SETTINGS", "MysqlClassification", "Server", "classify_mysql"]

DANGERS: Final = frozenset(
    {
        "local-infile",  # LOAD DATA LOCAL: the upstream will ask the client for a file
        "server-file",  # LOAD DATA INFILE, SELECT … INTO OUTFILE/DUMPFILE
        "set-global",  # SET GLOBAL / PERSIST
        "grant",  # GRANT / REVOKE
        "plugin",  # INSTALL/UNINSTALL PLUGIN/SONAME, CREATE FUNCTION … SONAME
        "handler",  # HANDLER
        "do",  # DO
        "call",  # CALL
        "prepare-from-variable",  # PREPARE … FROM @var, EXECUTE IMMEDIATE @var
        "multi-statement",  # more than one statement in one COM_QUERY
        "use",  # USE db: the driver checks the database against the resource's
    }
)
_MAX_DEPTH: Final = 4


@dataclass(frozen=True, slots=True)
class MysqlClassification:
    """What a MySQL query text does."""

    classification: Classification
    """Classes, tables and statements, as for PostgreSQL."""
    dangers: frozenset[str]
    """MySQL-specific dangers found (:data:`DANGERS`)."""
    databases: frozenset[str]
    """Databases a ``USE`` switches to."""
    statement_dangers: tuple[frozenset[str], ...] = ()
    """The dangers of each statement of ``classification.statements`` (the
    query's ``multi-statement`` is in none of them)."""

    @property
    def classes(self) -> frozenset[str]:
        return self.classification.classes

    @property
    def klass(self) -> str:
        return self.classification.klass

    @property
    def why(self) -> str:
        return self.classification.why


def _unknown(error: str) -> MysqlClassification:
    return MysqlClassification(
        Classification(frozenset({UNKNOWN}), frozenset(), (), error=error),
        frozenset(),
        frozenset(),
    )


def _judge(
    sql: str, server: Server | None, backslash: bool, every: bool, depth: int
) -> MysqlClassification:
    try:
        statements = tokenize(sql, server=server, backslash_escapes=backslash, every_comment=every)
    except LexError as e:
        return _unknown(str(e))
    infos: list[StatementInfo] = []
    per: list[frozenset[str]] = []
    dangers: set[str] = set()
    databases: set[str] = set()
    if len(statements) > 1:
        dangers.add("multi-statement")
    for tokens in statements:
        own: set[str] = set()
        res = _statement(tokens, server, backslash, every, depth, own, databases)
        dangers |= own
        per.append(frozenset(own))
        if res.classes - {HARMLESS}:
            res.classes.discard(HARMLESS)
        classes = frozenset(res.classes) or frozenset({HARMLESS})
        direct = classes if not res.executes else frozenset(res.classes)
        if res.executes:
            classes = frozenset(res.classes | {UNKNOWN})
        infos.append(
            StatementInfo(
                command=res.command,
                classes=classes,
                tables=frozenset(res.tables),
                why=res.why,
                direct_classes=direct,
                executes=res.executes,
                prepares=res.prepares,
                functions=frozenset(res.functions),
            )
        )
    classes = frozenset().union(*(i.classes for i in infos)) - {HARMLESS} or frozenset({HARMLESS})
    tables = frozenset().union(*(i.tables for i in infos))
    return MysqlClassification(
        Classification(classes, tables, tuple(infos)),
        frozenset(dangers),
        frozenset(databases),
        tuple(per),
    )


def _statement(
    tokens: list[Token],
    server: Server | None,
    backslash: bool,
    every: bool,
    depth: int,
    dangers: set[str],
    databases: set[str],
) -> Result:
    res = classify_tokens(tokens)
    if res.inner is not None:
        if res.inner:
            inner = _statement(res.inner, server, backslash, every, depth, dangers, databases)
            res.classes |= inner.classes
            res.tables |= inner.tables
            res.functions |= inner.functions
            res.executes = res.executes or inner.executes
            if most_dangerous(inner.classes) == most_dangerous(res.classes):
                res.why = inner.why
        else:
            res.add(UNKNOWN, "no statement where one must be")
    if res.nested is not None:
        if depth >= _MAX_DEPTH:
            res.add(UNKNOWN, "prepared statements nested too deep")
        else:
            # The prepared text runs with the session's settings at run time.
            inner_c = _judge(res.nested, server, backslash, every, depth + 1)
            if len(inner_c.classification.statements) != 1:
                res.add(UNKNOWN, "a prepared text must hold exactly one statement")
            res.classes |= inner_c.classes
            res.tables |= inner_c.classification.tables
            dangers |= inner_c.dangers
            databases |= inner_c.databases
            res.why = inner_c.why or res.why
    dangers |= res.dangers
    databases |= res.databases
    return res


def classify_mysql(
    sql: str, *, server: Server | None = None, backslash_escapes: bool = True
) -> MysqlClassification:
    """Classify a MySQL/MariaDB query text. Never raises: what cannot be
    read is ``unknown`` with the reason in ``classification.error``."""
    try:
        first = _judge(sql, server, backslash_escapes, True, 0)
        if server is not None:
            return first
        second = _judge(sql, None, backslash_escapes, False, 0)
    except RecursionError:
        return _unknown("statement nested too deep")
    if second == first:
        return first
    a, b = first.classification, second.classification
    worst = a if most_dangerous(a.classes) == most_dangerous(a.classes | b.classes) else b
    dangers = first.dangers | second.dangers
    return MysqlClassification(
        Classification(
            a.classes | b.classes,
            a.tables | b.tables,
            worst.statements,
            error=a.error or b.error,
        ),
        dangers,
        first.databases | second.databases,
        # which statement showed what is not kept through the merge: each has all
        tuple(dangers - {"multi-statement"} for _ in worst.statements),
    )
