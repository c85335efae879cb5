"""MySQL statement texts as limen writes them down: secrets masked.

The MySQL twin of :mod:`limen.inmask` (same :class:`~limen.inmask.Masked`
result, same markers, same places: the session log's ``c2u`` records, held
statements, the CLI, the admin API, webhooks). PostgreSQL's parser would
read MySQL text wrongly (``"…"`` is a string in MySQL and an identifier in
PostgreSQL; ``\\'`` escapes a quote in MySQL), so the text is split by
MySQL's own lexer (:mod:`limen.policy.mysql.lexer`: comments skipped,
executable comments read as the code they are, strings unescaped) and a
string constant is secret by where it stands, whatever its value:

- an argument of a function that takes a key or a password
  (:data:`MYSQL_SECRET_ARGS`: ``AES_ENCRYPT``'s key, ``PASSWORD('…')``…);
- anything after ``IDENTIFIED`` (``IDENTIFIED BY '…'``, ``IDENTIFIED WITH
  plugin AS '…'``, MariaDB's ``IDENTIFIED VIA plugin USING '…'``);
- the value of ``SET PASSWORD [FOR user] = '…'``;
- the value after a secret-named option, setting or variable, with or
  without ``=`` / ``:=`` (``MASTER_PASSWORD = '…'``, ``OPTIONS (PASSWORD
  '…')`` of ``CREATE SERVER``, ``CONNECTION = 'mysql://u:pw@h/db'``, ``SET
  @api_token = '…'``).

A string constant that is itself a statement with a secret (the text of
``PREPARE p FROM '…'``, or of ``SET @q = '…'`` for a later ``PREPARE p FROM
@q``) is masked by the same rules, recursively, and quoted again; ``PREPARE
p FROM @var`` counts as a secret position (its text is not known here).

A text the lexer cannot split (an unterminated string, a NUL byte) has
every quoted part masked to the end (``sql-unparsed``). A text with a
backslash is split twice, with and without backslash escapes (the session
may run with ``NO_BACKSLASH_ESCAPES``), and what either split finds is
masked. Then the session's content detectors run, as for PostgreSQL.

:attr:`Masked.structural` is true when a secret position holds a constant
(or the text did not split): the MySQL relay then also masks the names of
expression columns in the result (MySQL names an unaliased expression by
its text, ``HEX(AES_ENCRYPT('data', 'key'))``), see
:class:`limen.gateway.mysql.judge.MySqlJudge`.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from limen.inmask import SQL_SECRET, SQL_UNPARSED, InputMasker
from limen.policy.mysql.lexer import OP, QIDENT, STRING, VAR, WORD, LexError, Token, tokenize

__all__ = ["MYSQL_SECRET_ARGS", "MySqlInputMasker", "Structure", "mask_structure", "secret_spans"]

#: Functions whose arguments at these positions (0-based; ``None``: all)
#: are secret: keys and passwords.
MYSQL_SECRET_ARGS: Final[dict[str, tuple[int, ...] | None]] = {
    "aes_encrypt": (1, 2),
    "aes_decrypt": (1, 2),
    "des_encrypt": (1,),
    "des_decrypt": (1,),
    "encode": (1,),
    "decode": (1,),
    "encrypt": None,
    "password": None,
    "old_password": None,
    "validate_password_strength": None,
    "kdf": (1,),
    "asymmetric_encrypt": (2,),
    "asymmetric_decrypt": (2,),
    "asymmetric_sign": (2,),
}

#: A name (option, setting, variable, column) whose value is secret: one of
#: its parts (split at ``_``, ``.``, ``@``...) starts with one of these, or
#: ends with ``key``/``keys`` (``api_key``, ``apikey``), or is ``auth``.
_SECRET_PART: Final = re.compile(
    r"(?:pass|pwd|secret|token|cred|conn|dsn|private|authenti|authoriz).*|.*keys?|auth"
)
_PARTS: Final = re.compile(r"[^a-z0-9]+")
#: Every structural rule needs one of these in the lowered text.
_PREFILTER: Final = re.compile(
    r"pass|secret|token|key|cred|conn|dsn|private|auth|identified|crypt|code|kdf|asymmetric|prepare"
)
_ASSIGN: Final = frozenset({"=", ":="})

Span = tuple[int, int]


def _secret_name(name: str) -> bool:
    return any(_SECRET_PART.fullmatch(p) for p in _PARTS.split(name.lower()) if p)


def _call_args(tokens: list[Token], open_at: int) -> list[list[Token]]:
    """The arguments of the call whose ``(`` is ``tokens[open_at]``, each
    with its nested tokens (unclosed: every argument so far)."""
    args: list[list[Token]] = [[]]
    depth = 0
    i = open_at + 1
    while i < len(tokens):
        t = tokens[i]
        if t.kind == OP and t.text == "(":
            depth += 1
        elif t.kind == OP and t.text == ")":
            if depth == 0:
                return args
            depth -= 1
        elif t.kind == OP and t.text == "," and depth == 0:
            args.append([])
            i += 1
            continue
        args[-1].append(t)
        i += 1
    return args


def _statement_spans(tokens: list[Token]) -> tuple[list[Span], int]:
    """Secret string spans of one statement and how many secret positions."""
    spans: list[Span] = []
    positions = 0
    words = [t.upper for t in tokens[:2]]
    if words == ["SET", "PASSWORD"]:
        positions += 1
        after = next((k for k, t in enumerate(tokens) if t.kind == OP and t.text in _ASSIGN), 0)
        spans += [(t.start, t.end) for t in tokens[after:] if t.kind == STRING]
    if words[:1] == ["PREPARE"] and len(tokens) > 3 and tokens[3].kind == VAR:
        positions += 1  # PREPARE p FROM @var: the text could hold anything
    for i, t in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if t.upper == "IDENTIFIED":
            positions += 1
            spans += [(s.start, s.end) for s in tokens[i + 1 :] if s.kind == STRING]
            break
        if (
            t.kind == WORD
            and nxt is not None
            and nxt.kind == OP
            and nxt.text == "("
            and (where := MYSQL_SECRET_ARGS.get(t.text.lower(), ())) != ()
        ):
            for k, arg in enumerate(_call_args(tokens, i + 1)):
                if where is None or k in where:
                    positions += 1
                    spans += [(s.start, s.end) for s in arg if s.kind == STRING]
        if t.kind in (WORD, VAR, QIDENT) and nxt is not None and _secret_name(t.text):
            value = nxt
            if nxt.kind == OP and nxt.text in _ASSIGN and i + 2 < len(tokens):
                value = tokens[i + 2]
            if value.kind == STRING:
                positions += 1
                spans.append((value.start, value.end))
    return spans, positions


def _quoted_to_end(sql: str) -> list[Span]:
    """Every quoted part of a text the lexer could not split, the last one
    to the end when it does not close (fail closed)."""
    spans: list[Span] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c not in "'\"":
            i += 1
            continue
        j = i + 1
        while j < n and sql[j] != c:
            j += 2 if sql[j] == "\\" else 1
        spans.append((i, min(j + 1, n)))
        i = j + 1
    return spans


#: How deep code in strings is looked into (a PREPARE of a PREPARE...).
_MAX_DEPTH: Final = 3


class Structure(NamedTuple):
    """What :func:`mask_structure` found in one text."""

    text: str
    """The text with secret constants masked."""
    detector: str | None
    """``sql-secret``, ``sql-unparsed``, or None: no secret position."""
    replaced: int


def secret_spans(sql: str) -> tuple[list[Span], str | None]:
    """Where the secret constants of ``sql`` stand (character offsets,
    quotes included) and the detector that found them (None: no secret
    position); code given as a string is not looked into here."""
    spans, _code, detector = _scan(sql)
    return spans, detector


def _scan(sql: str) -> tuple[list[Span], list[Token], str | None]:
    """Secret spans, the string constants that may hold code (not secret
    themselves), and the detector."""
    if _PREFILTER.search(sql.lower()) is None:
        return [], [], None
    spans: list[Span] = []
    code: list[Token] = []
    positions = 0
    unparsed = False
    modes = (True, False) if "\\" in sql else (True,)
    for backslash in modes:
        try:
            statements = tokenize(sql, server=None, backslash_escapes=backslash)
        except LexError:
            unparsed = True
            continue
        for tokens in statements:
            found, count = _statement_spans(tokens)
            spans += found
            positions += count
            if backslash:
                code += [
                    t for t in tokens if t.kind == STRING and _PREFILTER.search(t.text.lower())
                ]
    if unparsed:  # what either reading finds, and every quoted part
        return _merge(spans + _quoted_to_end(sql)), [], SQL_UNPARSED
    return _merge(spans), code, (SQL_SECRET if positions else None)


def mask_structure(sql: str, depth: int = 0) -> Structure:
    """``sql`` with its secret constants masked; a string constant that is
    itself a statement with a secret (``PREPARE p FROM '…'``, ``SET @q =
    '…'``) is masked by the same rules, recursively, and quoted again."""
    spans, code, detector = _scan(sql)
    edits: list[tuple[int, int, str]] = [(a, b, f"'[MASKED:{detector}]'") for a, b in spans]
    replaced = len(spans)
    for t in code:
        if any(a < t.end and t.start < b for a, b in spans):
            continue
        if depth >= _MAX_DEPTH:
            inner = Structure("[MASKED:sql-unparsed]", SQL_UNPARSED, 1)
        else:
            inner = mask_structure(t.text, depth + 1)
        if inner.detector is None:
            continue
        detector = detector or inner.detector
        replaced += inner.replaced
        quoted = inner.text.replace("\\", "\\\\").replace("'", "''")
        edits.append((t.start, t.end, "'" + quoted + "'"))
    if not edits:
        return Structure(sql, detector, 0)
    parts: list[str] = []
    pos = 0
    for start, end, text in sorted(edits):
        parts += [sql[pos:start], text]
        pos = end
    parts.append(sql[pos:])
    return Structure("".join(parts), detector, replaced)


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for start, end in sorted(set(spans)):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


class MySqlInputMasker(InputMasker):
    """Masks MySQL statement texts: structure by MySQL's lexer (see the
    module docs), then the content detectors, as :class:`InputMasker`."""

    __slots__ = ()

    def _structure(
        self, sql: bytes, detectors: dict[str, int], depth: int = 0
    ) -> tuple[bytes, bool]:
        found = mask_structure(sql.decode("utf-8", "surrogateescape"))
        if found.replaced and found.detector is not None:
            detectors[found.detector] = detectors.get(found.detector, 0) + found.replaced
        return found.text.encode("utf-8", "surrogateescape"), found.detector is not None
