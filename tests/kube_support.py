"""Shared setup for the Kubernetes tests: the stand-in API server of
tests/kube_standin.py under uvicorn behind its front (tests/kube_front.py:
HTTPS with a CA made here, SPDY exec; a bearer token required), and
Debian's kubectl (or a cloud SDK's older kubectl, :func:`old_kubectl`) run
against a kubeconfig of the test's own (never ~/.kube/config)."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from http_support import TESTS, Certs, free_port, make_certs, wait_port

#: The cluster credential the stand-in wants (limen holds it; bots never see it).
CLUSTER_TOKEN = "cluster-admin-token-4d2e91"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
#: Where a cloud SDK keeps older kubectl binaries (kubectl.1.29: SPDY exec).
SDK_BINS = (Path("/usr/lib/google-cloud-sdk/bin"), Path("/opt/google-cloud-sdk/bin"))


def old_kubectl(version: str) -> str:
    """The cloud SDK's ``kubectl.VERSION`` (skips the test when absent)."""
    for folder in SDK_BINS:
        if (folder / f"kubectl.{version}").exists():
            return str(folder / f"kubectl.{version}")
    pytest.skip(f"no kubectl {version} (a cloud SDK's bin folder has them)")


@dataclass
class StandIn:
    port: int
    certs: Certs

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def calls(self) -> list[dict[str, Any]]:
        """The API calls the stand-in received (asked directly)."""
        data: list[dict[str, Any]] = httpx.get(
            f"{self.url}/_calls",
            verify=ssl.create_default_context(cafile=str(self.certs.ca)),
            timeout=10,
        ).json()
        return data

    def reset(self) -> None:
        httpx.post(
            f"{self.url}/_reset",
            verify=ssl.create_default_context(cafile=str(self.certs.ca)),
            timeout=10,
        )


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """The stand-in API server over HTTPS on a loopback port (its front,
    tests/kube_front.py: SPDY exec there, the rest spliced to uvicorn)."""
    folder = tmp_path_factory.mktemp("standin")
    certs = make_certs(folder)
    port = free_port()
    env = dict(os.environ, KUBE_STANDIN_TOKEN=CLUSTER_TOKEN)
    front = str(TESTS / "kube_front.py")
    proc = subprocess.Popen(
        [sys.executable, front, str(port), str(certs.cert), str(certs.key)], env=env
    )
    try:
        wait_port(port, proc)
        yield StandIn(port, certs)
    finally:
        proc.terminate()
        proc.wait(10)


def need_kubectl() -> None:
    if not Path(KUBECTL).exists():
        pytest.skip("kubectl is not installed (apt-get install -y kubernetes-client)")


@dataclass
class Kubectl:
    """kubectl with a kubeconfig of its own."""

    kubeconfig: Path

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        out = self.result(*args, stdin=stdin)
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {out.stderr}")
        return out.stdout

    def result(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.kubeconfig.parent),
            "KUBECONFIG": str(self.kubeconfig),
        }
        return subprocess.run(
            [KUBECTL, "--request-timeout=20s", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json"))


def direct_kubeconfig(folder: Path, standin: StandIn) -> Path:
    """A kubeconfig straight to the stand-in with the cluster token."""
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "standin",
                "cluster": {"server": standin.url, "certificate-authority": str(standin.certs.ca)},
            }
        ],
        "users": [{"name": "admin", "user": {"token": CLUSTER_TOKEN}}],
        "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "admin"}}],
        "current-context": "standin",
    }
    path = folder / "direct.kubeconfig"
    path.write_text(json.dumps(cfg))
    return path


def pod(name: str, **spec: Any) -> dict[str, Any]:
    """A Pod manifest; ``spec`` entries override or add to a plain one."""
    body: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx"}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


def deployment(name: str, **spec: Any) -> dict[str, Any]:
    """A Deployment manifest whose pod template's spec has ``spec``."""
    template: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx"}]}
    template.update(spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": template},
        },
    }


KUBE_CONFIG = """
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
admin = "127.0.0.1:0"

[listeners]
kubernetes = "127.0.0.1:0"
tls_cert = "{gw_cert}"
tls_key = "{gw_key}"

[identity]
leeway = "0s"

[identity.dev]
enabled = true

[[resources]]
name = "cluster"
protocol = "kubernetes"
upstream = "{url}"
password_env = "LIMEN_TEST_KUBE_TOKEN"
tls = {{ ca_file = "{ca}" }}

[[rules]]
name = "ci-dev"
groups = ["ci"]
resources = ["cluster"]
mask = ["builtin"]
allow_commands = [
    "exec pods dev",
    "get pods prod",
    "get,list,watch,create,update,patch,delete pods,deployments.apps,cronjobs.batch dev",
    "update,patch pods/ephemeralcontainers dev",
    "log pods dev",
]
deny_commands = ["delete * prod"]

[[rules]]
name = "careful-staging"
groups = ["careful"]
resources = ["cluster"]
allow_commands = ["* pods staging"]
hold_commands = ["@baseline pods staging"]
approvers = ["security"]
"""


