"""kubectl exec through limen over WebSocket (v5.channel.k8s.io): judged
before the upgrade (refused in a namespace no rule allows), relayed once
allowed, stdout masked as it streams (a secret the command prints never
reaches kubectl), stdin recorded, and a frame limen cannot read refused."""

from __future__ import annotations

import contextlib
import json
import ssl
from pathlib import Path
from typing import Any

import httpx
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
    pod,
    standin,
    start_kube_gateway,
)
from limen.config import load_config_text
from limen.gateway.wsframes import BINARY, CLOSE, Frame, FrameError, FrameReader, encode
from limen.recording import Kind

pytestmark = pytest.mark.integration
__all__ = ["standin"]
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture
def config(standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Path]:
    need_kubectl()
    standin.reset()
    monkeypatch.setenv("LIMEN_TEST_KUBE_TOKEN", CLUSTER_TOKEN)
    certs = make_certs(tmp_path)
    return load_config_text(kube_config_text(standin, certs), base_dir=tmp_path), certs.ca


async def test_exec_relayed_masked_and_recorded(
    config: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    cfg, ca = config
    gw = await start_kube_gateway(nursery, cfg, ca)
    kc = gw.kubeconfig(tmp_path, gw.token())
    made = await akubectl(
        kc, "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(pod("web"))
    )
    assert made.returncode == 0, made.stderr
    done = await akubectl(kc, "exec", "web", "-n", "dev", "--", "echo", "hello", "world")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"hello world\n"
    done = await akubectl(kc, "exec", "web", "-n", "dev", "--", "echo", "key", AWS_KEY)
    assert done.returncode == 0, done.stderr
    assert AWS_KEY.encode() not in done.stdout
    assert done.stdout.startswith(b"key ")
    typed = "first line\nsecond line\n"
    done = await akubectl(kc, "exec", "-i", "web", "-n", "dev", "--", "cat", stdin=typed)
    assert done.returncode == 0, done.stderr
    assert done.stdout == typed.encode()
    verify = ssl.create_default_context(cafile=str(standin.certs.ca))
    async with httpx.AsyncClient(verify=verify) as client:  # a pod in prod, made directly
        r = await client.post(
            f"{standin.url}/api/v1/namespaces/prod/pods",
            json=pod("web"),
            headers={"Authorization": f"Bearer {CLUSTER_TOKEN}"},
        )
        assert r.status_code == 201
    refused = await akubectl(kc, "exec", "web", "-n", "prod", "--", "id")
    assert refused.returncode != 0
    assert b"no rule allows exec pods web -n prod" in refused.stderr
    websockets = [c for c in standin.calls() if c["method"] == "WEBSOCKET"]
    assert len(websockets) == 3  # the refused one never went upstream
    assert {c["authorization"] for c in websockets} == {f"Bearer {CLUSTER_TOKEN}"}
    recorded = b""
    kinds: list[str] = []
    for rec in gw.recorders:
        for kind, payload in rec.records:
            if kind in (Kind.C2U, Kind.U2C):
                recorded += payload
            if kind == Kind.EVENT:
                kinds.append(json.loads(payload).get("event", ""))
    assert b"first line\nsecond line\n" in recorded  # stdin, as typed
    assert b"hello world\n" in recorded
    assert AWS_KEY.encode() not in recorded
    assert kinds.count("kube_stream") == 6  # open and end, three times


def test_frames_round_trip_and_refusals() -> None:
    frames = [Frame(True, BINARY, b"\x01" + b"x" * n) for n in (0, 10, 200, 70000)]
    wire = b"".join(encode(f, mask_key=b"\x01\x02\x03\x04") for f in frames)
    reader = FrameReader(masked=True, limit=1 << 20)
    got: list[Frame] = []
    for i in range(0, len(wire), 777):  # in pieces, as they arrive
        got += reader.feed(wire[i : i + 777])
    assert got == frames
    with pytest.raises(FrameError):
        FrameReader(masked=True, limit=100).feed(encode(Frame(True, BINARY, b"y" * 200), b"abcd"))
    with pytest.raises(FrameError):  # a server frame must not be masked
        FrameReader(masked=False, limit=100).feed(encode(Frame(True, BINARY, b"y"), b"abcd"))
    with pytest.raises(FrameError):  # a fragmented control frame
        FrameReader(masked=False, limit=100).feed(encode(Frame(False, CLOSE, b"")))
    with pytest.raises(FrameError):  # reserved bits
        FrameReader(masked=False, limit=100).feed(b"\xc2\x00")


@given(st.binary(max_size=300))
def test_frame_reader_is_total(data: bytes) -> None:
    """Any bytes give frames or FrameError; never another error."""
    for masked in (True, False):
        with contextlib.suppress(FrameError):
            FrameReader(masked=masked, limit=1000).feed(data)


@given(
    st.lists(
        st.tuples(st.booleans(), st.sampled_from([0, 1, 2]), st.binary(max_size=300)), max_size=8
    ),
    st.binary(min_size=4, max_size=4),
)
def test_frame_round_trip_property(items: list[tuple[bool, int, bytes]], key: bytes) -> None:
    frames = [Frame(fin, op, payload) for fin, op, payload in items]
    wire = b"".join(encode(f, mask_key=key) for f in frames)
    assert FrameReader(masked=True, limit=1000).feed(wire) == frames
    plain = b"".join(encode(f) for f in frames)
    assert FrameReader(masked=False, limit=1000).feed(plain) == frames
