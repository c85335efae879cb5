"""Routing by host name on a TLS listener (tests/http_app.py under uvicorn,
a wildcard certificate for *.gw.test made here; curl --resolve and
Python's ssl as clients): `https://api.gw.test/PATH` reaches the `api`
resource (SNI and Host agree); a Host that is not the SNI name is `421`
and nothing goes upstream, on the first request and on a later one of
the same connection; a client without SNI (an IP address) still routes
by path."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
import trio

from http_support import (
    UPSTREAM_KEY,
    App,
    Certs,
    HttpGw,
    Nginx,
    app,
    config_text,
    load,
    make_certs,
    nginx,
    start_http_gateway,
)

pytestmark = pytest.mark.integration
__all__ = ["app", "nginx"]


@pytest.fixture
async def gw(
    nursery: trio.Nursery,
    tmp_path: Path,
    app: App,
    nginx: Nginx,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[HttpGw, Certs]:
    monkeypatch.setenv("LIMEN_TEST_API_KEY", UPSTREAM_KEY)
    app.reset()
    certs = make_certs(tmp_path, ("*.gw.test", "gw.test"))
    text = config_text(app.port, nginx).replace(
        "[listeners]\n",
        f'[listeners]\ntls_cert = "{certs.cert}"\ntls_key = "{certs.key}"\n',
    )
    return await start_http_gateway(nursery, load(text, tmp_path)), certs


async def curl(gw: HttpGw, certs: Certs, name: str, path: str) -> tuple[int, bytes]:
    proc = await trio.run_process(
        [
            "curl",
            "-sS",
            "--http1.1",
            "--max-time",
            "20",
            "--cacert",
            str(certs.ca),
            "--resolve",
            f"{name}:{gw.port}:127.0.0.1",
            "-H",
            f"authorization: Bearer {gw.token()}",
            "-w",
            "\n%{http_code}",
            f"https://{name}:{gw.port}{path}",
        ],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    body, _, code = proc.stdout.rpartition(b"\n")
    return int(code or b"0"), body


async def raw_tls(
    gw: HttpGw, certs: Certs, sni: str | None, requests: list[tuple[str, str]]
) -> bytes:
    """Sends the requests (Host, target) on one TLS connection opened for
    ``sni``; what the gateway answers until it closes."""
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    if sni is None:
        ctx.check_hostname = False
    stream = await trio.open_tcp_stream("127.0.0.1", gw.port)
    tls = trio.SSLStream(stream, ctx, server_hostname=sni)
    data = b"".join(
        f"GET {target} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {gw.token()}\r\n"
        f"{'connection: close' if i == len(requests) - 1 else 'x-n: 1'}\r\n\r\n".encode()
        for i, (host, target) in enumerate(requests)
    )
    out = bytearray()
    with trio.fail_after(20):
        await tls.send_all(data)
        try:
            while chunk := await tls.receive_some(65536):
                out += chunk
        except trio.BrokenResourceError:
            pass
    await trio.aclose_forcefully(tls)
    return bytes(out)


async def test_a_host_name_with_sni_names_the_resource(gw: tuple[HttpGw, Certs], app: App) -> None:
    http, certs = gw
    status, body = await curl(http, certs, "api.gw.test", "/echo")
    assert status == 200
    assert json.loads(body)["user"] == "alice"
    assert [s["path"] for s in app.seen()] == ["/base/echo"]


async def test_a_host_that_is_not_the_sni_name_is_421(gw: tuple[HttpGw, Certs], app: App) -> None:
    http, certs = gw
    out = await raw_tls(http, certs, "api.gw.test", [("static.gw.test", "/hello.txt")])
    assert out.startswith(b"HTTP/1.1 421 ")
    doc = json.loads(out.partition(b"\r\n\r\n")[2])
    assert doc["type"].endswith("/misdirected")
    assert "api.gw.test" in doc["detail"]
    assert app.seen() == []


async def test_a_later_request_for_another_host_on_the_connection_is_421(
    gw: tuple[HttpGw, Certs], app: App
) -> None:
    http, certs = gw
    out = await raw_tls(
        http,
        certs,
        "api.gw.test",
        [("api.gw.test", "/items"), ("other.gw.test:443", "/items")],
    )
    first, _, rest = out.partition(b"HTTP/1.1 421 ")
    assert first.startswith(b"HTTP/1.1 200 ")
    assert rest  # the second answer is the 421
    assert [s["path"] for s in app.seen()] == ["/base/items"]  # only the first went upstream


async def test_without_sni_the_path_still_routes(gw: tuple[HttpGw, Certs], app: App) -> None:
    http, certs = gw
    out = await raw_tls(http, certs, None, [("127.0.0.1", "/r/api/items")])
    assert out.startswith(b"HTTP/1.1 200 ")
    assert [s["path"] for s in app.seen()] == ["/base/items"]


async def test_a_context_with_its_own_sni_callback_keeps_it_and_sni_is_still_held(
    gw: tuple[HttpGw, Certs], app: App
) -> None:
    http, certs = gw
    ctx = http.gateway.services.ssl_context
    assert ctx is not None
    seen: list[str] = []

    def other(_obj: ssl.SSLObject, name: str, _ctx: ssl.SSLContext) -> None:
        seen.append(name)

    ctx.sni_callback = other  # another part of the gateway choosing certificates, say
    out = await raw_tls(http, certs, "api.gw.test", [("static.gw.test", "/hello.txt")])
    assert out.startswith(b"HTTP/1.1 421 ")
    assert seen == ["api.gw.test"]
    assert app.seen() == []
