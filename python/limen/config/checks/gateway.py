"""Checks of ``[gateway]`` (state URL, recording recipient, limits, timeouts)
and ``[listeners]`` (TLS, loopback, shared addresses, the admin API)."""

from __future__ import annotations

import ipaddress

from limen.config.checks.common import Report
from limen.config.schema import STATE_COPY, Config, sqlite_path
from limen.config.values import Address, decode_key32


def check_gateway(config: Config, err: Report) -> None:
    gw = config.gateway
    state = gw.state
    if not (
        state.startswith("sqlite://")
        or state.startswith("postgresql://")
        or state.startswith("postgres://")
    ):
        err(
            "$.gateway.state",
            "must be 'sqlite://PATH' or 'postgresql://…' "
            f"(got a value starting {state.split(':', 1)[0]!r})",
        )
    elif sqlite_path(state) == "":
        err("$.gateway.state", "sqlite:// needs a file path, e.g. sqlite:///var/lib/limen/state.db")
    if gw.recording_recipient is not None and decode_key32(gw.recording_recipient) is None:
        err(
            "$.gateway.recording_recipient",
            "must be an X25519 public key: 32 bytes as base64 or hex",
        )
    for name in ("max_connections", "max_connections_per_identity"):
        if getattr(gw, name) < 1:
            err(f"$.gateway.{name}", "must be at least 1")
    if gw.max_connections_per_identity > gw.max_connections:
        err("$.gateway.max_connections_per_identity", "is larger than max_connections")
    if gw.max_message_size < 1024:
        err("$.gateway.max_message_size", "must be at least 1KiB")
    for name in (
        "handshake_timeout",
        "connect_timeout",
        "idle_timeout",
        "hold_timeout",
        "heartbeat",
        "recordings_copy_interval",
    ):
        if getattr(gw, name).seconds <= 0:
            err(f"$.gateway.{name}", "must be longer than zero")
    check_recordings_copy(config, err)
    if gw.node_timeout.seconds < 4 * gw.heartbeat.seconds:
        # A live node that misses a beat must neither be swept nor fence
        # itself (it fences 2 heartbeats before node_timeout: limen.gateway.fence).
        err("$.gateway.node_timeout", "must be at least 4 heartbeats")


def check_recordings_copy(config: Config, err: Report) -> None:
    gw = config.gateway
    copy = gw.recordings_copy
    if copy is None:
        return
    if copy == STATE_COPY:
        if not gw.state.startswith(("postgresql://", "postgres://")):
            err(
                "$.gateway.recordings_copy",
                "'state:' copies recordings to the PostgreSQL state store; this state store "
                "is not PostgreSQL (a SQLite file does not outlive its node)",
            )
    elif copy.startswith("s3://"):
        err(
            "$.gateway.recordings_copy",
            "an S3 bucket is not supported yet (docs/recording-s3.md designs it); "
            "use a shared directory or 'state:'",
        )
    elif "://" in copy or copy.endswith(":"):
        err(
            "$.gateway.recordings_copy",
            "must be a directory or 'state:' (the PostgreSQL state store)",
        )


def check_listeners(config: Config, err: Report) -> None:
    ls = config.listeners
    if (ls.tls_cert is None) != (ls.tls_key is None):
        missing = "tls_key" if ls.tls_key is None else "tls_cert"
        err(f"$.listeners.{missing}", "tls_cert and tls_key go together")
    tls = ls.tls_cert is not None and ls.tls_key is not None
    seen: dict[Address, str] = {config.gateway.admin: "gateway.admin"}
    for proto, addr in ls.items():
        path = f"$.listeners.{proto}"
        if addr in seen and addr.port != 0:
            err(path, f"the same address as {seen[addr]}")
        seen[addr] = f"listeners.{proto}"
        if tls:
            continue
        if not addr.is_loopback:
            err(
                path,
                f"{addr} is not loopback: tokens would cross the network in clear; "
                "set listeners.tls_cert and listeners.tls_key",
            )
        elif not ls.allow_plaintext_loopback:
            err(path, "no TLS certificate and allow_plaintext_loopback = false")
    for i, net in enumerate(ls.proxy_protocol_from):
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            err(
                f"$.listeners.proxy_protocol_from[{i}]",
                f"{net!r} is not an address or network (e.g. '10.0.0.5' or '10.0.0.0/8')",
            )
    admin = config.gateway.admin
    if admin == config.identity.dev.listen and config.identity.dev.enabled and admin.port != 0:
        err("$.identity.dev.listen", "the same address as gateway.admin")
    if not admin.is_loopback and not tls:
        err(
            "$.gateway.admin",
            f"{admin} is not loopback: approvers' tokens would cross the network in clear; "
            "set listeners.tls_cert and listeners.tls_key (the admin API then speaks HTTPS)",
        )
