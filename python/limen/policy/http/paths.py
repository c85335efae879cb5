"""Request paths as limen judges them: one canonical form, or a refusal.

:func:`normalise` takes the part of a request target after the resource
prefix (``/a/%2e%2e/b;x=1?q=1``) and returns a :class:`Path`: the decoded
segments, the canonical path (each segment percent-encoded again the one
way) and the raw query. The canonical path is both what the rules match and
what goes upstream, so an encoded path cannot match one thing and mean
another:

- percent-escapes are decoded (``%2e%2e`` is ``..``, ``%41`` is ``A``);
- ``;`` path parameters are dropped from every segment (``/admin;x=1`` is
  ``/admin``: servlet containers and some frameworks ignore them);
- empty segments (``//``) and ``.`` are dropped, ``..`` removes the segment
  before it (above the resource's root: refused);
- refused (:class:`PathError`, a ``400``): an encoded slash (``%2F``) or
  backslash (``%5C``, ``\\``), a decoded control character or NUL, an
  escape that is not two hex digits, a double encoding (a decoded segment
  that still holds ``%XX``), bytes that are not UTF-8, a fragment, a target
  that is not a path.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote_to_bytes

__all__ = ["Path", "PathError", "normalise"]

_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DOUBLE: Final = re.compile(r"%[0-9A-Fa-f]{2}")
#: RFC 3986 pchar without ``;`` (dropped) and ``%`` (always escaped).
_SAFE: Final = "!$&'()*+,=:@-._~"
_MAX_SEGMENTS: Final = 256
#: Targets up to this length are remembered (:func:`normalise` is a pure
#: function of its text: a kept-alive client asks for the same few paths).
_MEMO_TARGET: Final = 512


class PathError(ValueError):
    """A path limen will not judge (the request is refused with 400)."""


@dataclass(frozen=True)
class Path:
    """A normalised request path (relative to the resource's root)."""

    segments: tuple[str, ...]
    query: str | None
    """The raw query (after ``?``), passed on as sent; None: no ``?``."""

    @functools.cached_property
    def path(self) -> str:
        """The canonical path: ``/`` + the segments, each escaped one way."""
        return "/" + "/".join(quote(s, safe=_SAFE) for s in self.segments)

    @functools.cached_property
    def target(self) -> str:
        """The path and the query, as sent upstream (after the base path)."""
        return self.path if self.query is None else f"{self.path}?{self.query}"


def _segment(raw: str) -> str | None:
    """One raw segment decoded; None when it is empty or ``.``."""
    raw = raw.split(";", 1)[0]
    if _ESCAPE.search(raw):
        raise PathError("a % in the path is not followed by two hex digits")
    data = unquote_to_bytes(raw)
    if b"/" in data or b"\\" in data:
        raise PathError("an encoded slash or a backslash in a path segment is ambiguous")
    if any(b < 0x20 or b == 0x7F for b in data):
        raise PathError("a control character in the path")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PathError("the path is not UTF-8 once decoded") from None
    if _DOUBLE.search(text):
        raise PathError("a doubly encoded path (%25XX) is ambiguous")
    return None if text in ("", ".") else text


def normalise(target: str) -> Path:
    """The canonical form of ``target`` (``/...``, with an optional query);
    the last 4096 short targets' forms are remembered (a refusal is not)."""
    if len(target) <= _MEMO_TARGET:
        return _normalise_memo(target)
    return _normalise(target)


@functools.lru_cache(maxsize=4096)
def _normalise_memo(target: str) -> Path:
    return _normalise(target)


def _normalise(target: str) -> Path:
    if "#" in target:
        raise PathError("a request target has no fragment")
    path, sep, query = target.partition("?")
    if not path.startswith("/"):
        raise PathError("the request target is not a path")
    raw_segments = path.split("/")
    if len(raw_segments) > _MAX_SEGMENTS:
        raise PathError(f"more than {_MAX_SEGMENTS} path segments")
    out: list[str] = []
    for raw in raw_segments[1:]:
        seg = _segment(raw)
        if seg is None:
            continue
        if seg == "..":
            if not out:
                raise PathError("the path climbs above the resource's root (..)")
            out.pop()
            continue
        out.append(seg)
    return Path(tuple(out), query if sep else None)
