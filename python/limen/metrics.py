"""Metrics in the Prometheus text format (version 0.0.4), served by the
admin API at ``GET /metrics``.

A small registry of its own (counters, gauges, histograms with labels)
rather than a client library: the gateway runs one Trio thread, so a
metric is a dict update, and the exposition is a few lines of text.
:class:`GatewayMetrics` names what the gateway counts; every label value is
a protocol, resource, rule, class, action, reason code or upstream address
from the configuration or limen's own vocabulary — never an identity's
secret, a token or a statement's text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, TypeVar

__all__ = ["Counter", "GatewayMetrics", "Gauge", "Histogram", "Registry", "default_metrics"]

_NAME: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
#: Seconds: from a loopback round trip to a human's approval.
TIME_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
HOLD_BUCKETS: Final = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
_MAX_SERIES: Final = 10_000
"""Series per metric at most; beyond it new label sets are counted in one
``overflow`` series (a label fed by something unbounded must not grow the
gateway's memory)."""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Sequence[str]) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labels:
            if not _LABEL.fullmatch(label) or label.startswith("__") or label == "le":
                raise ValueError(f"invalid label name {label!r}")
        self.name = name
        self.help = help_text
        self.labels = tuple(labels)

    def _key(self, values: dict[str, str]) -> tuple[str, ...]:
        if set(values) != set(self.labels):
            raise ValueError(f"{self.name} takes the labels {', '.join(self.labels)}")
        return tuple(str(values[label]) for label in self.labels)

    def _series_key(
        self, series: Mapping[tuple[str, ...], object], key: tuple[str, ...]
    ) -> tuple[str, ...]:
        if key in series or len(series) < _MAX_SERIES:
            return key
        return tuple("overflow" for _ in self.labels)

    def _labels(self, key: tuple[str, ...], extra: str = "") -> str:
        parts = [f'{name}="{_escape(value)}"' for name, value in zip(self.labels, key, strict=True)]
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}" if parts else ""

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {_escape(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> Iterable[str]:
        raise NotImplementedError


class Counter(_Metric):
    """A count that only goes up."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        if not name.endswith("_total"):
            raise ValueError(f"a counter's name ends in _total: {name!r}")
        super().__init__(name, help_text, labels)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, amount: float = 1.0, /, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter cannot go down")
        key = self._series_key(self.values, self._key(labels))
        self.values[key] = self.values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self.values.get(self._key(labels), 0.0)

    def lines(self) -> Iterable[str]:
        for key, value in sorted(self.values.items()):
            yield f"{self.name}{self._labels(key)} {_number(value)}"


class Gauge(_Metric):
    """A value that goes up and down."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self.values: dict[tuple[str, ...], float] = {}

    def add(self, amount: float, /, **labels: str) -> None:
        key = self._series_key(self.values, self._key(labels))
        self.values[key] = self.values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self.values.get(self._key(labels), 0.0)

    def lines(self) -> Iterable[str]:
        for key, value in sorted(self.values.items()):
            yield f"{self.name}{self._labels(key)} {_number(value)}"


class Histogram(_Metric):
    """Observations counted into cumulative buckets, with their sum."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = TIME_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labels)
        if list(buckets) != sorted(set(buckets)) or not buckets:
            raise ValueError("buckets must be increasing")
        self.buckets = (*buckets, math.inf)
        # key -> (count per bucket (not cumulative), sum)
        self.values: dict[tuple[str, ...], tuple[list[int], float]] = {}

    def observe(self, value: float, /, **labels: str) -> None:
        key = self._series_key(self.values, self._key(labels))
        counts, total = self.values.get(key, ([0] * len(self.buckets), 0.0))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
                break
        self.values[key] = (counts, total + value)

    def count(self, **labels: str) -> int:
        found = self.values.get(self._key(labels))
        return 0 if found is None else sum(found[0])

    def lines(self) -> Iterable[str]:
        for key, (counts, total) in sorted(self.values.items()):
            running = 0
            for bound, n in zip(self.buckets, counts, strict=True):
                running += n
                le = f'le="{"+Inf" if math.isinf(bound) else repr(float(bound))}"'
                yield f"{self.name}_bucket{self._labels(key, le)} {running}"
            yield f"{self.name}_sum{self._labels(key)} {_number(total)}"
            yield f"{self.name}_count{self._labels(key)} {running}"


M = TypeVar("M", bound=_Metric)


class Registry:
    """The metrics of one process, rendered together."""

    def __init__(self) -> None:
        self.metrics: dict[str, _Metric] = {}

    def _add(self, metric: M) -> M:
        if metric.name in self.metrics:
            raise ValueError(f"metric {metric.name!r} is registered twice")
        self.metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        return self._add(Counter(name, help_text, labels))

    def gauge(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Gauge:
        return self._add(Gauge(name, help_text, labels))

    def histogram(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = TIME_BUCKETS,
    ) -> Histogram:
        return self._add(Histogram(name, help_text, labels, buckets))

    def render(self) -> str:
        """The text exposition (``text/plain; version=0.0.4``)."""
        out: list[str] = []
        for metric in self.metrics.values():
            out.extend(metric.header())
            out.extend(metric.lines())
        return "\n".join(out) + "\n"


class GatewayMetrics:
    """What a gateway process counts (see docs/interface.md, "Metrics")."""

    def __init__(self, registry: Registry | None = None) -> None:
        r = self.registry = registry if registry is not None else Registry()
        self.sessions_active = r.gauge(
            "limen_sessions_active", "Sessions open now.", ("protocol", "resource")
        )
        self.sessions = r.counter(
            "limen_sessions_total", "Sessions admitted.", ("protocol", "resource")
        )
        self.session_ends = r.counter(
            "limen_session_ends_total",
            "Sessions ended, by end code (closed, connection_lost, a SQLSTATE).",
            ("protocol", "reason"),
        )
        self.decisions = r.counter(
            "limen_decisions_total",
            "Statements judged, by action, class and rule.",
            ("protocol", "action", "class", "rule"),
        )
        self.hold_wait = r.histogram(
            "limen_hold_wait_seconds",
            "How long held statements waited, by outcome (run, refused, gone).",
            ("protocol", "outcome"),
            HOLD_BUCKETS,
        )
        self.token_refusals = r.counter(
            "limen_token_refusals_total", "Tokens refused, by reason.", ("protocol", "reason")
        )
        self.connections_refused = r.counter(
            "limen_connections_refused_total",
            "Connections turned away by a limit.",
            ("protocol", "limit"),
        )
        self.relayed_bytes = r.counter(
            "limen_relayed_bytes_total",
            "Bytes read from clients and from upstreams (counted when a session ends).",
            ("protocol", "from"),
        )
        self.cached_statements = r.counter(
            "limen_cached_statements_total",
            "Statements a relay's decision cache passed without a trip to the judge.",
            ("protocol",),
        )
        self.upstream_connect = r.histogram(
            "limen_upstream_connect_seconds",
            "Time to open an upstream connection (TCP), by upstream address.",
            ("upstream",),
        )
        self.upstream_connect_failures = r.counter(
            "limen_upstream_connect_failures_total",
            "Upstream connections that could not be opened.",
            ("upstream",),
        )

    def render(self) -> str:
        return self.registry.render()


_DEFAULT: GatewayMetrics | None = None


def default_metrics() -> GatewayMetrics:
    """The process's metrics: every listener of one ``limen serve`` counts here."""
    global _DEFAULT  # one registry per process, made on first use
    if _DEFAULT is None:
        _DEFAULT = GatewayMetrics()
    return _DEFAULT
