"""Rule evaluation: may this identity run this statement on this resource?

A rule applies to an identity on a resource when the resource is in its
``resources`` and the identity's groups meet its ``groups`` or its subject is
in its ``subjects``. Every applicable rule is consulted, for every class the
statement has (:func:`limen.policy.classify`):

1. **deny**: a class that any applicable rule denies → ``deny`` (by that rule).
2. **not covered**: a class that no applicable rule holds or allows →
   ``deny`` (no rule). So a rule ``allow = ["write"]`` does not let through
   ``UPDATE t SET x = 1`` (``write`` *and* ``unbounded-write``): allow must
   cover every class a statement has, and ``unknown`` is denied unless a rule
   names it.
3. **hold**: a class that any applicable rule holds → ``hold`` (by the first
   rule, in config order, that holds the most dangerous held class; its
   approvers, approvals and timeout travel with the decision).
4. otherwise ``allow`` (by the first rule that allows the most dangerous class).

``harmless`` statements (``BEGIN``, ``COMMIT``, ``DEALLOCATE``, ``SET
application_name`` …) need no class in a rule: they are allowed for anyone
some rule gives access to the resource, and denied for everyone else.

Messages name the rule, the class, the command and what to do next. They
never contain the statement's text or its literals (statements may carry
passwords); they may name identifiers the statement used (a function name).
Any error while evaluating denies (fail closed). Per connection, with its
prepared statements and decision cache: :class:`limen.policy.session.SessionPolicy`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from limen.config import Config, Rule
from limen.identity import Identity
from limen.policy.classes import (
    DANGERS,
    HARMLESS,
    SEVERITY,
    UNKNOWN,
    Classification,
    most_dangerous,
)
from limen.policy.classifier import classify

__all__ = ["Action", "Decision", "Policy"]

Action = Literal["allow", "hold", "deny"]

_BY_DANGER: Final = tuple(reversed(SEVERITY))


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one statement (or query) for one identity."""

    action: Action
    rule: str | None
    """The rule that decided; None when no rule allowed it."""
    klass: str
    """The class that decided (for allow: the most dangerous class)."""
    classes: frozenset[str]
    tables: frozenset[str]
    message: str
    """What the bot sees: the rule, the class, the command; no SQL text."""
    hint: str | None = None
    """What to do next."""
    commands: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    """For holds: the groups whose members may approve."""
    hold_timeout: float | None = None
    """For holds: seconds to wait for approval."""
    approvals_required: int = 0
    """For holds: how many approvals are needed."""
    webhook: str | None = None
    """For holds: the rule's webhook, notified of the held statement."""
    classification: Classification | None = field(default=None, compare=False, repr=False)

    @property
    def allowed(self) -> bool:
        return self.action == "allow"

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "action": self.action,
            "rule": self.rule,
            "class": self.klass,
            "classes": sorted(self.classes, key=_order),
            "tables": sorted(self.tables),
            "commands": list(self.commands),
            "message": self.message,
            "hint": self.hint,
        }
        if self.action == "hold":
            out.update(
                approvers=list(self.approvers),
                hold_timeout=self.hold_timeout,
                approvals_required=self.approvals_required,
                webhook=self.webhook,
            )
        if self.classification is not None:
            out["statements"] = [
                {
                    "command": s.command,
                    "classes": sorted(s.classes, key=_order),
                    "tables": sorted(s.tables),
                    "why": s.why,
                }
                for s in self.classification.statements
            ]
        return out


def _order(c: str) -> tuple[int, str]:
    """Classes by severity, then MySQL dangers by name."""
    return (SEVERITY.index(c), "") if c in SEVERITY else (len(SEVERITY), c)


def _label(c: str) -> str:
    return f"danger {c}" if c in DANGERS else f"class {c}"


def _who(identity: Identity) -> str:
    groups = ", ".join(identity.groups) or "none"
    return f"subject {identity.subject} (groups [{groups}])"


def _via(rule: Rule, identity: Identity) -> str:
    shared = [g for g in rule.groups if g in identity.groups]
    if shared:
        return f"group{'s' if len(shared) > 1 else ''} {', '.join(shared)}"
    return f"subject {identity.subject}"


