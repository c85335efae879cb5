"""The ASGI app the HTTP gateway tests put behind limen (run by uvicorn in
its own process, tests/http_support.py).

Under ``/base``: ``/echo`` answers JSON that holds secrets (an AWS key, an
email address, a card number); ``/stream`` answers in many chunks, with a
secret cut across two of them; ``/big`` answers a 200 KB body with a
Content-Length; ``/account``, ``/account-lines``, ``/bad-json`` and
``/bad-json-chunked`` answer JSON for json: masks (see ``_json_parts``);
``/escaped`` answers JSON with secrets right after backslash escapes,
in 5-byte chunks; ``/events`` answers Server-Sent Events; ``/ws`` is a WebSocket echo (see
``_websocket``); anything else echoes the request (method, path, body
length and SHA-256). ``/_seen`` (asked directly, not through limen) lists
the requests the app received *completely*, with their headers; ``/_reset``
forgets them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
EMAIL = "alice@example.com"
CARD = "4111 1111 1111 1111"

SEEN: list[dict[str, Any]] = []


async def _json(send: Send, obj: object, status: int = 200) -> None:
    body = json.dumps(obj).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"set-cookie", b"sid=s3cr3t")],
        }
    )
    await send({"type": "http.response.body", "body": body})


#: /account: JSON whose ``password`` and every ``token`` a json: mask hides.
ACCOUNT = {
    "user": "alice",
    "email": EMAIL,
    "password": "hunter2-pw-9d1c",
    "sessions": [{"id": 1, "token": "tok-1-a8f2"}, {"id": 2, "token": {"v": "tok-2-77aa"}}],
    "settings": {"theme": "dark", "nested": {"token": "tok-3-c0de"}},
}


async def _json_parts(send: Send, path: str) -> None:
    """/account-lines: NDJSON in many chunks, a token cut across two;
    /bad-json: application/json with a Content-Length that is not JSON
    past a point (a secret after it); /bad-json-chunked: the same chunked."""
    if path == "/base/account-lines":
        lines = [json.dumps({"n": n, "token": f"tok-line-{n}-5e1f"}) + "\n" for n in range(20)]
        data = "".join(lines).encode()
        parts = [data[i : i + 7] for i in range(0, len(data), 7)]
        headers = [(b"content-type", b"application/x-ndjson")]
    else:
        data = b'{"user": "alice", "password": "hunter2-pw-9d1c"} <oops> "tok-bad-0bad"'
        parts = [data[:20], data[20:]]
        headers = [(b"content-type", b"application/json")]
        if path == "/base/bad-json":
            headers.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for part in parts:
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


#: /events: Server-Sent Events with secrets in their JSON data, in 5-byte chunks.
EVENTS = (
    b'event: tick\nid: 1\ndata: {"n": 1, "token": "tok-sse-1-aa11"}\n\n'
    b': a comment\r\ndata: {"n": 2,\r\ndata: "password": "hunter2-pw-9d1c"}\r\n\r\n'
    b"data: [DONE]\n\n"
    b'data: {"n": 3, "sessions": [{"token": "tok-sse-3-cc33"}]}\n\n'
)


#: /escaped: JSON whose secrets follow backslash escapes, sent chunked in
#: 5-byte pieces (escapes and secrets cut across chunks).
ESCAPED = {
    "note": f"line\n{AWS_KEY}",
    "tab": "\tghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "mail": f"\x1f{EMAIL}",
    "card": f"\r\n{CARD}",
    "quoted": f'say "{AWS_KEY}"',
}


async def _escaped(send: Send) -> None:
    body = json.dumps(ESCAPED).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    for i in range(0, len(body), 5):
        await send({"type": "http.response.body", "body": body[i : i + 5], "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _events(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream; charset=utf-8")],
        }
    )
    for i in range(0, len(EVENTS), 5):
        await send({"type": "http.response.body", "body": EVENTS[i : i + 5], "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _websocket(scope: Scope, receive: Receive, send: Send) -> None:
    """/base/ws: echoes each message as ``echo:MESSAGE``; ``secret`` is
    answered with the AWS key cut across two messages' worth of text."""
    msg = await receive()
    if msg["type"] != "websocket.connect" or scope["path"] != "/base/ws":
        await send({"type": "websocket.close", "code": 1008})
        return
    SEEN.append(
        {
            "method": "WEBSOCKET",
            "path": scope["path"],
            "headers": {k.decode(): v.decode("latin-1") for k, v in scope["headers"]},
        }
    )
    protocols = scope.get("subprotocols") or []
    await send({"type": "websocket.accept", "subprotocol": protocols[0] if protocols else None})
    while True:
        msg = await receive()
        if msg["type"] == "websocket.disconnect":
            return
        text = msg.get("text")
        if text == "secret":
            await send({"type": "websocket.send", "text": f"the key is {AWS_KEY}, keep it"})
        elif text is not None:
            await send({"type": "websocket.send", "text": "echo:" + text})
        else:
            await send({"type": "websocket.send", "bytes": b"echo:" + msg["bytes"]})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await _websocket(scope, receive, send)
        return
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path: str = scope["path"]
    body = bytearray()
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return  # an incomplete request is never "seen"
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    if path == "/_seen":
        await _json(send, SEEN)
        return
    if path == "/_reset":
        SEEN.clear()
        await _json(send, {"ok": True})
        return
    SEEN.append(
        {
            "method": scope["method"],
            "path": path,
            "raw_path": scope["raw_path"].decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "headers": {k.decode(): v.decode("latin-1") for k, v in scope["headers"]},
            "body_len": len(body),
            "body_sha": hashlib.sha256(body).hexdigest(),
        }
    )
    if path == "/base/echo":
        await _json(send, {"user": "alice", "email": EMAIL, "aws": AWS_KEY, "card": CARD})
    elif path == "/base/stream":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/x-ndjson")],
            }
        )
        line = json.dumps({"key": AWS_KEY, "n": 0}).encode() + b"\n"
        cut = line.index(b"IOSF")  # the key cut across two chunks
        for n in range(50):
            await send(
                {"type": "http.response.body", "body": b'{"n": %d}\n' % n, "more_body": True}
            )
        await send({"type": "http.response.body", "body": line[:cut], "more_body": True})
        await send({"type": "http.response.body", "body": line[cut:], "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif path == "/base/escaped":
        await _escaped(send)
    elif path == "/base/account":
        await _json(send, ACCOUNT)
    elif path in ("/base/account-lines", "/base/bad-json", "/base/bad-json-chunked"):
        await _json_parts(send, path)
    elif path == "/base/events":
        await _events(send)
    elif path == "/base/big":
        unit = (f"row {EMAIL} {AWS_KEY} " + "x" * 60 + "\n").encode()
        data = unit * (200_000 // len(unit))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
    else:
        await _json(
            send,
            {
                "method": scope["method"],
                "path": path,
                "body_len": len(body),
                "body_sha": hashlib.sha256(body).hexdigest(),
            },
        )
