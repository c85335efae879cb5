"""The Kubernetes Pod Security Standards on the objects a write would make.

:func:`pod_specs` finds the pod specs (and their metadata) in an object by
the resource it is written to: a Pod's own, a workload's pod template
(Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController,
Job, PodTemplate) and a CronJob's job template's. A resource of a group
Kubernetes does not serve itself (a custom resource: Argo Rollouts,
Knative, any operator's) is searched by shape, fail closed: every object
in it with a container list that holds an object is a pod spec and is
checked, wherever it is (no list of paths to keep up to date; a CRD that
calls something else ``containers`` is checked too). :func:`violations` checks
each against the "baseline" profile, and with ``restricted`` the
"restricted" one too, in all three container lists (``containers``,
``initContainers``, ``ephemeralContainers``):

baseline
    host namespaces (``hostNetwork``, ``hostPID``, ``hostIPC``), Windows
    host processes, ``privileged``, capabilities added beyond the baseline
    list, ``hostPath`` volumes, host ports, AppArmor unconfined (field or
    annotation), SELinux types and users beyond the container ones,
    ``procMount`` other than ``Default``, seccomp ``Unconfined``, sysctls
    outside the safe set.
restricted
    volume types beyond the safe list, ``allowPrivilegeEscalation`` not
    false, ``runAsNonRoot`` not true, ``runAsUser: 0``, no seccomp profile
    (RuntimeDefault or Localhost), capabilities not dropping ``ALL`` or
    adding other than ``NET_BIND_SERVICE``.

Fail closed: a field of an unexpected type (``privileged: "yes"``, a list
where an object belongs) counts as a violation, so an object the API server
would read differently from limen is refused rather than let through.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

__all__ = ["BUILTIN_GROUPS", "MAX_DEPTH", "POD_RESOURCES", "holds_pods", "pod_specs", "violations"]

#: Qualified resources (``resource[.group]``) whose objects hold pod specs,
#: and the keys from the object to its pod template (metadata + spec).
POD_RESOURCES: Final[dict[str, tuple[str, ...]]] = {
    "pods": (),
    "deployments.apps": ("spec", "template"),
    "statefulsets.apps": ("spec", "template"),
    "daemonsets.apps": ("spec", "template"),
    "replicasets.apps": ("spec", "template"),
    "replicationcontrollers": ("spec", "template"),
    "podtemplates": ("template",),
    "jobs.batch": ("spec", "template"),
    "cronjobs.batch": ("spec", "jobTemplate", "spec", "template"),
}
#: The API groups Kubernetes itself serves: their resources hold pods only
#: when :data:`POD_RESOURCES` says so. Any other group (custom resources,
#: aggregated APIs) is searched by shape.
BUILTIN_GROUPS: Final = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
    }
)
#: Nesting searched for pod specs in a custom resource; deeper is refused.
MAX_DEPTH: Final = 64
_BASELINE_CAPS: Final = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
_SAFE_SYSCTLS: Final = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
_SELINUX_TYPES: Final = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
_RESTRICTED_VOLUMES: Final = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
_CONTAINER_LISTS: Final = ("containers", "initContainers", "ephemeralContainers")
_APPARMOR_PREFIX: Final = "container.apparmor.security.beta.kubernetes.io/"


class _Bad(Exception):
    """A field of the wrong type: a violation of its own."""


def _obj(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(f"{where} is not an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"{where} is not a list")
    return value


def _flag(value: Any, where: str) -> bool:
    """True when a dangerous boolean is set (or is not a boolean)."""
    if value is None or value is False:
        return False
    if value is True:
        return True
    raise _Bad(f"{where} is not a boolean")


def holds_pods(resource: str) -> bool:
    """Whether objects of ``resource`` (``plural[.group]``) may hold pod
    specs: the built-in workloads, and every resource of a group that is
    not built in (searched by shape)."""
    group = resource.partition(".")[2]
    return resource in POD_RESOURCES or group not in BUILTIN_GROUPS


def pod_specs(resource: str, obj: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(metadata, spec) of each pod ``obj`` would run, when ``resource``
    (qualified, without subresource) holds pods; ``[]`` otherwise. A
    malformed object raises ``ValueError``."""
    try:
        if resource in POD_RESOURCES:
            here = _obj(obj, "the object")
            for key in POD_RESOURCES[resource]:
                here = _obj(here.get(key), key)
            return [(_obj(here.get("metadata"), "metadata"), _obj(here.get("spec"), "spec"))]
        if holds_pods(resource):
            return _shaped(_obj(obj, "the object"))
    except _Bad as exc:
        raise ValueError(str(exc)) from None
    return []


