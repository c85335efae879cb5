"""The parse tree as the classifier's walk sees it: constants sealed.

A classification may be reused for another text only if that text, judged
afresh, would get the same one (see docs/decision-cache.md). The template
cache reuses a classification for every text whose parse tree has the same
*template* (the tree without the contents of ``A_Const`` nodes and without
source positions), so the walk must not depend on what the template leaves
out, unless it says so. That holds by construction here, not by care in the
walker:

- :func:`sealed` gives the walk the decoded tree with every source position
  removed and every ``A_Const`` node replaced by its ordinal
  (``{"A_Const": 3}``: native, ``limen_wire::pg::tree::sealed_tree``), which
  is the template with even the constants' kinds left out;
- the contents are in a separate :class:`Constants`, reachable only through
  :meth:`Constants.value` and :meth:`Constants.equal`, and every use is
  recorded in ``Constants.read``.

So a walk that did not record a read computed a function of the template
alone: it returns the same classification for every tree with that
template. ``Constants.read`` false is what
:attr:`~limen.policy.Classification.literal_free` records.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from limen import _native

__all__ = ["Constants", "sealed"]

_DECODER: Final = msgspec.json.Decoder()


class Constants:
    """The ``A_Const`` contents of one tree, by ordinal."""

    __slots__ = ("_bodies", "read")

    def __init__(self, bodies: list[str]) -> None:
        self._bodies = bodies
        self.read = False
        """Whether any content was looked at."""

    @staticmethod
    def ordinal(node: object) -> int | None:
        """The ordinal of an ``A_Const`` node (``{"A_Const": 3}``), or None
        for any other node. Reads nothing."""
        if isinstance(node, dict) and len(node) == 1:
            found = node.get("A_Const")
            if type(found) is int:
                return found
        return None

    def value(self, node: object) -> dict[str, Any] | None:
        """The content of an ``A_Const`` node (``{"ival": {"ival": 5}}``,
        ``{"isnull": True}``…), or None for any other node. The
        classification being made now depends on it."""
        index = self.ordinal(node)
        if index is None:
            return None
        self.read = True
        body = _DECODER.decode(self._bodies[index])
        return body if isinstance(body, dict) else {}

    def equal(self, a: object, b: object) -> bool:
        """Whether two subtrees are equal, constants compared by content
        (which reads the constants it compares)."""
        if isinstance(a, dict) and isinstance(b, dict):
            ia, ib = self.ordinal(a), self.ordinal(b)
            if ia is not None or ib is not None:
                return ia is not None and ib is not None and _same(self.value(a), self.value(b))
            return a.keys() == b.keys() and all(self.equal(a[k], b[k]) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(self.equal(x, y) for x, y in zip(a, b, strict=True))
        return type(a) is type(b) and a == b


def _same(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Two constants' contents, without where they were."""
    if a is None or b is None:
        return False
    return {k: v for k, v in a.items() if k != "location"} == {
        k: v for k, v in b.items() if k != "location"
    }


def sealed(tree_json: str) -> tuple[Any, Constants]:
    """The tree to walk and its constants (see the module docs)."""
    text, bodies = _native.pg_tree_sealed(tree_json)
    return _DECODER.decode(text), Constants(bodies)
