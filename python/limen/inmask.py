"""What the bot sends, as limen writes it down: statement texts masked.

Every statement text limen records or shows a person (the session log's
``c2u`` records, held statements in the approvals store, the CLI, the admin
API and webhooks) goes through :meth:`InputMasker.mask` first; what is
forwarded upstream is untouched.

Two passes:

1. **Structure** (from the parse tree, pglast): a string constant is
   secret by where it stands, whatever its value:

   - the value of an option whose name says it carries a secret
     (``PASSWORD`` of ``CREATE/ALTER ROLE|USER``, ``OPTIONS (password ...)``
     of ``CREATE SERVER``/``USER MAPPING``/``FOREIGN TABLE``, any
     ``DefElem`` named like ``password``, ``secret``, ``token``, ``key``,
     ``conninfo``...);
   - the value of a secret-named setting (``SET``, ``ALTER SYSTEM SET``,
     ``ALTER ROLE/DATABASE ... SET``; e.g. ``primary_conninfo``);
   - a node field named like a secret (``conninfo`` of ``CREATE/ALTER
     SUBSCRIPTION``);
   - the arguments of functions that take connection strings, keys or
     passwords, by position (:data:`SECRET_ARGS`: ``dblink*``,
     ``set_config``'s value, pgcrypto's keys...).

   - code given as a string (``DO`` blocks, ``CREATE FUNCTION/PROCEDURE
     ... AS '...'``) is masked by these same rules, recursively: a SQL
     body by its structure; a body in another language does not parse as
     SQL, so every string constant in it is masked (a dynamic ``EXECUTE``
     of ``ALTER ROLE ... PASSWORD``).

   The constants found are masked wherever their value occurs as a
   constant in the text (``'[MASKED:sql-secret]'``). A text that does not
   parse has every string constant masked (``sql-unparsed``); a secret
   value the lexer cannot place masks every constant too (fail closed).
   Since these positions depend only on the parse tree's shape (names and
   keywords, never a constant's value), statements of one shape all have
   them or all lack them: the native pump's shape cache relies on it (see
   :mod:`limen.gateway.judging`).

2. **Content**: the session's detectors (every built-in one, plus the
   ``[[mask_rules]]`` its rules name), as for results.

:class:`Masked` tells what was masked: the detector names and counts,
which the session log records in a ``masking`` record next to the
statement (docs/recording-format.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final, NamedTuple

import msgspec
from pglast.parser import parse_sql_json

from limen import _native
from limen.sqllex import string_constants

__all__ = [
    "SECRET_ARGS",
    "InputMasker",
    "Masked",
    "masking_record",
    "secret_constants",
]

#: Structural detector names (beside the content detectors' names).
SQL_SECRET: Final = "sql-secret"  # noqa: S105 (a detector name)
SQL_UNPARSED: Final = "sql-unparsed"

#: Names of options, settings and node fields whose string values are secret.
_SECRET_NAME: Final = re.compile(
    r"pass|secret|token|key|cred|conninfo|connstr|dsn|private|auth", re.IGNORECASE
)
#: Plain-string node fields (no constant node) that hold secrets.
_SECRET_FIELD: Final = re.compile(r"conninfo|password|passwd|secret|token", re.IGNORECASE)

#: Functions whose arguments at these positions (0-based; ``None``: all)
#: are secret: connection strings, passwords, keys.
SECRET_ARGS: Final[dict[str, tuple[int, ...] | None]] = {
    "dblink": (0,),
    "dblink_connect": None,
    "dblink_connect_u": None,
    "dblink_exec": (0,),
    "dblink_open": (0,),
    "dblink_send_query": (0,),
    "dblink_fetch": (0,),
    "dblink_close": (0,),
    "dblink_get_result": (0,),
    "set_config": (1,),
    "crypt": (0,),
    "hmac": (1,),
    "encrypt": (1,),
    "decrypt": (1,),
    "encrypt_iv": (1, 2),
    "decrypt_iv": (1, 2),
    "pgp_sym_encrypt": (1,),
    "pgp_sym_encrypt_bytea": (1,),
    "pgp_sym_decrypt": (1,),
    "pgp_sym_decrypt_bytea": (1,),
    "pgp_pub_decrypt": (1, 2),
    "pgp_pub_decrypt_bytea": (1, 2),
}

#: Every structural rule needs one of these in the text (names, keywords,
#: functions; ``u&`` for escaped identifiers): a text without any is not
#: parsed for structure at all (most statements).
#: Matched on the lowered text (several times faster than ``re.IGNORECASE``).
_PREFILTER: Final = re.compile(
    rb"pass|secret|token|key|cred|conn|dsn|private|auth|dblink|set_config|crypt|hmac|pgp_|u&"
)

_DECODER: Final = msgspec.json.Decoder()


class Masked(NamedTuple):
    """A statement text as limen records it, and what was masked in it."""

    text: bytes
    detectors: dict[str, int]
    """Detector name -> replacements (structural ones: ``sql-secret``,
    ``sql-unparsed``)."""
    structural: bool
    """The parse tree holds constants in secret positions (or the text did
    not parse): statements of the same shape do too."""

    @property
    def masked(self) -> bool:
        return bool(self.detectors)


def _constants(node: Any) -> Iterator[str]:
    """String values of the constants in a subtree (``A_Const`` ``sval``)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            const = n.get("A_Const")
            if isinstance(const, dict):
                sval = const.get("sval")
                if isinstance(sval, dict) and isinstance(sval.get("sval"), str):
                    yield sval["sval"]
                continue
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)


