"""A MySQL/MariaDB lexer: the server's own rules for what is code.

What the server skips and what it runs decides what limen must judge, so the
text is split into tokens here, by the rules of the server's lexer (MySQL
"Comments", "String Literals", "Schema Object Names"; MariaDB "Comment
Syntax", "String Literals", "Identifier Names"):

- ``#`` and ``-- `` (two dashes then a space or control character) run to
  the end of the line; ``--x`` is not a comment (``1--1`` is arithmetic).
- ``/* … */`` is a comment (not nested; unterminated is an error), and so is
  an optimizer hint ``/*+ … */``.
- ``/*! … */`` is code; ``/*!NNNNN … */`` (5 digits) is code when the
  server's version is at least NNNNN, except on MariaDB for 50700 to 99999
  (MySQL 5.7+ features); MariaDB also reads 6 digits (``/*!100100``) and
  the rest of a longer number is code. MariaDB's ``/*M! … */`` and
  ``/*M!NNNNN[N] … */`` are code on MariaDB only. Which ones run is decided
  by :class:`Server` (checked against MariaDB 10.11 in the tests); 6 digits
  or more for MySQL or an unknown server, a comment opened inside an
  executable comment and an unterminated one are errors.
- Strings ``'…'`` and ``"…"`` with doubled quotes, and backslash escapes
  unless the session runs with ``NO_BACKSLASH_ESCAPES`` (the server says so
  in every OK packet's status flags: the caller passes it).
- Identifiers in backticks with doubled backticks; ``@var``, ``@'var'``,
  ``@@var``, ``@@global.var``.
- ``;`` ends a statement; ``DELIMITER`` and ``\\G`` are client-side (the
  server sees them as syntax errors).

A NUL byte is an error, as for PostgreSQL. Errors never quote the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

WORD: Final = "word"
QIDENT: Final = "qident"
STRING: Final = "string"
NUMBER: Final = "number"
VAR: Final = "var"
OP: Final = "op"


class LexError(ValueError):
    """The text cannot be tokenized as the server would; says where, not what."""


@dataclass(frozen=True, slots=True)
class Server:
    """Which executable comments the upstream server runs."""

    mariadb: bool
    version: int
    """As in executable comments: 100611 for 10.6.11, 80035 for 8.0.35."""

    @classmethod
    def from_greeting(cls, server_version: str) -> Server:
        """From HandshakeV10's version string (``5.5.5-10.11.19-MariaDB…``,
        ``8.0.35``)."""
        text = server_version.removeprefix("5.5.5-")
        mariadb = "mariadb" in server_version.lower()
        parts: list[int] = []
        for piece in text.split("-")[0].split(".")[:3]:
            digits = "".join(c for c in piece if c.isdigit())
            parts.append(int(digits) if digits else 0)
        while len(parts) < 3:
            parts.append(0)
        return cls(mariadb, parts[0] * 10000 + parts[1] * 100 + parts[2])


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    """Words as written; strings and quoted identifiers unescaped."""
    start: int = field(default=0, compare=False)
    """Where the token starts in the text (quotes included)."""
    end: int = field(default=0, compare=False)
    """Where it ends (exclusive)."""

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == WORD else ""


def _version(
    sql: str, at: int, j: int, digits: int, server: Server | None
) -> tuple[int | None, int]:
    """The version of an executable comment whose digits start at ``j`` and
    the index where its code starts. MariaDB reads 6 digits when there are
    6 or more (the rest is code), MySQL 5; fewer than 5 are code."""
    if digits >= 6:
        if server is None or not server.mariadb:
            raise LexError(f"executable comment version of 6 digits or more at {at}")
        return int(sql[j : j + 6]), j + 6
    if digits == 5:
        return int(sql[j : j + 5]), j + 5
    return None, j


def _runs(version: int | None, mariadb_only: bool, server: Server | None, every: bool) -> bool:
    """Whether the server runs an executable comment (tried against MariaDB
    10.11: ``/*!NNNNN`` with NNNNN from 50700 to 99999 is MySQL-only there)."""
    if server is None:
        return every or (version is None and not mariadb_only)
    if mariadb_only and not server.mariadb:
        return False
    if version is None:
        return True
    if server.mariadb and not mariadb_only and 50700 <= version <= 99999:
        return False
    return server.version >= version


def _word_char(c: str) -> bool:
    return c.isalnum() or c in "_$" or ord(c) > 0x7F


def tokenize(
    sql: str,
    *,
    server: Server | None,
    backslash_escapes: bool = True,
    every_comment: bool = True,
) -> list[list[Token]]:
    """Statements as token lists (empty statements dropped).

    With ``server=None`` the versioned executable comments run when
    ``every_comment`` is true and are skipped when false (callers judge both
    and keep the worse); unversioned ``/*!`` always runs.
    """
    if "\x00" in sql:
        raise LexError("NUL byte in the statement text")
    out: list[list[Token]] = []
    cur: list[Token] = []
    i, n = 0, len(sql)
    in_exec = False
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif c == "#" or (
            c == "-" and sql.startswith("--", i) and (i + 2 == n or sql[i + 2] <= " ")
        ):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif c == "*" and in_exec and sql.startswith("*/", i):
            in_exec = False
            i += 2
        elif c == "/" and sql.startswith("/*", i):
            if in_exec:
                raise LexError(f"comment inside an executable comment at {i}")
            if sql.startswith("/*!", i) or sql.startswith("/*M!", i):
                mariadb_only = sql[i + 2] == "M"
                j = i + (4 if mariadb_only else 3)
                k = j
                while k < n and sql[k].isdigit():
                    k += 1
                version, j = _version(sql, i, j, k - j, server)
                end = sql.find("*/", j)
                if end < 0:
                    raise LexError(f"unterminated comment at {i}")
                if _runs(version, mariadb_only, server, every_comment):
                    in_exec = True
                    i = j
                else:
                    i = end + 2
            else:
                end = sql.find("*/", i + 2)
                if end < 0:
                    raise LexError(f"unterminated comment at {i}")
                i = end + 2
        elif c in "'\"":
            text, j = _quoted(sql, i, c, backslash_escapes)
            cur.append(Token(STRING, text, i, j))
            i = j
        elif c == "`":
            text, j = _quoted(sql, i, "`", False)
            cur.append(Token(QIDENT, text, i, j))
            i = j
        elif c == "@":
            j = i + 1
            if j < n and sql[j] == "@":
                j += 1
            if j < n and sql[j] in "'\"`":
                text, j = _quoted(sql, j, sql[j], backslash_escapes and sql[j] != "`")
                name = sql[i:j]
            else:
                while j < n and (_word_char(sql[j]) or sql[j] == "."):
                    j += 1
                name = sql[i:j]
            cur.append(Token(VAR, name, i, j))
            i = j
        elif c == ";":
            if cur:
                out.append(cur)
            cur = []
            i += 1
        elif c.isdigit() or (c == "." and i + 1 < n and sql[i + 1].isdigit()):
            j = i + 1
            while j < n and (_word_char(sql[j]) or sql[j] == "."):
                j += 1
            word = sql[i:j]
            # 1e10, 0x1f, 12abc (an identifier starting with digits).
            kind = NUMBER if word.replace(".", "").isdigit() else WORD
            cur.append(Token(kind, word, i, j))
            i = j
        elif _word_char(c):
            j = i + 1
            while j < n and _word_char(sql[j]):
                j += 1
            cur.append(Token(WORD, sql[i:j], i, j))
            i = j
        else:
            two = sql[i : i + 2]
            if two in (":=", "<=", ">=", "<>", "!=", "||", "&&", "->", "<<", ">>"):
                cur.append(Token(OP, two, i, i + 2))
                i += 2
            else:
                cur.append(Token(OP, c, i, i + 1))
                i += 1
    if in_exec:
        raise LexError("unterminated executable comment")
    if cur:
        out.append(cur)
    return out


_ESCAPES: Final = {
    "0": "\x00",
    "b": "\b",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "Z": "\x1a",
    "%": "\\%",
    "_": "\\_",
}


def _quoted(sql: str, i: int, q: str, backslash: bool) -> tuple[str, int]:
    """The unescaped text of the quoted token at ``i`` and the index after it."""
    out: list[str] = []
    j, n = i + 1, len(sql)
    while j < n:
        c = sql[j]
        if c == "\\" and backslash and j + 1 < n:
            out.append(_ESCAPES.get(sql[j + 1], sql[j + 1]))
            j += 2
        elif c == q:
            if j + 1 < n and sql[j + 1] == q:
                out.append(q)
                j += 2
            else:
                return "".join(out), j + 1
        else:
            out.append(c)
            j += 1
    raise LexError(f"unterminated quoted text at {i}")


def render(tokens: list[Token]) -> str:
    """Tokens back to SQL text that any MySQL parser reads as the same
    tokens: comments gone, executable comments opened, strings re-quoted."""
    parts: list[str] = []
    for t in tokens:
        if t.kind == STRING:
            text = t.text.replace("\\", "\\\\").replace("'", "''")
            parts.append("'" + text + "'")
        elif t.kind == QIDENT:
            parts.append("`" + t.text.replace("`", "``") + "`")
        else:
            parts.append(t.text)
    return " ".join(parts)
