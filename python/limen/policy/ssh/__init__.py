"""SSH requests judged by the rules' command patterns.

A rule's ``allow_commands``, ``hold_commands`` and ``deny_commands`` hold
patterns in shell words: ``git status``, ``git log *`` (a final ``*``
matches any further words, none included), ``systemctl restart app-*``
(each other word is a glob on one word). ``@shell`` names an interactive
shell, ``@sftp`` the sftp subsystem. :func:`decide_ssh` reads an ``exec``
command line into its commands (:mod:`limen.policy.ssh.words`) and judges
every one; the request is as bad as its worst command:

1. a command any applicable rule denies → ``deny``;
2. a command no applicable rule allows or holds → ``deny``;
3. a command a rule holds → ``hold`` (the first such rule);
4. else ``allow``.

A command line limen cannot read (a substitution, a redirection, ...)
is denied. File transfers are judged per operation
(:mod:`limen.policy.ssh.files`): an ``scp -t``/``scp -f`` line as the
upload or download it is; the sftp subsystem opens for a rule that allows
some ``@sftp …`` operation, and the gateway judges each SFTP request.

The decision's class is ``ssh:<the pattern that decided>`` (a grant of
``limen approvals approve --for`` covers that pattern), or
``ssh:unknown``, ``ssh:uncovered``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from limen.config import Rule
from limen.identity import Identity
from limen.policy.engine import Decision, Policy
from limen.policy.ssh.files import decide_file, opens_files, scp_operation
from limen.policy.ssh.words import Unjudgeable, matches, split_command

__all__ = [
    "SFTP",
    "SHELL",
    "Request",
    "decide_file",
    "decide_ssh",
    "is_scp",
    "matches",
    "split_command",
]

SHELL: Final = "@shell"
SFTP: Final = "@sftp"


@dataclass(frozen=True)
class Request:
    """What an SSH channel asks for."""

    kind: Literal["exec", "shell", "subsystem", "forward"]
    command: str = ""
    """The exec command line, the subsystem's name, or a forwarding's
    words (``@forward-local HOST:PORT``, ``@forward-remote ADDR:PORT``,
    ``@agent``)."""


def _first(rules: Sequence[Rule], field: str, words: Sequence[str]) -> tuple[Rule, str] | None:
    for rule in rules:
        for pattern in getattr(rule, field):
            if matches(pattern, words):
                return rule, pattern
    return None


def _denial(klass: str, rule: str | None, message: str, hint: str) -> Decision:
    return Decision(
        action="deny",
        rule=rule,
        klass=klass,
        classes=frozenset({klass}),
        tables=frozenset(),
        message=message,
        hint=hint,
    )


def _scp(commands: list[list[str]]) -> tuple[str, list[str]] | None:
    """The file operation of a legacy scp server command (alone on its
    line), or None when the line runs no scp."""
    if not any(words and words[0] == "scp" for words in commands):
        return None
    if len(commands) != 1:
        raise Unjudgeable("scp must be the only command of its line")
    return scp_operation(commands[0])


def is_scp(request: Request) -> bool:
    """Whether ``request`` runs a legacy scp server (``scp -t``/``-f``):
    its stdin and stdout carry files, not terminal text."""
    if request.kind != "exec":
        return False
    try:
        return _scp(split_command(request.command)) is not None
    except Unjudgeable:
        return False


def decide_ssh(policy: Policy, identity: Identity, resource: str, request: Request) -> Decision:
    """Judges one SSH request of ``identity`` on ``resource`` (module docs)."""
    rules = policy.rules_for(identity, resource)
    if request.kind == "shell":
        commands = [[SHELL]]
    elif request.kind == "subsystem":
        commands = [[f"@{request.command}"]]
    elif request.kind == "forward":
        commands = [request.command.split()]
    else:
        try:
            commands = split_command(request.command)
            scp = _scp(commands)
        except Unjudgeable as exc:
            return _denial(
                "ssh:unknown",
                None,
                f"denied: limen cannot judge this command line: {exc}",
                "send one simple command (or several joined by ; && || |) without "
                "substitutions, redirections or variables",
            )
        if scp is not None:
            return decide_file(policy, identity, resource, *scp)
    held: tuple[Rule, str] | None = None
    held_what = ""
    allowed: tuple[Rule, str] | None = None
    for words in commands:
        what = words[0]
        denied = _first(rules, "deny_commands", words)
        if denied is not None:
            rule, pattern = denied
            return _denial(
                f"ssh:{pattern}",
                rule.name,
                f"denied by rule {rule.name}: {what} matches {pattern!r}",
                "this cannot be approved: the command is denied here, not held",
            )
        hold = _first(rules, "hold_commands", words)
        allow = _first(rules, "allow_commands", words)
        if hold is None and allow is None and words == [SFTP]:
            allow = opens_files(rules)  # some rule allows some file operation
        if hold is None and allow is None:
            return _denial(
                "ssh:uncovered",
                None,
                f"denied: no rule allows {what} on resource {resource}",
                "ask the operator for a rule whose allow_commands covers this command",
            )
        if hold is not None and held is None:
            held, held_what = hold, what
        if allow is not None and hold is None:
            allowed = allow
    if held is not None:
        rule, pattern = held
        timeout = rule.hold_timeout.seconds if rule.hold_timeout is not None else None
        return Decision(
            action="hold",
            rule=rule.name,
            klass=f"ssh:{pattern}",
            classes=frozenset({f"ssh:{pattern}"}),
            tables=frozenset(),
            message=f"held by rule {rule.name}: {held_what} matches {pattern!r}",
            approvers=tuple(rule.approvers),
            hold_timeout=timeout
            if timeout is not None
            else policy.config.gateway.hold_timeout.seconds,
            approvals_required=rule.approvals_required,
            webhook=rule.webhook,
        )
    assert allowed is not None
    rule, pattern = allowed
    return Decision(
        action="allow",
        rule=rule.name,
        klass=f"ssh:{pattern}",
        classes=frozenset({f"ssh:{pattern}"}),
        tables=frozenset(),
        message=f"allowed by rule {rule.name}",
    )
