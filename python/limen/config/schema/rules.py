"""``[[rules]]`` (who may do what on which resources) and ``[[mask_rules]]``
(user masking rules a rule's ``mask`` list names)."""

from __future__ import annotations

from typing import Literal

import msgspec

from limen.config.schema.base import RuleClass, Strict
from limen.config.values import Duration


class Rule(Strict, frozen=True):
    """``[[rules]]``: who may do what on which resources."""

    name: str
    resources: list[str]
    groups: list[str] = msgspec.field(default_factory=list)
    subjects: list[str] = msgspec.field(default_factory=list)
    allow: list[RuleClass] = msgspec.field(default_factory=list)
    hold: list[RuleClass] = msgspec.field(default_factory=list)
    deny: list[RuleClass] = msgspec.field(default_factory=list)
    allow_commands: list[str] = msgspec.field(default_factory=list)
    """SSH resources: command patterns this rule allows (shell words; a
    final ``*`` matches any further words; ``@shell`` an interactive shell,
    ``@sftp OP PATH`` sftp/scp file operations, ``@forward-local HOST:PORT``
    and ``@forward-remote ADDR:PORT`` port forwarding). See docs/ssh.md."""
    hold_commands: list[str] = msgspec.field(default_factory=list)
    """SSH resources: command patterns held for approval."""
    deny_commands: list[str] = msgspec.field(default_factory=list)
    """SSH resources: command patterns denied."""
    mask: list[str] = msgspec.field(default_factory=list)
    mask_predicates: Literal["allow", "deny"] = "allow"
    """With ``deny``, a statement that filters, joins, orders or groups on a
    column this rule masks is refused (no reading it one comparison at a time)."""
    approvers: list[str] = msgspec.field(default_factory=list)
    approvals_required: int = 1
    hold_timeout: Duration | None = None
    """Default: ``[gateway] hold_timeout``."""
    webhook: str | None = None
    record_raw_input: bool = False
    """Keep the statements of matching sessions raw in the session log
    (accepted only with ``[gateway] recording_recipient``)."""


class MaskRuleConfig(Strict, frozen=True):
    """``[[mask_rules]]``: a user masking rule, usable by name in a rule's
    ``mask`` list. Give ``regex`` (Rust syntax; a capture group masks only
    that part) or ``words`` (literal words)."""

    name: str
    regex: str | None = None
    words: list[str] | None = None
    case_insensitive: bool = False
