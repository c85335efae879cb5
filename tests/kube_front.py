"""The stand-in API server's front door: TLS, SPDY/3.1 exec, attach and
port-forward.

Part of the stand-in of tests/kube_standin.py (declared a stand-in: no
kube-apiserver can be installed here). An ASGI server cannot hand over a
connection for a SPDY upgrade, so this process runs the stand-in app under
uvicorn on a loopback port of its own and answers the public port itself:
a request asking ``Upgrade: SPDY/3.1`` for ``pods/NAME/exec`` or
``pods/NAME/attach`` is served here (same process, so the call is in the
app's ``/_calls``); every other connection is spliced to uvicorn as it is
(WebSocket exec included).

The SPDY side speaks ``v4.channel.k8s.io`` with limen's codec
(:mod:`limen.gateway.kube.spdy`; kubectl on the other side of limen checks
both directions): the client opens its streams (``streamtype`` error,
stdin, stdout, stderr, resize), each gets a SYN_REPLY; once all the query
asks for are open, the command runs nowhere, as in the WebSocket stand-in:
``echo ARGS`` prints its arguments, ``cat`` echoes stdin until kubectl
closes it, anything else prints ``ran: ARGS`` (attach prints ``attached to
NAME``); stdout and stderr end (FIN), the error stream gets a Success
status and ends, and the connection closes after kubectl's GOAWAY.
Port-forward (``portforward.k8s.io``): every ``data`` stream is an echo
server; when kubectl ends one, it and the ``error`` stream of its
``requestid`` end.

Run: ``python kube_front.py PORT CERT KEY`` (``KUBE_STANDIN_TOKEN``: the
bearer token wanted, as for the app).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import uvicorn

sys.path.insert(0, str(Path(__file__).parent))

import kube_standin
from kube_spdy_standin import SpdyExec
from limen.gateway.kube.spdy import SpdyError

PROTOCOL = "v4.channel.k8s.io"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _splice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError, ConnectionError, RuntimeError):
        writer.close()


async def _spdy(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
) -> None:
    url = urlsplit(target)
    got = dict(headers)
    kube_standin.CALLS.append(
        {
            "method": "SPDY",
            "path": url.path,
            "query": url.query,
            "authorization": got.get("authorization", ""),
        }
    )
    token = os.environ.get("KUBE_STANDIN_TOKEN")
    forward = url.path.endswith("/portforward")
    protocol = "portforward.k8s.io" if forward else PROTOCOL
    offered = [
        p.strip() for k, v in headers if k == "x-stream-protocol-version" for p in v.split(",")
    ]
    refusal = ""
    if token and got.get("authorization") != f"Bearer {token}":
        refusal = "401 Unauthorized"
    elif method != "POST" or not url.path.endswith(("/exec", "/attach", "/portforward")):
        refusal = "400 Bad Request"
    elif protocol not in offered:
        refusal = "403 Forbidden"
    if refusal:
        writer.write(f"HTTP/1.1 {refusal}\r\ncontent-length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()
        return
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
        + f"X-Stream-Protocol-Version: {protocol}\r\n\r\n".encode()
    )
    await writer.drain()
    with contextlib.suppress(SpdyError, OSError, ConnectionError, KeyError):
        spdy = SpdyExec(reader, writer)
        await (spdy.forward() if forward else spdy.run(url.path, parse_qs(url.query)))
    with contextlib.suppress(OSError, ConnectionError, RuntimeError):
        writer.close()


async def main(port: int, cert: str, key: str) -> None:
    inner = _free_port()
    config = uvicorn.Config(
        kube_standin.app,
        host="127.0.0.1",
        port=inner,
        http="h11",
        ws="wsproto",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target = lines[0].split(" ")[:2]
        headers = [
            (k.strip().lower(), v.strip())
            for k, _, v in (line.partition(":") for line in lines[1:] if line)
        ]
        if dict(headers).get("upgrade", "").lower() == "spdy/3.1":
            await _spdy(reader, writer, method, target, headers)
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", inner)
        up_writer.write(head)
        await asyncio.gather(_splice(reader, up_writer), _splice(up_reader, writer))

    front = await asyncio.start_server(connection, "127.0.0.1", port, ssl=tls)
    async with front:
        await serving


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