def _shaped(obj: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every object within ``obj`` shaped like a pod spec: one with a
    ``containers``, ``initContainers`` or ``ephemeralContainers`` list
    that holds an object (the custom resource's pod template, wherever it
    is: ``spec.template.spec``, ``spec.jobTemplate.spec.template.spec``,
    ``spec.workers[0].podSpec``...), with the ``metadata`` beside it when
    its parent has one. Nesting past :data:`MAX_DEPTH` is refused."""
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    stack: list[tuple[Any, dict[str, Any], int]] = [(obj, {}, 0)]
    while stack:
        value, meta, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _Bad(f"the object nests deeper than {MAX_DEPTH}")
        if isinstance(value, list):
            stack += [(item, {}, depth + 1) for item in value]
            continue
        if not isinstance(value, dict):
            continue
        if any(
            isinstance(value.get(field), list) and any(isinstance(c, dict) for c in value[field])
            for field in _CONTAINER_LISTS
        ):
            out.append((meta, value))
        beside = value.get("metadata")
        beside = beside if isinstance(beside, dict) else {}
        stack += [(child, beside, depth + 1) for child in value.values()]
    return out


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in _CONTAINER_LISTS:
        for i, c in enumerate(_list(spec.get(field), field)):
            c = _obj(c, f"{field}[{i}]")
            name = c.get("name")
            yield f"{field}[{name if isinstance(name, str) else i}]", c


def violations(resource: str, obj: Any, *, restricted: bool = False) -> list[str]:
    """What in ``obj`` breaks the profile (``[]``: nothing), one line each
    (``containers[app]: privileged``)."""
    try:
        specs = pod_specs(resource, obj)
    except ValueError as exc:
        return [f"the object cannot be read: {exc}"]
    out: list[str] = []
    for meta, spec in specs:
        try:
            out += _baseline(meta, spec)
            if restricted:
                out += _restricted(spec)
        except _Bad as exc:
            out.append(f"a field limen cannot read: {exc}")
    return out


def _security(holder: dict[str, Any], where: str) -> dict[str, Any]:
    return _obj(holder.get("securityContext"), f"{where}.securityContext")


def _profile_checks(sc: dict[str, Any], where: str, out: list[str]) -> None:
    """seccomp, AppArmor, SELinux, Windows host process: pod or container."""
    seccomp = _obj(sc.get("seccompProfile"), f"{where}.seccompProfile")
    if seccomp.get("type") == "Unconfined":
        out.append(f"{where}: seccomp Unconfined")
    apparmor = _obj(sc.get("appArmorProfile"), f"{where}.appArmorProfile")
    if apparmor.get("type") not in (None, "RuntimeDefault", "Localhost"):
        out.append(f"{where}: AppArmor {apparmor.get('type')}")
    selinux = _obj(sc.get("seLinuxOptions"), f"{where}.seLinuxOptions")
    if selinux.get("type", "") not in _SELINUX_TYPES:
        out.append(f"{where}: SELinux type {selinux.get('type')}")
    if selinux.get("user") or selinux.get("role"):
        out.append(f"{where}: SELinux user or role set")
    windows = _obj(sc.get("windowsOptions"), f"{where}.windowsOptions")
    if _flag(windows.get("hostProcess"), f"{where}.hostProcess"):
        out.append(f"{where}: Windows hostProcess")


def _baseline(meta: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if _flag(spec.get(field), field):
            out.append(f"pod: {field}")
    pod_sc = _security(spec, "pod")
    _profile_checks(pod_sc, "pod", out)
    for i, sysctl in enumerate(_list(pod_sc.get("sysctls"), "sysctls")):
        name = _obj(sysctl, f"sysctls[{i}]").get("name")
        if name not in _SAFE_SYSCTLS:
            out.append(f"pod: sysctl {name}")
    for i, vol in enumerate(_list(spec.get("volumes"), "volumes")):
        vol = _obj(vol, f"volumes[{i}]")
        if vol.get("hostPath") is not None:
            out.append(f"volumes[{vol.get('name', i)}]: hostPath")
    annotations = _obj(meta.get("annotations"), "annotations")
    for key, value in annotations.items():
        if key.startswith(_APPARMOR_PREFIX) and not (
            value == "runtime/default"
            or (isinstance(value, str) and value.startswith("localhost/"))
        ):
            out.append(f"annotation {key}: AppArmor {value}")
    for where, c in _containers(spec):
        sc = _security(c, where)
        if _flag(sc.get("privileged"), f"{where}.privileged"):
            out.append(f"{where}: privileged")
        caps = _obj(sc.get("capabilities"), f"{where}.capabilities")
        for cap in _list(caps.get("add"), f"{where}.capabilities.add"):
            if cap not in _BASELINE_CAPS:
                out.append(f"{where}: capability {cap}")
        if sc.get("procMount") not in (None, "Default"):
            out.append(f"{where}: procMount {sc.get('procMount')}")
        _profile_checks(sc, where, out)
        for j, port in enumerate(_list(c.get("ports"), f"{where}.ports")):
            host_port = _obj(port, f"{where}.ports[{j}]").get("hostPort")
            if host_port not in (None, 0):
                out.append(f"{where}: hostPort {host_port}")
    return out


def _restricted(spec: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for i, vol in enumerate(_list(spec.get("volumes"), "volumes")):
        vol = _obj(vol, f"volumes[{i}]")
        kinds = [k for k in vol if k != "name"]
        for k in kinds:
            if k not in _RESTRICTED_VOLUMES and k != "hostPath":  # hostPath: baseline's
                out.append(f"volumes[{vol.get('name', i)}]: volume type {k}")
    pod_sc = _security(spec, "pod")
    pod_non_root = pod_sc.get("runAsNonRoot") is True
    pod_seccomp = _obj(pod_sc.get("seccompProfile"), "pod.seccompProfile").get("type")
    if pod_sc.get("runAsUser") == 0:
        out.append("pod: runAsUser 0")
    for where, c in _containers(spec):
        sc = _security(c, where)
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}: allowPrivilegeEscalation is not false")
        non_root = sc.get("runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            out.append(f"{where}: runAsNonRoot is not true")
        if sc.get("runAsUser") == 0:
            out.append(f"{where}: runAsUser 0")
        seccomp = _obj(sc.get("seccompProfile"), f"{where}.seccompProfile").get("type")
        if (seccomp or pod_seccomp) not in ("RuntimeDefault", "Localhost"):
            out.append(f"{where}: no RuntimeDefault or Localhost seccomp profile")
        caps = _obj(sc.get("capabilities"), f"{where}.capabilities")
        if "ALL" not in _list(caps.get("drop"), f"{where}.capabilities.drop"):
            out.append(f"{where}: capabilities do not drop ALL")
        for cap in _list(caps.get("add"), f"{where}.capabilities.add"):
            if cap != "NET_BIND_SERVICE":
                out.append(f"{where}: restricted capability {cap}")
    return out
