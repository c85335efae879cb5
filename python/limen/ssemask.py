"""``json:`` masks inside Server-Sent Events (``text/event-stream``), as the
stream goes by.

An SSE stream is lines (ending in CRLF, LF or CR) grouped into events by a
blank line; a client dispatches an event only at that blank line.
:class:`SseMaskStream` therefore passes each event on as soon as its blank
line arrives, with the ``data:`` field values masked: the values of one
event (joined by a line feed, as the client joins them) are one JSON
document, read by a :class:`~limen.jsonmask.JsonMaskStream`; each line
keeps its own bytes, only masked values change. Every other field
(``event:``, ``id:``, ``retry:``, comments) passes as it is.

Memory is bounded by one event (:data:`MAX_EVENT`), whatever the length
of the stream. Fail closed: an event whose data is not one complete JSON
document (``[DONE]``, text, a value cut short) is withheld — replaced by
the comment line ``: limen withheld an event whose data is not JSON``, so
the stream goes on and nothing of the event reaches the client; an event
longer than :data:`MAX_EVENT` raises :class:`~limen.jsonmask.JsonMaskError`
(the gateway then ends the response). Without ``json:`` masks the events
are only framed.

:class:`SseMasking` then runs the detectors on each batch of complete
events (a fresh ``MaskStream``, finished at once): an event is never held
back waiting for bytes of the next one, and no secret spans two events.
"""

from __future__ import annotations

from typing import Final

from limen import _native
from limen.jsonmask import JsonMasker, JsonMaskError

__all__ = ["MAX_EVENT", "WITHHELD", "SseMaskStream", "SseMasking", "is_event_stream"]

MAX_EVENT: Final = 1024 * 1024
WITHHELD: Final = b": limen withheld an event whose data is not JSON\n\n"


def is_event_stream(content_type: bytes) -> bool:
    return content_type.split(b";", 1)[0].strip().lower() == b"text/event-stream"


class SseMaskStream:
    """One SSE body through ``json:`` masks (see the module docs)."""

    def __init__(self, masker: JsonMasker | None, max_event: int = MAX_EVENT) -> None:
        self.masker = masker
        self.max_event = max_event
        self.buf = bytearray()
        """Bytes of the event being read (complete lines and a partial one)."""
        self.scanned = 0
        """How far ``buf`` was searched for line ends."""
        self.lines: list[tuple[bytes, bytes]] = []
        """The event's complete lines: (content, line end)."""
        self.findings = 0
        self.withheld = 0

    def feed(self, data: bytes) -> bytes:
        """The events ``data`` completes, masked."""
        self.buf += data
        out = bytearray()
        buf = self.buf
        start = 0
        at = self.scanned
        n = len(buf)
        while at < n:
            c = buf[at]
            if c != 0x0A and c != 0x0D:
                at += 1
                continue
            if c == 0x0D:
                if at + 1 == n:
                    break  # a CR at the end: is it CRLF? wait for the next byte
                end = at + 2 if buf[at + 1] == 0x0A else at + 1
            else:
                end = at + 1
            line = bytes(buf[start:at])
            eol = bytes(buf[at:end])
            start = at = end
            if line:
                self.lines.append((line, eol))
            else:
                out += self._event(eol)
        del buf[:start]
        self.scanned = at - start
        if len(buf) + sum(len(a) + len(b) for a, b in self.lines) > self.max_event:
            raise JsonMaskError(f"an event of the stream is over {self.max_event} bytes")
        return bytes(out)

    def _event(self, blank: bytes) -> bytes:
        """The event of ``self.lines`` (ended by the blank line ``blank``)."""
        lines, self.lines = self.lines, []
        data_at = [i for i, (line, _) in enumerate(lines) if line.startswith(b"data:")]
        if not data_at or self.masker is None:
            return b"".join(a + b for a, b in lines) + blank
        jstream = self.masker.stream()
        masked: dict[int, bytes] = {}
        try:
            for k, i in enumerate(data_at):
                line = lines[i][0]
                head = 6 if line[5:6] == b" " else 5
                if k:
                    jstream.feed(b"\n")
                masked[i] = line[:head] + jstream.feed(line[head:])
            jstream.finish()
            if not jstream.complete:
                raise JsonMaskError("the event's data ends inside a value")
        except JsonMaskError:
            self.withheld += 1
            return WITHHELD
        self.findings += jstream.take_findings()
        return b"".join(masked.get(i, line) + eol for i, (line, eol) in enumerate(lines)) + blank

    def finish(self) -> bytes:
        """The end of the stream: an event without its blank line is
        withheld (a client would never dispatch it)."""
        out = b""
        buf = self.buf
        if buf.endswith(b"\r") and self.scanned == len(buf) - 1:  # a CR that ends a line
            line = bytes(buf[:-1])
            buf.clear()
            self.scanned = 0
            if line:
                self.lines.append((line, b"\r"))
            else:
                out = self._event(b"\r")
        if self.lines or self.buf:
            self.withheld += 1
        self.lines = []
        self.buf.clear()
        return out

    def take_findings(self) -> int:
        """Values masked and events withheld since the last call."""
        n, self.findings, self.withheld = self.findings + self.withheld, 0, 0
        return n


class SseMasking:
    """An SSE body, event by event: ``json:`` masks (when any), then the
    detectors of ``masker``."""

    def __init__(
        self, masker: _native.Masker, json: JsonMasker | None, max_event: int = MAX_EVENT
    ) -> None:
        self.events = SseMaskStream(json, max_event)
        self.masker = masker
        self.found = 0

    def _detect(self, data: bytes) -> bytes:
        if not data:
            return b""
        stream = self.masker.stream()
        out = stream.feed(data) + stream.finish()
        self.found += len(stream.take_findings())
        return out

    def feed(self, data: bytes) -> bytes:
        """The events ``data`` completes, masked (:class:`JsonMaskError`)."""
        return self._detect(self.events.feed(data))

    def finish(self) -> bytes:
        return self._detect(self.events.finish())

    def take_findings(self) -> int:
        n, self.found = self.found + self.events.take_findings(), 0
        return n
