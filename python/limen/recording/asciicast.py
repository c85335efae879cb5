"""An SSH session log as an asciicast v2 recording (``limen sessions
export --format asciicast``) and a terminal player for it (``limen
sessions replay --play``).

What the SSH gateway records (:mod:`limen.gateway.ssh.channels`) becomes:

- the header: ``width``/``height`` of the first channel's pty (80x24 when
  no channel asked for one), ``timestamp`` (the session start, Unix
  seconds), ``env.TERM`` (the pty's terminal type), a ``title`` naming the
  session, identity and resource;
- ``u2c`` records (the upstream's stdout and stderr, masked as the bot got
  them) become ``"o"`` events; without any pty in the session, a bare
  ``\\n`` becomes ``\\r\\n`` so exec output plays in a terminal as it read;
- ``c2u`` records become ``"i"`` events (the bot's keystrokes or stdin,
  masked), except an ``exec`` request's command line (the ``c2u`` record
  just before its ``decision`` event), shown as an ``"o"`` line ``$
  COMMAND`` so the playback says what ran, and what limen refused is shown
  as ``limen: ACTION (rule R)``;
- ``pty`` and ``resize`` events become ``"r"`` events (``"WxH"``).

Bytes are decoded as UTF-8 per direction with an incremental decoder (a
character split across records stays whole; invalid bytes become U+FFFD).
Channels are not told apart: a session with concurrent channels plays
their output interleaved, in recorded order.
"""

from __future__ import annotations

import codecs
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import msgspec

from limen.recording.log import Header, Kind, Record

__all__ = ["DEFAULT_SIZE", "cast_lines", "play"]

DEFAULT_SIZE = (80, 24)
_REQUEST_KINDS = ("exec",)


def _event(t_us: int, code: str, data: str) -> str:
    return json.dumps([round(t_us / 1e6, 6), code, data], ensure_ascii=False)


def _decode_event(payload: bytes) -> dict[str, Any] | None:
    try:
        obj = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _size(obj: dict[str, Any]) -> tuple[int, int] | None:
    w, h = obj.get("width"), obj.get("height")
    if isinstance(w, int) and isinstance(h, int) and 0 < w <= 10000 and 0 < h <= 10000:
        return w, h
    return None


class _Cast:
    def __init__(self, header: Header, crlf: bool) -> None:
        self.header = header
        self.crlf = crlf
        self.out = codecs.getincrementaldecoder("utf-8")("replace")
        self.inp = codecs.getincrementaldecoder("utf-8")("replace")
        self.pending: Record | None = None
        """A ``c2u`` record that may be an exec request's command line."""

    def output(self, t_us: int, text: str) -> Iterator[str]:
        if self.crlf:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        if text:
            yield _event(t_us, "o", text)

    def flush_pending(self) -> Iterator[str]:
        if self.pending is not None:
            rec, self.pending = self.pending, None
            text = self.inp.decode(rec.payload)
            if text:
                yield _event(rec.t_us, "i", text)

    def record(self, rec: Record) -> Iterator[str]:
        if rec.kind == Kind.U2C:
            yield from self.flush_pending()
            yield from self.output(rec.t_us, self.out.decode(rec.payload))
        elif rec.kind == Kind.C2U:
            yield from self.flush_pending()
            self.pending = rec
        elif rec.kind == Kind.EVENT:
            obj = _decode_event(rec.payload) or {}
            kind = obj.get("event")
            if kind == "decision" and self.pending is not None:
                request, self.pending = self.pending, None
                if obj.get("request") in _REQUEST_KINDS:
                    line = request.payload.decode("utf-8", "replace")
                    yield from self.output(request.t_us, f"$ {line}\n")
                if obj.get("action") not in ("allow", "hold"):
                    why = f"limen: {obj.get('action')} (rule {obj.get('rule') or 'none'})\n"
                    yield from self.output(rec.t_us, why)
                return
            yield from self.flush_pending()
            size = _size(obj) if kind in ("pty", "resize") else None
            if size is not None:
                yield _event(rec.t_us, "r", f"{size[0]}x{size[1]}")
        # other kinds (masking findings, errors) play no part in the terminal


def cast_lines(header: Header, records: Iterable[Record]) -> Iterator[str]:
    """The asciicast v2 lines (header first) of an SSH session's records.
    Records are read once, in order; the header waits for the first pty
    event or the first data record (whichever comes first)."""
    held: list[Record] = []
    size, term = DEFAULT_SIZE, None
    pty_seen = False
    it = iter(records)
    for rec in it:
        held.append(rec)
        if rec.kind == Kind.EVENT:
            obj = _decode_event(rec.payload) or {}
            if obj.get("event") == "pty":
                pty_seen = True
                size = _size(obj) or size
                term = obj.get("term") if isinstance(obj.get("term"), str) else None
                break
        elif rec.kind == Kind.U2C:
            break
    head: dict[str, Any] = {
        "version": 2,
        "width": size[0],
        "height": size[1],
        "timestamp": header.start_unix_us // 1_000_000,
        "title": f"limen session {header.session_id}: {header.identity} on {header.resource}",
    }
    if term is not None:
        head["env"] = {"TERM": term[:64]}
    yield json.dumps(head)
    cast = _Cast(header, crlf=not pty_seen)
    in_header = pty_seen
    last = 0
    for rec in _chain(held, it):
        last = rec.t_us
        if rec.kind == Kind.EVENT:
            obj = _decode_event(rec.payload) or {}
            if obj.get("event") == "pty":
                cast.crlf = False  # a terminal: its bytes play as they are
                if in_header:
                    in_header = False  # the header has this size already
                    continue
        yield from cast.record(rec)
    yield from cast.flush_pending()
    tail = cast.out.decode(b"", final=True)
    if tail:
        yield _event(last, "o", tail)


def _chain(held: list[Record], rest: Iterator[Record]) -> Iterator[Record]:
    yield from held
    yield from rest


def play(
    lines: Iterable[str],
    out: IO[str] | None = None,
    *,
    speed: float = 1.0,
    idle_limit: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Writes the ``"o"`` events of an asciicast to ``out`` (the terminal)
    at their pace: ``speed`` times faster, pauses capped at ``idle_limit``
    seconds. Returns the number of output events written."""
    stream = out if out is not None else sys.stdout
    last = 0.0
    shown = 0
    it = iter(lines)
    next(it, None)  # the header
    for line in it:
        try:
            t, code, data = json.loads(line)
        except (ValueError, TypeError):
            continue
        if code != "o" or not isinstance(data, str) or not isinstance(t, int | float):
            continue
        pause = min(max(0.0, float(t) - last), idle_limit) / max(speed, 1e-6)
        last = float(t)
        if pause > 0:
            sleep(pause)
        stream.write(data)
        stream.flush()
        shown += 1
    return shown