def _arg_values(arg: Any) -> Iterator[str]:
    """The string values of an option's argument: constants, and plain
    ``String`` nodes (utility statements' options carry those)."""
    items = arg if isinstance(arg, list) else [arg]
    for item in items:
        if isinstance(item, dict):
            s = item.get("String")
            if isinstance(s, dict) and isinstance(s.get("sval"), str):
                yield s["sval"]
                continue
        yield from _constants(item)


def _func_name(call: dict[str, Any]) -> str:
    names = call.get("funcname") or []
    last = names[-1] if names else {}
    s = last.get("String", {}) if isinstance(last, dict) else {}
    return str(s.get("sval", "")).lower()


def secret_constants(tree: Any) -> tuple[list[str], int]:
    """The string values standing in secret positions of a parse tree, and
    how many secret positions there are (a position may hold no string)."""
    values: list[str] = []
    positions = 0
    stack = [tree]
    while stack:
        n = stack.pop()
        if isinstance(n, list):
            stack.extend(n)
            continue
        if not isinstance(n, dict):
            continue
        # Nodes are matched by their fields (typed fields hold them unwrapped).
        if "defname" in n:  # DefElem: an option
            if _SECRET_NAME.search(str(n["defname"])):
                positions += 1
                values.extend(_arg_values(n.get("arg")))
        elif str(n.get("kind", "")).startswith("VAR_") and "name" in n:  # VariableSetStmt
            if _SECRET_NAME.search(str(n["name"])) and n.get("args"):
                positions += 1
                values.extend(_constants(n["args"]))
        elif "funcname" in n and (name := _func_name(n)) in SECRET_ARGS:  # FuncCall
            where = SECRET_ARGS[name]
            for i, arg in enumerate(n.get("args") or []):
                if where is None or i in where:
                    positions += 1
                    values.extend(_constants(arg))
        for key, value in n.items():
            if isinstance(value, str) and _SECRET_FIELD.search(key):
                positions += 1
                values.append(value)
            elif isinstance(value, dict | list):
                stack.append(value)
    return values, positions


#: How deep code bodies are looked into (a DO block that runs a DO block...).
_MAX_DEPTH: Final = 3


def code_bodies(tree: Any) -> list[str]:
    """The code given as string constants in a parse tree: the ``AS`` of
    ``DO`` and ``CREATE FUNCTION/PROCEDURE`` (option ``as``)."""
    out: list[str] = []
    stack = [tree]
    while stack:
        n = stack.pop()
        if isinstance(n, list):
            stack.extend(n)
        elif isinstance(n, dict):
            if n.get("defname") == "as":
                arg = n.get("arg")
                if isinstance(arg, dict) and isinstance(arg.get("List"), dict):
                    arg = arg["List"].get("items", [])  # CREATE FUNCTION: [body] or [file, symbol]
                out.extend(_arg_values(arg))
            stack.extend(v for v in n.values() if isinstance(v, dict | list))
    return out


