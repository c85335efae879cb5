"""Session logs: write, read and verify them.

A session log is one file per session: a header, framed records (each with a
BLAKE3 checksum, all linked by a BLAKE3 hash chain) and, when the session
closes, a trailer with the final chain hash and the counts signed with the
gateway's Ed25519 recording key. Payloads may be encrypted to an auditor's
X25519 public key. The format is in ``docs/recording-format.md``; the work
is done by the native crate ``limen-record``. Keys: :mod:`limen.recording.keys`.

>>> from limen.recording import SessionWriter, generate_signing_key, signing_public_key, verify
>>> sk = generate_signing_key()
>>> with SessionWriter(path, session_id="s1", identity="ci", resource="db",
...                    protocol="postgres", signing_key=sk) as w:
...     w.append("c2u", b"SELECT 1")
>>> verify(path, signing_public_key(sk)).ok
True
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from limen import _native

__all__ = [
    "Header",
    "Kind",
    "LogError",
    "LogReader",
    "Record",
    "SessionWriter",
    "VerifyResult",
    "open_log",
    "verify",
]

Buffer = bytes | bytearray | memoryview
PathLike = str | os.PathLike[str]


class Kind(enum.StrEnum):
    """What a record holds."""

    C2U = "c2u"
    """Bytes the client (the bot) sent towards the upstream."""
    U2C = "u2c"
    """Bytes the upstream sent back towards the client."""
    DECISION = "decision"
    """A policy decision: allow, deny or hold, and the rule."""
    APPROVAL = "approval"
    """An approval granted, denied or timed out."""
    MASKING = "masking"
    """A masking finding."""
    ERROR = "error"
    """An error the session hit."""
    EVENT = "event"
    """Any other event."""


class LogError(ValueError):
    """A log that cannot be read: tampered, malformed, or the wrong key."""


@dataclass(frozen=True, slots=True)
class Header:
    """The header of a session log. ``signing_public_key`` is the key the log
    names itself; it proves nothing on its own (anyone can write a log that
    names their own key): verify against a key you trust."""

    version: int
    session_id: str
    identity: str
    resource: str
    protocol: str
    start_unix_us: int
    encrypted: bool
    max_record: int
    signing_public_key: bytes
    signing_key_id: str
    recipient_public_key: bytes | None
    recipient_key_id: str | None

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Header:
        return cls(**{f: d[f] for f in cls.__slots__})


@dataclass(frozen=True, slots=True)
class Record:
    """One record as appended (a payload split across records is rejoined;
    ``seq`` is then the sequence number of its first part)."""

    seq: int
    t_us: int
    """Microseconds since the session start."""
    kind: Kind
    payload: bytes
    masked: bool = False
    """The payload went through limen's masking before it was written (the
    record's MASKED flag, format version 3; False in version 2 logs)."""


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What :func:`verify` found.

    ``status`` is ``"intact"``, ``"truncated"`` (cut short by a crash or still
    being written: every complete record checks, but there is no signed
    trailer) or ``"tampered"``. ``first_bad`` is the sequence number of the
    first record that cannot be trusted, ``reason`` says why, ``code`` is a
    short stable name for it (``checksum``, ``missing``, ``out-of-order``,
    ``chain``, ``counts``, ``signature``, ``wrong-signer``, ...).
    ``authenticated`` is True only when the signature was checked against a
    key you supplied.
    """

    status: Literal["intact", "truncated", "tampered"]
    first_bad: int | None
    reason: str | None
    code: str | None
    offset: int | None
    frames: int
    records: int
    payload_bytes: int
    authenticated: bool
    header: Header | None

    @property
    def ok(self) -> bool:
        """Intact, and the trailer's signature holds (under the key given to
        :func:`verify`, or, without one, the key the log names itself)."""
        return self.status == "intact"

    @property
    def truncated(self) -> bool:
        return self.status == "truncated"

    @property
    def tampered(self) -> bool:
        return self.status == "tampered"


class SessionWriter:
    """Writes one session log at ``path`` (which must not exist yet).

    ``signing_key``: the 32-byte Ed25519 key that signs the trailer.
    ``recipient``: an auditor's 32-byte X25519 public key; when given,
    payloads are encrypted to it and only its private key can read them back.
    Flush policy: pending records are written once ``flush_bytes`` are
    waiting, or on an append ``flush_ms`` after the previous write (None: by
    bytes only), and always at :meth:`close`, which also signs and fsyncs;
    ``fsync_each`` fsyncs every write. A payload over ``max_record`` bytes is
    split across records. Not closing (a crash) leaves a log that verifies as
    truncated, with every record written so far readable.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        session_id: str,
        identity: str,
        resource: str,
        protocol: str,
        signing_key: bytes,
        recipient: bytes | None = None,
        start_unix_us: int | None = None,
        max_record: int = 1 << 20,
        flush_bytes: int = 256 << 10,
        flush_ms: float | None = 200.0,
        fsync_each: bool = False,
    ) -> None:
        self.path = Path(path)
        self._w = _native.RecordWriter(
            os.fspath(path),
            session_id=session_id,
            identity=identity,
            resource=resource,
            protocol=protocol,
            signing_key=signing_key,
            recipient=recipient,
            start_unix_us=start_unix_us,
            max_record=max_record,
            flush_bytes=flush_bytes,
            flush_ms=flush_ms,
            fsync_each=fsync_each,
        )

    def append(self, kind: Kind | str, payload: Buffer, *, masked: bool = False) -> None:
        """Append one record; ``payload`` is not copied beyond the writer's
        own batch buffer. ``masked``: it went through limen's masking (the
        record's MASKED flag)."""
        self._w.append(str(kind), payload, masked=masked)

    def append_many(self, kind: Kind | str, payloads: Iterable[Buffer]) -> None:
        """Append several records of one kind in one call (one timestamp)."""
        self._w.append_many(str(kind), payloads)

    def flush(self) -> None:
        """Write pending records now."""
        self._w.flush()

    def close(self) -> dict[str, int]:
        """Sign, write the trailer and fsync. Returns the counts."""
        return self._w.close()

    @property
    def records(self) -> int:
        return self._w.records

    @property
    def native(self) -> _native.RecordWriter:
        """The native writer, which a native pump appends to directly."""
        return self._w

    @property
    def closed(self) -> bool:
        return self._w.closed

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._w.closed:
            self.close()


