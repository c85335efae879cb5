"""The Pod Security Standards checks on the objects a write would make:
every baseline control in all three container lists and in every pod
template shape, the restricted profile, and fields of unexpected types
counted as violations (fail closed)."""

from __future__ import annotations

from typing import Any

import pytest

from kube_support import deployment, pod
from limen.policy.kube import violations


def cronjob(**spec: Any) -> dict[str, Any]:
    template = deployment("x", **spec)["spec"]["template"]
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}},
    }


PRIV = {"securityContext": {"privileged": True}}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"hostPID": True}, "pod: hostPID"),
        ({"hostNetwork": True}, "pod: hostNetwork"),
        ({"hostIPC": True}, "pod: hostIPC"),
        ({"containers": [{"name": "a", **PRIV}]}, "containers[a]: privileged"),
        ({"initContainers": [{"name": "i", **PRIV}]}, "initContainers[i]: privileged"),
        ({"ephemeralContainers": [{"name": "e", **PRIV}]}, "ephemeralContainers[e]: privileged"),
        (
            {
                "containers": [
                    {"name": "a", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}
                ]
            },
            "containers[a]: capability SYS_ADMIN",
        ),
        ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, "volumes[root]: hostPath"),
        (
            {"containers": [{"name": "a", "ports": [{"containerPort": 80, "hostPort": 80}]}]},
            "containers[a]: hostPort 80",
        ),
        (
            {"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}},
            "pod: sysctl kernel.msgmax",
        ),
        (
            {"containers": [{"name": "a", "securityContext": {"procMount": "Unmasked"}}]},
            "containers[a]: procMount Unmasked",
        ),
        (
            {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
            "pod: seccomp Unconfined",
        ),
        (
            {
                "containers": [
                    {"name": "a", "securityContext": {"appArmorProfile": {"type": "Unconfined"}}}
                ]
            },
            "containers[a]: AppArmor Unconfined",
        ),
        ({"securityContext": {"seLinuxOptions": {"type": "spc_t"}}}, "pod: SELinux type spc_t"),
        (
            {"securityContext": {"windowsOptions": {"hostProcess": True}}},
            "pod: Windows hostProcess",
        ),
        ({"hostPID": "true"}, "a field limen cannot read: hostPID is not a boolean"),
        ({"containers": {"name": "a"}}, "a field limen cannot read: containers is not a list"),
    ],
)
def test_baseline_controls(spec: dict[str, Any], expected: str) -> None:
    for resource, obj in (
        ("pods", pod("p", **spec)),
        ("deployments.apps", deployment("d", **spec)),
        ("cronjobs.batch", cronjob(**spec)),
    ):
        assert expected in violations(resource, obj), resource


def test_baseline_allows_plain_pods_and_the_baseline_list() -> None:
    ok = pod(
        "p",
        containers=[
            {
                "name": "a",
                "image": "nginx",
                "ports": [{"containerPort": 80}],
                "securityContext": {
                    "privileged": False,
                    "capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            }
        ],
        securityContext={"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]},
        volumes=[{"name": "tmp", "emptyDir": {}}],
    )
    assert violations("pods", ok) == []
    assert violations("services", {"spec": {"hostPID": True}}) == []  # holds no pods


def test_apparmor_annotation() -> None:
    obj = pod("p")
    key = "container.apparmor.security.beta.kubernetes.io/app"
    obj["metadata"]["annotations"] = {key: "unconfined"}
    assert violations("pods", obj) == [f"annotation {key}: AppArmor unconfined"]
    obj["metadata"]["annotations"] = {key: "runtime/default"}
    assert violations("pods", obj) == []


def test_restricted() -> None:
    plain = pod("p")
    assert violations("pods", plain) == []
    found = violations("pods", plain, restricted=True)
    assert "containers[app]: allowPrivilegeEscalation is not false" in found
    assert "containers[app]: runAsNonRoot is not true" in found
    assert "containers[app]: capabilities do not drop ALL" in found
    hardened = pod(
        "p",
        securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        containers=[
            {
                "name": "app",
                "image": "nginx",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                },
            }
        ],
        volumes=[{"name": "c", "configMap": {"name": "x"}}],
    )
    assert violations("pods", hardened, restricted=True) == []
    hardened["spec"]["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}})
    assert violations("pods", hardened, restricted=True) == ["volumes[n]: volume type nfs"]


def test_an_unreadable_object_is_a_violation() -> None:
    assert violations("pods", ["not", "an", "object"]) != []
    assert violations("deployments.apps", {"spec": {"template": "x"}}) != []
