"""What a Kubernetes call writes, as the relay judges it: the resource
whose pods a call makes (:func:`pod_write`), a JSON patch whose result
depends on the object (:func:`state_dependent`), and the ``kube_request``
event of a call (:func:`call_event`)."""

from __future__ import annotations

import msgspec

from limen.gateway.http.reader import ClientRequest
from limen.policy.kube import KubeRequest
from limen.policy.kube.podsec import holds_pods

__all__ = ["call_event", "pod_write", "state_dependent"]


def pod_write(call: KubeRequest) -> str | None:
    """The resource whose pods ``call`` writes (``pods``,
    ``deployments.apps``, a custom resource: ``rollouts.argoproj.io``...),
    or None when it writes none."""
    if call.verb not in ("create", "update", "patch"):
        return None
    base = call.resource if not call.group else f"{call.resource}.{call.group}"
    if not holds_pods(base):
        return None
    if call.subresource == "" or (base == "pods" and call.subresource == "ephemeralcontainers"):
        return base
    return None


def state_dependent(req: ClientRequest, body: bytes) -> list[str]:
    """A JSON patch whose values come from the object itself (``copy``,
    ``move``): judged on a dry run, it could make something else when the
    object changes before the real request; a violation of its own."""
    ctype = (req.header(b"content-type") or b"").split(b";")[0].strip().lower()
    if ctype != b"application/json-patch+json":
        return []
    try:
        ops = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return ["a JSON patch limen cannot read"]
    if not isinstance(ops, list):
        return ["a JSON patch that is not a list"]
    kinds = {op.get("op") if isinstance(op, dict) else None for op in ops}
    if kinds & {"copy", "move", None}:
        return ["a JSON patch copy or move (its result depends on the object when it runs)"]
    return []


def call_event(call: KubeRequest, found: list[str]) -> dict[str, object]:
    """The ``kube_request`` event of ``call`` (``found``: its violations)."""
    return {
        "event": "kube_request",
        "command": call.command(),
        "verb": call.verb,
        "group": call.group,
        "version": call.version,
        "resource": call.resource,
        "subresource": call.subresource,
        "namespace": call.namespace,
        "name": call.name,
        "violations": found,
    }
