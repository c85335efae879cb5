"""Masking secrets and personal data: ``from limen.mask import Masker``.

A thin typed layer over the native masker (``native/limen-mask``): every
detector in one automaton, validators on candidates, ``[MASKED:<detector>]``
replacements, and streams whose output is byte-identical to one-shot masking
for any split of the input.

>>> m = Masker()
>>> m.mask(b"key AKIAIOSFODNN7EXAMPLE")
b'key [MASKED:aws-access-key-id]'
>>> s = m.stream()
>>> s.feed(b"mail bob@exa") + s.feed(b"mple.com now") + s.finish()
b'mail [MASKED:email] now'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol, overload

import msgspec

from limen import _native

Buffer = bytes | bytearray | memoryview

__all__ = [
    "BUILTIN_DETECTORS",
    "Finding",
    "MaskRuleError",
    "MaskStream",
    "Masker",
    "Rule",
    "native_masker",
]

#: Names of the built-in detectors, in priority order.
BUILTIN_DETECTORS: tuple[str, ...] = tuple(_native.detector_names())


class MaskRuleLike(Protocol):
    """A user masking rule as the config holds it (``[[mask_rules]]``)."""

    @property
    def name(self) -> str: ...
    @property
    def regex(self) -> str | None: ...
    @property
    def words(self) -> list[str] | None: ...
    @property
    def case_insensitive(self) -> bool: ...


def native_masker(
    detectors: Sequence[str], mask_rules: Iterable[MaskRuleLike], columns: Sequence[str] = ()
) -> _native.Masker:
    """The native masker of ``detectors`` (built-in names, ``builtin``, and
    names of ``mask_rules``, whose definitions come from there) and
    ``column:`` rule bodies."""
    user = [r for r in mask_rules if r.name in detectors]
    regex = [(r.name, r.regex) for r in user if r.regex is not None]
    words = [(r.name, list(r.words), r.case_insensitive) for r in user if r.words is not None]
    return _native.Masker(list(detectors), regex, words, list(columns))


class MaskRuleError(ValueError):
    """A detector selection or user rule that cannot be built; the message
    names the rule."""


class Rule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A user rule: a name and either a regular expression (Rust syntax; a
    capture group masks only that part of the match) or literal words."""

    name: str
    regex: str | None = None
    words: list[str] | None = None
    case_insensitive: bool = False


class Finding(NamedTuple):
    """Where a secret is: detector name, byte offset and length. Never the
    secret itself."""

    detector: str
    offset: int
    length: int


class DetectorInfo(NamedTuple):
    name: str
    description: str
    max_head_len: int
    max_masked_len: int
    builtin: bool
    pattern: str


def _rules(
    rules: Iterable[Rule | dict[str, object]],
) -> tuple[list[tuple[str, str]], list[tuple[str, list[str], bool]]]:
    regex_rules: list[tuple[str, str]] = []
    word_rules: list[tuple[str, list[str], bool]] = []
    for raw in rules:
        try:
            rule = raw if isinstance(raw, Rule) else msgspec.convert(raw, Rule)
        except msgspec.ValidationError as exc:
            raise MaskRuleError(f"mask rule {raw!r}: {exc}") from None
        if (rule.regex is None) == (rule.words is None):
            raise MaskRuleError(f"rule {rule.name!r}: give exactly one of 'regex' or 'words'")
        if rule.regex is not None:
            regex_rules.append((rule.name, rule.regex))
        else:
            word_rules.append((rule.name, list(rule.words or []), rule.case_insensitive))
    return regex_rules, word_rules


class MaskStream:
    """Feed chunks, get masked bytes; ``finish()`` flushes what is held back
    (at most ``Masker.max_holdback`` bytes)."""

    __slots__ = ("_s",)

    def __init__(self, native: _native.MaskStream) -> None:
        self._s = native

    def feed(self, chunk: Buffer) -> bytes:
        return self._s.feed(chunk)

    def finish(self) -> bytes:
        return self._s.finish()

    def take_findings(self) -> list[Finding]:
        """Findings since the last call, with stream offsets."""
        return [Finding(*f) for f in self._s.take_findings()]

    @property
    def pending(self) -> int:
        return self._s.pending


class Masker:
    """Masks secrets and personal data.

    ``Masker()`` uses every built-in detector. ``detectors`` selects (built-in
    names, rule names, or ``"builtin"`` for all built-in ones); ``rules`` adds
    user rules; ``columns`` names ``table.column`` (or bare ``column``) values
    that are masked whole, see :meth:`column_replacement`.
    """

    __slots__ = ("_m",)

    def __init__(
        self,
        detectors: Iterable[str] | None = None,
        rules: Iterable[Rule | dict[str, object]] = (),
        columns: Iterable[str] = (),
    ) -> None:
        regex_rules, word_rules = _rules(rules)
        try:
            self._m = _native.Masker(
                None if detectors is None else list(detectors),
                regex_rules,
                word_rules,
                list(columns),
            )
        except ValueError as exc:
            raise MaskRuleError(str(exc)) from None

    @property
    def detectors(self) -> list[str]:
        """Detector names in priority order."""
        return self._m.detectors

    @property
    def max_holdback(self) -> int:
        """The most bytes a stream holds back between feeds."""
        return self._m.max_holdback

    def detector_info(self) -> list[DetectorInfo]:
        return [DetectorInfo(*d) for d in self._m.detector_info()]

    @overload
    def mask(self, data: str) -> str: ...
    @overload
    def mask(self, data: Buffer) -> bytes: ...
    def mask(self, data: str | Buffer) -> str | bytes:
        """Masks ``data`` in one call (``str`` in, ``str`` out)."""
        if isinstance(data, str):
            out = self._m.mask(data.encode("utf-8", "surrogateescape"))
            return out.decode("utf-8", "surrogateescape")
        return self._m.mask(data)

    def findings(self, data: str | Buffer) -> list[Finding]:
        """Where the secrets are (byte offsets), without masking."""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        return [Finding(*f) for f in self._m.findings(data)]

    def stream(self) -> MaskStream:
        return MaskStream(self._m.stream())

    def mask_many(
        self,
        values: Sequence[Buffer | None],
        whole: Sequence[bytes | None] | None = None,
    ) -> list[bytes | None]:
        """Masks many short values (a row's fields) in one native call.
        ``None`` stays ``None``; where ``whole[i]`` is given, value ``i`` is
        replaced by it (see :meth:`column_replacement`)."""
        out, _count = self._m.mask_many(values, None if whole is None else list(whole))
        return out

    def column_replacement(self, table: str | None, column: str) -> bytes | None:
        """``[MASKED:column:table.column]`` when a column rule covers the
        column, else ``None``."""
        return self._m.column_replacement(table, column)
