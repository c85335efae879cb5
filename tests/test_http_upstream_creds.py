"""The upstream credentials limen adds that are not a header: a query
parameter (``http_auth = "query:NAME"``) and a TLS client certificate
(``tls = { cert_file, key_file }``), against Debian's nginx checking both
(``$arg_NAME`` and ``ssl_verify_client on``), with httpx as the bot. The
bot's own parameter of that name never reaches the upstream, and neither
credential reaches the recording."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from http_support import (
    NGINX_HEAD,
    Certs,
    free_port,
    load,
    make_certs,
    make_client_certs,
    start_http_gateway,
    wait_port,
)
from limen.config import ConfigError, load_config_text
from limen.gateway.http.upstream import with_query_credential

QUERY_KEY = "q-key/with+odd&chars=7"  # percent-encoded on the way
CLIENT_CN = "limen-gateway-client"

NGINX_CONF = (
    NGINX_HEAD
    + """
    server {{
        listen 127.0.0.1:{port};
        location = /q {{
            if ($arg_api_key != "{encoded}") {{ return 401 "no key\\n"; }}
            return 200 "key accepted, page=$arg_page\\n";
        }}
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_client_certificate {client_ca};
        ssl_verify_client on;
        location = /who {{ return 200 "client $ssl_client_s_dn\\n"; }}
    }}
}}
"""
)


@dataclass
class Upstreams:
    port: int
    tls_port: int
    server: Certs
    client: Certs
    """The client CA, and the certificate and key limen presents."""


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    folder = tmp_path_factory.mktemp("nginx-creds")
    (folder / "tmp").mkdir()
    server, client = make_certs(folder), make_client_certs(folder, CLIENT_CN)
    port, tls_port = free_port(), free_port()
    conf = folder / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            dir=folder,
            port=port,
            tls_port=tls_port,
            cert=server.cert,
            key=server.key,
            client_ca=client.ca,
            # nginx compares $arg_ raw: the value as limen percent-encodes it
            encoded="q-key%2Fwith%2Bodd%26chars%3D7",
        )
    )
    proc = subprocess.Popen(
        [binary, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
    )
    try:
        wait_port(port, proc)
        wait_port(tls_port, proc)
        yield Upstreams(port, tls_port, server, client)
    finally:
        proc.terminate()
        proc.wait(10)


def _config(up: Upstreams, tmp_path: Path, *, client_cert: bool = True) -> str:
    (tmp_path / "query.key").write_text(QUERY_KEY + "\n")
    cert = f'cert_file = "{up.client.cert}", key_file = "{up.client.key}", ' if client_cert else ""
    return f"""
[identity.dev]
enabled = true
[[resources]]
name = "query"
protocol = "http"
upstream = "http://127.0.0.1:{up.port}"
password_file = "{tmp_path / "query.key"}"
http_auth = "query:api_key"

[[resources]]
name = "mtls"
protocol = "http"
upstream = "https://localhost:{up.tls_port}"
tls = {{ {cert}ca_file = "{up.server.ca}" }}

[[rules]]
name = "ci"
groups = ["ci"]
resources = ["query", "mtls"]
allow = ["read"]
mask = ["builtin"]
"""


def _recorded(gw: object) -> bytes:
    return b"".join(p for r in gw.recorders for _, p in r.records)  # type: ignore[attr-defined]


async def test_the_query_credential_replaces_the_bots(upstreams: Upstreams, tmp_path: Path) -> None:
    config = load(_config(upstreams, tmp_path), tmp_path)
    async with trio.open_nursery() as nursery:
        gw = await start_http_gateway(nursery, config)
        headers = {"Authorization": f"Bearer {gw.token()}"}
        base = f"http://127.0.0.1:{gw.port}/r/query/q"
        async with httpx.AsyncClient(headers=headers) as client:
            plain = await client.get(base, params={"page": "3"})
            # The bot's own api_key (plain and percent-encoded) comes first:
            # nginx's $arg_ takes the first, so it would win if limen kept it.
            forged = await client.get(base + "?api_key=forged&api%5Fkey=x&page=4")
        nursery.cancel_scope.cancel()
    assert (plain.status_code, plain.text) == (200, "key accepted, page=3\n")
    assert (forged.status_code, forged.text) == (200, "key accepted, page=4\n")
    recorded = _recorded(gw)
    assert b"/q?page=3" in recorded  # the bot's target is what is recorded
    assert QUERY_KEY.encode() not in recorded
    assert b"q-key%2F" not in recorded


async def test_the_client_certificate_goes_upstream(upstreams: Upstreams, tmp_path: Path) -> None:
    config = load(_config(upstreams, tmp_path), tmp_path)
    async with trio.open_nursery() as nursery:
        gw = await start_http_gateway(nursery, config)
        headers = {"Authorization": f"Bearer {gw.token()}"}
        async with httpx.AsyncClient(headers=headers) as client:
            answer = await client.get(f"http://127.0.0.1:{gw.port}/r/mtls/who")
        nursery.cancel_scope.cancel()
    assert answer.status_code == 200
    assert f"CN={CLIENT_CN}" in answer.text
    assert b"PRIVATE KEY" not in _recorded(gw)


async def test_without_the_client_certificate_the_upstream_refuses(
    upstreams: Upstreams, tmp_path: Path
) -> None:
    config = load(_config(upstreams, tmp_path, client_cert=False), tmp_path)
    async with trio.open_nursery() as nursery:
        gw = await start_http_gateway(nursery, config)
        headers = {"Authorization": f"Bearer {gw.token()}"}
        async with httpx.AsyncClient(headers=headers) as client:
            answer = await client.get(f"http://127.0.0.1:{gw.port}/r/mtls/who")
        nursery.cancel_scope.cancel()
    assert answer.status_code == 400  # nginx: "No required SSL certificate was sent"
    assert CLIENT_CN not in answer.text


@pytest.mark.parametrize("name", ["api key", "k&v", "", "ключ"])
def test_a_query_name_limen_cannot_set_is_refused(name: str) -> None:
    text = f"""
[[resources]]
name = "api"
protocol = "http"
upstream = "https://api.example"
password_env = "X"
http_auth = "query:{name}"
"""
    with pytest.raises(ConfigError, match="query parameter name"):
        load_config_text(text)


_PAIRS = st.lists(
    st.tuples(
        st.sampled_from(["key", "k%65y", "page", "q", "key2", "ke", "x+y"]),
        st.text(alphabet="abc123%+-", max_size=6),
    ),
    max_size=6,
)


@given(st.text(alphabet="/abc-", max_size=12), _PAIRS)
def test_the_query_credential_is_the_only_value_of_its_name(
    path: str, pairs: list[tuple[str, str]]
) -> None:
    query = "&".join(f"{k}={v}" for k, v in pairs)
    target = ("/" + path + ("?" + query if pairs else "")).encode()
    out = with_query_credential(target, (b"key", b"S%2F"))
    got_path, _, got_query = out.decode().partition("?")
    assert got_path == "/" + path
    parsed = parse_qsl(got_query, keep_blank_values=True)
    assert [v for k, v in parsed if k == "key"] == ["S/"]
    assert parsed[-1] == ("key", "S/")
    # every other parameter is kept, in order
    expected = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "key"]
    assert parsed[:-1] == expected
