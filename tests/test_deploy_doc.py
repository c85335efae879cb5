"""docs/deploy.md's snippets are valid where a tool here can tell: the
HAProxy config (``haproxy -c``, as written and as the fleet test runs it),
the limen config (limen's own checker), the systemd unit
(``systemd-analyze verify``, with ExecStart pointed at this limen) and the
Kubernetes manifests (YAML, the kinds and the probes the doc promises)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from haproxy_support import doc_blocks, haproxy_config
from limen.config import load_config_data

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def _haproxy_check(config: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    return subprocess.run([HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True)


@pytest.mark.skipif(not Path(HAPROXY).exists(), reason="haproxy is not installed")
def test_the_haproxy_config_is_valid_as_written_and_as_the_fleet_test_runs_it(
    tmp_path: Path,
) -> None:
    (doc,) = doc_blocks("haproxy")
    as_written = _haproxy_check(doc, tmp_path)
    assert as_written.returncode == 0, as_written.stdout + as_written.stderr
    tested = haproxy_config(16432, [(1, 2), (3, 4), (5, 6)])
    assert _haproxy_check(tested, tmp_path).returncode == 0
    # Only addresses differ between the two.
    changed = [(a, b) for a, b in zip(doc.splitlines(), tested.splitlines(), strict=True) if a != b]
    assert [a.split()[0] for a, _ in changed] == ["bind", "server", "server", "server"]
    assert "send-proxy-v2" in doc
    assert "uri /readyz" in doc


def test_the_limen_config_passes_limens_checker() -> None:
    (text,) = doc_blocks("toml")
    config = load_config_data(tomllib.loads(text))
    assert config.gateway.state.startswith("postgresql://")
    assert config.listeners.proxy_protocol_from == ["10.0.0.5/32"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    (unit,) = doc_blocks("ini")
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
    here = Path(sys.executable).parent / "limen"
    assert "ExecStart=/opt/limen/bin/limen serve" in unit
    path = tmp_path / "limen.service"
    path.write_text(unit.replace("/opt/limen/bin/limen", str(here)))
    done = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "limen.service" not in done.stderr, done.stderr  # no warning about the unit


def test_the_kubernetes_manifests_parse_and_probe_readyz() -> None:
    (text,) = doc_blocks("yaml")
    docs = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "PodDisruptionBudget"]
    deployment, service, budget = docs
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    ports = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert service["spec"]["selector"] == labels
    assert budget["spec"]["selector"]["matchLabels"] == labels
    assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    # A drain finishes before Kubernetes kills the pod.
    assert pod["spec"]["terminationGracePeriodSeconds"] > 30
    mounts = {m["name"] for m in container["volumeMounts"]}
    assert mounts == {v["name"] for v in pod["spec"]["volumes"]}


def test_the_containerfile_runs_limen_serve_unprivileged() -> None:
    (text,) = doc_blocks("dockerfile")
    lines = [line.split(maxsplit=1) for line in text.splitlines() if line and line[0] != " "]
    instructions = [parts[0] for parts in lines]
    assert instructions.count("FROM") == 2
    assert ["USER", "limen"] in lines
    assert lines[-1] == ["ENTRYPOINT", '["limen", "serve", "--config", "/etc/limen/limen.toml"]']
