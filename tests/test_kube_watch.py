"""Watch streams through limen, masked and recorded one event at a time:
kubectl get -w and the kubernetes Python client's watch against the
stand-in (which cuts every event across two chunks), the json: masks
rooted at each event's object, and the event splitter's properties
(any cut of the stream gives the same output; what is not an event ends
the stream)."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from http_support import make_certs
from kube_support import (
    CLUSTER_TOKEN,
    KubeGw,
    StandIn,
    akubectl,
    kube_config_text,
    need_kubectl,
    pod,
    standin,
    start_kube_gateway,
)
from limen import _native
from limen.config import load_config_text
from limen.gateway.kube.watch import WatchError, WatchMasker
from limen.jsonmask import JsonMasker
from limen.recording import Kind

__all__ = ["standin"]
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
NOTE_RULE = """
[[rules]]
name = "notes-masked"
groups = ["ci"]
resources = ["cluster"]
mask = ["json:$.metadata.annotations.note"]
allow_commands = ["get pods dev"]
"""


def _pod(name: str) -> dict[str, Any]:
    body = pod(name)
    body["metadata"]["annotations"] = {"note": f"secret note of {name}", "key": AWS_KEY}
    return body


def _events(gw: KubeGw, name: str) -> list[dict[str, Any]]:
    out = []
    for rec in gw.recorders:
        for kind, payload in rec.records:
            if kind == Kind.EVENT and (obj := json.loads(payload)).get("event") == name:
                out.append(obj)
    return out


@pytest.fixture
def gw_config(
    standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Path]:
    need_kubectl()
    standin.reset()
    monkeypatch.setenv("LIMEN_TEST_KUBE_TOKEN", CLUSTER_TOKEN)
    certs = make_certs(tmp_path)
    text = kube_config_text(standin, certs, NOTE_RULE)
    return load_config_text(text, base_dir=tmp_path), certs.ca


@pytest.mark.integration
async def test_watch_masked_per_event(
    gw_config: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    cfg, ca = gw_config
    gw = await start_kube_gateway(nursery, cfg, ca)
    kc = gw.kubeconfig(tmp_path, gw.token())
    for name in ("web", "db"):
        made = await akubectl(
            kc, "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(_pod(name))
        )
        assert made.returncode == 0, made.stderr
    headers = {"Authorization": f"Bearer {gw.token()}"}
    verify = ssl.create_default_context(cafile=str(ca))
    async with httpx.AsyncClient(verify=verify, headers=headers) as client:
        # a secret-named query value is redacted in the recorded head
        query = "watch=true&sig=plainvalue42"
        r = await client.get(f"{gw.server}/api/v1/namespaces/dev/pods?{query}")
    assert r.status_code == 200
    lines = r.content.splitlines()
    events = [json.loads(line) for line in lines]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "db"),
        ("ADDED", "web"),
    ]
    notes = {e["object"]["metadata"]["annotations"]["note"] for e in events}
    assert notes == {"[MASKED:json:$.metadata.annotations.note]"}
    assert AWS_KEY.encode() not in r.content
    assert b"secret note" not in r.content
    # recorded: one u2c record per event, and a kube_watch event each
    watched = [(e["type"], e["name"]) for e in _events(gw, "kube_watch")]
    assert watched == [("ADDED", "db"), ("ADDED", "web")]
    records = [p for rec in gw.recorders for k, p in rec.records if k == Kind.U2C]
    assert [p for p in records if p.startswith(b'{"type":"ADDED"')] == [
        line + b"\n" for line in lines
    ]
    assert all(AWS_KEY.encode() not in p and b"secret note" not in p for p in records)
    heads = [p for rec in gw.recorders for k, p in rec.records if k == Kind.C2U]
    assert any(b"?watch=true&sig=[redacted]" in p for p in heads)
    assert not any(b"plainvalue42" in p for p in heads)
    (end,) = [e for e in _events(gw, "kube_watch_end")]
    assert (end["events"], end["reason"], end["masked"]) == (2, "done", 2)
    # kubectl get -w: the list, then the watch (the stand-in ends it)
    with trio.fail_after(60):
        got = await akubectl(kc, "get", "pods", "-n", "dev", "-w", "-o", "json")
    assert b"secret note" not in got.stdout
    assert AWS_KEY.encode() not in got.stdout
    assert got.stdout.count(b"[MASKED:json:$.metadata.annotations.note]") >= 2
    commands = [e["command"] for e in _events(gw, "kube_request")]
    assert commands.count("watch pods -n dev") == 2  # httpx's and kubectl's
    assert len(_events(gw, "kube_watch")) == 4  # kubectl's watch went event by event too


@pytest.mark.integration
async def test_watch_with_the_python_client(
    gw_config: tuple[Any, Path], standin: StandIn, tmp_path: Path, nursery: trio.Nursery
) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    cfg, ca = gw_config
    gw = await start_kube_gateway(nursery, cfg, ca)
    kc = gw.kubeconfig(tmp_path, gw.token())
    made = await akubectl(
        kc, "create", "--validate=false", "-n", "dev", "-f", "-", stdin=json.dumps(_pod("web"))
    )
    assert made.returncode == 0, made.stderr

    def watch() -> list[tuple[str, str, str]]:
        api = kubernetes.config.new_client_from_config(config_file=str(kc))
        v1 = kubernetes.client.CoreV1Api(api)
        w = kubernetes.watch.Watch()
        out = []
        for ev in w.stream(v1.list_namespaced_pod, "dev", timeout_seconds=5):
            meta = ev["object"].metadata
            out.append((ev["type"], meta.name, meta.annotations["note"]))
        api.close()
        return out

    with trio.fail_after(60):
        got = await trio.to_thread.run_sync(watch)
    assert got == [("ADDED", "web", "[MASKED:json:$.metadata.annotations.note]")]


# -- the event splitter ---------------------------------------------------------

MASKER = _native.Masker(["builtin"], [], [], [])
NOTES = JsonMasker(["json:$.metadata.annotations.note"])


# Kubernetes object names (DNS-1123 labels): the names must come back as
# they went in, so none may look like something the content masker hides.
NAMES = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?", fullmatch=True)


def _line(kind: str, name: str, note: str) -> bytes:
    obj = {"kind": "Pod", "metadata": {"name": name, "annotations": {"note": note}}}
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


def _all(masker: WatchMasker, chunks: list[bytes]) -> bytes:
    out = b"".join(line for chunk in chunks for _, line in masker.feed(chunk))
    return out + b"".join(line for _, line in masker.finish())


@settings(deadline=None)  # a loaded machine: no time limit per example
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["ADDED", "MODIFIED", "DELETED"]),
            NAMES,
            st.text(max_size=30),
        ),
        max_size=6,
    ),
    st.lists(st.integers(0, 2000), max_size=10),
    st.booleans(),
)
def test_any_cut_gives_the_same_events(
    items: list[tuple[str, str, str]], cuts: list[int], secret: bool
) -> None:
    stream = b"".join(_line(k, n, note + (AWS_KEY if secret else "")) for k, n, note in items)
    whole = _all(WatchMasker(MASKER, NOTES, limit=1 << 16), [stream])
    points = sorted({min(c, len(stream)) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert _all(WatchMasker(MASKER, NOTES, limit=1 << 16), pieces) == whole
    events = [json.loads(line) for line in whole.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        (k, n) for k, n, _ in items
    ]
    masked = "[MASKED:json:$.metadata.annotations.note]"
    assert all(e["object"]["metadata"]["annotations"]["note"] == masked for e in events)
    assert AWS_KEY.encode() not in whole


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (b"not json\n", "not JSON"),
        (b'{"object": {}}\n', "without a type"),
        (b'{"type": 3, "object": {}}\n', "without a type"),
        (b'{"type": "ADDED"}\n', "without an object"),
        (b"[1, 2]\n", "without a type"),
    ],
)
def test_what_is_not_an_event_ends_the_stream(wire: bytes, why: str) -> None:
    with pytest.raises(WatchError, match=why):
        WatchMasker(None, None, limit=1000).feed(_line("ADDED", "a", "n") + wire)


def test_an_event_over_the_limit_ends_the_stream() -> None:
    masker = WatchMasker(None, None, limit=100)
    assert len(masker.feed(_line("ADDED", "a", "short"))) == 1
    with pytest.raises(WatchError, match="over 100 bytes"):
        masker.feed(b'{"type": "ADDED", "object": {"x": "' + b"y" * 200)
