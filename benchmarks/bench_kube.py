"""kubectl through limen's Kubernetes listener vs straight to the API
server, in one run.

No kube-apiserver can be installed here: the API server is the tests'
stand-in (tests/kube_standin.py under uvicorn, HTTPS, a bearer token),
seeded with 1,000 pods in namespace ``bench`` and 10 in ``small``. limen
is `limen serve` in its own process (TLS listener, the rules' call
patterns, built-in masking of answers, recording on); kubectl gets its
limen token from a kubeconfig token (the exec plugin is a process start
per credential, not per call).

Reports the median wall time of ``kubectl get pods -n small`` (a whole
kubectl run: process start, cached discovery, one list), of ``kubectl get
pods -n bench -o json`` (1,000 pods, ~0.6 MB), of the 1,000-pod list as
one HTTP request on a kept-alive connection (httpx: no kubectl overhead),
and of ``kubectl exec POD -- echo hello`` over WebSocket (kubectl 1.32)
and over SPDY/3.1 (kubectl 1.29 from a cloud SDK, when there is one),
direct and through limen, and the ratio limen/direct. The stand-in runs
behind its front (tests/kube_front.py), direct or not.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(TESTS))

from http_support import free_port, make_certs, wait_port  # noqa: E402
from limen_bench_gateway import LimenServe  # noqa: E402

CLUSTER_TOKEN = "bench-cluster-token-1f9c"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
#: kubectl 1.29 (SPDY exec) from a cloud SDK's bin folder, when there is one.
EXEC_ARGS = ["exec", "pod-0000", "-n", "small", "--", "echo", "hello"]
KUBECTL_SPDY = next(
    (
        str(p)
        for p in (
            Path("/usr/lib/google-cloud-sdk/bin/kubectl.1.29"),
            Path("/opt/google-cloud-sdk/bin/kubectl.1.29"),
        )
        if p.exists()
    ),
    None,
)


def _config(url: str, ca: Path, cert: Path, key: Path, token_file: Path) -> str:
    return f"""
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
admin = "127.0.0.1:0"

[listeners]
kubernetes = "127.0.0.1:0"
tls_cert = "{cert}"
tls_key = "{key}"

[identity.dev]
enabled = true
listen = "127.0.0.1:0"

[[resources]]
name = "cluster"
protocol = "kubernetes"
upstream = "{url}"
password_file = "{token_file}"
tls = {{ ca_file = "{ca}" }}

