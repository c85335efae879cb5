"""Checks of the rules that name ``kubernetes`` resources: their command
patterns are Kubernetes call patterns (:mod:`limen.policy.kube.rules`)."""

from __future__ import annotations

from limen.config.checks.common import Report
from limen.config.schema import Config


def check_kube_patterns(config: Config, err: Report) -> None:
    # Imported here: limen.policy imports limen.config.
    from limen.policy.kube.rules import pattern_error

    kube = {r.name for r in config.resources if r.protocol == "kubernetes"}
    for i, rule in enumerate(config.rules):
        if not kube.intersection(rule.resources):
            continue
        for field in ("allow_commands", "hold_commands", "deny_commands"):
            for j, pattern in enumerate(getattr(rule, field)):
                problem = pattern_error(pattern)
                if problem is not None:
                    err(f"$.rules[{i}].{field}[{j}]", problem)
