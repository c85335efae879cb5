"""The cluster credential as a client certificate: limen presents the
resource's ``tls.cert_file``/``key_file`` to an API server that asks for
one (the stand-in under uvicorn with ``--ssl-cert-reqs 2``), and kubectl
through limen works with nothing but its limen token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from http_support import make_certs
from kube_support import StandIn, akubectl, need_kubectl, pod, standin_mtls, start_kube_gateway
from limen.config import load_config_text

pytestmark = pytest.mark.integration
__all__ = ["standin_mtls"]

CONFIG = """
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"

[listeners]
kubernetes = "127.0.0.1:0"
tls_cert = "{gw_cert}"
tls_key = "{gw_key}"

[identity.dev]
enabled = true

[[resources]]
name = "cluster"
protocol = "kubernetes"
upstream = "{url}"
tls = {{ ca_file = "{ca}", cert_file = "{cert}", key_file = "{key}" }}

[[rules]]
name = "ci-dev"
groups = ["ci"]
resources = ["cluster"]
allow_commands = ["* pods dev"]
"""


async def test_client_certificate_credential(
    standin_mtls: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    need_kubectl()
    standin = standin_mtls
    gw_certs = make_certs(tmp_path)
    text = CONFIG.format(
        gw_cert=gw_certs.cert,
        gw_key=gw_certs.key,
        url=standin.url,
        ca=standin.certs.ca,
        # the stand-in's own certificate, signed by its CA, serves as limen's client one
        cert=standin.certs.cert,
        key=standin.certs.key,
    )
    gw = await start_kube_gateway(nursery, load_config_text(text, base_dir=tmp_path), gw_certs.ca)
    kc = gw.kubeconfig(tmp_path, gw.token())
    made = await akubectl(
        kc, "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(pod("web"))
    )
    assert made.returncode == 0, made.stderr
    listed = await akubectl(kc, "get", "pods", "-n", "dev")
    assert listed.returncode == 0, listed.stderr
    assert b"web" in listed.stdout
    # without limen's certificate, the stand-in refuses the TLS handshake
    bare = await trio.run_process(
        [
            "curl",
            "-sS",
            "--cacert",
            str(standin.certs.ca),
            f"{standin.url}/api/v1/namespaces/dev/pods",
        ],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert bare.returncode != 0
