"""Debian's kubectl through limen's Kubernetes listener to the stand-in API
server (tests/kube_standin.py): calls judged by verb and object, refusals
kubectl shows, unknown paths and encoded namespaces, the cluster credential
kept in limen, every call recorded with its parsed verb and object, and the
Pod Security Standards however a privileged pod is phrased."""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from http_support import make_certs
from kube_support import (
    CLUSTER_TOKEN,
    KubeGw,
    StandIn,
    akubectl,
    deployment,
    kube_config_text,
    need_kubectl,
    pod,
    standin,
    start_kube_gateway,
)
from limen.approvals import ApprovalHub
from limen.config import load_config_text
from limen.recording import Kind
from limen.store import open_store

pytestmark = pytest.mark.integration
__all__ = ["standin"]


@pytest.fixture
def setup(standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Path]:
    need_kubectl()
    standin.reset()
    monkeypatch.setenv("LIMEN_TEST_KUBE_TOKEN", CLUSTER_TOKEN)
    certs = make_certs(tmp_path)
    return load_config_text(kube_config_text(standin, certs), base_dir=tmp_path), certs.ca


async def run(kc: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    r = await akubectl(kc, *args, stdin=stdin)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def events(gw: KubeGw, name: str) -> list[dict[str, Any]]:
    out = []
    for rec in gw.recorders:
        for kind, payload in rec.records:
            if kind == Kind.EVENT:
                obj = json.loads(payload)
                if obj.get("event") == name:
                    out.append(obj)
    return out


async def test_namespaces_and_recording(
    setup: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    config, ca = setup
    gw = await start_kube_gateway(nursery, config, ca)
    kc = gw.kubeconfig(tmp_path, gw.token())
    rc, out, err = await run(
        kc, "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(pod("web"))
    )
    assert (rc, out.strip()) == (0, "pod/web created"), err
    rc, out, err = await run(kc, "get", "pods", "-n", "dev")
    assert rc == 0, err
    assert "web" in out
    rc, out, err = await run(kc, "get", "pods", "-n", "prod")
    assert rc == 1
    assert "Error from server (Forbidden): limen: denied: no rule allows list pods -n prod" in err
    rc, out, err = await run(kc, "get", "pods", "-A")
    assert rc == 1
    assert "no rule allows list pods" in err
    rc, out, err = await run(kc, "delete", "pod", "web", "-n", "prod")
    assert "denied by rule ci-dev: delete pods web -n prod matches 'delete * prod'" in err
    # the stand-in got limen's credential, never the bot's token, and no refused call
    calls = standin.calls()
    assert calls
    assert {c["authorization"] for c in calls} == {f"Bearer {CLUSTER_TOKEN}"}
    assert not [c for c in calls if "/namespaces/prod/" in c["path"] or c["path"] == "/api/v1/pods"]
    # every call recorded with its parsed verb and object, and the decision
    commands = [e["command"] for e in events(gw, "kube_request")]
    assert "create pods -n dev" in commands
    assert "list pods -n dev" in commands
    assert "list pods -n prod" in commands
    assert "delete pods web -n prod" in commands
    created = next(e for e in events(gw, "kube_request") if e["command"] == "create pods -n dev")
    assert (created["verb"], created["resource"], created["namespace"]) == ("create", "pods", "dev")
    decided = [(d["action"], d["commands"]) for d in events(gw, "decision") if d["commands"]]
    assert ("deny", ["list pods -n prod"]) in decided
    assert ("allow", ["list pods -n dev"]) in decided


async def test_unknown_paths_and_encoded_namespaces(
    setup: tuple[Any, Path], standin: StandIn, nursery: trio.Nursery
) -> None:
    config, ca = setup
    gw = await start_kube_gateway(nursery, config, ca)
    headers = {"Authorization": f"Bearer {gw.token()}"}
    verify = ssl.create_default_context(cafile=str(ca))
    async with httpx.AsyncClient(verify=verify, headers=headers) as client:
        base = f"{gw.server}"
        r = await client.get(f"{base}/api/v1/namespaces/%70rod/pods")  # %70 is p: prod
        assert r.status_code == 403
        assert r.json()["kind"] == "Status"
        assert "list pods -n prod" in r.json()["message"]
        r = await client.get(f"{base}/api/v1/namespaces/%64ev/pods")  # dev
        assert r.status_code == 200
        assert r.json()["kind"] == "PodList"
        r = await client.get(f"{base}/api/v1/namespaces/dev%2Fprod/pods")
        assert r.status_code == 400
        r = await client.get(f"{base}/metrics")
        assert r.status_code == 403
        assert "not a Kubernetes API call limen knows" in r.json()["message"]
        r = await client.get(f"{base}/api/v1/namespaces/Dev/pods")
        assert r.status_code == 403
    paths = [c["path"] for c in standin.calls()]
    assert paths == ["/api/v1/namespaces/dev/pods"]  # the canonical path went upstream


async def test_privileged_pods_refused_however_phrased(
    setup: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    config, ca = setup
    gw = await start_kube_gateway(nursery, config, ca)
    kc = gw.kubeconfig(tmp_path, gw.token())
    priv = {"securityContext": {"privileged": True}}

    async def create(obj: dict[str, Any]) -> str:
        rc, out, err = await run(
            kc, "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(obj)
        )
        assert rc == 1, out
        return err

    err = await create(pod("a", initContainers=[{"name": "init", "image": "busybox", **priv}]))
    assert (
        "breaks the Pod Security Standards baseline profile: initContainers[init]: privileged"
        in err
    )
    err = await create(pod("a", hostPID=True))
    assert "pod: hostPID" in err
    err = await create(deployment("d", containers=[{"name": "app", "image": "nginx", **priv}]))
    assert "create deployments.apps -n dev breaks" in err
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {
            "schedule": "* * * * *",
            "jobTemplate": {
                "spec": {
                    "template": deployment("x", volumes=[{"name": "r", "hostPath": {"path": "/"}}])[
                        "spec"
                    ]["template"]
                }
            },
        },
    }
    err = await create(cron)
    assert "volumes[r]: hostPath" in err
    # a plain pod, then patches that would make it privileged
    rc, out, err = await run(
        kc, "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(pod("web"))
    )
    assert rc == 0, err
    strategic = '{"spec":{"containers":[{"name":"app","securityContext":{"privileged":true}}]}}'
    rc, out, err = await run(kc, "patch", "pod", "web", "-n", "dev", "-p", strategic)
    assert rc == 1
    assert "patch pods web -n dev breaks" in err
    assert "containers[app]: privileged" in err
    json_patch = '[{"op":"add","path":"/spec/hostPID","value":true}]'
    rc, out, err = await run(
        kc, "patch", "pod", "web", "-n", "dev", "--type=json", "-p", json_patch
    )
    assert rc == 1
    assert "pod: hostPID" in err
    copy = '[{"op":"copy","from":"/metadata/name","path":"/metadata/labels"}]'
    rc, out, err = await run(kc, "patch", "pod", "web", "-n", "dev", "--type=json", "-p", copy)
    assert rc == 1
    assert "a JSON patch copy or move" in err
    merge = '{"spec":{"volumes":[{"name":"h","hostPath":{"path":"/etc"}}]}}'
    rc, out, err = await run(kc, "patch", "pod", "web", "-n", "dev", "--type=merge", "-p", merge)
    assert "volumes[h]: hostPath" in err
    # an ephemeral container (what kubectl debug adds), privileged
    headers = {
        "Authorization": f"Bearer {gw.token()}",
        "Content-Type": "application/strategic-merge-patch+json",
    }
    eph = {"spec": {"ephemeralContainers": [{"name": "dbg", "image": "busybox", **priv}]}}
    verify = ssl.create_default_context(cafile=str(ca))
    async with httpx.AsyncClient(verify=verify) as client:
        url = f"{gw.server}/api/v1/namespaces/dev/pods/web/ephemeralcontainers"
        r = await client.patch(url, content=json.dumps(eph), headers=headers)
    assert r.status_code == 403
    assert "ephemeralContainers[dbg]: privileged" in r.json()["message"]
    # a harmless patch goes through; the stored pod never became privileged
    rc, out, err = await run(
        kc, "patch", "pod", "web", "-n", "dev", "-p", '{"metadata":{"labels":{"a":"b"}}}'
    )
    assert rc == 0, err
    rc, out, err = await run(kc, "get", "pod", "web", "-n", "dev", "-o", "json")
    stored = json.loads(out)
    assert stored["metadata"]["labels"] == {"a": "b"}
    assert "securityContext" not in stored["spec"]["containers"][0]
    assert "hostPID" not in stored["spec"]
    assert "ephemeralContainers" not in stored["spec"]
    calls = standin.calls()
    real_patches = [c for c in calls if c["method"] == "PATCH" and "dryRun" not in c["query"]]
    assert len(real_patches) == 1  # only the harmless one; the rest were dry runs
    dry = [c for c in calls if "dryRun=All" in c["query"]]
    assert len(dry) == 5  # the copy patch was refused as it is
    assert {c["authorization"] for c in dry} == {f"Bearer {CLUSTER_TOKEN}"}
    found = [e["violations"] for e in events(gw, "kube_request") if e["violations"]]
    assert len(found) == 9


async def test_a_baseline_break_held_per_rule(
    setup: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """careful-staging holds baseline breaks in staging: with nobody to
    approve, the hold times out and kubectl is told so."""
    del setup  # its environment only: this config holds a hold timeout
    (tmp_path / "c").mkdir()
    certs = make_certs(tmp_path / "c")
    text = kube_config_text(standin, certs)
    text = text.replace('approvers = ["security"]', 'approvers = ["security"]\nhold_timeout = "1s"')
    config = load_config_text(text, base_dir=tmp_path)
    hub = ApprovalHub(open_store(config.gateway.state, tmp_path))
    await nursery.start(hub.run)
    gw = await start_kube_gateway(nursery, config, certs.ca, approvals=hub)
    kc = gw.kubeconfig(tmp_path, gw.token(groups=("careful",)))
    rc, _, err = await run(
        kc,
        "create",
        "--validate=false",
        "-n",
        "staging",
        "-f",
        "-",
        stdin=json.dumps(pod("p", hostNetwork=True)),
    )
    assert rc == 1
    assert "Forbidden" in err
    decided = [d for d in events(gw, "decision") if d["commands"] == ["create pods -n staging"]]
    assert [(d["action"], d["rule"]) for d in decided] == [("hold", "careful-staging")]
    assert not [c for c in standin.calls() if c["method"] == "POST"]
    rc, _out, err = await run(
        kc, "create", "--validate=false", "-n", "staging", "-f", "-", stdin=json.dumps(pod("q"))
    )
    assert rc == 0, err


async def test_a_denied_write_gets_no_dry_run(
    setup: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """A patch the rules deny is refused before any dry run: limen's
    credential never answers a refused bot whether the object exists."""
    config, ca = setup
    gw = await start_kube_gateway(nursery, config, ca)
    headers = {
        "Authorization": f"Bearer {gw.token()}",
        "Content-Type": "application/strategic-merge-patch+json",
    }
    verify = ssl.create_default_context(cafile=str(ca))
    async with httpx.AsyncClient(verify=verify) as client:
        url = f"{gw.server}/api/v1/namespaces/prod/pods/ghost"
        r = await client.patch(url, content=b'{"spec":{"hostPID":true}}', headers=headers)
    assert r.status_code == 403
    assert "no rule allows patch pods ghost -n prod" in r.json()["message"]
    assert not [c for c in standin.calls() if c["method"] == "PATCH"]


async def test_a_held_privileged_pod_runs_once_approved(
    setup: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """careful-staging holds a baseline break: kubectl waits; once a human
    approves, the pod is created with the body limen judged."""
    del setup  # its environment only
    (tmp_path / "c").mkdir()
    certs = make_certs(tmp_path / "c")
    config = load_config_text(kube_config_text(standin, certs), base_dir=tmp_path)
    hub = ApprovalHub(open_store(config.gateway.state, tmp_path), poll_interval=0.05)
    await nursery.start(hub.run)
    gw = await start_kube_gateway(nursery, config, certs.ca, approvals=hub)
    kc = gw.kubeconfig(tmp_path, gw.token(groups=("careful",)))
    result: list[tuple[int, str, str]] = []
    manifest = json.dumps(pod("p", hostNetwork=True))
    async with trio.open_nursery() as inner:

        async def create() -> None:
            args = ("create", "--validate=false", "-n", "staging", "-f", "-")
            result.append(await run(kc, *args, stdin=manifest))

        inner.start_soon(create)
        with trio.fail_after(15):
            while not (reqs := await trio.to_thread.run_sync(hub.store.approvals)):
                await trio.sleep(0.05)
        approval = reqs[0]
        assert approval.statement == "create pods -n staging"
        assert approval.protocol == "kubernetes"
        assert not [c for c in standin.calls() if c["method"] == "POST"]  # waits
        hub.store.approval_vote(approval.id, approver="sam", approve=True, now=time.time())
    ((rc, out, err),) = result
    assert rc == 0, err
    assert out.strip() == "pod/p created"
    (posted,) = [c for c in standin.calls() if c["method"] == "POST"]
    assert "dryRun" not in posted["query"]


async def test_refusal_to_a_client_waiting_for_100_continue(
    setup: tuple[Any, Path], standin: StandIn, nursery: trio.Nursery
) -> None:
    """A refused write whose client waits for ``100 Continue`` (its body
    not sent): limen answers the Status and closes, without waiting for a
    body it never asked for."""
    config, ca = setup
    gw = await start_kube_gateway(nursery, config, ca)
    context = ssl.create_default_context(cafile=str(ca))
    tcp = await trio.open_tcp_stream("127.0.0.1", gw.port)
    conn = trio.SSLStream(tcp, context, server_hostname="127.0.0.1")
    head = (
        "POST /r/cluster/api/v1/namespaces/prod/pods HTTP/1.1\r\n"
        "Host: limen\r\n"
        f"Authorization: Bearer {gw.token()}\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 100\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    await conn.send_all(head.encode())
    answer = b""
    with trio.fail_after(15):  # the connection ends: no body is waited for
        try:
            while chunk := await conn.receive_some(65536):
                answer += chunk
        except trio.BrokenResourceError:  # closed without close_notify
            pass
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 403")
    assert b"connection: close" in rest.lower()
    assert b"no rule allows create pods -n prod" in rest
    assert not [c for c in standin.calls() if c["method"] == "POST"]