def kube_config_text(standin: StandIn, gw_certs: Certs, extra: str = "") -> str:
    """Resource ``cluster`` (the stand-in; the cluster token from
    ``LIMEN_TEST_KUBE_TOKEN``), the listener over TLS with ``gw_certs``;
    rules ``ci-dev`` (group ci: pods, deployments and cronjobs in dev,
    exec in dev, get of a pod in prod; deletes in prod denied) and
    ``careful-staging`` (group careful: pods in staging, baseline breaks
    held)."""
    text = KUBE_CONFIG.format(
        url=standin.url, ca=standin.certs.ca, gw_cert=gw_certs.cert, gw_key=gw_certs.key
    )
    return text + extra


@dataclass
class KubeGw:
    config: Any
    idp: Any
    port: int
    recorders: list[Any]
    ca: Path
    gateway: Any = None
    """The listener (its services and live sessions: a reload's)."""

    def token(self, subject: str = "bot", groups: tuple[str, ...] = ("ci",)) -> str:
        token: str = self.idp.mint(subject, groups, 600)
        return token

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}/r/cluster"

    def kubeconfig(self, folder: Path, token: str) -> Path:
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "limen",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca)},
                }
            ],
            "users": [{"name": "bot", "user": {"token": token}}],
            "contexts": [{"name": "limen", "context": {"cluster": "limen", "user": "bot"}}],
            "current-context": "limen",
        }
        path = folder / f"limen-{len(list(folder.glob('limen-*')))}.kubeconfig"
        path.write_text(json.dumps(cfg))
        return path


async def start_kube_gateway(
    nursery: Any, config: Any, ca: Path, *, approvals: Any = None
) -> KubeGw:
    """The Kubernetes listener in the test's nursery (dev IdP on port 0,
    memory recorders)."""
    from limen.gateway import JsonLog, Services
    from limen.gateway.kube import KubeGateway
    from limen.identity import Authenticator, DevIdP
    from limen.recording import MemoryRecorder, SessionInfo

    idp = DevIdP.from_config(config)
    discovery = await nursery.start(idp.serve, "127.0.0.1", 0)
    auth = Authenticator.from_config(config, dev_discovery_url=discovery)
    recorders: list[MemoryRecorder] = []

    def recorder(info: SessionInfo) -> MemoryRecorder:
        r = MemoryRecorder(info)
        recorders.append(r)
        return r

    services = Services(config, auth, recorder_factory=recorder, log=JsonLog(), approvals=approvals)
    gw = KubeGateway(services)
    listeners = await nursery.start(gw.serve, "127.0.0.1", 0)
    return KubeGw(config, idp, listeners[0].socket.getsockname()[1], recorders, ca, gw)


async def akubectl(
    kubeconfig: Path,
    *args: str,
    stdin: str | None = None,
    binary: str = KUBECTL,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """kubectl run from a Trio test (the gateway runs in the same loop)."""
    import trio

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(kubeconfig.parent),
        "KUBECONFIG": str(kubeconfig),
        **(env or {}),
    }
    result: subprocess.CompletedProcess[bytes] = await trio.run_process(
        [binary, "--request-timeout=20s", *args],
        stdin=stdin.encode() if stdin is not None else b"",
        capture_stdout=True,
        capture_stderr=True,
        env=env,
        check=False,
    )
    return result


@pytest.fixture(scope="module")
def standin_mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """The stand-in asking for a client certificate signed by its CA (no
    bearer token): the cluster credential is limen's client certificate."""
    folder = tmp_path_factory.mktemp("standin-mtls")
    certs = make_certs(folder)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "KUBE_STANDIN_TOKEN"}
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
            "--ssl-certfile",
            str(certs.cert),
            "--ssl-keyfile",
            str(certs.key),
            "--ssl-ca-certs",
            str(certs.ca),
            "--ssl-cert-reqs",
            "2",
            "--log-level",
            "warning",
            "kube_standin:app",
        ],
        env=env,
    )
    try:
        wait_port(port, proc)
        yield StandIn(port, certs)
    finally:
        proc.terminate()
        proc.wait(10)
