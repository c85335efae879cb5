"""An upstream response on its way to the client: streamed, masked,
recorded.

The body is masked on the way with the session's ``json:`` masks
(:mod:`limen.jsonmask`, JSON bodies; :mod:`limen.ssemask`, the ``data:``
of each event of a ``text/event-stream``) and its masker (``MaskStream``:
constant memory); a masked Content-Length response is framed again as
chunked, or given its new length when it is at most
:data:`BUFFERED_LIMIT`. What goes to the client is gathered and sent in
one write when the upstream side would wait (or past :data:`FLUSH_SIZE`).
A compressed body limen would have to mask is a ``502``; a JSON body the
masks cannot read ends the response (fail closed).
"""

from __future__ import annotations

import h11
import trio

from limen.gateway.http.headers import head_text, header_pairs, parsed_response, response_headers
from limen.gateway.http.parts import RelayParts
from limen.gateway.http.problem import problem
from limen.gateway.http.reader import ClientRequest
from limen.gateway.http.upstream import UpstreamError
from limen.jsonmask import JsonMaskError, JsonMaskStream, is_json_type
from limen.recording import U2C
from limen.ssemask import SseMasking, is_event_stream

__all__ = ["BUFFERED_LIMIT", "FLUSH_SIZE", "respond"]

#: A masked Content-Length response up to this size keeps a Content-Length
#: (the new one); a longer one is sent chunked.
BUFFERED_LIMIT = 65536
#: Bytes for the client gathered before a write even when more are ready.
FLUSH_SIZE = 65536


def _json_feed(jstream: JsonMaskStream | SseMasking | None, data: bytes | None = None) -> bytes:
    """``data`` through the ``json:`` masks (None: the end of the body);
    a body they cannot read ends the response (fail closed)."""
    if jstream is None:
        return b""
    try:
        return jstream.finish() if data is None else jstream.feed(data)
    except JsonMaskError as exc:
        raise UpstreamError(str(exc)) from None


async def respond(relay: RelayParts, req: ClientRequest, event: h11.Response) -> bool:
    """Streams the upstream's response to ``req``'s client; True when both
    sides may go on (keep-alive)."""
    up = relay.upstream
    status = event.status_code
    # A HEAD response's headers describe the GET's body: left as they are.
    masker = relay.masker if req.method != "HEAD" else None
    # h11 gives the names in lower case already
    upstream_headers = header_pairs(event.headers)
    named = dict(upstream_headers)
    encoding = named.get(b"content-encoding", b"identity").lower()
    if masker is not None and encoding not in (b"identity", b""):
        await up.close()
        doc = problem(502, "upstream", "the upstream sent a compressed body limen cannot mask")
        await relay.reply(req, doc, close=True)
        return False
    headers = response_headers(upstream_headers, masked=masker is not None)
    length = named.get(b"content-length")
    buffered = masker is not None and length is not None and int(length) <= BUFFERED_LIMIT
    stream = masker.stream() if masker is not None else None
    jstream: JsonMaskStream | SseMasking | None = None
    ctype = named.get(b"content-type", b"")
    if masker is not None and is_event_stream(ctype):
        # event by event: json: masks and the detectors (no holdback across events)
        jstream, stream = SseMasking(masker, relay.json_masker), None
    elif stream is not None and relay.json_masker is not None and is_json_type(ctype):
        jstream = relay.json_masker.stream()
    out = req.conn
    reason = bytes(event.reason)  # the upstream's reason phrase, passed on
    relay.record(U2C, head_text(f"HTTP/1.1 {status} ".encode() + reason, headers))

    # What goes to the client is gathered and sent in one write when the
    # upstream side would wait (or past FLUSH_SIZE): a small answer is
    # one send, however many h11 events it is.
    gathered = bytearray()

    def queue(event: h11.Event) -> None:
        req.response_started = True
        gathered.extend(out.send(event) or b"")

    async def flush() -> None:
        if gathered:
            data = bytes(gathered)
            gathered.clear()
            await relay.session.client.send_all(data)

    if not buffered:
        queue(parsed_response(status, headers, reason))
    body = bytearray()
    while True:
        part = await up.next_event(before_wait=flush)
        if isinstance(part, h11.EndOfMessage):
            break
        if not isinstance(part, h11.Data):
            raise UpstreamError(f"the upstream sent {type(part).__name__} in a body")
        data = bytes(part.data)
        if jstream is not None:
            data = _json_feed(jstream, data)
        if stream is not None:
            data = stream.feed(data)
        if buffered:
            body += data
        elif data:
            relay.record(U2C, data, masked=masker is not None)
            queue(h11.Data(data=data))
            if len(gathered) >= FLUSH_SIZE:
                await flush()
        relay.session.touch()
    tail = _json_feed(jstream)
    if stream is not None:
        tail = stream.feed(tail) + stream.finish()
    if buffered:
        tail = bytes(body) + tail
        headers.append((b"content-length", str(len(tail)).encode()))
        queue(parsed_response(status, headers, reason))
    if tail:
        relay.record(U2C, tail, masked=True)
        if req.method != "HEAD":
            queue(h11.Data(data=tail))
    queue(h11.EndOfMessage())
    await flush()
    findings = [] if stream is None else stream.take_findings()
    masked = len(findings) + (0 if jstream is None else jstream.take_findings())
    relay.session.event({"event": "http_response", "status": status, "masked": masked})
    keep = out.our_state is h11.DONE and out.their_state is h11.DONE
    if up.conn.our_state is not h11.DONE or up.conn.their_state is not h11.DONE:
        await up.close()
    relay.upstream_idle_since = trio.current_time()
    return keep
