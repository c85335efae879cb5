"""``SET`` statements: which settings a session may change.

A setting in :data:`SAFE_SETTINGS` changed for the session is harmless;
``GLOBAL``/``PERSIST``/``PERSIST_ONLY`` (or ``@@global.``, ``@@persist.``)
scope, ``SET PASSWORD``, ``SET ROLE``, ``SET DEFAULT ROLE`` and any other
setting are ``admin``; user variables (``SET @x = …``), ``SET NAMES``,
``SET CHARACTER SET`` and ``SET [SESSION] TRANSACTION …`` are harmless.
The values' function calls are judged by the caller.
"""

from __future__ import annotations

from typing import Final

from limen.policy import ADMIN, HARMLESS
from limen.policy.mysql.lexer import OP, VAR, Token


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


SAFE_SETTINGS: Final = _names(
    """
    autocommit sql_mode time_zone character_set_client character_set_connection
    character_set_results collation_connection transaction_isolation tx_isolation
    transaction_read_only tx_read_only sql_select_limit max_execution_time
    max_statement_time group_concat_max_len net_read_timeout net_write_timeout
    wait_timeout interactive_timeout lock_wait_timeout innodb_lock_wait_timeout
    sql_safe_updates sql_big_selects sql_quote_show_create sql_notes sql_warnings
    div_precision_increment lc_time_names lc_messages default_week_format
    session_track_schema session_track_state_change session_track_system_variables
    session_track_transaction_info profiling big_tables sql_auto_is_null
    max_sort_length max_join_size sort_buffer_size join_buffer_size
    net_buffer_length max_allowed_packet
    """
)

_SCOPES: Final = {"GLOBAL": ADMIN, "PERSIST": ADMIN, "PERSIST_ONLY": ADMIN}


def _assignments(tokens: list[Token]) -> list[list[Token]]:
    out: list[list[Token]] = [[]]
    depth = 0
    for t in tokens:
        if t.kind == OP and t.text in "()":
            depth += 1 if t.text == "(" else -1
        if depth == 0 and t.kind == OP and t.text == ",":
            out.append([])
        else:
            out[-1].append(t)
    return [a for a in out if a]


def _one(a: list[Token]) -> tuple[str, str]:
    first = a[0].upper
    if first in _SCOPES:
        return ADMIN, f"SET {first} changes the server for everyone"
    if first in ("SESSION", "LOCAL") and len(a) > 1:
        a = a[1:]
        first = a[0].upper
    if a[0].kind == VAR:
        name = a[0].text.lower()
        if not name.startswith("@@"):
            return HARMLESS, "sets a user variable"
        scope, _, var = name[2:].partition(".")
        if not var:
            scope, var = "session", scope
        if scope in ("global", "persist", "persist_only"):
            return ADMIN, "SET @@global changes the server for everyone"
        if scope not in ("session", "local"):
            return ADMIN, "a setting scope limen does not know"
        return _named(var)
    if first in ("NAMES", "CHARSET") or [t.upper for t in a[0:2]] == ["CHARACTER", "SET"]:
        return HARMLESS, "sets the connection's character set"
    return _named(a[0].text.lower())


def _named(var: str) -> tuple[str, str]:
    if var in SAFE_SETTINGS:
        return HARMLESS, "sets a client setting"
    return ADMIN, "sets a server setting that is not a client setting"


def set_classes(tokens: list[Token]) -> list[tuple[str, str]]:
    """Classes (with reasons) of a ``SET`` statement's assignments."""
    words = [t.upper for t in tokens[1:4]]
    if words[:1] == ["TRANSACTION"] or words[:2] in (
        ["SESSION", "TRANSACTION"],
        ["LOCAL", "TRANSACTION"],
    ):
        return [(HARMLESS, "sets the next transaction's characteristics")]
    if words[:1] in (["PASSWORD"], ["ROLE"], ["DEFAULT"]) or words[:2] == [
        "GLOBAL",
        "TRANSACTION",
    ]:
        return [(ADMIN, f"SET {words[0]} changes credentials, roles or the server")]
    if len(tokens) < 2:
        return [(ADMIN, "an empty SET")]
    return [_one(a) for a in _assignments(tokens[1:])]
