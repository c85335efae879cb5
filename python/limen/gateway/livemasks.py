"""A reload's masks for live sessions of the Python relays (HTTP,
Kubernetes, SSH) and for MySQL sessions.

A reload (:mod:`limen.gateway.reload`) rebinds every live session
(:meth:`limen.gateway.session.Session.rebind`). PostgreSQL sessions take
the new masks in :mod:`limen.gateway.postgres.remask`; the others here:

- HTTP and Kubernetes (:meth:`HttpSession.rebind
  <limen.gateway.http.session.HttpSession.rebind>`): the relay's content
  masker and ``json:`` masker are replaced, so the next response is masked
  by the new ones (a response streaming when the reload lands keeps the
  masker it started with); upgraded connections (WebSocket, exec streams)
  take them at their next frame; an upgrade to another protocol (let
  through raw: the session was unmasked) is ended when the reload gives
  the session masks (``session_remask_refused``, reason ``raw upgrade``);
- SSH (:meth:`SshSession.rebind
  <limen.gateway.ssh.session.SshSession.rebind>`): the channels' masker is
  replaced; each running channel's output (and recorded input) takes it at
  its next chunk, after releasing what the old masker held back, masked;
- all three: the statement masker (what is recorded of requests, command
  lines) becomes the new one (:func:`take_input_masker`), and a session
  whose rules now keep them raw says so in its log (``input_raw``);
- MySQL (:meth:`MySqlSession.rebind
  <limen.gateway.mysql.session.MySqlSession.rebind>`), when its masks
  changed (the mask list, or the definition of a ``[[mask_rules]]`` entry
  it uses: :func:`signature`), on either relay: the native relay's content
  masker and the statement masker are replaced (on the native pump through
  its core's mask swap), and changed ``column:`` masks are resolved on a
  side connection while the next command waits
  (:mod:`limen.gateway.mysql.relive`); a session whose new column masks
  cannot be resolved is ended with a clear message
  (``session_remask_refused``), never left serving what the new config
  masks. A session whose masks are the same goes on with the new rules.
"""

from __future__ import annotations

from typing import Protocol

from limen import _native
from limen.config import Resource
from limen.gateway.inrecord import raw_input_event
from limen.gateway.judging import Judge
from limen.gateway.services import Services
from limen.identity import Identity
from limen.inmask import InputMasker
from limen.recording import Recorder

__all__ = ["CHANGED", "Live", "Masks", "columns", "new_masks", "signature", "take_input_masker"]

#: The end of a session that cannot take its changed masks live.
CHANGED = (
    "57P01",
    "the masking rules of this session changed (a configuration reload); reconnect",
)


class Live(Protocol):
    """What a reload reads and sets of a live session."""

    services: Services
    session_id: str
    identity: Identity | None
    resource: Resource | None
    recorder: Recorder | None
    input_masker: InputMasker | None
    judge: Judge | None
    mask_generation: int


class Masks:
    """The services' current masks for one session."""

    def __init__(self, session: Live, identity: Identity, resource: str) -> None:
        services = session.services
        self.masker: _native.Masker | None = services.masker_for(identity, resource)
        self.input_masker = services.input_maskers.for_session(identity, resource)
        self.names = services.policy.mask_for(identity, resource)


def new_masks(session: Live) -> Masks | None:
    """The current masks when the session's are from an older config (None:
    it has them, or has not logged in: login takes the current ones)."""
    services = session.services
    if session.identity is None or session.resource is None:
        return None
    if session.mask_generation == services.generation:
        return None
    session.mask_generation = services.generation
    return Masks(session, session.identity, session.resource.name)


def take_input_masker(session: Live, masks: Masks) -> None:
    """The session records its next statements through ``masks``' statement
    masker (and logs ``input_raw`` when it has none now), then logs
    ``session_remasked``."""
    input_masker = masks.input_masker
    if input_masker is None and session.input_masker is not None and session.recorder:
        raw_input_event(session.recorder)
    session.input_masker = input_masker
    if session.judge is not None:
        session.judge.input_masker = input_masker
    session.services.log(
        "session_remasked",
        session=session.session_id,
        masks=len(masks.names),
        results_masked=masks.masker is not None,
    )


def columns(signature: tuple[tuple[str, ...], tuple[object, ...]]) -> set[str]:
    """The ``column:`` masks of a :func:`signature`."""
    return {m for m in signature[0] if m.startswith("column:")}


def signature(session: Live) -> tuple[tuple[str, ...], tuple[object, ...]] | None:
    """What a session's masks are made of under the current config: its
    mask list and the ``[[mask_rules]]`` entries it names (None before
    login)."""
    if session.identity is None or session.resource is None:
        return None
    services = session.services
    names = tuple(sorted(services.policy.mask_for(session.identity, session.resource.name)))
    used = tuple(r for r in services.config.mask_rules if r.name in names)
    return (names, used)
