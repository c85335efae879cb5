"""Kubernetes API calls judged by the rules' patterns.

A ``kubernetes`` resource's rules use ``allow_commands``, ``hold_commands``
and ``deny_commands`` (the fields SSH rules use) with patterns of up to four
words, ``VERB RESOURCE NAMESPACE NAME``, matched against the parsed call
(:meth:`limen.policy.kube.request.KubeRequest.words`):

- each word is a glob (``*``, ``?``, ``[...]``) and may list alternatives
  with commas: ``get,list,watch pods,deployments.apps dev,staging``;
- missing trailing words match anything: ``get pods`` is ``get pods * *``;
- RESOURCE is qualified by its group (``deployments.apps``) and a
  subresource (``pods/ephemeralcontainers``, ``pods/status``); the
  subresources that are verbs (exec, attach, portforward, proxy, log) are
  left out: ``exec pods dev``, ``proxy nodes``;
- NAMESPACE is ``-`` for cluster-scoped objects and lists across all
  namespaces (``kubectl get pods -A``), so ``dev`` never covers those;
- a ``*`` (or any glob) never matches the ``@`` pseudo-verbs: a pod that
  breaks the Pod Security Standards is judged a second time as
  ``@baseline`` (or ``@restricted``) on the same resource, namespace and
  name, and only a pattern naming ``@baseline`` allows or holds it.

As for SSH: a call any applicable rule denies is denied; one no rule allows
or holds is denied; one a rule holds is held; else allowed. Namespaces by
label selector are out of scope: rules name namespaces.

Discovery (:data:`limen.policy.kube.request.DISCOVERY`: lists of API kinds,
no objects) is allowed for anyone some rule lets onto the resource.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from limen.config import Rule
from limen.identity import Identity
from limen.policy.engine import Decision, Policy
from limen.policy.kube.request import KubeRequest

__all__ = ["decide_kube", "matches", "pattern_error"]

_ORDER = {"allow": 0, "hold": 1, "deny": 2}


def pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` is not a Kubernetes rule pattern (None: it is)."""
    words = pattern.split()
    if not 1 <= len(words) <= 4:
        return "a Kubernetes pattern is 1 to 4 words: VERB RESOURCE NAMESPACE NAME"
    if any(not alt for w in words for alt in w.split(",")):
        return "an empty alternative (a stray comma)"
    return None


def _word(pattern: str, value: str, *, verb: bool) -> bool:
    for alt in pattern.split(","):
        if verb and value.startswith("@") and alt != value:
            continue  # pseudo-verbs only by their own name
        if fnmatch.fnmatchcase(value, alt):
            return True
    return False


def matches(pattern: str, words: Sequence[str]) -> bool:
    """Whether the call ``words`` match ``pattern`` (module docs)."""
    want = pattern.split()
    if not 1 <= len(want) <= len(words):
        return False
    return all(_word(p, w, verb=i == 0) for i, (p, w) in enumerate(zip(want, words, strict=False)))


def _first(rules: Sequence[Rule], field: str, words: Sequence[str]) -> tuple[Rule, str] | None:
    for rule in rules:
        for pattern in getattr(rule, field):
            if matches(pattern, words):
                return rule, pattern
    return None


def _decision(
    policy: Policy, action: str, rule: Rule | None, klass: str, message: str, hint: str | None
) -> Decision:
    hold = action == "hold" and rule is not None
    timeout = None
    if hold and rule is not None:
        timeout = (
            rule.hold_timeout.seconds
            if rule.hold_timeout is not None
            else policy.config.gateway.hold_timeout.seconds
        )
    return Decision(
        action="allow" if action == "allow" else "hold" if hold else "deny",
        rule=rule.name if rule is not None else None,
        klass=klass,
        classes=frozenset({klass}),
        tables=frozenset(),
        message=message,
        hint=hint,
        approvers=tuple(rule.approvers) if hold and rule is not None else (),
        hold_timeout=timeout,
        approvals_required=rule.approvals_required if hold and rule is not None else 0,
        webhook=rule.webhook if hold and rule is not None else None,
    )


def _judge(policy: Policy, rules: Sequence[Rule], words: Sequence[str], what: str) -> Decision:
    denied = _first(rules, "deny_commands", words)
    if denied is not None:
        rule, pattern = denied
        return _decision(
            policy,
            "deny",
            rule,
            f"kube:{pattern}",
            f"denied by rule {rule.name}: {what} matches {pattern!r}",
            "this cannot be approved: it is denied here, not held",
        )
    held = _first(rules, "hold_commands", words)
    if held is not None:
        rule, pattern = held
        return _decision(
            policy,
            "hold",
            rule,
            f"kube:{pattern}",
            f"held by rule {rule.name}: {what} matches {pattern!r}",
            None,
        )
    allowed = _first(rules, "allow_commands", words)
    if allowed is None:
        return _decision(
            policy,
            "deny",
            None,
            "kube:uncovered",
            f"denied: no rule allows {what}",
            "ask the operator for a rule whose allow_commands covers this call",
        )
    rule, pattern = allowed
    return _decision(policy, "allow", rule, f"kube:{pattern}", f"allowed by rule {rule.name}", None)


def decide_kube(
    policy: Policy,
    identity: Identity,
    resource: str,
    request: KubeRequest,
    violations: Sequence[str] = (),
    profile: str = "baseline",
) -> Decision:
    """Judges one API call of ``identity`` on ``resource``; ``violations``
    are the Pod Security Standards ``profile`` breaks of the object it
    writes (module docs)."""
    rules = policy.rules_for(identity, resource)
    if not rules:
        return _decision(
            policy,
            "deny",
            None,
            "kube:uncovered",
            f"denied: no rule lets you use resource {resource}",
            "ask the operator for a rule naming this resource",
        )
    if request.discovery:
        return _decision(policy, "allow", None, "kube:discovery", "discovery is allowed", None)
    words = request.words()
    decision = _judge(policy, rules, words, request.command())
    if decision.action == "deny" or not violations:
        return decision
    shown = "; ".join(violations[:5]) + ("; ..." if len(violations) > 5 else "")
    pseudo = (f"@{profile}", *words[1:])
    second = _judge(
        policy,
        rules,
        pseudo,
        f"{request.command()} breaking the {profile} Pod Security Standard ({shown})",
    )
    if second.action == "deny" and second.rule is None:
        second = _decision(
            policy,
            "deny",
            None,
            f"kube:@{profile}",
            f"denied: {request.command()} breaks the Pod Security Standards "
            f"{profile} profile: {shown}",
            f"remove these settings, or ask the operator for a rule that allows or holds "
            f"'@{profile}' here",
        )
    return second if _ORDER[second.action] >= _ORDER[decision.action] else decision
