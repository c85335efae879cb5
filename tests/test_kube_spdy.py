"""kubectl exec and attach over SPDY/3.1 through limen (kubectl 1.29 from a
cloud SDK, and a newer one with ``KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false``)
to the stand-in's SPDY front: judged before the upgrade, stdout masked as
it streams, stdin recorded, the stream exported as asciicast; and the SPDY
codec's and pump's refusals (fail closed), with properties."""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from http_support import make_certs
from kube_support import (
    CLUSTER_TOKEN,
    KUBECTL,
    KubeGw,
    StandIn,
    akubectl,
    kube_config_text,
    need_kubectl,
    old_kubectl,
    pod,
    standin,
    start_kube_gateway,
)
from limen.config import load_config_text
from limen.recording import Kind
from limen.recording.kubecast import kube_cast_lines
from limen.recording.log import Header, Record

pytestmark = pytest.mark.integration
__all__ = ["standin"]
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
SPDY_ONLY = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}
ATTACH_RULE = """
[[rules]]
name = "attach-dev"
groups = ["ci"]
resources = ["cluster"]
mask = ["builtin"]
allow_commands = ["attach,portforward pods dev"]
"""


@pytest.fixture
def config(standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Path]:
    need_kubectl()
    standin.reset()
    monkeypatch.setenv("LIMEN_TEST_KUBE_TOKEN", CLUSTER_TOKEN)
    certs = make_certs(tmp_path)
    return load_config_text(kube_config_text(standin, certs), base_dir=tmp_path), certs.ca


def _records(gw: KubeGw) -> list[tuple[str, bytes]]:
    return [r for rec in gw.recorders for r in rec.records]


def _events(gw: KubeGw, name: str) -> list[dict[str, Any]]:
    out = []
    for kind, payload in _records(gw):
        if kind == Kind.EVENT and (obj := json.loads(payload)).get("event") == name:
            out.append(obj)
    return out


async def _pod_in_prod(standin: StandIn) -> None:
    verify = ssl.create_default_context(cafile=str(standin.certs.ca))
    async with httpx.AsyncClient(verify=verify) as client:
        r = await client.post(
            f"{standin.url}/api/v1/namespaces/prod/pods",
            json=pod("web"),
            headers={"Authorization": f"Bearer {CLUSTER_TOKEN}"},
        )
        assert r.status_code == 201


async def test_spdy_exec_judged_masked_recorded(
    config: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    kubectl = old_kubectl("1.29")  # SPDY for exec by default
    cfg, ca = config
    gw = await start_kube_gateway(nursery, cfg, ca)
    kc = gw.kubeconfig(tmp_path, gw.token())

    async def run(*args: str, stdin: str | None = None) -> Any:
        with trio.fail_after(60):
            return await akubectl(kc, *args, stdin=stdin, binary=kubectl)

    manifest = json.dumps(pod("web"))
    made = await run("create", "--validate=false", "-n", "dev", "-f", "-", stdin=manifest)
    assert made.returncode == 0, made.stderr
    done = await run("exec", "web", "-n", "dev", "--", "echo", "hello", "world")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"hello world\n"
    done = await run("exec", "web", "-n", "dev", "--", "echo", "key", AWS_KEY)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"key ")
    assert AWS_KEY.encode() not in done.stdout
    typed = "first line\nsecond line\n"
    done = await run("exec", "-i", "web", "-n", "dev", "--", "cat", stdin=typed)
    assert done.returncode == 0, done.stderr
    assert done.stdout == typed.encode()
    await _pod_in_prod(standin)
    refused = await run("exec", "web", "-n", "prod", "--", "id")
    assert refused.returncode != 0
    assert b"no rule allows exec pods web -n prod" in refused.stderr
    spdy = [c for c in standin.calls() if c["method"] == "SPDY"]
    assert len(spdy) == 3  # the refused one never went upstream
    assert {c["authorization"] for c in spdy} == {f"Bearer {CLUSTER_TOKEN}"}
    assert all(c["path"].startswith("/api/v1/namespaces/dev/pods/web/") for c in spdy)
    records = _records(gw)
    recorded = b"".join(p for k, p in records if k in (Kind.C2U, Kind.U2C))
    assert b"first line\nsecond line\n" in recorded  # stdin, as typed
    assert b"hello world\n" in recorded
    assert AWS_KEY.encode() not in recorded
    states = [e["state"] for e in _events(gw, "kube_stream")]
    assert states == ["open", "closed"] * 3, states
    types = sorted({e["type"] for e in _events(gw, "kube_spdy_stream")})
    assert types == ["error", "stderr", "stdin", "stdout"]
    # the stream of the first exec as a terminal recording (asciicast v2)
    header = Header(3, "s1", "bot", "cluster", "kubernetes", 0, False, 1 << 20, b"", "", None, None)
    recs = [Record(i, i, Kind(k), p) for i, (k, p) in enumerate(records)]
    cast = [json.loads(line) for line in kube_cast_lines(header, recs)][1:]
    texts = [e[2] for e in cast if e[1] == "o"]
    assert texts[:2] == ["$ kubectl exec web -n dev -- echo hello world\r\n", "hello world\r\n"]
    assert "first line\nsecond line\n" in "".join(e[2] for e in cast if e[1] == "i")


