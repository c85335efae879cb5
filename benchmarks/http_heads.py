"""The CPU of reading and writing one HTTP exchange's heads: the Python
relay's way (``check_head`` and h11 for the client's request, h11 for the
upstream's response, ``request_headers``/``response_headers`` and h11's
writer for the two heads limen sends) against the native parsers and
writers of ``limen_wire::http`` (through ``limen._native``, conversions to
Python objects included), in one run, alternating A B A B.

The heads are wrk's request (as bench_http sends it through limen) and
nginx's answer to it. Reported: process time per exchange (best of the
rounds) and the ratio; process time, not wall-clock, since the machine
is shared.

    .venv/bin/python benchmarks/http_heads.py [N] [ROUNDS]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import h11

from limen import _native
from limen.gateway.http.head import check_head, split_head
from limen.gateway.http.headers import (
    header_pairs,
    parsed_request,
    parsed_response,
    request_headers,
    response_headers,
)

REQUEST = (
    b"GET /r/files/1k.bin HTTP/1.1\r\nHost: 127.0.0.1:6480\r\n"
    b"Authorization: Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJib3QifQ.c2lnbmF0dXJl\r\n\r\n"
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 18:00:00 GMT\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n"
    b"Last-Modified: Thu, 03 Dec 2026 17:00:00 GMT\r\nConnection: keep-alive\r\n"
    b'ETag: "6750b0f0-400"\r\nAccept-Ranges: bytes\r\n\r\n'
)
HOST = b"127.0.0.1:8080"
CREDENTIAL = (b"x-origin-key", b"origin-secret")
TARGET = b"/1k.bin"


def python_exchange() -> None:
    """The Python relay's head work for one exchange (no I/O)."""
    start, end = split_head(REQUEST, 65536) or (0, 0)
    check_head(REQUEST[start:end])
    server = h11.Connection(h11.SERVER, max_incomplete_event_size=65536)
    server.receive_data(REQUEST[start:])
    req = server.next_event()
    assert isinstance(req, h11.Request)
    req_headers = header_pairs(req.headers)
    out = request_headers(
        req_headers,
        host=HOST,
        credential=CREDENTIAL,
        content_length=None,
        chunked=False,
        masked=True,
    )
    up = h11.Connection(h11.CLIENT)
    up.send(parsed_request(req.method.decode().upper(), TARGET, out))
    up.send(h11.EndOfMessage())
    up.receive_data(RESPONSE)
    resp = up.next_event()
    assert isinstance(resp, h11.Response)
    headers = response_headers(header_pairs(resp.headers), masked=False)
    server.send(parsed_response(resp.status_code, headers, bytes(resp.reason)))


def native_exchange() -> None:
    """The same work through limen_wire::http."""
    got = _native.http_request_head(REQUEST, 65536)
    assert got is not None
    _native.http_upstream_request(REQUEST[got[0] : got[1]], TARGET, HOST, CREDENTIAL, True)
    _native.http_response_head(RESPONSE, 16384, b"GET")
    _native.http_client_response(RESPONSE, b"GET", False, None)


def _per_call(fn: Callable[[], None], n: int) -> float:
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t0) / n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    best = {"python": float("inf"), "native": float("inf")}
    for _ in range(rounds):  # A B A B: the load changes between rounds
        best["python"] = min(best["python"], _per_call(python_exchange, n))
        best["native"] = min(best["native"], _per_call(native_exchange, n))
    py, nat = best["python"] * 1e6, best["native"] * 1e6
    print(f"heads of one exchange, CPU per exchange (best of {rounds} x {n}):")
    print(f"  python relay (check_head + h11): {py:8.2f} us")
    print(f"  native (limen_wire::http):       {nat:8.2f} us")
    print(f"  native / python: {nat / py:.3f}  (python / native: {py / nat:.1f}x)")


if __name__ == "__main__":
    main()
