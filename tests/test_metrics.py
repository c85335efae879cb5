"""Metrics: the registry's text exposition read back by the reference
Prometheus parser, what a session counts (in memory, MockClock), and the
admin API's /metrics and /readyz."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from fakepg import message
from limen.admin import AdminAPI
from limen.approvals import ApprovalHub
from limen.config import load_config_text
from limen.httpserver import bound_port
from limen.identity import Authenticator
from limen.metrics import Counter, GatewayMetrics, Registry
from limen.store import open_store
from memsession import config_text, fatal, key, make_env
from test_session_memory import SCRIPT


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


# -- the registry ----------------------------------------------------------------


def test_counters_gauges_and_histograms_read_back_as_written() -> None:
    r = Registry()
    c = r.counter("x_requests_total", "Requests.", ("method",))
    g = r.gauge("x_open", "Open now.", ("pool",))
    h = r.histogram("x_wait_seconds", "Waits.", ("kind",), (0.1, 1.0))
    c.inc(method="GET")
    c.inc(2, method="GET")
    c.inc(method="POST")
    g.add(3, pool="a")
    g.add(-1, pool="a")
    for v in (0.05, 0.5, 0.5, 7.0):
        h.observe(v, kind="k")
    got = samples(r.render())
    assert got[("x_requests_total", (("method", "GET"),))] == 3
    assert got[("x_requests_total", (("method", "POST"),))] == 1
    assert got[("x_open", (("pool", "a"),))] == 2
    buckets = {
        le: got[("x_wait_seconds_bucket", (("kind", "k"), ("le", le)))]
        for le in ("0.1", "1.0", "+Inf")
    }
    assert buckets == {"0.1": 1, "1.0": 3, "+Inf": 4}  # cumulative
    assert got[("x_wait_seconds_count", (("kind", "k"),))] == 4
    assert math.isclose(got[("x_wait_seconds_sum", (("kind", "k"),))], 8.05)


@given(st.text(max_size=40))
def test_any_label_value_survives_the_text_format(value: str) -> None:
    r = Registry()
    r.counter("x_total", "With a label.", ("v",)).inc(v=value)
    ((name, labels),) = samples(r.render()).keys()
    assert (name, labels) == ("x_total", (("v", value),))


def test_bad_names_labels_and_uses_are_refused() -> None:
    r = Registry()
    with pytest.raises(ValueError, match="_total"):
        r.counter("x_requests", "no suffix")
    with pytest.raises(ValueError, match="invalid metric name"):
        r.gauge("x-open", "dash")
    with pytest.raises(ValueError, match="invalid label name"):
        r.histogram("x_seconds", "reserved", ("le",))
    c = r.counter("x_total", "ok", ("a",))
    with pytest.raises(ValueError, match="registered twice"):
        r.counter("x_total", "again", ("a",))
    with pytest.raises(ValueError, match="takes the labels a"):
        c.inc(b="1")
    with pytest.raises(ValueError, match="cannot go down"):
        c.inc(-1, a="1")


def test_a_label_fed_without_bound_stops_growing_at_the_cap() -> None:
    c = Counter("x_total", "Many.", ("v",))
    for i in range(10_050):
        c.inc(v=str(i))
    assert len(c.values) == 10_001  # the cap, plus the one overflow series
    assert c.value(v="overflow") == 50


# -- what a session counts ---------------------------------------------------------


async def test_sessions_decisions_refusals_and_ends_are_counted(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    metrics = GatewayMetrics()
    env = await make_env(nursery, mock_clock, tmp_path, SCRIPT, hub=False, metrics=metrics)
    client = await env.session()
    await client.query("SELECT id, name FROM users")
    await client.query("DROP TABLE users")
    bad = await env.connect()
    await fatal(bad, await bad.login("bot", "not-a-known-key"))
    await client.send(message(b"X"))
    await env.all_ended()
    got = samples(metrics.render())
    app = (("protocol", "postgres"), ("resource", "app"))
    assert got[("limen_sessions_total", app)] == 1
    assert got[("limen_sessions_active", app)] == 0
    read = (("action", "allow"), ("class", "read"), ("protocol", "postgres"), ("rule", "ci-app"))
    ddl = (("action", "deny"), ("class", "ddl"), ("protocol", "postgres"), ("rule", "ci-app"))
    assert got[("limen_decisions_total", read)] == 1
    assert got[("limen_decisions_total", ddl)] == 1
    refused = (("protocol", "postgres"), ("reason", "unknown_credential"))
    assert got[("limen_token_refusals_total", refused)] == 1
    ends = {
        dict(labels)["reason"]: v
        for (name, labels), v in got.items()
        if name == "limen_session_ends_total"
    }
    assert ends == {"closed": 1, "28P01": 1}
    sent = got[("limen_relayed_bytes_total", (("from", "client"), ("protocol", "postgres")))]
    answered = got[("limen_relayed_bytes_total", (("from", "upstream"), ("protocol", "postgres")))]
    assert sent >= len("SELECT id, name FROM users") + len("DROP TABLE users")
    assert answered > 0
    upstream = (("upstream", "db.internal:5433"),)
    assert got[("limen_upstream_connect_seconds_count", upstream)] == 1
    text = metrics.render()
    for secret in (key("bot"), "not-a-known-key", "SELECT", "DROP"):
        assert secret not in text  # no secret and no statement in a label


# -- the admin API -------------------------------------------------------------------


class _DownStore:
    """A store whose database has gone away."""

    node = "down"

    def ping(self) -> None:
        raise OSError("connection refused")


async def test_admin_serves_metrics_and_readiness(nursery: trio.Nursery, tmp_path: Path) -> None:
    config = load_config_text(config_text(), base_dir=tmp_path)
    hub = ApprovalHub(open_store(config.gateway.state, tmp_path))
    metrics = GatewayMetrics()
    metrics.sessions.inc(protocol="postgres", resource="app")
    draining = False
    admin = AdminAPI(
        hub, Authenticator.from_config(config), metrics=metrics, draining=lambda: draining
    )
    port = bound_port(await nursery.start(admin.serve, "127.0.0.1", 0))

    def get(path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)

    r = await trio.to_thread.run_sync(get, "/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = samples(r.text)
    assert got[("limen_sessions_total", (("protocol", "postgres"), ("resource", "app")))] == 1
    assert (await trio.to_thread.run_sync(get, "/readyz")).status_code == 200
    draining = True
    r = await trio.to_thread.run_sync(get, "/readyz")
    assert (r.status_code, r.json()["status"]) == (503, "draining")
    draining = False
    hub.store = _DownStore()  # type: ignore[assignment]
    r = await trio.to_thread.run_sync(get, "/readyz")
    assert (r.status_code, r.json()["status"]) == (503, "state store unreachable")
    assert (await trio.to_thread.run_sync(get, "/healthz")).status_code == 200  # still alive
