"""JSON field masks (``json:$.password``, ``json:$..token``), applied to a
JSON body as it streams, in constant memory.

A path (:mod:`limen.jsonpath`) is ``$`` and one or more steps: ``.name`` (a member of an object),
``..name`` (a member at any depth below), ``.*`` (any member), ``[*]``
(any element of an array) and ``..*`` (anything below). A name is any
characters but ``. [ ] * " \\`` and whitespace, compared with the member's
key after its JSON escapes are decoded (``"pass\\u0077ord"`` is
``password``). ``$.users[*].password`` masks the ``password`` of every
element of ``users``; ``$..token`` every member named ``token`` anywhere.

:class:`JsonMaskStream` reads the body with a streaming tokenizer (a state
machine over bytes: no document is ever held, only the stack of open
containers, each with its current key, capped) and passes the bytes through
as they are, but for each value whose path matches a mask: the whole value
(a string, a number, an object...) becomes the JSON string
``"[MASKED:json:PATH]"``, the document stays valid JSON. The decision for a
value is made at its first byte, so there is no holdback: the output is the
same bytes however the body is split into chunks. A body may hold several
top-level values (NDJSON: one per line).

Fail closed: bytes that are not JSON, nesting deeper than
:data:`MAX_DEPTH`, a number or literal longer than :data:`MAX_SCALAR` raise
:class:`JsonMaskError` (the gateway then ends the response: it cannot tell
what the rest holds). A body that ends inside a value is not an error (the
output holds nothing of a masked value that was cut).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Final

from limen.jsonpath import (
    INDEX,
    LONG,
    JsonPath,
    JsonPathError,
    is_json_type,
    matches,
    parse_path,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_SCALAR",
    "JsonMaskError",
    "JsonMaskStream",
    "JsonMasker",
    "JsonPath",
    "JsonPathError",
    "is_json_type",
    "parse_path",
]

MAX_DEPTH: Final = 512
MAX_SCALAR: Final = 4096
_CACHE_SIZE: Final = 1024
_CACHE_DEPTH: Final = 8

_WS: Final = frozenset(b" \t\r\n")
_SCALAR_BYTES: Final = frozenset(b"0123456789+-.eEtrufalsn")
_SCALAR: Final = re.compile(rb"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?|true|false|null")
_STRING_STOP: Final = re.compile(rb'["\\]')
_SCALAR_RUN: Final = re.compile(rb"[0-9+\-.eEtrufalsn]*")
_WS_RUN: Final = re.compile(rb"[ \t\r\n]*")
_STRING_WHOLE: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SCALAR_WHOLE: Final = re.compile(rb"[0-9+\-.eEtrufalsn]+(?=[^0-9+\-.eEtrufalsn])")
_KEY_WHOLE: Final = re.compile(rb'"([^"\\]*)"[ \t\r\n]*:')


class JsonMaskError(ValueError):
    """A body a JSON mask cannot read (not JSON, too deep, a scalar too long)."""


Buffer = bytes | bytearray | memoryview


class JsonMasker:
    """Compiled JSON masks; :meth:`stream` per body."""

    def __init__(self, paths: Sequence[str | JsonPath]) -> None:
        self.paths = [p if isinstance(p, JsonPath) else parse_path(p) for p in paths]
        longest = max((p.longest_name for p in self.paths), default=0)
        # A raw key longer than this decodes to more than `longest` bytes
        # (an escape is at most 12 bytes for 4 of UTF-8): it matches no name.
        self.key_cap = 12 * longest + 16
        self._cache: dict[tuple[object, ...], JsonPath | None] = {}

    def match(self, path: Sequence[object]) -> JsonPath | None:
        """The first mask whose path matches ``path`` (cached for paths up
        to :data:`_CACHE_DEPTH` deep: a document's paths repeat; the cache
        is bounded)."""
        if len(path) > _CACHE_DEPTH:
            return next((p for p in self.paths if matches(p.steps, path)), None)
        key = tuple(path)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = next((p for p in self.paths if matches(p.steps, path)), None)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = found
        return found

    def stream(self) -> JsonMaskStream:
        return JsonMaskStream(self)


# Tokenizer states.
_VALUE, _KEY_OR_END, _KEY, _COLON, _AFTER, _STRING, _SCALARS, _KEY_NEXT = range(8)
_VALUE_OR_END = 8


class JsonMaskStream:
    """One body: :meth:`feed` chunks, then :meth:`finish` (see the module docs)."""

    def __init__(self, masker: JsonMasker) -> None:
        self.masker = masker
        self.state = _VALUE
        self.stack: list[bool] = []
        """Open containers: True for an object, False for an array."""
        self.path: list[object] = []
        """The path of the value being read (one element per open container)."""
        self.masking = -1
        """The depth a masked value started at (-1: not masking)."""
        self.escape = False
        self.key = bytearray()
        self.key_long = False
        self.scalar = bytearray()
        self.findings = 0

    # -- helpers --------------------------------------------------------------

    def _fail(self, why: str) -> JsonMaskError:
        return JsonMaskError(f"the JSON body cannot be masked: {why}")

    def _begin_value(self, out: bytearray, chunk: bytes, start: int, at: int) -> int:
        """A value starts at ``chunk[at]``; returns the new emit start."""
        if self.masking < 0:
            hit = self.masker.match(self.path) if self.path else None
            if hit is not None:
                out += chunk[start:at]
                out += hit.replacement
                self.findings += 1
                self.masking = len(self.stack)
                return at
        return start

    def _end_value(self, at: int, start: int) -> int:
        """A value ended just before ``at``; returns the new emit start."""
        if self.masking == len(self.stack):
            self.masking = -1
            start = at
        self.state = _AFTER if self.stack else _VALUE
        return start

    def _emitting(self) -> bool:
        return self.masking < 0

    # -- the machine ----------------------------------------------------------

    def feed(self, data: Buffer) -> bytes:
        chunk = bytes(data)
        out = bytearray()
        start = 0  # chunk[start:at] is still to be emitted (when not masking)
        at = 0
        n = len(chunk)
        while at < n:
            st = self.state
            if st == _STRING:
                m = _STRING_STOP.search(chunk, at) if not self.escape else None
                if self.escape:
                    self.escape = False
                    at += 1
                    continue
                if m is None:
                    at = n
                    break
                at = m.end()
                if m.group() == b"\\":
                    self.escape = True
                    continue
                start = self._end_value(at, start)
                continue
            if st == _KEY:
                if self.escape:  # the byte after a backslash, whatever it is
                    self.escape = False
                    self._key_add(chunk[at : at + 1])
                    at += 1
                    continue
                m = _STRING_STOP.search(chunk, at)
                if m is None:
                    self._key_add(chunk[at:])
                    at = n
                    break
                self._key_add(chunk[at : m.start()])
                at = m.end()
                if m.group() == b"\\":
                    self.escape = True
                    self._key_add(b"\\")
                    continue
                self._close_key()
                self.state = _COLON
                continue
            if st == _SCALARS:
                m = _SCALAR_RUN.match(chunk, at)
                assert m is not None
                self.scalar += m.group()
                if len(self.scalar) > MAX_SCALAR:
                    raise self._fail(f"a number or literal longer than {MAX_SCALAR} bytes")
                at = m.end()
                if at == n:
                    break
                self._close_scalar()
                start = self._end_value(at, start)
                continue
            b = chunk[at]
            if b in _WS:
                at = _WS_RUN.match(chunk, at).end()  # type: ignore[union-attr]
                continue
            if st in (_VALUE, _VALUE_OR_END):
                if st == _VALUE_OR_END and b == 0x5D:
                    at = self._close(at, False)
                    start = self._end_value(at, start)
                    continue
                start = self._begin_value(out, chunk, start, at)
                if b == 0x22:
                    m = _STRING_WHOLE.match(chunk, at)  # fast: the string ends in this chunk
                    if m is not None:
                        at = m.end()
                        start = self._end_value(at, start)
                        continue
                    self.state = _STRING
                    at += 1
                elif b == 0x7B or b == 0x5B:
                    if len(self.stack) >= MAX_DEPTH:
                        raise self._fail(f"nested deeper than {MAX_DEPTH}")
                    obj = b == 0x7B
                    self.stack.append(obj)
                    self.path.append(None if obj else INDEX)
                    self.state = _KEY_OR_END if obj else _VALUE_OR_END
                    at += 1
                elif b in _SCALAR_BYTES:
                    m = _SCALAR_WHOLE.match(chunk, at)  # fast: it ends in this chunk
                    if m is not None and m.end() - at <= MAX_SCALAR:
                        self.scalar[:] = m.group()
                        self._close_scalar()
                        at = m.end()
                        start = self._end_value(at, start)
                        continue
                    self.scalar.clear()
                    self.state = _SCALARS
                else:
                    raise self._fail(f"unexpected byte 0x{b:02x} where a value starts")
            elif st in (_KEY_OR_END, _KEY_NEXT):
                if b == 0x22:
                    m = _KEY_WHOLE.match(chunk, at)  # fast: no escape, the colon in this chunk
                    if m is not None:
                        raw = m.group(1)
                        self.key_long = len(raw) > self.masker.key_cap
                        self.key[:] = b"" if self.key_long else raw
                        self._close_key()
                        self.state = _VALUE
                        at = m.end()
                        continue
                    self.key.clear()
                    self.key_long = False
                    self.state = _KEY
                    at += 1
                elif b == 0x7D and st == _KEY_OR_END:
                    at = self._close(at, True)
                    start = self._end_value(at, start)
                else:
                    raise self._fail(f"unexpected byte 0x{b:02x} where a key is expected")
            elif st == _COLON:
                if b != 0x3A:
                    raise self._fail("a key without a colon")
                self.state = _VALUE
                at += 1
            elif st == _AFTER:
                obj = self.stack[-1]
                if b == 0x2C:
                    self.state = _KEY_NEXT if obj else _VALUE
                    at += 1
                elif b == (0x7D if obj else 0x5D):
                    at = self._close(at, obj)
                    start = self._end_value(at, start)
                else:
                    raise self._fail(f"unexpected byte 0x{b:02x} after a value")
        if self._emitting():
            out += chunk[start:]
        return bytes(out)

    def _close(self, at: int, obj: bool) -> int:
        if not self.stack or self.stack[-1] is not obj:
            raise self._fail("a closing bracket that matches nothing")
        self.stack.pop()
        self.path.pop()
        return at + 1

    def _key_add(self, part: bytes) -> None:
        if not self.key_long:
            self.key += part
            if len(self.key) > self.masker.key_cap:
                self.key_long = True
                self.key.clear()

    def _close_key(self) -> None:
        raw = bytes(self.key)  # between the quotes, escapes as sent
        if self.key_long:
            self.path[-1] = LONG
            return
        try:
            if b"\\" in raw:
                self.path[-1] = json.loads(b'"' + raw + b'"')
            else:
                self.path[-1] = raw.decode("utf-8")
        except ValueError:
            raise self._fail("a key that is not a JSON string") from None

    def _close_scalar(self) -> None:
        if not _SCALAR.fullmatch(self.scalar):
            raise self._fail("a number or literal that is not JSON")

    def finish(self) -> bytes:
        """The end of the body: a pending number or literal is checked."""
        if self.state == _SCALARS and self.scalar:
            self._close_scalar()
            self.state = _AFTER if self.stack else _VALUE
        return b""

    @property
    def complete(self) -> bool:
        """Whether the body so far ends between top-level values."""
        return not self.stack and self.state == _VALUE

    def take_findings(self) -> int:
        n, self.findings = self.findings, 0
        return n
