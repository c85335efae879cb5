"""The config's meaning, one module per section.

:func:`check` cross-checks the decoded config and collects every
problem at once. Errors make the config unusable; warnings are printed by
``limen config check`` but do not stop the gateway.

Errors: duplicate or empty names; rules naming unknown resources; rules
that match nobody (no groups and no subjects); held classes with no
approvers; unknown mask detectors; a plain ``password`` on a resource that
is not ``dev = true``; two password sources on one resource; unparsable
upstreams, webhooks or state URLs; plain-HTTP issuers or webhooks off
loopback; listeners off loopback without TLS, or sharing an address; a
leeway over 5m; a static key or a dev IdP client secret that is not a
SHA-256 hex digest; duplicate dev IdP client ids; a client token lifetime
over the maximum.

Warnings (the config is usable but probably not what was meant): a
resource no rule names; a resource whose protocol has no listener; a class
in two of allow/hold/deny of one rule (deny beats hold beats allow);
groups or approvers that no identity source can grant — only decidable
when neither an OIDC provider nor the dev IdP is enabled, since those grant
whatever groups their tokens carry; no identity source at all.
"""

from __future__ import annotations

from limen.config.checks.gateway import check_gateway, check_listeners
from limen.config.checks.identity import check_identity
from limen.config.checks.kube import check_kube_patterns
from limen.config.checks.resources import check_resources
from limen.config.checks.rules import check_mask_rules, check_rules
from limen.config.errors import Issue
from limen.config.schema import Config

__all__ = ["check"]


def check(config: Config) -> list[Issue]:
    """Every problem the config's meaning has (errors and warnings), in order."""
    out: list[Issue] = []

    def err(path: str, message: str) -> None:
        out.append(Issue(path, message, "error"))

    def warn(path: str, message: str) -> None:
        out.append(Issue(path, message, "warning"))

    check_gateway(config, err)
    check_listeners(config, err)
    check_identity(config, err, warn)
    check_resources(config, err, warn)
    check_mask_rules(config, err)
    check_rules(config, err, warn)
    check_kube_patterns(config, err)
    return out
