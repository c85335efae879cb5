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
Any error while evaluating denies (fail closed).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from limen.config import Config, Rule
from limen.identity import Identity
from limen.policy.classes import (
    HARMLESS,
    SEVERITY,
    UNKNOWN,
    Classification,
    StatementInfo,
    most_dangerous,
)
from limen.policy.classifier import CACHE_MAX_TEXT, classify

__all__ = ["Action", "Decision", "Policy", "SessionPolicy"]

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
            "classes": sorted(self.classes, key=SEVERITY.index),
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
                    "classes": sorted(s.classes, key=SEVERITY.index),
                    "tables": sorted(s.tables),
                    "why": s.why,
                }
                for s in self.classification.statements
            ]
        return out


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
        if any(c not in SEVERITY for c in classes):  # never expected: fail closed
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
                        f"denied by rule {rule.name}: class {c} ({_what(classification, c)}) "
                        f"is denied for {_via(rule, identity)} on resource {resource}",
                        _deny_hint(c, allowed_here, held_here),
                    )
        for c in effective:
            if not any(c in rule.allow or c in rule.hold for rule in rules):
                return make(
                    "deny",
                    None,
                    c,
                    f"denied: no rule allows class {c} ({_what(classification, c)}) on resource "
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
                        f"held by rule {rule.name}: class {c} ({_what(classification, c)}) on "
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
            f"allowed by rule {rule.name}: class {top} ({_what(classification, top)})",
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
    return [c for c in SEVERITY if c in found]


def _deny_hint(c: str, allowed: list[str], held: list[str]) -> str:
    parts = [f"this cannot be approved: class {c} is denied here, not held for approval"]
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


class SessionPolicy:
    """Decisions for one connection: one identity on one resource.

    It remembers prepared statements, whose names SQL ``PREPARE``/``EXECUTE``
    and the protocol's Parse/Bind share:

    - :meth:`decide` judges a simple-protocol query. ``PREPARE p AS …`` in it
      records ``p`` (unless the query is denied) and ``EXECUTE p`` gets the
      classes recorded for ``p`` — also later in the same query. An unknown
      name is ``unknown``.
    - :meth:`decide_parse` judges a protocol-level Parse and records the
      statement name: a named one (unless denied), and the unnamed one
      always (so a refused Parse cannot leave an older unnamed statement
      runnable).
    - :meth:`decide_execute` judges Bind/Execute of a statement name again
      from what was recorded (a fresh decision: holds are never cached).

    Allow and deny decisions of statements that neither prepare nor execute
    are cached per session by statement text (bounded, ``decision_cache``
    entries), and by classification: a text that :func:`classify` finds in
    its template cache (the same statement with other literals) gets the
    same classification object, hence the same decision; holds never are.
    The session is one identity on one resource under the rules fixed when
    it started, so nothing else a decision depends on can differ between
    two lookups (docs/decision-cache.md).

    A name that is prepared again keeps the *union* of the classes of every
    statement it was given: limen cannot tell whether the upstream accepted
    the new one. ``DEALLOCATE``/``DISCARD ALL``/Close forget nothing by
    themselves (they can fail upstream, e.g. in an aborted transaction); the
    session calls :meth:`forget_prepared` once the upstream confirmed them.
    """

    def __init__(
        self,
        policy: Policy,
        identity: Identity,
        resource: str,
        *,
        max_prepared: int = 10_000,
        decision_cache: int = 1024,
    ) -> None:
        self.policy = policy
        self.identity = identity
        self.resource = resource
        self.max_prepared = max_prepared
        self.rules = policy.rules_for(identity, resource)
        self.mask = policy.mask_for(identity, resource)
        self._prepared: dict[str, frozenset[str]] = {}
        self._parsed: dict[str, Classification] = {}
        self._unnamed: frozenset[str] | None = None
        self._decisions: OrderedDict[str, Decision] = OrderedDict()
        # id(classification) -> (the classification, kept alive, its decision)
        self._by_classification: OrderedDict[int, tuple[Classification, Decision]] = OrderedDict()
        self._decision_cache = decision_cache

    @property
    def prepared_names(self) -> frozenset[str]:
        return frozenset(self._prepared)

    def decide(self, sql: str) -> Decision:
        """Judge a simple-protocol query (one or more statements)."""
        cached = self._decisions.get(sql)
        if cached is not None:
            self._decisions.move_to_end(sql)
            return cached
        try:
            classification = classify(sql)
            seen = self._by_classification.get(id(classification))
            if seen is not None and seen[0] is classification:
                self._by_classification.move_to_end(id(classification))
                return seen[1]
            classes, defined = self._resolve(classification)
            if len(self._prepared.keys() | defined.keys()) > self.max_prepared:
                return self._too_many(classification)
            result = self.policy.decide_classification(
                self.identity, self.resource, classification, classes, rules=self.rules
            )
            if result.action != "deny":
                self._prepared.update(defined)
            if result.action != "hold" and not any(
                s.executes or s.prepares is not None for s in classification.statements
            ):
                self._remember(sql, result)
                if self._decision_cache > 0:
                    self._by_classification[id(classification)] = (classification, result)
                    if len(self._by_classification) > self._decision_cache:
                        self._by_classification.popitem(last=False)
            return result
        except Exception as exc:
            return self.policy.failed(self.identity, self.resource, exc)

    def _remember(self, sql: str, decision: Decision) -> None:
        if self._decision_cache <= 0 or len(sql) > CACHE_MAX_TEXT:
            return
        self._decisions[sql] = decision
        if len(self._decisions) > self._decision_cache:
            self._decisions.popitem(last=False)

    def decide_parse(self, statement_name: str, sql: str) -> Decision:
        """Judge a protocol-level Parse of ``sql`` into ``statement_name``
        (``""`` is the unnamed statement)."""
        try:
            classification = classify(sql)
            classes, defined = self._resolve(classification)
            names = set(self._prepared) | set(defined) | {statement_name}
            if statement_name and len(names) > self.max_prepared:
                return self._too_many(classification)
            result = self.policy.decide_classification(
                self.identity, self.resource, classification, classes, rules=self.rules
            )
            if not statement_name:
                self._unnamed = classes
                self._parsed[""] = classification
            elif result.action != "deny":
                self._prepared[statement_name] = (
                    self._prepared.get(statement_name, frozenset()) | classes
                )
                self._parsed[statement_name] = classification
            if result.action != "deny":
                self._prepared.update(defined)
            return result
        except Exception as exc:
            return self.policy.failed(self.identity, self.resource, exc)

    def decide_execute(self, statement_name: str) -> Decision:
        """Judge Bind/Execute of a prepared statement by name, from the classes
        recorded when it was prepared (re-resolving any ``EXECUTE`` in it)."""
        try:
            recorded = self._unnamed if statement_name == "" else self._prepared.get(statement_name)
            parsed = self._parsed.get(statement_name)
            if recorded is None:
                classification = _unprepared(statement_name)
                return self.policy.decide_classification(
                    self.identity, self.resource, classification, rules=self.rules
                )
            classes = recorded
            if parsed is not None:
                classes = classes | self._resolve(parsed)[0]
            base = parsed if parsed is not None else _recorded(recorded)
            return self.policy.decide_classification(
                self.identity, self.resource, base, classes, rules=self.rules
            )
        except Exception as exc:
            return self.policy.failed(self.identity, self.resource, exc)

    def decide_unclassifiable(self, what: str) -> Decision:
        """Judge something limen cannot classify (a FunctionCall message, a
        query that is not valid UTF-8): ``unknown``. ``what`` must not carry
        data from the client."""
        classification = Classification(
            frozenset({UNKNOWN}), frozenset(), (), f"{what} cannot be classified"
        )
        return self.policy.decide_classification(
            self.identity, self.resource, classification, rules=self.rules
        )

    def forget_prepared(self, statement_name: str | None = None) -> None:
        """Forget one prepared statement (or all, with None): call once the
        upstream confirmed ``DEALLOCATE``, ``DISCARD ALL`` or a Close."""
        if statement_name is None:
            self._prepared.clear()
            self._parsed.clear()
            self._unnamed = None
        elif statement_name == "":
            self._unnamed = None
            self._parsed.pop("", None)
        else:
            self._prepared.pop(statement_name, None)
            self._parsed.pop(statement_name, None)

    # --- internals ----------------------------------------------------------------

    def _resolve(
        self, classification: Classification
    ) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
        """The query's classes with EXECUTE resolved, statement by statement,
        and the names its PREPAREs define (merged with what they had)."""
        defined: dict[str, frozenset[str]] = {}
        view = _Overlay(defined, self._prepared)
        out: set[str] = set()
        for stmt in classification.statements:
            classes = stmt.resolve(view)
            out |= classes
            if stmt.prepares is not None:
                defined[stmt.prepares] = view.get(stmt.prepares, frozenset()) | classes
        return frozenset(out) or classification.classes, defined

    def _too_many(self, classification: Classification) -> Decision:
        return Decision(
            action="deny",
            rule=None,
            klass=classification.klass,
            classes=classification.classes,
            tables=classification.tables,
            message=(f"denied: this session already has {self.max_prepared} prepared statements"),
            hint="DEALLOCATE prepared statements you no longer need",
            commands=classification.commands,
            classification=classification,
        )


class _Overlay(Mapping[str, frozenset[str]]):
    """Names defined earlier in the same query, over the session's."""

    def __init__(self, top: dict[str, frozenset[str]], base: dict[str, frozenset[str]]) -> None:
        self.top = top
        self.base = base

    def __getitem__(self, key: str) -> frozenset[str]:
        if key in self.top:
            return self.top[key]
        return self.base[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.top.keys() | self.base.keys())

    def __len__(self) -> int:
        return len(self.top.keys() | self.base.keys())


def _unprepared(name: str) -> Classification:
    why = "Bind/Execute of a prepared statement limen has not seen on this session"
    only = frozenset({UNKNOWN})
    info = StatementInfo("EXECUTE", only, frozenset(), why, direct_classes=only)
    del name  # a client-chosen name stays out of messages
    return Classification(only, frozenset(), (info,), why)


def _recorded(classes: frozenset[str]) -> Classification:
    klass = most_dangerous(classes)
    info = StatementInfo(
        "EXECUTE",
        classes,
        frozenset(),
        f"a prepared statement of class {klass}",
        direct_classes=classes,
    )
    return Classification(classes, frozenset(), (info,))
