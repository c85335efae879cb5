"""Shared setup for the HTTP gateway tests: the ASGI app of
tests/http_app.py under uvicorn, nginx (Debian's) with a config of its own
on loopback ports (plain and TLS, a CA made here), and a limen HTTP
gateway in the test's Trio nursery (dev IdP on port 0, memory recorders)."""

from __future__ import annotations

import datetime
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from limen.approvals import ApprovalHub
from limen.config import Config, load_config_text
from limen.gateway import HttpGateway, JsonLog, Services
from limen.identity import Authenticator, DevIdP
from limen.recording import MemoryRecorder, SessionInfo

TESTS = Path(__file__).parent
UPSTREAM_KEY = "upstream-key-7f3a9c"
NGINX_KEY = "nginx-key-51bd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@dataclass
class App:
    port: int

    def seen(self) -> list[dict[str, object]]:
        """The requests the app received completely (asked directly)."""
        data: list[dict[str, object]] = httpx.get(
            f"http://127.0.0.1:{self.port}/_seen", timeout=10
        ).json()
        return data

    def reset(self) -> None:
        httpx.post(f"http://127.0.0.1:{self.port}/_reset", timeout=10)


@pytest.fixture(scope="module")
def app() -> Iterator[App]:
    """tests/http_app.py under uvicorn (h11), on a loopback port."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(TESTS),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--http",
            "h11",
            "--ws",
            "wsproto",
            "--log-level",
            "warning",
            "http_app:app",
        ]
    )
    try:
        wait_port(port, proc)
        yield App(port)
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class Certs:
    ca: Path
    cert: Path
    key: Path


def _ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A CA key and its self-signed certificate (valid from yesterday, two days)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        _dated(x509.CertificateBuilder(), subject, subject, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _dated(
    builder: x509.CertificateBuilder,
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        builder.subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
    )


def _issue(
    folder: Path,
    prefix: str,
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    cn: str,
    san: x509.SubjectAlternativeName | None = None,
) -> Certs:
    """A key and a certificate for ``cn`` signed by ``ca``, written with the
    CA's certificate as ``PREFIXca.pem``, ``PREFIXcert.pem``, ``PREFIXkey.pem``."""
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = _dated(x509.CertificateBuilder(), subject, ca_cert.subject, key)
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    out = Certs(
        folder / f"{prefix}ca.pem", folder / f"{prefix}cert.pem", folder / f"{prefix}key.pem"
    )
    out.ca.write_bytes(ca_cert.public_bytes(pem))
    out.cert.write_bytes(cert.public_bytes(pem))
    out.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return out


def make_certs(folder: Path, names: tuple[str, ...] = ("localhost",)) -> Certs:
    """A CA and a certificate for 127.0.0.1 and ``names`` signed by it."""
    san = x509.SubjectAlternativeName(
        [
            *(x509.DNSName(n) for n in names),
            x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1")),
        ]
    )
    return _issue(folder, "", _ca("limen test CA"), "localhost", san)


def make_client_certs(folder: Path, cn: str) -> Certs:
    """A CA of its own and a client certificate (common name ``cn``) signed
    by it, as ``client-ca.pem``, ``client-cert.pem``, ``client-key.pem``."""
    return _issue(folder, "client-", _ca("limen test client CA"), cn)


@dataclass
class Nginx:
    port: int
    tls_port: int
    root: Path
    certs: Certs


