"""PostgreSQL backend messages as readable text, for session replays.

The recording holds the (masked) bytes the bot received; a replay shows
them as a result table: column names, one line per row, the command tag,
errors and notices with their SQLSTATE. Anything that does not parse as
whole backend messages is returned as ``None`` so the caller can show the
bytes escaped instead; this never raises on any input.
"""

from __future__ import annotations

import struct

__all__ = ["render_backend"]

_MAX_LINES = 10_000


def _cstr(body: bytes, pos: int) -> tuple[str, int]:
    end = body.index(b"\x00", pos)
    return body[pos:end].decode("utf-8", "replace"), end + 1


def _fields(body: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(body) and body[pos] != 0:
        code = chr(body[pos])
        value, pos = _cstr(body, pos + 1)
        out[code] = value
    return out


def _row(body: bytes) -> str:
    (count,) = struct.unpack_from("!h", body, 0)
    pos = 2
    values = []
    for _ in range(count):
        (n,) = struct.unpack_from("!i", body, pos)
        pos += 4
        if n < 0:
            values.append("NULL")
            continue
        raw = body[pos : pos + n]
        if len(raw) != n:
            raise ValueError("short value")
        pos += n
        text = raw.decode("utf-8", "replace")
        values.append(text if text.isprintable() else raw.hex())
    return " | ".join(values)


def _columns(body: bytes) -> str:
    (count,) = struct.unpack_from("!h", body, 0)
    pos = 2
    names = []
    for _ in range(count):
        name, pos = _cstr(body, pos)
        pos += 18  # table oid, attnum, type oid, size, modifier, format
        names.append(name)
    return " | ".join(names)


def render_backend(data: bytes) -> list[str] | None:
    """Lines describing ``data`` as backend messages, or None when it is not
    a sequence of whole backend messages."""
    lines: list[str] = []
    pos = 0
    try:
        while pos < len(data):
            if pos + 5 > len(data):
                return None
            tag = chr(data[pos])
            (length,) = struct.unpack_from("!i", data, pos + 1)
            if length < 4 or pos + 1 + length > len(data):
                return None
            body = data[pos + 5 : pos + 1 + length]
            pos += 1 + length
            if tag == "T":
                lines.append(_columns(body))
            elif tag == "D":
                lines.append(_row(body))
            elif tag == "C":
                tag_text = body.rstrip(b"\x00").decode("utf-8", "replace")
                lines.append(f"({tag_text})")
            elif tag in "EN":
                f = _fields(body)
                severity = f.get("V", f.get("S", "ERROR" if tag == "E" else "NOTICE"))
                lines.append(f"{severity} {f.get('C', '?')}: {f.get('M', '')}")
                if "D" in f:
                    lines.append(f"  detail: {f['D']}")
                if "H" in f:
                    lines.append(f"  hint: {f['H']}")
            elif tag == "d":
                lines.append(body.decode("utf-8", "replace").rstrip("\n"))
            elif tag in "Z12n3sI":
                continue  # ReadyForQuery, Parse/BindComplete, NoData, CloseComplete, ...
            else:
                lines.append(f"[message {tag!r}, {len(body)} bytes]")
            if len(lines) > _MAX_LINES:
                lines.append("[... more]")
                break
    except (ValueError, struct.error):
        return None
    return lines
