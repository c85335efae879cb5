"""Debian's kubectl against the stand-in API server (tests/kube_standin.py)
directly over HTTPS: the stand-in is what the kubernetes gateway's tests put
behind limen, so kubectl must work against it unchanged first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kube_support import Kubectl, StandIn, deployment, direct_kubeconfig, need_kubectl, pod, standin

pytestmark = pytest.mark.integration
__all__ = ["standin"]


@pytest.fixture
def kubectl(standin: StandIn, tmp_path: Path) -> Kubectl:
    need_kubectl()
    standin.reset()
    return Kubectl(direct_kubeconfig(tmp_path, standin))


def test_discovery_and_version(kubectl: Kubectl) -> None:
    out = kubectl.run("version")
    assert "Server Version: v1.32.0-standin" in out
    resources = kubectl.run("api-resources", "--no-headers")
    assert "deployments" in resources
    assert "cronjobs" in resources
    assert "pods" in resources


def test_crud_of_pods_and_deployments(kubectl: Kubectl) -> None:
    assert "No resources found" in kubectl.result("get", "pods", "-n", "dev").stderr
    out = kubectl.run(
        "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(pod("web"))
    )
    assert out.strip() == "pod/web created"
    listed = kubectl.run("get", "pods", "-n", "dev")
    assert listed.splitlines()[0].split()[0] == "NAME"
    assert "web" in listed
    assert (
        kubectl.json("get", "pod", "web", "-n", "dev")["spec"]["containers"][0]["image"] == "nginx"
    )
    assert "No resources found" in kubectl.result("get", "pods", "-n", "other").stderr
    assert "web" in kubectl.run("get", "pods", "-A")
    created = kubectl.run(
        "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(deployment("api"))
    )
    assert created.strip() == "deployment.apps/api created"
    assert "api" in kubectl.run("get", "deployments", "-n", "dev")
    assert kubectl.run("delete", "pod", "web", "-n", "dev").strip() == 'pod "web" deleted'
    missing = kubectl.result("get", "pod", "web", "-n", "dev")
    assert missing.returncode != 0
    assert "NotFound" in missing.stderr


def test_patch_types(kubectl: Kubectl) -> None:
    kubectl.run("create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(pod("p")))
    strategic = '{"spec":{"containers":[{"name":"app","image":"nginx:2"}]}}'
    kubectl.run("patch", "pod", "p", "-n", "dev", "-p", strategic)
    spec = kubectl.json("get", "pod", "p", "-n", "dev")["spec"]
    assert spec["containers"] == [{"name": "app", "image": "nginx:2"}]  # merged by name
    patch = '[{"op":"add","path":"/spec/hostPID","value":true}]'
    kubectl.run("patch", "pod", "p", "-n", "dev", "--type=json", "-p", patch)
    kubectl.run(
        "patch", "pod", "p", "-n", "dev", "--type=merge", "-p", '{"metadata":{"labels":{"a":"b"}}}'
    )
    got = kubectl.json("get", "pod", "p", "-n", "dev")
    assert got["spec"]["hostPID"] is True
    assert got["metadata"]["labels"] == {"a": "b"}


def test_server_side_dry_run_stores_nothing(kubectl: Kubectl, standin: StandIn) -> None:
    out = kubectl.run(
        "create",
        "--validate=false",
        "--dry-run=server",
        "-n",
        "dev",
        "-f",
        "-",
        stdin=json.dumps(pod("ghost")),
    )
    assert "pod/ghost created (server dry run)" in out
    assert "No resources found" in kubectl.result("get", "pods", "-n", "dev").stderr
    kubectl.run("create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(pod("p")))
    kubectl.run(
        "patch",
        "pod",
        "p",
        "-n",
        "dev",
        "--dry-run=server",
        "--type=merge",
        "-p",
        '{"spec":{"hostNetwork":true}}',
    )
    assert "hostNetwork" not in kubectl.json("get", "pod", "p", "-n", "dev")["spec"]
    dry = [c for c in standin.calls() if "dryRun=All" in c["query"]]
    assert [c["method"] for c in dry] == ["POST", "PATCH"]


def test_the_standin_wants_the_cluster_token(standin: StandIn, tmp_path: Path) -> None:
    need_kubectl()
    path = direct_kubeconfig(tmp_path, standin)
    path.write_text(path.read_text().replace('"token": "', '"token": "wrong-'))
    out = Kubectl(path).result("get", "pods", "-n", "dev")
    assert out.returncode != 0
    assert "You must be logged in" in out.stderr
