"""What the helpers of an exchange (:mod:`~limen.gateway.http.response`,
:mod:`~limen.gateway.http.judged`, :mod:`~limen.gateway.http.deferred`)
use of the relay that calls them: :class:`RelayParts`, which
:class:`limen.gateway.http.relay.HttpRelay` is (a protocol: the helpers
never import the relay)."""

from __future__ import annotations

from typing import Protocol

from limen import _native
from limen.config import Resource
from limen.gateway.holds import Holds
from limen.gateway.http.problem import Problem
from limen.gateway.http.reader import ClientReader, ClientRequest
from limen.gateway.http.upstream import Upstream
from limen.gateway.session import Session
from limen.identity import Identity
from limen.jsonmask import JsonMasker

__all__ = ["RelayParts"]


class RelayParts(Protocol):
    session: Session
    reader: ClientReader
    upstream: Upstream
    holds: Holds
    masker: _native.Masker | None
    json_masker: JsonMasker | None
    discard_limit: int
    upstream_idle_since: float
    raw_upgrade: bool

    @property
    def resource(self) -> Resource: ...

    @property
    def identity(self) -> Identity: ...

    def record(self, kind: str, data: bytes, *, masked: bool = False) -> None: ...

    def mask_input(self, data: bytes) -> bytes: ...

    async def reply(
        self,
        req: ClientRequest,
        doc: Problem,
        headers: list[tuple[bytes, bytes]] | None = None,
        *,
        close: bool,
    ) -> bool: ...
