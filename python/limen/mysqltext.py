"""MySQL server responses as text for ``limen sessions replay``: result sets
as tables (the mysql CLI's layout), OK and ERR packets as one line.

A session log keeps what the client received (``u2c``, masked) in the
chunks the relay sent, so a response can span records: :class:`MySqlReplay`
keeps the state between them. Text rows are shown value by value; a row
that is not a text row (the binary protocol of prepared statements) is
shown as its size. Nothing here is trusted input to a decision: a packet
that does not parse is shown escaped, and the replay goes on.
"""

from __future__ import annotations

from typing import Final

from limen import _native

__all__ = ["MySqlReplay"]

_CAPS: Final = _native.MYSQL_GATEWAY_CAPABILITIES
_MAX_WIDTH: Final = 60
"""A value wider than this is cut (with an ellipsis) in the table."""


def _cell(value: bytes | None) -> str:
    if value is None:
        return "NULL"
    text = value.decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= _MAX_WIDTH else text[: _MAX_WIDTH - 1] + "…"


def _table(names: list[str], rows: list[list[str]]) -> list[str]:
    widths = [len(n) for n in names]
    for row in rows:
        for i, v in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], len(v))
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values: list[str]) -> str:
        padded = [v.ljust(w) for v, w in zip(values, widths, strict=False)]
        return "| " + " | ".join(padded) + " |"

    out = [rule, line(names), rule]
    out += [line(r) for r in rows]
    out.append(rule)
    return out


def _is_end(payload: bytes) -> bool:
    """An EOF packet, or an OK packet in its place (DEPRECATE_EOF)."""
    return bool(payload) and payload[0] == 0xFE and len(payload) < 0xFFFFFF


class MySqlReplay:
    """One session's responses, record after record."""

    def __init__(self) -> None:
        self.decoder = _native.MySqlPacketDecoder()
        self.columns: list[str] | None = None
        self.expected = 0
        self.rows: list[list[str]] = []
        self.defs_done = False
        self._reset()

    def _reset(self) -> None:
        self.decoder = _native.MySqlPacketDecoder()
        self.decoder.ignore_sequence()
        self.columns, self.expected, self.rows, self.defs_done = None, 0, [], False

    def feed(self, payload: bytes) -> list[str]:
        """The lines for what ``payload`` completes (possibly none)."""
        out: list[str] = []
        try:
            packets = self.decoder.feed(payload)
        except _native.MySqlProtocolError as exc:
            self._reset()  # start over on the next record
            return [f"(not MySQL packets: {exc})"]
        for packet in packets:
            out += self._packet(packet.payload)
        return out

    def _packet(self, p: bytes) -> list[str]:
        if self.columns is None:
            return self._first(p)
        if len(self.columns) < self.expected:
            try:
                name = _native.mysql_parse_column_definition(p, _CAPS).name
            except (_native.MySqlProtocolError, ValueError):
                name = b"?"
            self.columns.append(name.decode("utf-8", "backslashreplace"))
            return []
        if not self.defs_done:
            self.defs_done = True
            if _is_end(p) and len(p) < 9:  # the EOF after the definitions
                return []
        if p[:1] == b"\xff":
            return self._end() + self._err(p)
        if _is_end(p):
            return self._end()
        try:
            values = _native.mysql_parse_text_row(p, self.expected)
            self.rows.append([_cell(v) for v in values])
        except (_native.MySqlProtocolError, ValueError):
            self.rows.append([f"(binary row, {len(p)} bytes)"] + [""] * (self.expected - 1))
        return []

    def _first(self, p: bytes) -> list[str]:
        if not p:
            return []
        if p[0] == 0x00:
            try:
                ok = _native.mysql_parse_ok(p, _CAPS)
                return [f"OK, {ok.affected_rows} row(s) affected"]
            except (_native.MySqlProtocolError, ValueError):
                return ["OK"]
        if p[0] == 0xFF:
            return self._err(p)
        if p[0] == 0xFE:
            return ["(end of data)"]
        try:
            count = _native.mysql_parse_column_count(p, _CAPS)
        except (_native.MySqlProtocolError, ValueError):
            return [f"(packet of {len(p)} bytes)"]
        self.columns, self.expected, self.rows, self.defs_done = [], count, [], False
        return []

    @staticmethod
    def _err(p: bytes) -> list[str]:
        try:
            err = _native.mysql_parse_err(p)
        except (_native.MySqlProtocolError, ValueError):
            return ["ERROR (unreadable)"]
        if isinstance(err, _native.MySqlErr):
            message = err.message.decode("utf-8", "backslashreplace")
            return [f"ERROR {err.code} ({err.sql_state}): {message}"]
        return ["(progress report)"]

    def _end(self) -> list[str]:
        names = self.columns or []
        rows = self.rows
        self.columns, self.expected, self.rows = None, 0, []
        return [*_table(names, rows), f"{len(rows)} row(s)"]