class LogReader:
    """Iterates the records of a log, checking each as it goes. Raises
    :class:`LogError` at the first record that fails a check. After the
    iteration, :attr:`truncated` tells whether the log ended without a
    trailer (a crash); the records read are then every complete one."""

    def __init__(self, path: PathLike, key: bytes | None, public_key: bytes | None) -> None:
        try:
            self._r = _native.RecordReader(os.fspath(path), key, public_key)
        except ValueError as exc:
            raise LogError(str(exc)) from None
        self.header = Header._from(self._r.header())

    def __iter__(self) -> Iterator[Record]:
        while True:
            try:
                item = next(self._r)
            except StopIteration:
                return
            except ValueError as exc:
                raise LogError(str(exc)) from None
            seq, t_us, kind, payload, masked = item
            yield Record(seq, t_us, Kind(kind), payload, masked)

    @property
    def ending(self) -> str | None:
        """``"intact"`` or ``"truncated"`` once iterated to the end."""
        return self._r.ending()

    @property
    def truncated(self) -> bool:
        return self._r.ending() == "truncated"


def open_log(
    path: PathLike, key: bytes | None = None, *, public_key: bytes | None = None
) -> LogReader:
    """Open a log for reading. ``key``: the recipient's X25519 private key,
    needed for encrypted logs. ``public_key``: when given, the trailer must
    be signed by it."""
    return LogReader(path, key, public_key)


def verify(path: PathLike, public_key: bytes | None) -> VerifyResult:
    """Check every record, the chain, the trailer and its signature.

    ``public_key``: the Ed25519 public key the log must be signed by. With
    ``None`` only integrity is checked: the signature is checked against the
    key the log names itself, which anyone forging a whole log can choose
    (``result.authenticated`` is then False).
    """
    d = _native.record_verify(os.fspath(path), public_key)
    header = d["header"]
    return VerifyResult(
        status=d["status"],
        first_bad=d["first_bad"],
        reason=d["reason"],
        code=d["code"],
        offset=d["offset"],
        frames=d["frames"],
        records=d["records"],
        payload_bytes=d["payload_bytes"],
        authenticated=d["authenticated"],
        header=None if header is None else Header._from(header),
    )
