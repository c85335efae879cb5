"""``json:`` mask paths: their grammar and how they match a member's path
(see :mod:`limen.jsonmask`, which applies them to a streaming body).

A path is ``$`` and one or more steps: ``.name`` (a member of an object),
``..name`` (a member at any depth below), ``.*`` (anything one level
down), ``[*]`` (any element of an array) and ``..*`` (anything below). A
name is any characters but ``. [ ] * " \\`` and whitespace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "INDEX",
    "LONG",
    "PREFIX",
    "JsonPath",
    "JsonPathError",
    "Step",
    "is_json_type",
    "matches",
    "parse_path",
]

PREFIX: Final = "json:"
_NAME: Final = r"[^.\[\]*\"\\\s]+"
_STEP: Final = re.compile(rf"(\.\.|\.)({_NAME}|\*)|\[\*\]")
#: A path element for an array element, and for a key longer than any
#: name a mask compares with (the other elements are decoded keys).
INDEX: Final = object()
LONG: Final = object()


class JsonPathError(ValueError):
    """A ``json:`` path that does not parse."""


@dataclass(frozen=True)
class Step:
    descendant: bool
    """``..``: this step may skip any number of levels first."""
    name: str | None
    """A member's key; None: any member or element (``*``, ``[*]``)."""
    index: bool = False
    """``[*]``: an array element only."""


@dataclass(frozen=True)
class JsonPath:
    text: str
    """As written, without ``json:`` (``$.password``)."""
    steps: tuple[Step, ...]

    @property
    def replacement(self) -> bytes:
        return json.dumps(f"[MASKED:json:{self.text}]").encode()

    @property
    def longest_name(self) -> int:
        return max((len(s.name.encode()) for s in self.steps if s.name), default=0)


def parse_path(text: str) -> JsonPath:
    """``$.a..b[*].c`` (with or without the ``json:`` prefix)."""
    body = text.removeprefix(PREFIX)
    if not body.startswith("$"):
        raise JsonPathError(f"a JSON path starts with $: {body!r}")
    steps: list[Step] = []
    at = 1
    while at < len(body):
        m = _STEP.match(body, at)
        if m is None:
            raise JsonPathError(
                f"cannot read {body[at:]!r} in {body!r}: steps are .name, ..name, .*, [*]"
            )
        if m.group(0) == "[*]":
            steps.append(Step(False, None, index=True))
        else:
            name = m.group(2)
            steps.append(Step(m.group(1) == "..", None if name == "*" else name))
        at = m.end()
    if not steps:
        raise JsonPathError("a JSON path names at least one member: $.name or $..name")
    return JsonPath(body, tuple(steps))


def is_json_type(content_type: bytes) -> bool:
    """Whether a Content-Type is JSON (``application/json``, ``+json``,
    NDJSON, JSON lines)."""
    mime = content_type.split(b";", 1)[0].strip().lower()
    return (
        mime in (b"application/json", b"application/x-ndjson", b"application/jsonl")
        or mime.endswith(b"+json")
        or mime == b"application/json-seq"
    )


# A path element: a member's key (decoded, or None when longer than any
# name a mask compares with) or an array element (_INDEX).


def matches(steps: Sequence[Step], path: Sequence[object], si: int = 0, pi: int = 0) -> bool:
    """Whether ``path[pi:]`` matches ``steps[si:]``."""
    if si == len(steps):
        return pi == len(path)
    if pi == len(path):
        return False
    step = steps[si]
    elem = path[pi]
    if step.index:
        here = elem is INDEX
    elif step.name is None:
        here = True
    else:
        here = elem == step.name
    if here and matches(steps, path, si + 1, pi + 1):
        return True
    return step.descendant and matches(steps, path, si, pi + 1)
