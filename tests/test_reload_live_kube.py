"""A reload's masks reach a live Kubernetes session (the gateway's reload,
:class:`limen.gateway.reload.Reloader`, the API server stand-in, a
kept-alive httpx connection): the next response is masked by the new
content and ``json:`` masks, on the same connection (one session)."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest
import trio

from http_support import make_certs
from kube_support import CLUSTER_TOKEN, StandIn, kube_config_text, pod, standin, start_kube_gateway
from limen.config import load_config_text
from limen.gateway.reload import Reloader

pytestmark = pytest.mark.integration
__all__ = ["standin"]

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
NOTE = "secret note of web"
CI_MASK = 'mask = ["builtin"]\nallow_commands = [\n    "exec pods dev",'


async def test_a_kept_alive_kube_session_takes_reloaded_masks(
    standin: StandIn, tmp_path: Path, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin.reset()
    monkeypatch.setenv("LIMEN_TEST_KUBE_TOKEN", CLUSTER_TOKEN)
    certs = make_certs(tmp_path)
    text = kube_config_text(standin, certs)
    assert CI_MASK in text

    def masks(mask: str) -> str:
        return text.replace(CI_MASK, CI_MASK.replace('mask = ["builtin"]', mask))

    path = tmp_path / "limen.toml"
    path.write_text(masks("mask = []"))
    gw = await start_kube_gateway(
        nursery, load_config_text(path.read_text(), base_dir=tmp_path), certs.ca
    )
    services = gw.gateway.services
    reloader = Reloader(path, services, [gw.gateway], log=services.log)
    body = pod("web")
    body["metadata"]["annotations"] = {"note": NOTE, "key": AWS_KEY}
    verify = ssl.create_default_context(cafile=str(certs.ca))
    headers = {"Authorization": f"Bearer {gw.token()}"}
    url = f"{gw.server}/api/v1/namespaces/dev/pods"
    async with httpx.AsyncClient(verify=verify, headers=headers, timeout=20) as client:
        made = await client.post(url, content=json.dumps(body))
        before = (await client.get(f"{url}/web")).text
        path.write_text(masks('mask = ["builtin", "json:$.metadata.annotations.note"]'))
        reloaded = reloader.reload()
        after = (await client.get(f"{url}/web")).text
    assert made.status_code == 201, made.text
    assert AWS_KEY in before
    assert NOTE in before
    assert reloaded.ok
    assert reloaded.sessions == 1
    assert AWS_KEY not in after
    assert NOTE not in after
    assert "[MASKED:json:$.metadata.annotations.note]" in after
    assert len(gw.recorders) == 1  # one connection, one session throughout
