"""The string constants of a SQL text, found by a small lexer (no parser).

:func:`string_constants` returns every string constant token of a
PostgreSQL statement text with its byte span and, when it can be decoded
exactly, its value: ``'...'`` (``''`` for a quote), ``E'...'`` (backslash
escapes), ``N'...'``, dollar quotes ``$tag$...$tag$``, and ``U&'...'`` (span
only). Adjacent ``'...'`` constants separated by whitespace that holds a
newline are one constant, as in PostgreSQL. Comments, quoted identifiers
and bit strings (``B'...'``, ``X'...'``) are skipped. An unterminated
constant runs to the end of the text. Never raises.

:mod:`limen.inmask` masks the constants the parse tree marks as secret by
their value, and every constant of a text that does not parse.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

__all__ = ["StringConstant", "string_constants"]


class StringConstant(NamedTuple):
    start: int
    end: int
    value: bytes | None
    """The decoded value; None when the lexer cannot decode it exactly."""


_IDENT_START: Final = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
) | frozenset(range(0x80, 0x100))
_IDENT: Final = _IDENT_START | frozenset(b"0123456789$")
_DOLLAR_TAG: Final = re.compile(rb"\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$")
_SPACE: Final = frozenset(b" \t\n\r\f\v")
_SIMPLE_ESCAPES: Final = {
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}


def _quoted_end(sql: bytes, i: int, backslash: bool) -> int:
    """The end of the ``'...'`` starting at ``sql[i] == "'"``."""
    n = len(sql)
    j = i + 1
    while j < n:
        c = sql[j]
        if backslash and c == 0x5C:
            j += 2
            continue
        if c == 0x27:
            if j + 1 < n and sql[j + 1] == 0x27:
                j += 2
                continue
            return j + 1
        j += 1
    return n


def _continued(sql: bytes, end: int) -> int | None:
    """Where a continuation ``'`` starts after ``end`` (whitespace with a
    newline in between), else None."""
    j = end
    newline = False
    while j < len(sql) and sql[j] in _SPACE:
        newline = newline or sql[j] in b"\n\r"
        j += 1
    if newline and j < len(sql) and sql[j] == 0x27:
        return j
    return None


def _decode_plain(body: bytes) -> bytes:
    return body.replace(b"''", b"'")


def _decode_escape(body: bytes) -> bytes | None:
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c == 0x27:  # '' inside E'...'
            out.append(0x27)
            i += 2
            continue
        if c != 0x5C:
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            return None
        e = body[i + 1]
        if e in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[e]
            i += 2
        elif 0x30 <= e <= 0x37:
            m = re.match(rb"[0-7]{1,3}", body[i + 1 : i + 4])
            assert m is not None
            out.append(int(m.group(), 8) & 0xFF)
            i += 1 + len(m.group())
        elif e == ord("x"):
            m = re.match(rb"[0-9A-Fa-f]{1,2}", body[i + 2 : i + 4])
            if m is None:
                out.append(e)
                i += 2
            else:
                out.append(int(m.group(), 16))
                i += 2 + len(m.group())
        elif e in (ord("u"), ord("U")):
            width = 4 if e == ord("u") else 8
            digits = body[i + 2 : i + 2 + width]
            if not re.fullmatch(rb"[0-9A-Fa-f]+", digits) or len(digits) != width:
                return None
            try:
                out += chr(int(digits, 16)).encode("utf-8")
            except (ValueError, UnicodeEncodeError):
                return None
            i += 2 + width
        else:
            out.append(e)
            i += 2
    return bytes(out)


def string_constants(sql: bytes) -> list[StringConstant]:
    """Every string constant token of ``sql`` (see the module docs)."""
    out: list[StringConstant] = []
    n = len(sql)
    i = 0
    while i < n:
        c = sql[i]
        if c == 0x2D and sql[i + 1 : i + 2] == b"-":  # -- comment
            j = sql.find(b"\n", i)
            i = n if j < 0 else j + 1
        elif c == 0x2F and sql[i + 1 : i + 2] == b"*":  # /* nested */
            depth, i = 1, i + 2
            while i < n and depth:
                if sql[i : i + 2] == b"/*":
                    depth, i = depth + 1, i + 2
                elif sql[i : i + 2] == b"*/":
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == 0x22:  # "quoted identifier"
            j = i + 1
            while j < n:
                if sql[j] == 0x22:
                    if sql[j + 1 : j + 2] == b'"':
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
        elif c == 0x24 and (m := _DOLLAR_TAG.match(sql, i)) is not None:
            tag = m.group()
            j = sql.find(tag, m.end())
            end = n if j < 0 else j + len(tag)
            value = sql[m.end() : j] if j >= 0 else None
            out.append(StringConstant(i, end, value))
            i = end
        elif c == 0x27 or (
            c in b"EeNnBbXxUu"
            and (i == 0 or sql[i - 1] not in _IDENT)
            and (sql[i + 1 : i + 2] == b"'" or sql[i + 1 : i + 3] == b"&'")
        ):
            i = _literal(sql, i, out)
        elif c in _IDENT_START:
            j = i + 1
            while j < n and sql[j] in _IDENT:
                j += 1
            i = j
        else:
            i += 1
    return out


def _literal(sql: bytes, i: int, out: list[StringConstant]) -> int:
    """Lexes the constant at ``i`` (a quote or a prefix letter), appends it
    unless it is a bit string, and returns where lexing goes on."""
    prefix = sql[i : i + 1].lower() if sql[i] != 0x27 else b""
    quote = i + len(prefix) + (1 if sql[i + 1 : i + 2] == b"&" else 0)
    backslash = prefix == b"e"
    start = i
    value: bytes | None = b""
    end = _quoted_end(sql, quote, backslash)
    while True:
        closed = end - 1 > quote and sql[end - 1] == 0x27
        body = sql[quote + 1 : end - 1] if closed else sql[quote + 1 : end]
        if not closed or prefix == b"u":
            part = None
        elif backslash:
            part = _decode_escape(body)
        else:
            part = _decode_plain(body)
        value = None if value is None or part is None else value + part
        nxt = _continued(sql, end) if closed else None
        if nxt is None:
            break
        quote = nxt
        end = _quoted_end(sql, quote, backslash)
    if prefix not in (b"b", b"x"):
        out.append(StringConstant(start, end, value))
    return end
