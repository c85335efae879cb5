"""A ``SIGHUP`` reload's masks for a live PostgreSQL session (both relays).

A reload (:mod:`limen.gateway.reload`) rebinds every live session to the
new rules; a PostgreSQL session also takes the new masks, so that its next
statements see them, as they see the new rules:

- results: the relay's content masker (``builtin``, detector names,
  ``[[mask_rules]]``) is replaced in the shared native relay, and the
  ``u2c`` records' ``MASKED`` flag follows it (under the relay's lock, so a
  flag always matches the masker its bytes went through: ``MaskSwap`` in
  ``limen-pump``);
- statement texts as recorded: the session's statement masker (the judge's,
  the approvers' view of a held statement, and the native core's, which
  records cached decisions) becomes the new one; cached decisions are
  forgotten. A session whose rules now keep statements raw says so in its
  log (``input_raw``), as at a session start;
- column masks (``column:table.column``) are resolved to the upstream's
  column identities by a catalog query: for a session whose column masks
  changed, on a side connection, while its next statement waits; then all
  of the above (:mod:`limen.gateway.postgres.relive`). When that fails the
  session is ended (``57P01``, "reconnect"), never left showing a column
  the new config masks. Nothing changes for a session whose masks are the
  same.

Rows of a result set already streaming when the reload lands may be masked
by either masker (they are never unmasked by both).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from limen import _native
from limen.gateway.inrecord import raw_input_event
from limen.gateway.postgres import relive
from limen.inmask import InputMasker
from limen.recording import Recorder

__all__ = ["MaskSetter", "Remaskable", "mask_key", "remask"]

MaskSetter = Callable[[_native.Masker | None, _native.Masker | None, bool], None]
"""A running relay's ``set_masks`` (the pump's or the Trio relay's core)."""


class Remaskable(relive.Relivable, Protocol):
    """What a reload reads and sets of a live PostgreSQL session
    (``PgSession``; a protocol, so that this module does not import the
    session's, which imports it)."""

    recorder: Recorder | None
    input_masker: InputMasker | None
    results_masked: bool
    mask_generation: int
    mask_setter: MaskSetter | None


#: The end of a session whose column masks changed before its relay ran.
COLUMNS_CHANGED = (
    "57P01",
    "the masking rules of this session changed (a configuration reload); reconnect",
)


def mask_key(session: Remaskable) -> tuple[str, ...]:
    """The session's mask list under the services' current rules."""
    assert session.identity is not None
    assert session.resource is not None
    return tuple(sorted(session.services.policy.mask_for(session.identity, session.resource.name)))


def _columns(key: tuple[str, ...]) -> set[str]:
    return {m for m in key if m.startswith("column:")}


def remask(session: Remaskable) -> bool:
    """Gives a live session the services' current masks (a no-op when it
    has them: same generation). True when its masks changed."""
    services = session.services
    if session.identity is None or session.resource is None or session.mask_key is None:
        return False  # not logged in yet: login takes the current masks
    if session.mask_generation == services.generation:
        return False
    session.mask_generation = services.generation
    key = mask_key(session)
    pending = session.pg_judge is not None and session.pg_judge.pending is not None
    if pending or _columns(key) != _columns(session.mask_key):
        if not relive.start(session, lambda newest: _swap(session, newest)):
            services.log("session_remask_refused", session=session.session_id, reason="columns")
            session.kill(*COLUMNS_CHANGED)
        return True
    _swap(session, key)
    return True


def _swap(session: Remaskable, key: tuple[str, ...]) -> None:
    """The masks of ``key`` for results and statement texts (its column
    masks are in place)."""
    services = session.services
    assert session.identity is not None
    assert session.resource is not None
    identity, resource = session.identity, session.resource.name
    session.mask_key = key
    masker = services.masker_for(identity, resource)
    input_masker = services.input_maskers.for_session(identity, resource)
    if input_masker is None and session.input_masker is not None and session.recorder:
        raw_input_event(session.recorder)
    session.input_masker = input_masker
    if session.judge is not None:
        session.judge.input_masker = input_masker
    session.results_masked = masker is not None
    if session.mask_setter is not None:
        content = None if input_masker is None else input_masker.content
        session.mask_setter(masker, content, masker is not None)
    services.log(
        "session_remasked",
        session=session.session_id,
        masks=len(key),
        results_masked=masker is not None,
    )
