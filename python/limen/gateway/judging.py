"""Judging one statement, for every protocol and both relays.

:meth:`Judge.judge` counts the statement, records its text (masked:
:mod:`limen.gateway.inrecord`), asks the session's policy (and the
optional column hook, e.g. PostgreSQL's column masks), records the
decision event, logs a denial, and returns one frozen :class:`Verdict`:

- the decision and the decision event exactly as recorded;
- what to send upstream: the client's own bytes when allowed, the
  protocol's refusal stand-in when denied (the driver's ``refuse``), or
  :data:`HELD` when the statement waits for humans (:mod:`limen.gateway.holds`);
- whether the client side discards what follows until its next sync point
  (PostgreSQL: after a refused Parse, until Sync);
- whether the decision may be reused for the same text (``cache``), and for
  every statement of the same shape (``shape``): a relay's decision cache
  (the native pump's) may keep exactly those. Why that is sound:
  docs/decision-cache.md.

Nothing is set on the side: a relay on any thread reads what it needs from
the value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

import msgspec

from limen.gateway.inrecord import record_statement
from limen.inmask import InputMasker, Masked
from limen.policy import Decision, SessionPolicy
from limen.recording import EVENT, Recorder

__all__ = [
    "HELD",
    "ColumnHook",
    "Held",
    "Judge",
    "Verdict",
    "decision_record",
    "local_denial",
    "reusable",
]


class Held:
    """The marker of a statement held for approval (nothing to send yet)."""

    def __repr__(self) -> str:
        return "HELD"


HELD: Final = Held()


@dataclass(frozen=True)
class Verdict:
    """The outcome of judging one statement (see the module docs)."""

    decision: Decision
    event: bytes | None
    """The decision event as recorded (None: nothing was recorded)."""
    send: bytes | Held
    """The bytes for the upstream, or :data:`HELD`."""
    discard: bool = False
    """The client side discards until its sync point."""
    cache: bool = False
    """The decision may be reused for the same statement text."""
    shape: bool = False
    """... and for every statement of the same shape."""

    @property
    def held(self) -> bool:
        return isinstance(self.send, Held)


#: ``refuse(decision)`` -> (the stand-in to send upstream, discard until sync)
Refuse = Callable[[Decision], tuple[bytes, bool]]


class ColumnHook(Protocol):
    """Column masks judged with each statement (PostgreSQL's are
    ``gateway/postgres/columns.py``)."""

    @property
    def cacheable(self) -> bool:
        """Whether the last judged statement's decision may be reused."""

    @property
    def masked(self) -> list[dict[str, object]]:
        """The last judged statement's masked output columns (recorded)."""

    def judge(self, decision: Decision, sql: str, *, extended: bool, name: str) -> Decision: ...


def local_denial(klass: str, message: str, hint: str) -> Decision:
    """A denial the gateway makes itself (fail closed), with every field
    named so it does not depend on the policy module's defaults."""
    return Decision(
        action="deny",
        rule=None,
        klass=klass,
        classes=frozenset({klass}),
        tables=frozenset(),
        message=message,
        hint=hint,
        approvers=(),
        hold_timeout=0.0,
        approvals_required=1,
    )


def decision_record(decision: Decision, protocol: str) -> dict[str, object]:
    """A SQL statement's ``decision`` event, before the fields its driver
    adds (PostgreSQL's and MySQL's alike, in this order)."""
    return {
        "event": "decision",
        "action": decision.action,
        "rule": decision.rule,
        "class": decision.klass,
        "classes": sorted(decision.classes),
        "tables": sorted(decision.tables),
        "protocol": protocol,
    }


def reusable(decision: Decision | None) -> bool:
    """Whether a cache may reuse this decision for the same statement text
    (same session: same identity and rules): allows of statements that do
    not prepare or execute (their classes depend on the session's prepared
    statements). Holds never are, and denials come back to be logged."""
    if decision is None or decision.action != "allow" or decision.classification is None:
        return False
    return not any(s.executes or s.prepares is not None for s in decision.classification.statements)


