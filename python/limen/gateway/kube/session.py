"""The Kubernetes driver (``protocol = "kubernetes"``): the HTTP session
(:class:`limen.gateway.http.HttpSession`: TLS, request reading, routing
by ``/r/RESOURCE/``, tokens, the upstream connection with the cluster
credential) with a :class:`limen.gateway.kube.relay.KubeRelay` to judge
each call, and ``Status`` objects for limen's own answers."""

from __future__ import annotations

from collections.abc import Iterable

import trio

from limen.gateway.http import HttpSession
from limen.gateway.kube.relay import KubeRelay
from limen.gateway.kube.status import to_status
from limen.gateway.server import Listener
from limen.gateway.session import Session, SessionEnd
from limen.jsonmask import JsonMasker

__all__ = ["KubeGateway", "KubeSession"]


class KubeSession(HttpSession):
    """One kubectl connection (keep-alive) and its upstream connection."""

    protocol = "kubernetes"

    async def login(self) -> None:
        assert self.identity is not None
        assert self.resource is not None
        assert self.upstream is not None
        holds = self.new_holds()
        identity, name = self.identity, self.resource.name
        self.mask_generation = self.services.generation
        masker = self.services.masker_for(identity, name)
        restricted = self.resource.pod_security == "restricted"
        self.http_relay = KubeRelay(
            self,
            self.reader,
            self.upstream,
            holds,
            masker,
            self.json_masker(self.services.policy.mask_for(identity, name)),
            restricted=restricted,
        )

    def json_masker(self, masks: Iterable[str]) -> JsonMasker | None:
        rooted = [m for m in masks if m[:6] == "json:$"]
        # json: paths are rooted at an object: each item of a list too
        # (a watch event's object: gateway/kube/watch.py)
        paths = rooted + ["json:$.items[*]" + m[6:] for m in rooted]
        return JsonMasker(paths) if paths else None

    def fatal_bytes(self, end: SessionEnd) -> bytes:
        return to_status(super().fatal_bytes(end))


class KubeGateway(Listener):
    """The Kubernetes listener (``[listeners] kubernetes``): one port for
    every kubernetes resource (``/r/RESOURCE/`` is the kubeconfig's
    server path)."""

    protocol = "kubernetes"

    def new_session(self, stream: trio.abc.Stream, peer_host: str) -> Session:
        return KubeSession(self.services, stream, peer_host)
