"""TEMPORARY STAND-IN for ``limen.policy`` (the policy branch replaces this
file at merge). It keeps the agreed interface — :class:`Policy`,
:class:`SessionPolicy` with ``decide`` / ``decide_parse``, :class:`Decision`
— but classifies by the first keyword of each ``;``-separated statement
only, which is NOT safe against statements built to slip past a classifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from limen.config import Config, Rule
from limen.identity import Identity

__all__ = ["Decision", "Policy", "SessionPolicy"]

_CLASS_OF: dict[str, str] = {
    **dict.fromkeys(
        (
            "select",
            "with",
            "show",
            "values",
            "table",
            "explain",
            "fetch",
            "declare",
            "close",
            "move",
            "begin",
            "start",
            "commit",
            "end",
            "rollback",
            "abort",
            "savepoint",
            "release",
            "prepare",
            "execute",
            "deallocate",
            "discard",
        ),
        "read",
    ),
    **dict.fromkeys(("insert", "update", "delete", "merge", "copy"), "write"),
    **dict.fromkeys(("create", "alter", "drop", "truncate", "comment", "reindex"), "ddl"),
    **dict.fromkeys(
        (
            "grant",
            "revoke",
            "set",
            "reset",
            "do",
            "call",
            "load",
            "vacuum",
            "analyze",
            "checkpoint",
            "listen",
            "notify",
            "lock",
            "security",
        ),
        "admin",
    ),
}
_RANK = {"read": 0, "write": 1, "unbounded-write": 2, "ddl": 3, "admin": 4, "unknown": 5}


@dataclass(frozen=True)
class Decision:
    action: Literal["allow", "hold", "deny"]
    rule: str | None
    klass: str
    classes: frozenset[str] = frozenset()
    tables: frozenset[str] = frozenset()
    message: str = ""
    hint: str | None = None
    approvers: tuple[str, ...] = ()
    hold_timeout: float = 900.0
    approvals_required: int = 1


def _classify(sql: str) -> frozenset[str]:
    classes: set[str] = set()
    for part in sql.split(";"):
        words = part.split()
        if not words:
            continue
        classes.add(_CLASS_OF.get(words[0].lower(), "unknown"))
    return frozenset(classes or {"read"})


class Policy:
    def __init__(self, config: Config) -> None:
        self.config = config


@dataclass
class SessionPolicy:
    policy: Policy
    identity: Identity
    resource: str
    _rules: list[Rule] = field(init=False)

    def __post_init__(self) -> None:
        groups = set(self.identity.groups)
        self._rules = [
            r
            for r in self.policy.config.rules
            if self.resource in r.resources
            and (groups & set(r.groups) or self.identity.subject in r.subjects)
        ]

    def decide(self, sql: str) -> Decision:
        classes = _classify(sql)
        klass = max(classes, key=lambda c: _RANK[c])
        actions: tuple[Literal["deny", "hold", "allow"], ...] = ("deny", "hold", "allow")
        for action in actions:
            for rule in self._rules:
                if klass in getattr(rule, action):
                    verb = {"deny": "denied", "hold": "held", "allow": "allowed"}[action]
                    return Decision(
                        action,
                        rule.name,
                        klass,
                        classes,
                        message=f"{klass} statement {verb} by rule {rule.name!r}",
                        hint=None if action == "allow" else "ask for a grant of this class",
                        approvers=tuple(rule.approvers),
                        approvals_required=rule.approvals_required,
                    )
        return Decision(
            "deny",
            None,
            klass,
            classes,
            message=f"no rule allows {klass} statements on {self.resource!r}",
            hint="ask for a rule that grants this class on this resource",
        )

    def decide_parse(self, statement_name: str, sql: str) -> Decision:
        return self.decide(sql)
