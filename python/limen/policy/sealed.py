"""The parse tree as the classifier's walk sees it: constants sealed.

A classification may be reused for another text only if that text, judged
afresh, would get the same one (see docs/decision-cache.md). The template
cache reuses a classification for every text whose parse tree has the same
*template* (the tree without the contents of ``A_Const`` nodes and without
source positions), so the walk must not depend on what the template leaves
out, unless it says so. That is made to hold by construction here, not by
care in the walker:

- :func:`seal` gives the walk the decoded tree with every source position
  removed (the keys the template removes) and every ``A_Const`` node's
  content replaced by a :class:`Sealed` box;
- a :class:`Sealed` box gives its content only through :meth:`Sealed.open`
  (and compares only through ``==``, which opens both sides), and every
  opening is written into the :class:`Reads` of that one classification.

So a walk that did not record a read saw nothing but the template: it
follows the same path, and returns the same result, for every tree with the
same template. ``Reads.any`` false is what :attr:`Classification.literal_free`
records.
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = ["Reads", "Sealed", "seal"]

_POSITION: Final = re.compile(r"\w*location|stmt_len|(?:rexpr_)?list_(?:start|end)")
"""The keys of source positions (as in ``limen.policy.classify``'s template)."""
_KEYS: dict[str, bool] = {}
"""Whether a key is a position (keys come from the parser: a small set)."""


def _position(key: str) -> bool:
    known = _KEYS.get(key)
    if known is None:
        known = _POSITION.fullmatch(key) is not None
        if len(_KEYS) < 4096:
            _KEYS[key] = known
    return known


class Reads:
    """What one classification's walk read of the constants it was given."""

    __slots__ = ("any",)

    def __init__(self) -> None:
        self.any = False


class Sealed:
    """The content of one ``A_Const`` node, readable only by recording it."""

    __slots__ = ("_body", "_reads")

    def __init__(self, body: dict[str, Any], reads: Reads) -> None:
        self._body = body
        self._reads = reads

    def open(self) -> dict[str, Any]:
        """The content (``{"ival": {"ival": 5}}``, ``{"isnull": True}``…);
        the classification being made now depends on it."""
        self._reads.any = True
        return self._body

    def __eq__(self, other: object) -> bool:
        self._reads.any = True
        if not isinstance(other, Sealed):
            return NotImplemented
        other._reads.any = True
        return self._body == other._body

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Sealed(…)"


def seal(node: object, reads: Reads) -> Any:
    """``node`` (decoded JSON) without source positions and with every
    ``A_Const`` content sealed under ``reads``."""
    if isinstance(node, dict):
        if len(node) == 1 and "A_Const" in node:
            body = node["A_Const"]
            if isinstance(body, dict):
                inner = {k: v for k, v in body.items() if not _position(k)}
                return {"A_Const": Sealed(inner, reads)}
        return {k: seal(v, reads) for k, v in node.items() if not _position(k)}
    if isinstance(node, list):
        return [seal(v, reads) for v in node]
    return node
