"""Decisions for one MySQL connection: :class:`SessionPolicy` with the
MySQL classifier (:func:`limen.policy.mysql.classify_mysql`).

The dangers a statement shows (:data:`limen.policy.mysql.DANGERS`) are
added to its classes, so the rules' engine asks for a rule naming each
one (``allow = ["write", "call"]`` lets ``CALL p()`` through), and an
``EXECUTE p`` inherits those of what ``p`` prepared. Two are not asked for:
``prepare-from-variable`` (the statement is ``unknown`` already: allowing
``unknown`` lets it through) and ``use`` when every database the query
switches to is the resource's own.

What the classifier depends on besides the text is per connection: the
upstream server (which executable comments run) and whether backslashes
escape in strings (the last OK packet's status). A change of the latter
empties the decision cache. A text with a shape is classified by its shape
when that is provably its own classification (:mod:`limen.policy.mysql.shape`):
one classification, and so one decision, per shape.
"""

from __future__ import annotations

import dataclasses

from limen.identity import Identity
from limen.policy.classes import DANGERS, Classification
from limen.policy.engine import Policy
from limen.policy.mysql import MysqlClassification, Server, classify_mysql
from limen.policy.mysql.shape import ShapeCache
from limen.policy.session import SessionPolicy

__all__ = ["MySqlSessionPolicy", "required_dangers"]


class MySqlSessionPolicy(SessionPolicy):
    """A :class:`SessionPolicy` judging MySQL/MariaDB text."""

    def __init__(
        self,
        policy: Policy,
        identity: Identity,
        resource: str,
        *,
        database: str | None,
        server: Server | None,
        backslash_escapes: bool = True,
        max_prepared: int = 10_000,
        decision_cache: int = 1024,
    ) -> None:
        super().__init__(
            policy,
            identity,
            resource,
            max_prepared=max_prepared,
            decision_cache=decision_cache,
        )
        self.database = database
        """The resource's database: ``USE`` of it needs no rule."""
        self.server = server
        self._backslash = backslash_escapes
        self._shapes = ShapeCache(decision_cache)

    @property
    def backslash_escapes(self) -> bool:
        return self._backslash

    @backslash_escapes.setter
    def backslash_escapes(self, value: bool) -> None:
        if value != self._backslash:
            self._backslash = value
            self.clear_cache()
            self._shapes.clear()

    def _resolve(
        self, classification: Classification
    ) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
        # the query's own dangers (multi-statement) are in no statement
        classes, defined = super()._resolve(classification)
        return classes | (classification.classes & DANGERS), defined

    def databases_of(self, sql: bytes) -> frozenset[str]:
        """The databases a query's ``USE`` switches to (none if unreadable)."""
        try:
            text = sql.decode("utf-8")
        except UnicodeDecodeError:
            return frozenset()
        found = classify_mysql(text, server=self.server, backslash_escapes=self._backslash)
        return found.databases

    def classify_text(self, sql: str) -> Classification:
        # A text with a shape is judged by its shape when the classifier
        # reads none of its constants (limen.policy.mysql.shape).
        return self._shapes.classify(
            sql, self._classify, server=self.server, backslash=self._backslash
        )

    def _classify(self, sql: str) -> Classification:
        found = classify_mysql(sql, server=self.server, backslash_escapes=self._backslash)
        return required_dangers(found, self.database)


def required_dangers(found: MysqlClassification, database: str | None) -> Classification:
    """The classification with the dangers a rule must name among its
    classes (see the module docs)."""
    own = database is not None and found.databases <= {database}
    waived = {"prepare-from-variable", *(("use",) if own else ())}
    top = (found.dangers & DANGERS) - waived
    if not top:
        return found.classification
    c = found.classification
    per = found.statement_dangers
    statements = []
    for i, info in enumerate(c.statements):
        mine = (per[i] if i < len(per) else top) & DANGERS - waived - {"multi-statement"}
        if mine:
            info = dataclasses.replace(
                info,
                classes=info.classes | mine,
                direct_classes=(info.direct_classes or info.classes) | mine,
            )
        statements.append(info)
    return dataclasses.replace(c, classes=c.classes | top, statements=tuple(statements))