async def test_spdy_attach_and_newer_kubectl_without_websockets(
    config: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    kubectl = old_kubectl("1.33")
    (tmp_path / "gw").mkdir()
    certs = make_certs(tmp_path / "gw")
    cfg = load_config_text(kube_config_text(standin, certs, ATTACH_RULE), base_dir=tmp_path)
    gw = await start_kube_gateway(nursery, cfg, certs.ca)
    kc = gw.kubeconfig(tmp_path, gw.token())

    async def run(*args: str) -> Any:
        with trio.fail_after(60):
            return await akubectl(kc, *args, binary=kubectl, env=SPDY_ONLY)

    made = await akubectl(
        kc, "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(pod("web"))
    )
    assert made.returncode == 0, made.stderr
    done = await run("exec", "web", "-n", "dev", "--", "echo", "over", "spdy")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"over spdy\n"
    methods = [c["method"] for c in standin.calls() if "/exec" in c["path"]]
    assert methods == ["SPDY"]
    attached = await run("attach", "web", "-n", "dev")
    assert attached.returncode == 0, attached.stderr
    assert b"attached to web\n" in attached.stdout
    await _pod_in_prod(standin)
    refused = await run("attach", "web", "-n", "prod")  # refused before the upgrade
    assert refused.returncode != 0
    assert b"no rule allows attach pods web -n prod" in refused.stderr
    attaches = [c for c in standin.calls() if "/attach" in c["path"]]
    assert [(c["method"], c["path"]) for c in attaches] == [
        ("SPDY", "/api/v1/namespaces/dev/pods/web/attach")
    ]
    commands = [e["command"] for e in _events(gw, "kube_request")]
    assert "attach pods web -n dev" in commands


async def _port_forward(
    standin: StandIn, tmp_path: Path, nursery: trio.Nursery, binary: str
) -> tuple[KubeGw, list[dict[str, Any]]]:
    """kubectl port-forward through limen to the stand-in's echo: two
    connections, each echoed; the gateway and the stand-in's calls."""
    (tmp_path / "gw").mkdir()
    certs = make_certs(tmp_path / "gw")
    cfg = load_config_text(kube_config_text(standin, certs, ATTACH_RULE), base_dir=tmp_path)
    gw = await start_kube_gateway(nursery, cfg, certs.ca)
    kc = gw.kubeconfig(tmp_path, gw.token())
    made = await akubectl(
        kc, "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(pod("web"))
    )
    assert made.returncode == 0, made.stderr
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "KUBECONFIG": str(kc)}
    args = [binary, "port-forward", "--address", "127.0.0.1", "-n", "dev", "pod/web", "0:80"]
    proc = await trio.lowlevel.open_process(args, stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        printed = b""
        with trio.fail_after(30):
            while not (found := re.search(rb"127\.0\.0\.1:(\d+) -> 80", printed)):
                chunk = await proc.stdout.receive_some(1024)
                assert chunk, printed
                printed += chunk
        port = int(found.group(1))
        for word in (b"first connection", b"second connection"):
            with trio.fail_after(30):
                conn = await trio.open_tcp_stream("127.0.0.1", port)
                await conn.send_all(word)
                got = b""
                while len(got) < len(word):
                    got += await conn.receive_some(1024)
                await conn.aclose()
            assert got == word  # the stand-in's echo, through kubectl, limen and back
    finally:
        proc.terminate()
        with trio.fail_after(30):
            await proc.wait()
    with trio.fail_after(30):
        while not _events(gw, "kube_portforward"):
            await trio.sleep(0.05)
    streams = _events(gw, "kube_spdy_stream")
    assert {(e["type"], e.get("port")) for e in streams} == {("data", "80"), ("error", "80")}
    assert len(streams) == 4  # an error and a data stream per connection
    (moved,) = _events(gw, "kube_portforward")
    assert moved["bytes"] == 2 * len(b"first connection") + 2 * len(b"second connection")
    recorded = b"".join(p for k, p in _records(gw) if k in (Kind.C2U, Kind.U2C))
    assert b"first connection" not in recorded  # port-forward data is not a terminal
    calls = [c for c in standin.calls() if c["path"].endswith("/portforward")]
    return gw, calls


async def test_spdy_port_forward(
    config: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    _, calls = await _port_forward(standin, tmp_path, nursery, old_kubectl("1.29"))
    assert [c["method"] for c in calls] == ["SPDY"]


async def test_port_forward_spdy_tunnelled_in_websocket(
    config: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """Debian's kubectl 1.32 port-forwards over WebSocket, SPDY inside:
    the same SPDY pump reads the tunnel."""
    _, calls = await _port_forward(standin, tmp_path, nursery, KUBECTL)
    assert [c["method"] for c in calls] == ["WEBSOCKET"]


async def test_spdy_exec_with_a_terminal(
    config: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """``exec -it`` under a pseudo-terminal (``script``): kubectl opens a
    resize stream and sends the terminal size; limen records it as an
    event and relays the stream."""
    kubectl = old_kubectl("1.29")
    script = shutil.which("script")
    if script is None:
        pytest.skip("script (util-linux) is not installed")
    cfg, ca = config
    gw = await start_kube_gateway(nursery, cfg, ca)
    kc = gw.kubeconfig(tmp_path, gw.token())
    made = await akubectl(
        kc, "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(pod("web"))
    )
    assert made.returncode == 0, made.stderr
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "KUBECONFIG": str(kc)}
    command = f"{kubectl} exec -it web -n dev -- echo on a terminal"
    with trio.fail_after(60):
        done = await trio.run_process(
            [script, "-qec", command, "/dev/null"],
            stdin=b"",
            capture_stdout=True,
            capture_stderr=True,
            env=env,
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert b"on a terminal" in done.stdout
    types = [e["type"] for e in _events(gw, "kube_spdy_stream")]
    assert sorted(types) == ["error", "resize", "stdin", "stdout"]  # a terminal: no stderr
    assert _events(gw, "kube_resize")  # the terminal's size, sent on the resize stream
    (spdy,) = [c for c in standin.calls() if c["method"] == "SPDY"]
    assert "tty=true" in spdy["query"]
