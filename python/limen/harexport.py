"""An HTTP session's recording as HAR 1.2 (``limen sessions export --format har``).

The HTTP gateway records each exchange in order (:mod:`limen.gateway.http.relay`):
the request head as text (``c2u``: ``METHOD /r/RESOURCE/PATH HTTP/1.1``, the
headers, CRLFCRLF), its body chunks (``c2u``, masked when the session masks
input), the decision (and approval) records, then the response head
(``u2c``: ``HTTP/1.1 STATUS``, the headers; a response limen writes itself
holds its body in the same record) and its body chunks (``u2c``, masked).
One request is read and answered at a time, so the records split into
entries without guessing: a ``c2u`` record after a response (or first)
starts an entry, else it is request body; the first ``u2c`` record of an
entry is the response head, the rest response body.

What reaches the HAR is what was recorded: masked bodies, and headers that
hold credentials (``Authorization``, ``Proxy-Authorization``, ``Cookie``,
``Set-Cookie``) ``[redacted]`` — redacted here again whatever the log says,
and never parsed into HAR ``cookies``. After a ``101`` (a WebSocket upgrade)
the payloads recorded both ways are the entry's ``_webSocketMessages`` (as
browsers export them; opcode 2 and base64 when not UTF-8). A body that is
not UTF-8 is
base64 (``content.encoding``). The URL is ``http://HOST/r/...`` with the
request's recorded ``Host``: the recording does not say whether the client
used TLS. limen's own members are ``_limen``: per entry its decision,
hold and approval records as recorded (and whether each side was masked);
for the log the session, identity, resource and the session's end event.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from limen import __version__, recording

__all__ = ["HarError", "har_document"]

_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_REDACTED: Final = "[redacted]"


class HarError(ValueError):
    """The session is not an HTTP session."""


@dataclass
class _Side:
    head: bytes = b""
    body: bytearray = field(default_factory=bytearray)
    first_us: int = 0
    last_us: int = 0
    masked: bool = False


@dataclass
class _Entry:
    request: _Side
    response: _Side | None = None
    events: list[Any] = field(default_factory=list)
    messages: list[tuple[str, int, bytes]] | None = None
    """After a ``101``: the upgraded stream's records (send/receive)."""


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    head, sep, rest = data.partition(b"\r\n\r\n")
    return (head, rest) if sep else (data, b"")


def _headers(head: bytes) -> tuple[str, list[dict[str, str]]]:
    text = head.decode("utf-8", "replace")
    first, *lines = text.split("\r\n")
    out = []
    for line in lines:
        name, _, value = line.partition(":")
        value = value.strip()
        if name.strip().lower() in _SECRET_HEADERS:
            value = _REDACTED
        out.append({"name": name.strip(), "value": value})
    return first, out


def _header(headers: list[dict[str, str]], name: str) -> str | None:
    for h in headers:
        if h["name"].lower() == name:
            return h["value"]
    return None


def _content(body: bytes, mime: str) -> dict[str, Any]:
    out: dict[str, Any] = {"size": len(body), "mimeType": mime}
    try:
        out["text"] = body.decode("utf-8")
    except UnicodeDecodeError:
        out["text"] = base64.b64encode(body).decode("ascii")
        out["encoding"] = "base64"
    return out


