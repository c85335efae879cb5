"""``watch`` streams masked and recorded one event at a time.

A watch answer (``?watch=true``, ``kubectl get -w``) is a stream of JSON
events, one per line: ``{"type": "ADDED", "object": {...}}``. The HTTP
relay would mask it as one long body; :class:`WatchMasker` cuts it into
events instead (an event split across chunks, or several in one chunk,
give the same output) and masks each whole: the session's ``json:`` masks
apply to each event's ``object`` (paths rooted at the object, as for the
object a ``get`` answers), then the content masker to the event. Each
event goes to kubectl as its own chunk, is one ``u2c`` record, and a
``kube_watch`` event (type, kind, namespace, name).

Fail closed: a line that is not a JSON object with a string ``type`` and
an ``object``, an event over ``max_message_size`` bytes, a watch answer
that is not ``application/json`` or is compressed, end the response there
(kubectl sees the watch cut; the reason is in the session log).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import h11
import msgspec
import trio

from limen.gateway.http.headers import head_text, response_headers
from limen.gateway.http.problem import problem
from limen.gateway.http.reader import ClientRequest
from limen.jsonmask import JsonMasker, JsonMaskError, is_json_type
from limen.recording import U2C

if TYPE_CHECKING:
    from limen import _native
    from limen.gateway.http.relay import HttpRelay

__all__ = ["WatchError", "WatchMasker", "relay_watch"]


class WatchError(ValueError):
    """A watch stream limen cannot read."""


class WatchMasker:
    """Watch bytes in, whole masked events out (see the module docs)."""

    def __init__(
        self, masker: _native.Masker | None, json_masker: JsonMasker | None, *, limit: int
    ) -> None:
        self.masker = masker
        self.json_masker = json_masker
        self.limit = limit
        self.buf = bytearray()
        self.masked = 0
        """Values the ``json:`` masks replaced."""

    def feed(self, data: bytes) -> list[tuple[dict[str, Any], bytes]]:
        """The events ``data`` completes: (the event, its masked line)."""
        self.buf += data
        out = []
        start = 0
        while (nl := self.buf.find(b"\n", start)) >= 0:
            line = bytes(self.buf[start:nl])
            start = nl + 1
            if line.strip():
                out.append(self.event(line))
        del self.buf[:start]
        if len(self.buf) > self.limit:
            raise WatchError(f"a watch event over {self.limit} bytes")
        return out

    def finish(self) -> list[tuple[dict[str, Any], bytes]]:
        """The last event, when the stream ends without a newline."""
        line, self.buf = bytes(self.buf), bytearray()
        return [self.event(line)] if line.strip() else []

    def event(self, line: bytes) -> tuple[dict[str, Any], bytes]:
        try:
            event = msgspec.json.decode(line)
        except msgspec.DecodeError:
            raise WatchError("a watch event that is not JSON") from None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise WatchError("a watch event without a type")
        if "object" not in event:
            raise WatchError("a watch event without an object")
        body = msgspec.json.encode(event["object"])
        if self.json_masker is not None:
            stream = self.json_masker.stream()
            try:
                body = stream.feed(body) + stream.finish()
            except JsonMaskError as exc:  # limen's own encoding: not expected
                raise WatchError(str(exc)) from None
            self.masked += stream.take_findings()
        out = b'{"type":' + msgspec.json.encode(event["type"]) + b',"object":' + body + b"}\n"
        if self.masker is not None:
            out = self.masker.mask(out)
        return event, out


def _summary(event: dict[str, Any]) -> dict[str, object]:
    obj = event.get("object")
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    return {
        "event": "kube_watch",
        "type": str(event.get("type"))[:32],
        "kind": str(obj.get("kind", "") if isinstance(obj, dict) else "")[:64],
        "namespace": str(meta.get("namespace", ""))[:253],
        "name": str(meta.get("name", ""))[:253],
    }


async def relay_watch(relay: HttpRelay, req: ClientRequest, response: h11.Response) -> bool:
    """Streams a watch answer (status 200) to kubectl event by event;
    True when the connection may go on."""
    up = relay.upstream
    upstream_headers = [(bytes(k).lower(), bytes(v)) for k, v in response.headers]
    found = dict(upstream_headers)
    encoding = found.get(b"content-encoding", b"identity").lower()
    if encoding not in (b"identity", b"") or not is_json_type(found.get(b"content-type", b"")):
        await up.close()
        doc = problem(
            502, "upstream", "limen masks watch events as JSON: a watch answer of another type"
        )
        await relay.reply(req, doc, close=True)
        return False
    headers = response_headers(upstream_headers, masked=True)
    relay.record(U2C, head_text(b"HTTP/1.1 200 ", headers))
    out = req.conn
    req.response_started = True
    client = relay.session.client
    await client.send_all(out.send(h11.Response(status_code=200, headers=headers)) or b"")
    watch = WatchMasker(relay.masker, relay.json_masker, limit=relay.discard_limit)
    count = 0
    try:
        while True:
            part = await up.next_event()
            if isinstance(part, h11.EndOfMessage):
                events = watch.finish()
            elif isinstance(part, h11.Data):
                events = watch.feed(bytes(part.data))
            else:
                raise WatchError(f"the upstream sent {type(part).__name__} in a body")
            data = b""
            for event, line in events:
                relay.record(U2C, line, masked=relay.masker is not None)
                relay.session.event(_summary(event))
                data += out.send(h11.Data(data=line)) or b""
            count += len(events)
            if data:
                await client.send_all(data)
            relay.session.touch()
            if isinstance(part, h11.EndOfMessage):
                break
    except WatchError as exc:
        relay.session.event({"event": "kube_watch_end", "events": count, "reason": str(exc)})
        await up.close()
        return False
    await client.send_all(out.send(h11.EndOfMessage()) or b"")
    relay.session.event(
        {"event": "kube_watch_end", "events": count, "reason": "done", "masked": watch.masked}
    )
    keep = out.our_state is h11.DONE and out.their_state is h11.DONE
    relay.upstream_idle_since = trio.current_time()
    if up.conn.our_state is not h11.DONE or up.conn.their_state is not h11.DONE:
        await up.close()
    return keep
