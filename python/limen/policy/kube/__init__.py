"""Kubernetes API policy: calls parsed into verb and object
(:mod:`limen.policy.kube.request`), the Pod Security Standards on the pods a
write would make (:mod:`limen.policy.kube.podsec`) and the rules' patterns
(:mod:`limen.policy.kube.rules`)."""

from limen.policy.kube.podsec import POD_RESOURCES, holds_pods, pod_specs, violations
from limen.policy.kube.request import DISCOVERY, VERBS, KubeParseError, KubeRequest, parse
from limen.policy.kube.rules import decide_kube, matches, pattern_error

__all__ = [
    "DISCOVERY",
    "POD_RESOURCES",
    "VERBS",
    "KubeParseError",
    "KubeRequest",
    "decide_kube",
    "holds_pods",
    "matches",
    "parse",
    "pattern_error",
    "pod_specs",
    "violations",
]
