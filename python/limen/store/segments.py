"""Recording copies in the state store (``[gateway] recordings_copy =
"state:"``): each copied byte range of a session log is one row of
``limen_recording_segments`` (schema 6), keyed by the session and the
range's offset in the log (:mod:`limen.recording.shipping`). Reading them
back in offset order gives a byte prefix of the log (the whole log once
its closed tail is copied), which ``limen sessions`` verifies, replays and
exports like a file."""

from __future__ import annotations

from typing import BinaryIO

from limen.store.records import StoreError
from limen.store.slots import SlotStore

__all__ = ["SegmentStore"]


class SegmentStore(SlotStore):
    """Session log copies, as byte ranges (fleet-wide limits beneath)."""

    def segment_put(
        self, session_id: str, offset: int, data: bytes, *, node: str, at: float
    ) -> None:
        """Stores the log's bytes at ``offset``. A retry of the same offset
        (a commit whose answer was lost) keeps the longer of the two, which
        holds the same bytes: the log only grows."""
        with self._cursor() as cur:
            cur.execute(
                self._q(
                    "INSERT INTO limen_recording_segments "
                    "(session_id, byte_offset, data, node, copied_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (session_id, byte_offset) DO UPDATE SET data = excluded.data, "
                    "copied_at = excluded.copied_at "
                    "WHERE length(excluded.data) > length(limen_recording_segments.data)"
                ),
                (session_id, offset, data, node, at),
            )

    def segment_size(self, session_id: str) -> int:
        """Bytes the store holds of the session's log (its segments' end)."""
        with self._cursor() as cur:
            cur.execute(
                self._q(
                    "SELECT coalesce(max(byte_offset + length(data)), 0) "
                    "FROM limen_recording_segments WHERE session_id = ?"
                ),
                (session_id,),
            )
            return int(cur.fetchone()[0])

    def segment_read(self, session_id: str, out: BinaryIO) -> int:
        """Writes the session's copied log to ``out``, in offset order; the
        bytes written. Raises :class:`StoreError` when there is none, or
        when its segments leave a gap or disagree where they overlap (a
        copy that is not a prefix of the log is not given out)."""
        written = 0
        with self._cursor() as cur:
            cur.execute(
                self._q(
                    "SELECT byte_offset, data FROM limen_recording_segments "
                    "WHERE session_id = ? ORDER BY byte_offset"
                ),
                (session_id,),
            )
            for offset, data in cur:
                offset, data = int(offset), bytes(data)
                if offset > written:
                    raise StoreError(
                        f"session {session_id}: its copy in the state store misses bytes "
                        f"{written} to {offset}"
                    )
                overlap = written - offset
                if data[:overlap] != self._overlap(out, offset, overlap):
                    raise StoreError(
                        f"session {session_id}: its copy's segments disagree at byte {offset}"
                    )
                out.write(data[overlap:])
                written = max(written, offset + len(data))
        if written == 0:
            raise StoreError(f"session {session_id}: no copy in the state store")
        return written

    @staticmethod
    def _overlap(out: BinaryIO, offset: int, n: int) -> bytes:
        """The ``n`` bytes already written at ``offset`` (``out`` seekable)."""
        if n <= 0:
            return b""
        end = out.tell()
        out.seek(offset)
        seen = out.read(n)
        out.seek(end)
        return seen