#: The top of a test nginx's config: its own pid, logs and temp folders
#: under ``{dir}``; the ``http`` block stays open for the servers.
NGINX_HEAD = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    default_type text/plain;
"""

NGINX_CONF = (
    NGINX_HEAD
    + """    server {{
        listen 127.0.0.1:{port};
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {dir}/www;
        location /upload/ {{
            if ($http_x_api_key != "{nginx_key}") {{ return 401; }}
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 10m;
        }}
        location = /whoami {{
            if ($http_x_api_key != "{nginx_key}") {{ return 401 "no key\\n"; }}
            return 200 "key accepted\\n";
        }}
    }}
}}
"""
)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """Debian's nginx on two loopback ports (plain and TLS), its own config."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    folder = tmp_path_factory.mktemp("nginx")
    (folder / "tmp").mkdir()
    www = folder / "www"
    (www / "upload").mkdir(parents=True)
    (www / "hello.txt").write_text("hello from nginx\n")
    unit = "line with a key AKIAIOSFODNN7EXAMPLE and bob@example.org " + "y" * 40 + "\n"
    (www / "big.txt").write_text(unit * 3000)  # ~330 KB: masked, so sent chunked
    certs = make_certs(folder)
    port, tls_port = free_port(), free_port()
    conf = folder / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            dir=folder,
            port=port,
            tls_port=tls_port,
            cert=certs.cert,
            key=certs.key,
            nginx_key=NGINX_KEY,
        )
    )
    proc = subprocess.Popen(
        [binary, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
    )
    try:
        wait_port(port, proc)
        wait_port(tls_port, proc)
        yield Nginx(port, tls_port, www, certs)
    finally:
        proc.terminate()
        proc.wait(10)


def config_text(app_port: int, nginx: Nginx | None = None, extra: str = "") -> str:
    """Resources `api` (the app, bearer credential from LIMEN_TEST_API_KEY,
    DELETE is admin, POST /search is read) and, with nginx, `static` and
    `tls` (header credential from a file, TLS verified with the test CA);
    rules `ci-api` (read and write, admin denied, builtin masking) and
    `careful-api` (writes held)."""
    text = f"""
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
admin = "127.0.0.1:0"

[listeners]
http = "127.0.0.1:0"

[identity]
leeway = "0s"

[identity.dev]
enabled = true

[[resources]]
name = "api"
protocol = "http"
upstream = "http://127.0.0.1:{app_port}/base"
password_env = "LIMEN_TEST_API_KEY"
http_auth = "bearer"

[[resources.http_routes]]
methods = ["DELETE"]
path = "/**"
class = "admin"

[[resources.http_routes]]
methods = ["POST"]
path = "/search/{{index}}"
class = "read"

[[resources.http_routes]]
path = "/admin/**"
class = "admin"
"""
    if nginx is not None:
        (nginx.root.parent / "nginx.key").write_text(NGINX_KEY + "\n")
        text += f"""
[[resources]]
name = "static"
protocol = "http"
upstream = "http://127.0.0.1:{nginx.port}"
password_file = "{nginx.root.parent / "nginx.key"}"
http_auth = "header:X-Api-Key"

[[resources]]
name = "tls"
protocol = "http"
upstream = "https://localhost:{nginx.tls_port}"
password_file = "{nginx.root.parent / "nginx.key"}"
http_auth = "header:X-Api-Key"
tls = {{ ca_file = "{nginx.certs.ca}" }}

[[resources]]
name = "tls-unknown-ca"
protocol = "http"
upstream = "https://localhost:{nginx.tls_port}"
"""
    text += """
[[rules]]
name = "ci-api"
groups = ["ci"]
resources = ["api", "static", "tls", "tls-unknown-ca"]
allow = ["read", "write"]
deny = ["admin"]
mask = ["builtin"]

[[rules]]
name = "careful-api"
groups = ["careful"]
resources = ["api"]
allow = ["read"]
hold = ["write"]
approvers = ["security"]
mask = ["builtin"]
"""
    return text + extra


@dataclass
class HttpGw:
    config: Config
    gateway: HttpGateway
    idp: DevIdP
    port: int
    recorders: list[MemoryRecorder] = field(default_factory=list)

    def token(self, subject: str = "bot", groups: tuple[str, ...] = ("ci",)) -> str:
        return self.idp.mint(subject, groups, 600)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


async def start_http_gateway(
    nursery: trio.Nursery, config: Config, *, approvals: ApprovalHub | None = None
) -> HttpGw:
    idp = DevIdP.from_config(config)
    discovery = await nursery.start(idp.serve, "127.0.0.1", 0)
    auth = Authenticator.from_config(config, dev_discovery_url=discovery)
    recorders: list[MemoryRecorder] = []

    def recorder(info: SessionInfo) -> MemoryRecorder:
        r = MemoryRecorder(info)
        recorders.append(r)
        return r

    services = Services(config, auth, recorder_factory=recorder, log=JsonLog(), approvals=approvals)
    gw = HttpGateway(services)
    listeners = await nursery.start(gw.serve, "127.0.0.1", 0)
    return HttpGw(config, gw, idp, listeners[0].socket.getsockname()[1], recorders)


def load(text: str, tmp_path: Path) -> Config:
    return load_config_text(text, base_dir=tmp_path)


async def raw_exchange(port: int, data: bytes, *, timeout: float = 10) -> bytes:
    """Sends ``data`` on a new connection; everything the gateway answers
    until it closes the connection."""
    out = bytearray()
    with trio.fail_after(timeout):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(data)
            while chunk := await stream.receive_some(65536):
                out += chunk
    return bytes(out)


@pytest.fixture
async def gw(
    request: pytest.FixtureRequest,
    nursery: trio.Nursery,
    tmp_path: Path,
    app: App,
    nginx: Nginx,
    monkeypatch: pytest.MonkeyPatch,
) -> HttpGw:
    """The usual HTTP gateway of a test module (import it with ``app`` and
    ``nginx``): :func:`config_text` for the app and nginx, plus the
    module's ``GATEWAY_RULES`` when it has them; the upstream key in the
    environment, the app's record of requests emptied."""
    monkeypatch.setenv("LIMEN_TEST_API_KEY", UPSTREAM_KEY)
    app.reset()
    extra = str(getattr(request.module, "GATEWAY_RULES", ""))
    return await start_http_gateway(nursery, load(config_text(app.port, nginx, extra), tmp_path))