[[rules]]
name = "bench"
groups = ["bench"]
resources = ["cluster"]
allow_commands = ["get,list,watch,create,exec pods bench,small"]
mask = ["builtin"]
"""


def _kubeconfig(folder: Path, server: str, ca: Path, token: str) -> Path:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    home = folder / server.replace("/", "_").replace(":", "_")
    home.mkdir()
    path = home / "kubeconfig"
    path.write_text(json.dumps(cfg))
    return path


def _kubectl_time(kubeconfig: Path, args: list[str], binary: str = KUBECTL) -> float:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(kubeconfig.parent),
        "KUBECONFIG": str(kubeconfig),
    }
    start = time.perf_counter()
    done = subprocess.run([binary, *args], env=env, capture_output=True, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.decode()[-300:]}")
    return took


def _median(fn: Any, n: int) -> float:
    fn()  # warm: discovery cache, connections
    return statistics.median(fn() for _ in range(n))


def _seed(url: str, ca: Path) -> None:
    verify = ssl.create_default_context(cafile=str(ca))
    headers = {"Authorization": f"Bearer {CLUSTER_TOKEN}"}
    with httpx.Client(verify=verify, headers=headers, timeout=30) as client:
        for ns, count in (("bench", 1000), ("small", 10)):
            for i in range(count):
                pod = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"pod-{i:04d}", "labels": {"app": "bench", "n": str(i)}},
                    "spec": {
                        "containers": [
                            {"name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}
                        ]
                    },
                }
                r = client.post(f"{url}/api/v1/namespaces/{ns}/pods", json=pod)
                r.raise_for_status()


def run(short: bool) -> dict[str, Any]:
    if not Path(KUBECTL).exists():
        raise RuntimeError("kubectl is not installed (apt-get install kubernetes-client)")
    n = 5 if short else 20
    folder = Path(tempfile.mkdtemp(prefix="limen-bench-kube-"))
    (folder / "up").mkdir()
    up_certs = make_certs(folder / "up")
    gw_dir = folder / "gw"
    gw_dir.mkdir()
    gw_certs = make_certs(gw_dir)
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    env = {**os.environ, "KUBE_STANDIN_TOKEN": CLUSTER_TOKEN}
    front = str(TESTS / "kube_front.py")  # uvicorn behind it; SPDY exec served there
    standin = subprocess.Popen(
        [sys.executable, front, str(port), str(up_certs.cert), str(up_certs.key)], env=env
    )
    serve: LimenServe | None = None
    try:
        wait_port(port, standin)
        _seed(url, up_certs.ca)
        token_file = folder / "cluster.token"
        token_file.write_text(CLUSTER_TOKEN)
        serve = LimenServe(
            "kubernetes", _config(url, up_certs.ca, gw_certs.cert, gw_certs.key, token_file)
        )
        targets = {
            "direct": (
                _kubeconfig(folder, url, up_certs.ca, CLUSTER_TOKEN),
                url,
                up_certs.ca,
                CLUSTER_TOKEN,
            ),
        }
        limen_url = f"https://127.0.0.1:{serve.port}/r/cluster"
        targets["limen"] = (
            _kubeconfig(folder, limen_url, gw_certs.ca, serve.token),
            limen_url,
            gw_certs.ca,
            serve.token,
        )
        results: dict[str, dict[str, float]] = {}
        for name, (kc, base, ca, token) in targets.items():
            small = _median(lambda kc=kc: _kubectl_time(kc, ["get", "pods", "-n", "small"]), n)
            big = _median(
                lambda kc=kc: _kubectl_time(kc, ["get", "pods", "-n", "bench", "-o", "json"]), n
            )
            verify = ssl.create_default_context(cafile=str(ca))
            with httpx.Client(
                verify=verify, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as client:

                def one(client: httpx.Client = client, base: str = base) -> float:
                    start = time.perf_counter()
                    r = client.get(f"{base}/api/v1/namespaces/bench/pods")
                    took = time.perf_counter() - start
                    r.raise_for_status()
                    if len(r.json()["items"]) != 1000:
                        raise RuntimeError("the list does not hold 1,000 pods")
                    return took

                raw = _median(one, n * 2)
            results[name] = {"small": small, "big": big, "raw": raw}
            results[name]["exec_ws"] = _median(lambda kc=kc: _kubectl_time(kc, EXEC_ARGS), n)
            if KUBECTL_SPDY is not None:
                results[name]["exec_spdy"] = _median(
                    lambda kc=kc: _kubectl_time(kc, EXEC_ARGS, KUBECTL_SPDY), n
                )
    finally:
        if serve is not None:
            serve.close()
        standin.terminate()
        standin.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    rows: list[list[Any]] = []
    ratios: dict[str, float] = {}
    labels = {
        "small": "kubectl get pods (10 pods)",
        "big": "kubectl get pods -o json (1,000 pods)",
        "raw": "GET 1,000-pod list (httpx, kept alive)",
        "exec_ws": "kubectl exec echo (WebSocket, kubectl 1.32)",
        "exec_spdy": "kubectl exec echo (SPDY/3.1, kubectl 1.29)",
    }
    for key, label in labels.items():
        if key not in results["direct"]:
            continue
        d, lim = results["direct"][key], results["limen"][key]
        rows.append([label, f"{d * 1000:.1f}", f"{lim * 1000:.1f}", f"{lim / d:.2f}"])
        ratios[f"kube_{key}_limen_over_direct"] = round(lim / d, 3)
    return {
        "title": "Kubernetes: kubectl through limen vs direct to the stand-in API server",
        "columns": ["operation", "direct ms (median)", "limen ms (median)", "limen/direct"],
        "rows": rows,
        "ratios": ratios,
        "notes": [
            f"median of {n} runs ({n * 2} for the httpx list) after one warm-up each",
            "the API server is the tests' stand-in (uvicorn), not kube-apiserver",
            "limen: TLS listener, call rules, built-in masking of answers, recording",
        ],
    }


if __name__ == "__main__":
    print(json.dumps(run("--short" in sys.argv), indent=2))