class Policy:
    """The rules of one config. Stateless; :meth:`decide` is safe to call from
    any task."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._default_hold = config.gateway.hold_timeout.seconds

    def rules_for(self, identity: Identity, resource: str) -> tuple[Rule, ...]:
        """The rules that apply to ``identity`` on ``resource``, in config order."""
        groups = set(identity.groups)
        return tuple(
            rule
            for rule in self.config.rules
            if resource in rule.resources
            and (groups.intersection(rule.groups) or identity.subject in rule.subjects)
        )

    def mask_for(self, identity: Identity, resource: str) -> tuple[str, ...]:
        """The mask entries of every applicable rule (union, config order)."""
        out: list[str] = []
        for rule in self.rules_for(identity, resource):
            out.extend(m for m in rule.mask if m not in out)
        return tuple(out)

    def decide(self, identity: Identity, resource: str, sql: str) -> Decision:
        """Judge one query (any number of statements). ``EXECUTE`` of a
        prepared statement is ``unknown`` here; use :class:`SessionPolicy`."""
        try:
            classification = classify(sql)
        except Exception as exc:  # classify never raises; fail closed if it did
            return self.failed(identity, resource, exc)
        return self.decide_classification(identity, resource, classification)

    def decide_classification(
        self,
        identity: Identity,
        resource: str,
        classification: Classification,
        classes: frozenset[str] | None = None,
        *,
        rules: tuple[Rule, ...] | None = None,
    ) -> Decision:
        """Judge an already classified query; ``classes`` overrides its classes
        (a session resolving ``EXECUTE``)."""
        try:
            applicable = self.rules_for(identity, resource) if rules is None else rules
            return self._evaluate(
                applicable,
                identity,
                resource,
                classification,
                classification.classes if classes is None else classes,
            )
        except Exception as exc:
            return self.failed(identity, resource, exc)

    def failed(self, identity: Identity, resource: str, exc: BaseException) -> Decision:
        """The decision when evaluation itself failed: deny."""
        return Decision(
            action="deny",
            rule=None,
            klass=UNKNOWN,
            classes=frozenset({UNKNOWN}),
            tables=frozenset(),
            message=(
                f"denied: the policy could not be evaluated for {_who(identity)} on resource "
                f"{resource} ({type(exc).__name__}); limen fails closed"
            ),
            hint="report this to the limen operator",
        )

    # --- evaluation -------------------------------------------------------------

    def _evaluate(
        self,
        rules: tuple[Rule, ...],
        identity: Identity,
        resource: str,
        classification: Classification,
        classes: frozenset[str],
    ) -> Decision:
        def make(
            action: Action, rule: Rule | None, c: str, message: str, hint: str | None
        ) -> Decision:
            held = action == "hold" and rule is not None
            return Decision(
                action=action,
                rule=rule.name if rule is not None else None,
                klass=c,
                classes=classes,
                tables=classification.tables,
                message=message,
                hint=hint,
                commands=classification.commands,
                approvers=tuple(rule.approvers) if held and rule else (),
                hold_timeout=self._hold_timeout(rule) if held and rule else None,
                approvals_required=rule.approvals_required if held and rule else 0,
                webhook=rule.webhook if held and rule else None,
                classification=classification,
            )

        if not rules:
            return make(
                "deny",
                None,
                most_dangerous(classes),
                f"denied: no rule gives {_who(identity)} access to resource {resource}",
                f"ask the limen operator for a rule naming resource {resource} "
                "and one of your groups",
            )
        effective = [c for c in _BY_DANGER if c in classes and c != HARMLESS]
        # MySQL dangers: each needs a rule naming it, like a class
        effective.extend(sorted(c for c in classes if c in DANGERS))
        if any(c not in SEVERITY and c not in DANGERS for c in classes):  # fail closed
            effective.insert(0, UNKNOWN)
        if not effective:
            rule = rules[0]
            done = ", ".join(classification.commands) or "the statement"
            return make(
                "allow", rule, HARMLESS, f"allowed by rule {rule.name}: {done} is harmless", None
            )
        allowed_here = _listing(rules, "allow")
        held_here = _listing(rules, "hold")
        for c in effective:
            for rule in rules:
                if c in rule.deny:
                    return make(
                        "deny",
                        rule,
                        c,
                        f"denied by rule {rule.name}: {_label(c)} ({_what(classification, c)}) "
                        f"is denied for {_via(rule, identity)} on resource {resource}",
                        _deny_hint(c, allowed_here, held_here),
                    )
        for c in effective:
            if not any(c in rule.allow or c in rule.hold for rule in rules):
                return make(
                    "deny",
                    None,
                    c,
                    f"denied: no rule allows {_label(c)} ({_what(classification, c)}) on resource "
                    f"{resource} for {_who(identity)}",
                    _deny_hint(c, allowed_here, held_here),
                )
        for c in effective:
            for rule in rules:
                if c in rule.hold:
                    n = rule.approvals_required
                    return make(
                        "hold",
                        rule,
                        c,
                        f"held by rule {rule.name}: {_label(c)} ({_what(classification, c)}) on "
                        f"resource {resource} needs {n} approval{'s' if n != 1 else ''} from "
                        f"[{', '.join(rule.approvers)}] within "
                        f"{_duration(self._hold_timeout(rule))}",
                        "wait for an approver's decision, or cancel the statement",
                    )
        top = effective[0]
        rule = next(r for r in rules if top in r.allow)
        return make(
            "allow",
            rule,
            top,
            f"allowed by rule {rule.name}: {_label(top)} ({_what(classification, top)})",
            None,
        )

    def _hold_timeout(self, rule: Rule) -> float:
        return rule.hold_timeout.seconds if rule.hold_timeout is not None else self._default_hold


def _what(classification: Classification, c: str) -> str:
    """The command (and reason) behind class ``c``: never the SQL text."""
    for stmt in classification.statements:
        if c in stmt.classes:
            if stmt.klass == c and stmt.why:
                if stmt.why.startswith(stmt.command) or stmt.command == "UNKNOWN":
                    return stmt.why
                return f"{stmt.command}: {stmt.why}"
            return stmt.command
    for stmt in classification.statements:
        if stmt.executes:
            return f"{stmt.command} of a prepared statement"
    if classification.error is not None and c == UNKNOWN:
        return classification.error
    return ", ".join(classification.commands) or "statement"


def _listing(rules: Iterable[Rule], field_name: str) -> list[str]:
    found: set[str] = set()
    for rule in rules:
        found.update(getattr(rule, field_name))
    return [c for c in SEVERITY if c in found] + sorted(found & DANGERS)


def _deny_hint(c: str, allowed: list[str], held: list[str]) -> str:
    parts = [f"this cannot be approved: {_label(c)} is denied here, not held for approval"]
    if c == UNKNOWN:
        parts.append(
            "limen could not tell what the statement does: write it so that "
            "PostgreSQL's parser accepts it, one statement at a time"
        )
    parts.append(f"allowed here: {', '.join(allowed) or 'nothing'}")
    if held:
        parts.append(f"held for approval: {', '.join(held)}")
    parts.append("ask the limen operator if you need more")
    return "; ".join(parts)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"
