"""Kubernetes API requests as limen judges them.

:func:`parse` reads a request (method, the normalised path segments of
:func:`limen.policy.http.normalise`, the query) into a :class:`KubeRequest`:
verb, API group, version, resource, subresource, namespace and name, the
way the API server's own request-info resolver does:

- ``/api/v1/...`` (the core group, ``""``) and ``/apis/GROUP/VERSION/...``;
  ``namespaces/NS/RESOURCE[/NAME[/SUBRESOURCE]]`` is namespaced,
  ``RESOURCE[/NAME[/SUBRESOURCE]]`` cluster-scoped (or across namespaces);
  ``namespaces[/NS[/SUBRESOURCE]]`` is the namespace object itself;
- verbs from the method: GET is ``get`` with a name, else ``list`` (``watch``
  with ``?watch=true|1`` or the legacy ``/watch/`` prefix), POST ``create``,
  PUT ``update``, PATCH ``patch``, DELETE ``delete`` (``deletecollection``
  without a name); the subresources ``exec``, ``attach``, ``portforward``,
  ``proxy`` and ``log`` are verbs of their own (``kubectl logs`` is ``log``
  on ``pods``);
- discovery (``/api``, ``/apis``, ``/apis/GROUP[/VERSION]``, ``/api/v1``,
  ``/version``, ``/openapi/...``, ``/healthz``, ``/livez``, ``/readyz``)
  is :data:`DISCOVERY` (GET only): lists of kinds, never objects.

Anything else, and any segment that is not a Kubernetes name (a namespace is
a DNS label; a resource is lower-case letters, digits, ``-`` and ``.``; an
object name has no control characters, no ``/`` and is not ``.`` or
``..``), is :class:`KubeParseError`: the gateway denies it. The segments are
already decoded and normalised, so ``namespaces/%64ev`` is ``dev`` both for
the rules and upstream.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs

__all__ = ["DISCOVERY", "VERBS", "KubeParseError", "KubeRequest", "parse"]

VERBS: Final = (
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "exec",
    "attach",
    "portforward",
    "proxy",
    "log",
)
#: Subresources that are verbs of their own.
_VERB_SUBRESOURCES: Final = {
    "exec": "exec",
    "attach": "attach",
    "portforward": "portforward",
    "proxy": "proxy",
    "log": "log",
}
_DNS_LABEL: Final = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_RESOURCE: Final = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_GROUP: Final = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_VERSION: Final = re.compile(r"v[0-9]+((alpha|beta)[0-9]+)?")
#: ``namespaces/NS/status`` is the namespace's subresource, not a resource.
_NAMESPACE_SUBRESOURCES: Final = frozenset({"status", "finalize"})
_DISCOVERY_ROOTS: Final = frozenset({"version", "healthz", "livez", "readyz", "openapi"})


class KubeParseError(ValueError):
    """A path or method limen does not know as a Kubernetes API call."""


@dataclass(frozen=True)
class KubeRequest:
    """One API call, parsed."""

    verb: str
    group: str
    """``""`` for the core group."""
    version: str
    resource: str
    subresource: str
    """``""`` when none (``exec`` etc. are verbs, but kept here too)."""
    namespace: str
    """``""`` when cluster-scoped or across all namespaces."""
    name: str
    """``""`` for a collection."""

    @property
    def discovery(self) -> bool:
        return self.resource == DISCOVERY_RESOURCE

    @property
    def base(self) -> str:
        """``resource[.group]``: ``pods``, ``deployments.apps``."""
        return self.resource if not self.group else f"{self.resource}.{self.group}"

    @property
    def qualified(self) -> str:
        """``resource[.group][/subresource]``, as rules name it: ``pods``,
        ``deployments.apps``, ``pods/ephemeralcontainers``; a subresource
        that is a verb of its own is left out (``exec pods``, ``log pods``,
        ``proxy nodes``)."""
        if not self.subresource or self.subresource in _VERB_SUBRESOURCES:
            return self.base
        return f"{self.base}/{self.subresource}"

    def words(self) -> tuple[str, str, str, str]:
        """What rules match: verb, qualified resource, namespace, name
        (``-`` for none)."""
        return (self.verb, self.qualified, self.namespace or "-", self.name or "-")

    def command(self) -> str:
        """One line for logs and recordings (``list pods -n dev``)."""
        out = f"{self.verb} {self.qualified}"
        if self.name:
            out += f" {self.name}"
        if self.namespace:
            out += f" -n {self.namespace}"
        return out


DISCOVERY_RESOURCE: Final = "@discovery"
DISCOVERY: Final = KubeRequest("get", "", "", DISCOVERY_RESOURCE, "", "", "")


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.fullmatch(value):
        raise KubeParseError(f"{what} {value!r} is not a Kubernetes {what}")
    return value


def _name(value: str) -> str:
    if value in (".", "..") or not value or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise KubeParseError("an object name is not a Kubernetes name")
    if len(value) > 253:
        raise KubeParseError("an object name is longer than 253 characters")
    return value


def _is_watch(query: str | None) -> bool:
    if not query:
        return False
    values = parse_qs(query, keep_blank_values=True).get("watch", [])
    return any(v.lower() in ("true", "1") for v in values)


def parse(method: str, segments: Sequence[str], query: str | None) -> KubeRequest:
    """The API call of ``method`` on ``segments`` (:class:`KubeParseError`)."""
    method = method.upper()
    segs = list(segments)
    if not segs or segs[0] in _DISCOVERY_ROOTS or segs in (["api"], ["apis"]):
        if method not in ("GET", "HEAD"):
            raise KubeParseError(f"{method} on a discovery path")
        if segs[:1] == ["openapi"] or len(segs) <= 1:
            return DISCOVERY
        raise KubeParseError("an unknown path")
    if segs[0] == "api":
        group = ""
        if len(segs) < 2:
            raise KubeParseError("an unknown path")
        version = _check(_VERSION, segs[1], "version")
        rest = segs[2:]
    elif segs[0] == "apis":
        group = _check(_GROUP, segs[1], "group")
        if len(segs) == 2:
            rest = None
            version = ""
        else:
            version = _check(_VERSION, segs[2], "version")
            rest = segs[3:]
        if rest is None:
            if method not in ("GET", "HEAD"):
                raise KubeParseError(f"{method} on a discovery path")
            return DISCOVERY
    else:
        raise KubeParseError("an unknown path: not under /api or /apis")
    if not rest:
        if method not in ("GET", "HEAD"):
            raise KubeParseError(f"{method} on a discovery path")
        return DISCOVERY
    watch = _is_watch(query)
    if rest[0] == "watch":
        watch = True
        rest = rest[1:]
        if not rest:
            raise KubeParseError("a watch of nothing")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace = _check(_DNS_LABEL, rest[1], "namespace")
        rest = rest[2:]
    elif rest[0] == "namespaces" and len(rest) >= 2:
        _check(_DNS_LABEL, rest[1], "namespace")
    resource = _check(_RESOURCE, rest[0], "resource")
    name = _name(rest[1]) if len(rest) >= 2 else ""
    subresource = ""
    if len(rest) >= 3:
        subresource = _check(_RESOURCE, rest[2], "subresource")
        if len(rest) > 3 and subresource != "proxy":
            raise KubeParseError("an unknown path: segments after the subresource")
    if resource == "namespaces" and name and not namespace:
        namespace = name  # the namespace object is in itself, as the API server says
    verb = _verb(method, name, subresource, watch)
    return KubeRequest(verb, group, version, resource, subresource, namespace, name)


def _verb(method: str, name: str, subresource: str, watch: bool) -> str:
    if subresource in _VERB_SUBRESOURCES:
        return _VERB_SUBRESOURCES[subresource]
    if method in ("GET", "HEAD"):
        if watch:
            return "watch"
        return "get" if name else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    raise KubeParseError(f"the method {method} is not a Kubernetes API verb")
