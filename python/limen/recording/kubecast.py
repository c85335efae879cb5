"""The exec streams of a Kubernetes session log as an asciicast v2
recording (``limen sessions export --format asciicast``, ``limen sessions
replay --play``).

A Kubernetes session is mostly API calls; what plays as a terminal is each
exec, attach or port-forward stream the gateway relayed (WebSocket:
:mod:`limen.gateway.kube.exec`; SPDY/3.1: :mod:`limen.gateway.kube.spdyrelay`,
the same records; port-forward data is not recorded): between a
``kube_stream`` ``open`` event and the stream's end event, ``u2c`` records
(stdout and stderr, masked as
kubectl got them) are ``"o"`` events and ``c2u`` records (stdin, masked)
``"i"`` events. Each stream starts with an ``"o"`` line ``$ kubectl exec
POD -n NS -- COMMAND`` from its ``kube_request`` event; a refused exec is
the line and ``limen: deny (rule R)``. A bare ``\\n`` becomes ``\\r\\n``
(the streams carry no terminal size; 80x24 is assumed). Everything else
(the API calls' heads and bodies) plays no part.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from limen.recording.log import Header, Kind, Record

__all__ = ["kube_cast_lines"]

_STREAM_VERBS = ("exec", "attach", "portforward")


def _event(t_us: int, code: str, text: str) -> str:
    return json.dumps([round(t_us / 1e6, 6), code, text])


def _decode(payload: bytes) -> dict[str, Any]:
    try:
        obj = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return {}
    return obj if isinstance(obj, dict) else {}


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def kube_cast_lines(header: Header, records: Iterable[Record]) -> Iterator[str]:
    """The asciicast v2 lines (header first) of a Kubernetes session's
    exec streams."""
    yield json.dumps(
        {
            "version": 2,
            "width": 80,
            "height": 24,
            "timestamp": header.start_unix_us // 1_000_000,
            "title": f"limen session {header.session_id}: {header.identity} on {header.resource}",
        }
    )
    streaming = False
    call: dict[str, Any] = {}
    out = codecs.getincrementaldecoder("utf-8")("replace")
    inp = codecs.getincrementaldecoder("utf-8")("replace")
    for rec in records:
        if rec.kind == Kind.EVENT:
            obj = _decode(rec.payload)
            kind = obj.get("event")
            if kind == "kube_request":
                call = obj
            elif kind == "decision" and call.get("verb") in _STREAM_VERBS:
                line = f"$ kubectl {call.get('verb')} {call.get('name')} -n {call.get('namespace')}"
                if call.get("argv"):
                    line += f" -- {call['argv']}"
                yield _event(rec.t_us, "o", line + "\r\n")
                if obj.get("action") not in ("allow", "hold"):
                    why = f"limen: {obj.get('action')} (rule {obj.get('rule') or 'none'})\r\n"
                    yield _event(rec.t_us, "o", why)
                call = {}
            elif kind == "kube_stream":
                streaming = obj.get("state") == "open"
                if not streaming and (tail := out.decode(b"", final=True)):
                    yield _event(rec.t_us, "o", _crlf(tail))
        elif streaming and rec.kind == Kind.U2C and (text := _crlf(out.decode(rec.payload))):
            yield _event(rec.t_us, "o", text)
        elif streaming and rec.kind == Kind.C2U and (text := inp.decode(rec.payload)):
            yield _event(rec.t_us, "i", text)
