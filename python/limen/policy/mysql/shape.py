"""MySQL texts judged by their shape: one decision for every text that
differs only in its constants, provably the decision of each of them.

The *shape* of a ``COM_QUERY`` text is the native pump's cache key
(``limen_pump::mysql::shape``, :func:`limen._native.mysql_shape_constants`):
the text with its integer and plain ``'…'`` string constants replaced by
markers of their kind, every other byte kept; a text with anything that
lexer does not fully track (comments of every kind, executable comments,
``"``, backslashes, ``@``, ``?``, ``;``, introducers and prefixed strings
glued to their string, ``0x``/``b''``/decimals/exponents, non-ASCII...)
has none.

A text with a shape is classified as its *canonical twin*: the same text
with the i-th constant replaced by a placeholder of its kind that appears
nowhere else (``1000000000 + i``; ``'limen_c<i>'``), while a
:class:`Seal` watches every place the classifier could look at a
constant's value:

- a string before ``(`` (a function name under ``ANSI_QUOTES``), the text
  of ``PREPARE … FROM '…'`` / ``EXECUTE IMMEDIATE '…'``, any ``SET``
  (values such as ``sql_mode`` decide its classes);
- sqlglot's tree: each placeholder of the text it parsed must be exactly
  one literal of its kind, and no name (a table, a column, a variable)
  may be a placeholder;
- the restriction test of ``UPDATE``/``DELETE`` (``WHERE x + 1 = x + 1``
  compares two sides: when they are alike but for constants, the result
  depends on their values).

If any of them is looked at, the text is classified as itself and is not
reusable by shape. Otherwise its classification is that of the canonical
twin, a function of the shape alone: every text of the shape gets the same
classification, whatever its constants, *by construction*: this is the
classification the Python judge gives each of them, on either relay, so a
decision cached under the shape is the fresh decision of every text of
that shape (docs/decision-cache.md, "MySQL text shapes"). Both texts are
also lexed by :mod:`limen.policy.mysql.lexer`, which must find constants
exactly where the shape lexer did (else: no shape).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Final

from sqlglot import exp

from limen import _native
from limen.policy.classes import Classification
from limen.policy.mysql.lexer import NUMBER, STRING, LexError, Server, tokenize

__all__ = ["Seal", "ShapeCache", "canonical", "sealed"]

INT_BASE: Final = 1_000_000_000
"""Integer placeholders are ``INT_BASE + i`` (ten digits for every i the
shape lexer allows)."""

_SEAL: ContextVar[Seal | None] = ContextVar("limen_mysql_seal", default=None)


@dataclass
class Seal:
    """The placeholders of the text being classified, and whether the
    classifier looked at one's value (why)."""

    placeholders: dict[str, bool]
    """Placeholder (as a literal's value) -> is a string."""
    read: str | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)

    def mark(self, why: str) -> None:
        if self.read is None:
            self.read = why

    def check_tree(self, tree: exp.Expr, text: str) -> None:
        """Every placeholder in ``text`` is exactly one literal of its kind
        in ``tree``, and none is anything else."""
        present = {p: s for p, s in self.placeholders.items() if (f"'{p}'" if s else p) in text}
        seen: set[str] = set()
        for node in tree.walk():
            if isinstance(node, exp.Literal):
                value = node.this
                if value in present:
                    if value in seen or bool(node.is_string) != present[value]:
                        self.mark("a constant is not one literal of its kind")
                    seen.add(value)
                continue
            for arg in node.args.values():
                if isinstance(arg, str) and arg in self.placeholders:
                    self.mark("a constant is a name")
        if seen != set(present):
            self.mark("a constant is not a literal")

    def alike(self, left: exp.Expr, right: exp.Expr) -> None:
        """Marks a comparison of two sides that differ only in constants."""
        if left != right and _blind(left) == _blind(right):
            self.mark("two sides alike but for constants are compared")


def _blind(node: exp.Expr) -> exp.Expr:
    def blank(n: exp.Expr) -> exp.Expr:
        if isinstance(n, exp.Literal):
            return exp.Literal(this="", is_string=n.is_string)
        return n

    return node.copy().transform(blank)


def sealed() -> Seal | None:
    """The seal of the classification under way, if it is by shape."""
    return _SEAL.get()


def canonical(sql: str) -> tuple[str, Seal] | None:
    """The canonical twin of ``sql`` and its seal, or None (no shape)."""
    try:
        raw = sql.encode("ascii")  # the shape lexer takes ASCII only: offsets agree
    except UnicodeEncodeError:
        return None
    spans = _native.mysql_shape_constants(raw)
    if spans is None:
        return None
    parts: list[str] = []
    placeholders: dict[str, bool] = {}
    out_spans: list[tuple[int, int]] = []
    at = last = 0
    for i, (a, b, is_string) in enumerate(spans):
        parts.append(sql[last:a])
        at += a - last
        value = f"limen_c{i}" if is_string else str(INT_BASE + i)
        token = f"'{value}'" if is_string else value
        placeholders[value] = is_string
        parts.append(token)
        out_spans.append((at, at + len(token)))
        at += len(token)
        last = b
    parts.append(sql[last:])
    seal = Seal(placeholders, spans=out_spans)
    return "".join(parts), seal


def _lexer_spans(sql: str, server: Server | None, backslash: bool) -> list[tuple[int, int]] | None:
    try:
        statements = tokenize(sql, server=server, backslash_escapes=backslash)
    except LexError:
        return None
    return [(t.start, t.end) for s in statements for t in s if t.kind in (NUMBER, STRING)]


class ShapeCache:
    """One session's classifications by canonical twin (bounded). The
    owner empties it when what the classifier depends on besides the text
    changes (the backslash mode)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._by_twin: OrderedDict[str, Classification] = OrderedDict()

    def clear(self) -> None:
        self._by_twin.clear()

    def classify(
        self,
        sql: str,
        classify: Callable[[str], Classification],
        *,
        server: Server | None,
        backslash: bool,
    ) -> Classification:
        """``classify(sql)``, or that of its canonical twin, marked
        ``shape_reusable``, when the classifier read no constant of it (one
        object per twin: the session's decision cache reuses its decision)."""
        twin = canonical(sql)
        if twin is None:
            return classify(sql)
        text, seal = twin
        if _lexer_spans(sql, server, backslash) != _spans_of(sql):
            return classify(sql)
        cached = self._by_twin.get(text)
        if cached is not None:
            self._by_twin.move_to_end(text)
            return cached
        if _lexer_spans(text, server, backslash) != seal.spans:
            return classify(sql)
        token = _SEAL.set(seal)
        try:
            found = classify(text)
        finally:
            _SEAL.reset(token)
        if seal.read is not None:
            return classify(sql)
        found = replace(found, literal_free=True, shape_reusable=True)
        if self.size > 0:
            self._by_twin[text] = found
            if len(self._by_twin) > self.size:
                self._by_twin.popitem(last=False)
        return found


def _spans_of(sql: str) -> list[tuple[int, int]] | None:
    spans = _native.mysql_shape_constants(sql.encode("ascii"))
    return None if spans is None else [(a, b) for a, b, _ in spans]
