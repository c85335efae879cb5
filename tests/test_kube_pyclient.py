"""The `kubernetes` Python client through limen's Kubernetes listener (the
issue's second client beside kubectl): lists in an allowed namespace,
a 403 Status it reads in another, a privileged pod refused as a create and
as a strategic merge patch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from http_support import make_certs
from kube_support import CLUSTER_TOKEN, StandIn, kube_config_text, pod, standin, start_kube_gateway
from limen.config import load_config_text

kubernetes = pytest.importorskip("kubernetes")

pytestmark = pytest.mark.integration
__all__ = ["standin"]


def _api(server: str, ca: Path, token: str) -> Any:
    cfg = kubernetes.client.Configuration()
    cfg.host = server
    cfg.ssl_ca_cert = str(ca)
    cfg.api_key = {"authorization": f"Bearer {token}"}
    return kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(cfg))


async def test_python_client_through_limen(
    standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nursery: trio.Nursery
) -> None:
    standin.reset()
    monkeypatch.setenv("LIMEN_TEST_KUBE_TOKEN", CLUSTER_TOKEN)
    certs = make_certs(tmp_path)
    config = load_config_text(kube_config_text(standin, certs), base_dir=tmp_path)
    gw = await start_kube_gateway(nursery, config, certs.ca)
    api = _api(gw.server, certs.ca, gw.token())
    ApiException = kubernetes.client.exceptions.ApiException

    def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        api.create_namespaced_pod("dev", pod("web"))
        out["names"] = [p.metadata.name for p in api.list_namespaced_pod("dev").items]
        try:
            api.list_namespaced_pod("prod")
        except ApiException as exc:
            out["prod"] = (exc.status, json.loads(exc.body))
        priv = pod(
            "evil",
            containers=[{"name": "a", "image": "x", "securityContext": {"privileged": True}}],
        )
        try:
            api.create_namespaced_pod("dev", priv)
        except ApiException as exc:
            out["create"] = (exc.status, json.loads(exc.body))
        patch = {"spec": {"containers": [{"name": "app", "securityContext": {"privileged": True}}]}}
        try:
            api.patch_namespaced_pod("web", "dev", patch)  # strategic merge by default
        except ApiException as exc:
            out["patch"] = (exc.status, json.loads(exc.body))
        return out

    out = await trio.to_thread.run_sync(scenario)
    assert out["names"] == ["web"]
    status, body = out["prod"]
    assert status == 403
    assert body["kind"] == "Status"
    assert body["reason"] == "Forbidden"
    assert "no rule allows list pods -n prod" in body["message"]
    assert out["create"][0] == 403
    assert "containers[a]: privileged" in out["create"][1]["message"]
    assert out["patch"][0] == 403
    assert "containers[app]: privileged" in out["patch"][1]["message"]
