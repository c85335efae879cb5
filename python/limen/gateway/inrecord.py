"""Statement texts as a gateway session records them (both relays).

A session's statements (``c2u`` records) are masked by
:class:`limen.inmask.InputMasker` (:class:`limen.inmask_mysql.MySqlInputMasker`
for MySQL resources, :class:`limen.inmask_shell.ShellInputMasker` for SSH
command lines) before they are written: the secret positions, then
every built-in detector plus the ``[[mask_rules]]`` the session's rules
name. A masked statement is followed by a ``masking``
record naming the detectors (docs/recording-format.md). What goes upstream
is never changed.

``record_raw_input = true`` on a rule that applies keeps the statements raw,
and is accepted only with ``[gateway] recording_recipient`` (the log is then
encrypted to the auditor's key): the session then starts with an
``input_raw`` event, so a reader knows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from limen.inmask import InputMasker, Masked, masking_record
from limen.inmask_mysql import MySqlInputMasker
from limen.inmask_shell import ShellInputMasker
from limen.mask import native_masker
from limen.recording import C2U, EVENT, Kind, Recorder

if TYPE_CHECKING:
    from limen.config import Config
    from limen.identity import Identity
    from limen.policy import Policy

__all__ = ["InputMaskers", "record_statement"]

#: The statement masker of each protocol (PostgreSQL's for the rest).
_MASKERS: dict[str, type[InputMasker]] = {"mysql": MySqlInputMasker, "ssh": ShellInputMasker}


class InputMaskers:
    """The gateway's statement maskers: one per distinct set of detectors."""

    def __init__(self, config: Config, policy: Policy) -> None:
        self.config = config
        self.policy = policy
        self.builtin = InputMasker()
        self._by_key: dict[tuple[str, ...], InputMasker] = {(): self.builtin}
        self.builtin_mysql = MySqlInputMasker(self.builtin.content)
        self.builtin_shell = ShellInputMasker(self.builtin.content)
        self._mysql: dict[tuple[str, ...], InputMasker] = {(): self.builtin_mysql}
        self._shell: dict[tuple[str, ...], InputMasker] = {(): self.builtin_shell}
        """MySQL resources' maskers (:mod:`limen.inmask_mysql`), by detectors."""

    def raw_for(self, identity: Identity, resource: str) -> bool:
        """True when a rule keeps this session's statements raw (only ever
        with a recipient key: the config refuses it otherwise)."""
        if self.config.recording_recipient_key() is None:
            return False
        return any(r.record_raw_input for r in self.policy.rules_for(identity, resource))

    def for_session(self, identity: Identity, resource: str) -> InputMasker | None:
        """The masker of this session's statements; None: recorded raw."""
        if self.raw_for(identity, resource):
            return None
        names = {r.name for r in self.config.mask_rules}
        key = tuple(sorted(m for m in self.policy.mask_for(identity, resource) if m in names))
        protocol = next((r.protocol for r in self.config.resources if r.name == resource), "")
        kind = _MASKERS.get(protocol, InputMasker)
        cache = {MySqlInputMasker: self._mysql, ShellInputMasker: self._shell}.get(
            kind, self._by_key
        )
        if key not in cache:
            content = (
                self._by_key[key].content
                if key in self._by_key
                else native_masker(["builtin", *key], self.config.mask_rules)
            )
            cache[key] = kind(content)
        return cache[key]

    def start(self, recorder: Recorder, identity: Identity, resource: str) -> InputMasker | None:
        """:meth:`for_session`, telling the log when its statements are raw."""
        masker = self.for_session(identity, resource)
        if masker is None:
            raw_input_event(recorder)
        return masker


def record_statement(recorder: Recorder, masker: InputMasker | None, sql: bytes) -> Masked | None:
    """Records one statement text, masked by ``masker`` (None: raw), and
    what was masked; returns the masking (None when raw)."""
    if masker is None:
        recorder.append(C2U, sql)
        return None
    masked = masker.mask(sql)
    recorder.append(C2U, masked.text, masked=True)
    if masked.masked:
        recorder.append(Kind.MASKING, masking_record(masked))
    return masked


def raw_input_event(recorder: Recorder) -> None:
    """Tells the log that this session's statements are recorded raw."""
    recorder.append(EVENT, msgspec.json.encode({"event": "input_raw", "rule": "record_raw_input"}))
