"""File transfers judged per operation: sftp (each SFTP request) and the
legacy scp protocol (its ``scp -t`` / ``scp -f`` command line).

A file operation is judged as the words ``@sftp OP PATH…`` against the
rules' command patterns (docs/ssh.md), e.g. ``@sftp read /srv/reports/*``,
``@sftp write /tmp/*``, ``@sftp list *``; ``@sftp *`` (or a bare
``@sftp``) allows every operation. The operations: ``read``, ``write``
(an open for writing, creating, appending or truncating), ``list``,
``stat``, ``setstat``, ``remove``, ``mkdir``, ``rmdir``, ``rename OLD
NEW``, ``symlink LINK TARGET``, ``link OLD NEW``. An scp upload is
``write PATH``, a download ``read PATH`` (with ``-r``: ``PATH/*``, so the
rule must cover what lies under the path).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import replace

from limen.config import Rule
from limen.identity import Identity
from limen.policy.engine import Action, Decision, Policy
from limen.policy.ssh.words import Unjudgeable, matches

__all__ = ["FILES", "decide_file", "normalise", "opens_files", "scp_operation"]

FILES = "@sftp"

_SCP_FLAGS = frozenset("tfrdpvq")


def normalise(path: str) -> str:
    """``path`` as the rules see it: ``.`` and ``..`` folded (lexically),
    repeated slashes merged; a relative path stays relative (and is
    covered only by patterns written for it)."""
    if path == "":
        return "."
    folded = posixpath.normpath(path)
    if folded.startswith("//"):
        folded = "/" + folded.lstrip("/")
    return folded


def scp_operation(words: Sequence[str]) -> tuple[str, list[str]] | None:
    """``(op, paths)`` when ``words`` are a legacy scp server command
    (``scp -t PATH``, ``scp -f PATH…``); None when they are not scp;
    :class:`Unjudgeable` for an scp command limen cannot read."""
    if not words or words[0] != "scp":
        return None
    flags: set[str] = set()
    paths: list[str] = []
    rest = list(words[1:])
    while rest and rest[0].startswith("-") and rest[0] != "--":
        word = rest.pop(0)
        for flag in word[1:]:
            if flag not in _SCP_FLAGS:
                raise Unjudgeable(f"an scp option limen does not read (-{flag})")
            flags.add(flag)
    if rest and rest[0] == "--":
        rest.pop(0)
    paths = rest
    if ("t" in flags) == ("f" in flags):
        raise Unjudgeable("scp without exactly one of -t and -f")
    if not paths or ("t" in flags and len(paths) != 1):
        raise Unjudgeable("scp with no path (or several targets)")
    op = "write" if "t" in flags else "read"
    folded = [normalise(p) for p in paths]
    if "r" in flags:
        folded = [p.rstrip("/") + "/*" for p in folded]
    return op, folded


def _first(rules: Sequence[Rule], field: str, words: Sequence[str]) -> tuple[Rule, str] | None:
    for rule in rules:
        for pattern in getattr(rule, field):
            want = pattern.split()
            if want == [FILES]:
                # A bare @sftp covers every operation; held, it is the
                # opening that waits (once), not each operation.
                if field != "hold_commands":
                    return rule, pattern
            elif want[:1] == [FILES] and matches(pattern, words):
                return rule, pattern
    return None


def _decision(action: Action, rule: Rule | None, pattern: str, message: str, hint: str) -> Decision:
    klass = f"ssh:{pattern}"
    return Decision(
        action=action,
        rule=rule.name if rule is not None else None,
        klass=klass,
        classes=frozenset({klass}),
        tables=frozenset(),
        message=message,
        hint=hint,
    )


def decide_file(
    policy: Policy, identity: Identity, resource: str, op: str, paths: Sequence[str]
) -> Decision:
    """Judges one file operation (module docs): deny, then uncovered (deny),
    then hold, else allow."""
    rules = policy.rules_for(identity, resource)
    words = [FILES, op, *paths]
    shown = " ".join([op, *paths])
    denied = _first(rules, "deny_commands", words)
    if denied is not None:
        rule, pattern = denied
        return _decision(
            "deny",
            rule,
            pattern,
            f"denied by rule {rule.name}: {shown} matches {pattern!r}",
            "this cannot be approved: the operation is denied here, not held",
        )
    held = _first(rules, "hold_commands", words)
    allowed = _first(rules, "allow_commands", words)
    if held is not None:
        rule, pattern = held
        timeout = rule.hold_timeout or policy.config.gateway.hold_timeout
        return replace(
            _decision(
                "hold", rule, pattern, f"held by rule {rule.name}: {shown} matches {pattern!r}", ""
            ),
            hint=None,
            approvers=tuple(rule.approvers),
            hold_timeout=timeout.seconds,
            approvals_required=rule.approvals_required,
            webhook=rule.webhook,
        )
    if allowed is None:
        return _decision(
            "deny",
            None,
            "uncovered",
            f"denied: no rule allows {shown} on resource {resource}",
            f"ask the operator for a rule whose allow_commands covers '@sftp {op} …'",
        )
    rule, pattern = allowed
    return replace(_decision("allow", rule, pattern, f"allowed by rule {rule.name}", ""), hint=None)


def opens_files(rules: Sequence[Rule]) -> tuple[Rule, str] | None:
    """The first rule that allows some file operation (``@sftp …``): the
    sftp subsystem opens for it, each operation judged then."""
    for rule in rules:
        for pattern in rule.allow_commands:
            if pattern.split()[:1] == [FILES]:
                return rule, pattern
    return None
