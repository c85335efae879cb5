"""Decisions for one connection (:class:`SessionPolicy`): the rules of
:class:`~limen.policy.engine.Policy` for one identity on one resource, with
the session's prepared statements and its decision cache."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping

from limen.identity import Identity
from limen.policy.classes import UNKNOWN, Classification, StatementInfo, most_dangerous
from limen.policy.classifier import CACHE_MAX_TEXT, classify
from limen.policy.engine import Decision, Policy

__all__ = ["SessionPolicy"]


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
    it started (or when :meth:`rebind` gave it a reloaded config's rules,
    which empties the caches), so nothing else a decision depends on can
    differ between two lookups (docs/decision-cache.md).

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
        self.generation = 0
        """How many times :meth:`rebind` gave this session new rules."""

    def rebind(self, policy: Policy) -> None:
        """The rules of a reloaded config (``SIGHUP``, :mod:`limen.gateway.reload`)
        for this session's next statements: its prepared statements are
        kept (they exist upstream), every cached decision is forgotten."""
        self.policy = policy
        self.rules = policy.rules_for(self.identity, self.resource)
        self.mask = policy.mask_for(self.identity, self.resource)
        self.generation += 1
        self.clear_cache()

    def classify_text(self, sql: str) -> Classification:
        """The classifier of this session's protocol: PostgreSQL's here;
        :class:`limen.policy.mysql.session.MySqlSessionPolicy` overrides it."""
        return classify(sql)

    def clear_cache(self) -> None:
        """Forget every cached decision (something the classifier depends
        on changed, e.g. MySQL's ``NO_BACKSLASH_ESCAPES``)."""
        self._decisions.clear()
        self._by_classification.clear()

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
            classification = self.classify_text(sql)
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
            classification = self.classify_text(sql)
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