def _iso(unix_us: int) -> str:
    when = dt.datetime.fromtimestamp(unix_us / 1e6, tz=dt.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")


def _entries(records: recording.LogReader, session: list[Any]) -> list[_Entry]:
    """The exchanges; ``session`` gets the session's own events (its end)."""
    entries: list[_Entry] = []
    for rec in records:
        current = entries[-1] if entries else None
        if (
            current is not None
            and current.messages is not None
            and rec.kind
            in (
                recording.Kind.C2U,
                recording.Kind.U2C,
            )
        ):
            way = "send" if rec.kind == recording.Kind.C2U else "receive"
            current.messages.append((way, rec.t_us, rec.payload))
            continue
        if rec.kind == recording.Kind.C2U:
            if current is None or current.response is not None:
                head, rest = _split_head(rec.payload)
                side = _Side(head, bytearray(rest), rec.t_us, rec.t_us, rec.masked)
                entries.append(_Entry(side))
            else:
                current.request.body += rec.payload
                current.request.last_us = rec.t_us
                current.request.masked |= rec.masked
        elif rec.kind == recording.Kind.U2C and current is not None:
            if current.response is None:
                head, rest = _split_head(rec.payload)
                current.response = _Side(head, bytearray(rest), rec.t_us, rec.t_us, rec.masked)
                if head.startswith(b"HTTP/1.1 101"):
                    current.messages = []  # what follows is the upgraded stream
            else:
                current.response.body += rec.payload
                current.response.last_us = rec.t_us
                current.response.masked |= rec.masked
        elif current is not None and rec.kind in (
            recording.Kind.DECISION,
            recording.Kind.APPROVAL,
            recording.Kind.MASKING,
            recording.Kind.ERROR,
            recording.Kind.EVENT,
        ):
            event = _event(rec.payload)
            if isinstance(event, dict) and event.get("event") == "end":
                session.append(event)
            else:
                current.events.append({"kind": rec.kind.value, "record": event})
    return entries


def _har_entry(entry: _Entry, start_us: int) -> dict[str, Any]:
    req = entry.request
    first, headers = _headers(req.head)
    method, _, rest = first.partition(" ")
    target, _, version = rest.rpartition(" ")
    host = _header(headers, "host") or "limen"
    url = f"http://{host}{target}"
    request: dict[str, Any] = {
        "method": method,
        "url": url,
        "httpVersion": version or "HTTP/1.1",
        "cookies": [],
        "headers": headers,
        "queryString": [
            {"name": k, "value": v}
            for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)
        ],
        "headersSize": len(req.head) + 4,
        "bodySize": len(req.body),
    }
    if req.body:
        mime = _header(headers, "content-type") or "application/octet-stream"
        post = _content(bytes(req.body), mime)
        request["postData"] = {"mimeType": mime, "text": post["text"]}
        if "encoding" in post:
            request["postData"]["comment"] = "base64"
    resp = entry.response
    end_us = req.last_us
    if resp is None:  # the connection ended before an answer
        response: dict[str, Any] = {
            "status": 0,
            "statusText": "",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        }
        wait = receive = 0.0
    else:
        status_line, rheaders = _headers(resp.head)
        version, _, status_rest = status_line.partition(" ")
        code, _, reason = status_rest.partition(" ")
        mime = _header(rheaders, "content-type") or "x-unknown"
        response = {
            "status": int(code) if code.isdigit() else 0,
            "statusText": reason,
            "httpVersion": version,
            "cookies": [],
            "headers": rheaders,
            "content": _content(bytes(resp.body), mime),
            "redirectURL": _header(rheaders, "location") or "",
            "headersSize": len(resp.head) + 4,
            "bodySize": len(resp.body),
        }
        end_us = resp.last_us
        wait = (resp.first_us - req.last_us) / 1000
        receive = (resp.last_us - resp.first_us) / 1000
    send = (req.last_us - req.first_us) / 1000
    limen: dict[str, Any] = {
        "request_masked": req.masked,
        "response_masked": resp is not None and resp.masked,
        "events": entry.events,
    }
    out: dict[str, Any] = {
        "startedDateTime": _iso(start_us + req.first_us),
        "time": (end_us - req.first_us) / 1000,
        "request": request,
        "response": response,
        "cache": {},
        "timings": {"send": send, "wait": wait, "receive": receive},
        "_limen": limen,
    }
    if entry.messages is not None:  # the WebSocket payloads, as browsers export them
        out["_webSocketMessages"] = [_message(*m, start_us) for m in entry.messages]
    return out


def _message(way: str, t_us: int, data: bytes, start_us: int) -> dict[str, Any]:
    try:
        text, opcode = data.decode("utf-8"), 1
    except UnicodeDecodeError:
        text, opcode = base64.b64encode(data).decode("ascii"), 2
    return {"type": way, "time": (start_us + t_us) / 1_000_000, "opcode": opcode, "data": text}


def har_document(log: recording.LogReader) -> dict[str, Any]:
    """The session ``log`` (an HTTP session's) as a HAR 1.2 document;
    :class:`HarError` for another protocol. Reading it may raise
    :class:`limen.recording.LogError` (a bad record)."""
    h = log.header
    if h.protocol != "http":
        raise HarError(f"session {h.session_id} is a {h.protocol} session; HAR is for http")
    session: list[Any] = []
    entries = [_har_entry(e, h.start_unix_us) for e in _entries(log, session)]
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "limen", "version": __version__},
            "comment": (
                f"session {h.session_id}, identity {h.identity}, resource {h.resource}; "
                f"{'truncated' if log.truncated else 'closed and signed'}"
            ),
            "entries": entries,
            "_limen": {
                "session_id": h.session_id,
                "identity": h.identity,
                "resource": h.resource,
                "end": session[-1] if session else None,
            },
        }
    }