def _marker(name: str) -> bytes:

    return f"'[MASKED:{name}]'".encode()


class InputMasker:
    """Masks statement texts: structure, then ``content`` (a native masker
    of the session's detectors; None: every built-in one)."""

    __slots__ = ("content",)

    def __init__(self, content: _native.Masker | None = None) -> None:
        self.content = content if content is not None else _native.Masker(["builtin"])

    def mask(self, sql: bytes) -> Masked:
        """``sql`` as limen records it (see the module docs)."""
        detectors: dict[str, int] = {}
        text, structural = self._structure(bytes(sql), detectors)
        out = self.content.mask(text)
        if out != text:
            for name, _offset, _length in self.content.findings(text):
                detectors[name] = detectors.get(name, 0) + 1
        return Masked(out, detectors, structural)

    def mask_text(self, sql: bytes) -> str:
        """:meth:`mask` as text (for people: approvals, webhooks)."""
        return self.mask(sql).text.decode("utf-8", "replace")

    def _structure(
        self, sql: bytes, detectors: dict[str, int], depth: int = 0
    ) -> tuple[bytes, bool]:
        if _PREFILTER.search(sql.lower()) is None:
            return sql, False
        try:
            tree = _DECODER.decode(parse_sql_json(sql.decode("utf-8")))
        except Exception:  # not UTF-8, not SQL: every string constant
            return self._replace(sql, None, SQL_UNPARSED, detectors), True
        values, positions = secret_constants(tree)
        text, structural = sql, bool(positions)
        if values:
            secret = {v.encode("utf-8", "surrogatepass") for v in values}
            found = {t.value for t in string_constants(sql) if t.value in secret}
            if found != secret:  # a value the lexer could not place: all of them
                return self._replace(sql, None, SQL_SECRET, detectors), True
            text = self._replace(sql, secret, SQL_SECRET, detectors)
        bodies = self._bodies(tree, detectors, depth)
        if bodies:
            text, structural = self._rewrite(text, bodies), True
        return text, structural

    def _bodies(self, tree: Any, detectors: dict[str, int], depth: int) -> dict[bytes, bytes]:
        """Code given as a string (``DO`` blocks, function bodies), masked
        by the same rules, recursively: a body in SQL by its structure; one
        in any other language (PL/pgSQL...) does not parse as SQL, so every
        string constant in it is masked (a dynamic ``EXECUTE`` of an
        ``ALTER ROLE`` with a password)."""
        out: dict[bytes, bytes] = {}
        for body in code_bodies(tree):
            raw = body.encode("utf-8", "surrogatepass")
            if depth >= _MAX_DEPTH:  # nested too deep to look into: all of it
                out[raw] = f"[MASKED:{SQL_UNPARSED}]".encode()
                detectors[SQL_UNPARSED] = detectors.get(SQL_UNPARSED, 0) + 1
                continue
            masked, _ = self._structure(raw, detectors, depth + 1)
            if masked != raw:
                out[raw] = masked
        return out

    @staticmethod
    def _rewrite(sql: bytes, bodies: dict[bytes, bytes]) -> bytes:
        """``sql`` with each string constant whose value is a key of
        ``bodies`` replaced by its masked body (quoted again)."""
        out = bytearray()
        pos = 0
        for t in string_constants(sql):
            if t.value in bodies:
                out += sql[pos : t.start]
                out += b"'" + bodies[t.value].replace(b"'", b"''") + b"'"
                pos = t.end
        out += sql[pos:]
        return bytes(out)

    @staticmethod
    def _replace(
        sql: bytes, secret: set[bytes] | None, name: str, detectors: dict[str, int]
    ) -> bytes:
        """``sql`` with its string constants whose value is in ``secret``
        (None: every one) replaced by the marker."""
        out = bytearray()
        pos = 0
        marker = _marker(name)
        for t in string_constants(sql):
            if secret is None or t.value in secret:
                out += sql[pos : t.start]
                out += marker
                pos = t.end
                detectors[name] = detectors.get(name, 0) + 1
        out += sql[pos:]
        return bytes(out)


def masking_record(masked: Masked) -> bytes:
    """The ``masking`` record written right after a masked ``c2u`` record."""
    return msgspec.json.encode({"record": "c2u", "masked": dict(sorted(masked.detectors.items()))})
