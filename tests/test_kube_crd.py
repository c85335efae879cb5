"""Custom resources that embed pod specs are judged by the Pod Security
check too: found by shape wherever they are (an Argo Rollout's
``spec.template``, a pod spec in a list deep in an unknown CRD), fail
closed (too deep is refused), with kubectl through limen to the stand-in
serving the CRDs (create, and a merge patch judged on its dry run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from http_support import make_certs
from kube_support import (
    CLUSTER_TOKEN,
    StandIn,
    akubectl,
    kube_config_text,
    need_kubectl,
    standin,
    start_kube_gateway,
)
from limen.config import load_config_text
from limen.gateway.kube.writes import pod_write
from limen.policy.kube import KubeRequest, holds_pods, pod_specs, violations

__all__ = ["standin"]
PRIV = {"securityContext": {"privileged": True}}
CRD_RULE = """
[[rules]]
name = "crds-dev"
groups = ["ci"]
resources = ["cluster"]
allow_commands = ["get,list,create,update,patch rollouts.argoproj.io,workerpools.example.com dev"]
"""


def rollout(name: str, **spec: Any) -> dict[str, Any]:
    template: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx"}]}
    template.update(spec)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "strategy": {"canary": {"steps": [{"setWeight": 20}]}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": template},
        },
    }


def workerpool(name: str, pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "WorkerPool",
        "metadata": {"name": name},
        "spec": {"pools": [{"size": 1}, {"size": 2, "worker": {"podSpec": pod_spec}}]},
    }


def test_which_resources_are_searched() -> None:
    assert holds_pods("rollouts.argoproj.io")
    assert holds_pods("deployments.apps")
    assert not holds_pods("configmaps")
    assert not holds_pods("ingresses.networking.k8s.io")

    def call(verb: str, group: str, resource: str, sub: str = "") -> KubeRequest:
        return KubeRequest(verb, group, "v1", resource, sub, "dev", "r")

    assert pod_write(call("create", "argoproj.io", "rollouts")) == "rollouts.argoproj.io"
    assert pod_write(call("patch", "example.com", "workerpools")) == "workerpools.example.com"
    assert pod_write(call("update", "argoproj.io", "rollouts", "status")) is None
    assert pod_write(call("delete", "argoproj.io", "rollouts")) is None
    assert pod_write(call("create", "", "configmaps")) is None


def test_pod_specs_found_by_shape() -> None:
    specs = pod_specs("rollouts.argoproj.io", rollout("r", hostPID=True))
    assert [(meta, spec.get("hostPID")) for meta, spec in specs] == [
        ({"labels": {"app": "r"}}, True)
    ]
    deep = workerpool("w", {"initContainers": [{"name": "i", **PRIV}], "containers": []})
    assert violations("workerpools.example.com", deep) == ["initContainers[i]: privileged"]
    cron_like = {
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "c",
                                    "image": "x",
                                    "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}},
                                }
                            ]
                        }
                    }
                }
            }
        }
    }
    assert any("SYS_ADMIN" in v for v in violations("cronish.example.com", cron_like))
    # a list of names is not a pod spec; the same shape in a built-in group is not searched
    names = {"spec": {"containers": ["a", "b"], "hostNetwork": True}}
    assert violations("things.example.com", names) == []
    assert violations("configmaps", rollout("r", hostPID=True)) == []
    assert violations("rollouts.argoproj.io", rollout("r")) == []


def test_too_deep_is_refused() -> None:
    obj: dict[str, Any] = {"containers": [{"name": "c", **PRIV}]}
    for _ in range(70):
        obj = {"x": obj}
    found = violations("deep.example.com", obj)
    assert found
    assert "cannot be read" in found[0]
    assert "deeper than 64" in found[0]


@given(st.lists(st.one_of(st.none(), st.text(min_size=1, max_size=8)), max_size=30))
def test_a_privileged_pod_spec_anywhere_is_found(path: list[str | None]) -> None:
    """However deep (up to the limit) and under whatever keys or list
    positions a custom resource puts a pod spec, it is checked."""
    obj: Any = {"containers": [{"name": "c", "image": "x", **PRIV}]}
    for step in reversed(path):
        obj = [{"pad": 1}, obj] if step is None else {step: obj}
    assert "containers[c]: privileged" in violations("things.example.com", {"spec": obj})


@pytest.fixture
def setup(standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Path]:
    need_kubectl()
    standin.reset()
    monkeypatch.setenv("LIMEN_TEST_KUBE_TOKEN", CLUSTER_TOKEN)
    certs = make_certs(tmp_path)
    text = kube_config_text(standin, certs, CRD_RULE)
    return load_config_text(text, base_dir=tmp_path), certs.ca


@pytest.mark.integration
async def test_kubectl_custom_resources_judged(
    setup: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    config, ca = setup
    gw = await start_kube_gateway(nursery, config, ca)
    kc = gw.kubeconfig(tmp_path, gw.token())

    async def create(obj: dict[str, Any]) -> Any:
        with trio.fail_after(60):
            return await akubectl(
                kc, "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(obj)
            )

    made = await create(rollout("plain"))
    assert made.returncode == 0, made.stderr
    assert b"rollout.argoproj.io/plain created" in made.stdout
    refused = await create(
        rollout("sneaky", initContainers=[{"name": "init", "image": "x", **PRIV}])
    )
    assert refused.returncode == 1
    assert b"baseline profile: initContainers[init]: privileged" in refused.stderr
    refused = await create(workerpool("pool", {"hostPID": True, "containers": [{"name": "w"}]}))
    assert refused.returncode == 1
    assert b"hostPID" in refused.stderr
    made = await create(workerpool("calm", {"containers": [{"name": "w", "image": "x"}]}))
    assert made.returncode == 0, made.stderr
    # a merge patch that adds a privileged container: judged on the dry run's object
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x", **PRIV}]}}}
    }
    with trio.fail_after(60):
        patched = await akubectl(
            kc, "patch", "rollout", "plain", "-n", "dev", "--type", "merge", "-p", json.dumps(patch)
        )
    assert patched.returncode == 1
    assert b"containers[app]: privileged" in patched.stderr
    calls = standin.calls()
    writes = [(c["method"], c["path"], c["query"]) for c in calls if c["method"] != "GET"]
    dry = [(m, p) for m, p, q in writes if q.endswith("dryRun=All")]
    assert dry == [("PATCH", "/apis/argoproj.io/v1alpha1/namespaces/dev/rollouts/plain")]
    # only the allowed objects were sent for real; the patch never was
    real = [(m, p) for m, p, q in writes if "dryRun" not in q]
    assert real == [
        ("POST", "/apis/argoproj.io/v1alpha1/namespaces/dev/rollouts"),
        ("POST", "/apis/example.com/v1/namespaces/dev/workerpools"),
    ]
