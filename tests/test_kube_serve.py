"""The Kubernetes story with real processes: `limen serve` with
`[listeners] kubernetes` (TLS) before the stand-in API server, a kubeconfig
from `limen kubeconfig` whose exec plugin (`limen token --exec-credential`)
gets kubectl its tokens, kubectl listing pods in an allowed namespace,
refused in another with a message kubectl shows, refused a privileged pod
however it is phrased, and `limen sessions replay` showing the kubectl
command stream without the token or the cluster credential."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from http_support import free_port, make_certs
from kube_support import CLUSTER_TOKEN, KUBECTL, StandIn, need_kubectl, pod, standin

pytestmark = pytest.mark.integration
__all__ = ["standin"]


def _limen(*args: str) -> list[str]:
    return [sys.executable, "-m", "limen", *args]


CONFIG = """
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
admin = "127.0.0.1:0"
drain_timeout = "2s"

[listeners]
kubernetes = "127.0.0.1:{port}"
tls_cert = "{cert}"
tls_key = "{key}"

[identity.dev]
enabled = true
listen = "127.0.0.1:0"

[[resources]]
name = "cluster"
protocol = "kubernetes"
upstream = "{url}"
password_file = "cluster.token"
tls = {{ ca_file = "{ca}" }}

[[rules]]
name = "ci-dev"
groups = ["ci"]
resources = ["cluster"]
allow_commands = ["get,list,watch,create,patch,delete pods dev", "exec pods dev"]
mask = ["builtin"]
"""


def test_token_exec_credential(tmp_path: Path) -> None:
    config = tmp_path / "limen.toml"
    config.write_text("[identity.dev]\nenabled = true\n")
    out = subprocess.run(
        _limen(
            "token", "--config", str(config), "--sub", "bot", "--exec-credential", "--ttl", "5m"
        ),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cred = json.loads(out)
    assert cred["apiVersion"] == "client.authentication.k8s.io/v1"
    assert cred["kind"] == "ExecCredential"
    assert cred["status"]["token"].count(".") == 2
    assert cred["status"]["expirationTimestamp"].endswith("Z")
    token_file = tmp_path / "token"
    token_file.write_text("not-a-jwt\n")
    out = subprocess.run(
        _limen(
            "token", "--config", str(config), "--exec-credential", "--token-file", str(token_file)
        ),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["status"]["token"] == "not-a-jwt"
    bad = subprocess.run(
        _limen("token", "--config", str(config), "--token-file", str(token_file)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2


async def test_kubectl_through_limen_serve(tmp_path: Path, standin: StandIn) -> None:
    need_kubectl()
    standin.reset()
    certs = make_certs(tmp_path)
    (tmp_path / "cluster.token").write_text(CLUSTER_TOKEN + "\n")
    port = free_port()
    config = tmp_path / "limen.toml"
    config.write_text(
        CONFIG.format(
            port=port, cert=certs.cert, key=certs.key, url=standin.url, ca=standin.certs.ca
        )
    )
    kubeconfig = tmp_path / "kubeconfig"
    made = subprocess.run(
        _limen(
            "kubeconfig",
            "--config",
            str(config),
            "--resource",
            "cluster",
            "--sub",
            "bot",
            "--group",
            "ci",
            "--ca-file",
            str(certs.ca),
            "--output",
            str(kubeconfig),
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    doc = json.loads(kubeconfig.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{port}/r/cluster"
    assert "--exec-credential" in doc["users"][0]["user"]["exec"]["args"]
    assert CLUSTER_TOKEN not in kubeconfig.read_text()
    proc = subprocess.Popen(
        _limen("serve", "--config", str(config)),
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "KUBECONFIG": str(kubeconfig)}

    async def kubectl(*args: str, stdin: str = "") -> subprocess.CompletedProcess[bytes]:
        done: subprocess.CompletedProcess[bytes] = await trio.run_process(
            [KUBECTL, "--request-timeout=20s", *args],
            stdin=stdin.encode(),
            capture_stdout=True,
            capture_stderr=True,
            env=env,
            check=False,
        )
        return done

    try:
        assert proc.stderr is not None
        while True:
            line = await trio.to_thread.run_sync(proc.stderr.readline)
            assert line, "limen serve exited early"
            event = json.loads(line)
            if event["event"] == "listening" and event["protocol"] == "kubernetes":
                break
        made_pod = await kubectl(
            "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(pod("web"))
        )
        assert made_pod.returncode == 0, made_pod.stderr
        listed = await kubectl("get", "pods", "-n", "dev")
        assert listed.returncode == 0, listed.stderr
        assert b"web" in listed.stdout
        other = await kubectl("get", "pods", "-n", "kube-system")
        assert other.returncode == 1
        assert (
            b"Error from server (Forbidden): limen: denied: no rule allows list pods -n kube-system"
            in other.stderr
        )
        priv = pod(
            "evil",
            initContainers=[{"name": "i", "image": "x", "securityContext": {"privileged": True}}],
        )
        refused = await kubectl(
            "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(priv)
        )
        assert refused.returncode == 1
        assert b"initContainers[i]: privileged" in refused.stderr
        patched = await kubectl(
            "patch",
            "pod",
            "web",
            "-n",
            "dev",
            "-p",
            '{"spec":{"containers":[{"name":"app","securityContext":{"privileged":true}}]}}',
        )
        assert patched.returncode == 1
        assert b"containers[app]: privileged" in patched.stderr
        ran = await kubectl("exec", "web", "-n", "dev", "--", "echo", "from", "exec")
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout == b"from exec\n"
        proc.send_signal(signal.SIGTERM)
        rc = await trio.to_thread.run_sync(proc.wait, 30)
        rest = await trio.to_thread.run_sync(proc.stderr.read)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0
    assert CLUSTER_TOKEN not in rest
    sessions = [
        json.loads(line)
        for line in subprocess.run(
            _limen("sessions", "list", "--config", str(config), "--json"),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    ]
    assert sessions
    assert {s["protocol"] for s in sessions} == {"kubernetes"}
    replays = ""
    for s in sessions:
        replays += subprocess.run(
            _limen("sessions", "replay", "--config", str(config), s["id"]),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    for command in (
        "create pods -n dev",
        "list pods -n dev",
        "list pods -n kube-system",
        "patch pods web -n dev",
        "exec pods web -n dev",
    ):
        assert f'"command":"{command}"' in replays, command
    assert '"action":"deny","rule":null,"class":"kube:@baseline"' in replays
    assert "authorization: [redacted]" in replays
    assert "from exec" in replays  # the exec's output, in the session log
    # the exec stream as a terminal recording (asciicast v2)
    casts = []
    for s in sessions:
        cast = subprocess.run(
            _limen("sessions", "export", "--config", str(config), s["id"], "--format", "asciicast"),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert json.loads(cast[0])["version"] == 2
        casts.append([json.loads(line) for line in cast[1:]])
    (played,) = [c for c in casts if c]  # only the exec's session plays
    assert [e[1] for e in played] == ["o", "o"]
    assert played[0][2] == "$ kubectl exec web -n dev -- echo from exec\r\n"
    assert played[1][2] == "from exec\r\n"
    assert CLUSTER_TOKEN not in replays
