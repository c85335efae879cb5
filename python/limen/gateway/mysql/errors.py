"""MySQL error codes limen answers with, and the ERR packets a client shows.

A refusal is an ERR packet the gateway sends the client in place of the
server's answer, with the sequence id after the command's (nothing goes
upstream). Which code (docs/interface.md "MySQL errors"):

- ``1142`` ``ER_TABLEACCESS_DENIED_ERROR`` (``42000``): a statement that
  reads or writes rows (``harmless``, ``read``, ``write``,
  ``unbounded-write``): the server's own answer for a missing table
  privilege, which clients and ORMs show as "access denied".
- ``1227`` ``ER_SPECIFIC_ACCESS_DENIED_ERROR`` (``42000``): ``ddl``,
  ``admin``, ``unknown``, a MySQL danger, and refused protocol commands
  (``COM_PROCESS_KILL``, ``COM_SHUTDOWN``, replication): the server's answer
  when a privilege beyond table access is missing.
- ``1143`` ``ER_COLUMNACCESS_DENIED_ERROR`` (``42000``): a statement refused
  for a masked column (``mask_predicates = "deny"``, or limen could not
  plan it).
- ``1243`` ``ER_UNKNOWN_STMT_HANDLER`` (``HY000``): a binary-protocol
  statement id limen did not see prepared (what the server says too).
- ``1047`` ``ER_UNKNOWN_COM_ERROR`` (``08S01``): a command code limen does
  not know (what the server says for one it does not know).

Messages are capped at 512 bytes (``MYSQL_ERRMSG_SIZE``: clients cut
longer ones), so what matters comes first: the verdict, the rule and
class, then the hint.
"""

from __future__ import annotations

from typing import Final

from limen import _native
from limen.policy import Decision
from limen.policy.classes import DANGERS

__all__ = [
    "ER_COLUMNACCESS_DENIED",
    "ER_SPECIFIC_ACCESS_DENIED",
    "ER_TABLEACCESS_DENIED",
    "ER_UNKNOWN_COM",
    "ER_UNKNOWN_STMT_HANDLER",
    "MAX_MESSAGE",
    "REFUSED_COMMANDS",
    "code_for",
    "denial",
    "err_packet",
    "label",
    "refused_command",
    "unknown_statement",
]

ER_TABLEACCESS_DENIED: Final = 1142
ER_COLUMNACCESS_DENIED: Final = 1143
ER_SPECIFIC_ACCESS_DENIED: Final = 1227
ER_UNKNOWN_STMT_HANDLER: Final = 1243
ER_UNKNOWN_COM: Final = 1047
MAX_MESSAGE: Final = 512

#: Command codes refused by name (``COM_PROCESS_KILL`` is parsed on its own).
REFUSED_COMMANDS: Final = {
    0x05: "COM_CREATE_DB",
    0x06: "COM_DROP_DB",
    0x08: "COM_SHUTDOWN",
    0x07: "COM_REFRESH",
    0x0A: "COM_PROCESS_INFO",
    0x0D: "COM_DEBUG",
    0x10: "COM_DELAYED_INSERT",
    0x12: "COM_BINLOG_DUMP",
    0x13: "COM_TABLE_DUMP",
    0x14: "COM_CONNECT_OUT",
    0x15: "COM_REGISTER_SLAVE",
    0x1D: "COM_DAEMON",
    0x1E: "COM_BINLOG_DUMP_GTID",
    0xFA: "COM_STMT_BULK_EXECUTE",
}

_TABLE_LEVEL: Final = frozenset({"harmless", "read", "write", "unbounded-write"})


def code_for(klass: str) -> int:
    """The ER code of a denial of class (or danger) ``klass``."""
    return ER_TABLEACCESS_DENIED if klass in _TABLE_LEVEL else ER_SPECIFIC_ACCESS_DENIED


def label(klass: str) -> str:
    """``class: write`` or ``danger: call``."""
    return f"danger: {klass}" if klass in DANGERS else f"class: {klass}"


def _cap(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) <= MAX_MESSAGE:
        return data
    cut = data[: MAX_MESSAGE - 3]
    return cut.decode("utf-8", "ignore").encode("utf-8") + b"..."


def err_packet(seq: int, code: int, sql_state: str, message: str) -> bytes:
    """A framed ERR packet with sequence id ``seq`` (mod 256)."""
    payload = _native.mysql_encode_err(code, sql_state, _cap(message))
    return _native.mysql_packet(seq & 0xFF, payload).data


def denial(seq: int, decision: Decision, *, code: int | None = None) -> bytes:
    """The ERR packet of a denied statement: the message, the rule and the
    class, and what can be approved (a denial cannot: only holds are)."""
    hint = decision.hint or "ask for a rule that allows this statement class"
    hint = hint.replace("PostgreSQL's parser", "MySQL's parser")  # the engine's unknown hint
    text = (
        f"limen: {decision.message} [rule: {decision.rule or '(none)'}; {label(decision.klass)}; "
        f"action: deny, a denied statement cannot be approved] {hint}"
    )
    return err_packet(seq, code if code is not None else code_for(decision.klass), "42000", text)


def unknown_statement(seq: int, decision: Decision) -> bytes:
    """The ERR packet for a statement id limen did not see prepared."""
    return err_packet(
        seq + 1,
        ER_UNKNOWN_STMT_HANDLER,
        "HY000",
        f"limen: {decision.message} [rule: (none); class: unknown; action: deny] {decision.hint}",
    )


def refused_command(seq: int, code: int, decision: Decision) -> bytes:
    """The ERR packet for a command the gateway never forwards."""
    return err_packet(
        seq + 1,
        code,
        "08S01" if code != ER_SPECIFIC_ACCESS_DENIED else "42000",
        f"limen: {decision.message} [rule: (none); class: admin; action: deny, a "
        f"denied command cannot be approved] {decision.hint}",
    )