class Judge:
    """The judge of one session's statements."""

    def __init__(
        self,
        policy: SessionPolicy,
        recorder: Recorder,
        input_masker: InputMasker | None,
        log: Callable[..., None],
        session_id: str,
        *,
        on_decision: Callable[[Decision], None] | None = None,
    ) -> None:
        self.policy = policy
        self.on_decision = on_decision
        """Called with every decision (the gateway's metrics count them)."""
        self.recorder = recorder
        self.input_masker = input_masker
        self.log = log
        self.session_id = session_id
        self.last_masked: Masked | None = None
        """How the last judged statement was masked for the record (None:
        recorded raw)."""
        self.columns: ColumnHook | None = None
        """Set once by the driver before the relay starts (column masks)."""
        self.statements = 0

    def judge(
        self, sql_bytes: bytes, *, extended: bool, name: str, allow: bytes, refuse: Refuse
    ) -> Verdict:
        """Judges one statement (``extended``: a protocol-level prepare,
        named ``name``); ``allow`` is sent when allowed."""
        self.statements += 1
        recorded = record_statement(self.recorder, self.input_masker, sql_bytes)
        self.last_masked = recorded
        columns = self.columns
        generation = self.policy.generation
        try:
            sql = sql_bytes.decode("utf-8")
            decision = self.policy.decide_parse(name, sql) if extended else self.policy.decide(sql)
            if columns is not None:
                decision = columns.judge(decision, sql, extended=extended, name=name)
        except Exception as exc:  # fail closed: a policy that cannot decide denies
            decision = local_denial(
                "unknown",
                f"the statement could not be judged ({type(exc).__name__})",
                "send valid UTF-8 SQL",
            )
        obj = decision_record(decision, "extended" if extended else "simple")
        if columns is not None and columns.masked:
            obj["masked_columns"] = columns.masked
        event = msgspec.json.encode(obj)
        self.recorder.append(EVENT, event)
        if self.on_decision is not None:
            self.on_decision(decision)
        if decision.action == "allow":  # allows are in the recording; the log keeps refusals
            # A statement masked for the record is judged each time (a hit
            # would be recorded as sent); a secret position bars its shape.
            # A reload during the decision (another thread: the pump's)
            # leaves an old rule's allow uncached.
            cache = (
                generation == self.policy.generation
                and reusable(decision)
                and not (recorded is not None and recorded.masked)
                and (columns is None or columns.cacheable)
            )
            shape = (
                cache
                and (recorded is None or not recorded.structural)
                and decision.classification is not None
                and decision.classification.shape_reusable
            )
            return Verdict(decision, event, allow, cache=cache, shape=shape)
        if decision.action == "hold":
            return Verdict(decision, event, HELD)
        self.log(
            "decision",
            session=self.session_id,
            action=decision.action,
            rule=decision.rule,
            klass=decision.klass,
        )
        data, discard = refuse(decision)
        return Verdict(decision, event, data, discard=discard)

    def judge_decided(self, decide: Callable[[], Decision], *, protocol: str) -> Verdict:
        """Judges a request that is not SQL (HTTP): the driver recorded its
        text itself; ``decide()`` is the policy's decision (an exception
        denies). The verdict's ``send`` is empty when allowed, :data:`HELD`
        when held; a denial is logged."""
        self.statements += 1
        try:
            decision = decide()
        except Exception as exc:  # fail closed: a policy that cannot decide denies
            decision = local_denial(
                "unknown",
                f"the request could not be judged ({type(exc).__name__})",
                "report this to the limen operator",
            )
        if self.on_decision is not None:
            self.on_decision(decision)
        event = msgspec.json.encode(
            {
                "event": "decision",
                "action": decision.action,
                "rule": decision.rule,
                "class": decision.klass,
                "classes": sorted(decision.classes),
                "commands": list(decision.commands),
                "protocol": protocol,
            }
        )
        self.recorder.append(EVENT, event)
        if decision.action == "allow":
            return Verdict(decision, event, b"")
        if decision.action == "hold":
            return Verdict(decision, event, HELD)
        self.log(
            "decision",
            session=self.session_id,
            action=decision.action,
            rule=decision.rule,
            klass=decision.klass,
        )
        return Verdict(decision, event, b"")
