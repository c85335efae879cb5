"""``limen serve``: run the gateway in the foreground.

Serves the PostgreSQL listener (``[listeners] postgres``), the HTTP one
(``[listeners] http``) when configured, the admin API
(``[gateway] admin``: approvals, see :mod:`limen.admin`) with the approvals
hub, and, when the config enables it, the dev IdP on ``[identity.dev] listen`` (tokens from
``limen token`` are verified against it). JSON log lines go to stderr;
SIGTERM (or SIGINT) stops accepting, lets open sessions finish for up to
``[gateway] drain_timeout``, ends the rest, and exits 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import trio

from limen.admin import AdminAPI
from limen.approvals import ApprovalHub
from limen.cli import UsageError
from limen.cli._configfile import add_config_argument, load_config_arg
from limen.config import Config
from limen.gateway.revocations import Revoker
from limen.gateway.server import HttpGateway, JsonLog, PgGateway
from limen.gateway.services import Services
from limen.httpserver import bound_port
from limen.identity import Authenticator, DevIdP
from limen.recording import recorder_factory
from limen.store import StoreError, open_store


@dataclass(frozen=True)
class Serving:
    """A running gateway: the port its PostgreSQL listener is bound to, the
    port of its admin API, its approvals hub, and the dev IdP's discovery URL
    when it runs."""

    gateway: PgGateway
    port: int
    admin_port: int
    approvals: ApprovalHub
    discovery: str | None = None
    http_port: int | None = None
    """The HTTP listener's port (``[listeners] http``), when it runs."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the gateway in the foreground",
        description=(
            "Run the gateway: the PostgreSQL listener of [listeners] postgres for every "
            "postgres resource, the admin API (approvals) on [gateway] admin, and the dev IdP "
            "when [identity.dev] enabled = true. JSON log "
            "lines on stderr; SIGTERM drains open sessions (up to [gateway] drain_timeout), "
            "then exits 0."
        ),
    )
    add_config_argument(parser)
    parser.set_defaults(func=run)


async def serve(
    config: Config,
    log: JsonLog,
    *,
    task_status: trio.TaskStatus[Serving] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the dev IdP (when enabled) and the PostgreSQL listener until
    SIGTERM/SIGINT or :meth:`PgGateway.drain`; ``nursery.start(serve, ...)``
    returns a :class:`Serving` once the listener is bound."""
    listen = config.listeners.postgres
    if listen is None:
        raise UsageError("the config has no [listeners] postgres address")
    try:
        store = open_store(config.gateway.state, Path(config.base_dir))
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    # Signed (and, with [gateway] recording_recipient, encrypted) session logs,
    # indexed in the state store for `limen sessions --config`.
    recorder = recorder_factory(config, store)

    async with trio.open_nursery() as nursery:
        discovery: str | None = None
        if config.identity.dev.enabled:
            dev = DevIdP.from_config(config)
            listen_dev = config.identity.dev.listen
            discovery = await nursery.start(dev.serve, listen_dev.host, listen_dev.port)
            log("dev_idp", discovery=discovery)
        auth = Authenticator.from_config(config, dev_discovery_url=discovery)
        hub = ApprovalHub(store, log=log)
        await nursery.start(hub.run)
        gateway = PgGateway(config, auth, recorder_factory=recorder, log=log, approvals=hub)
        # HTTPS with the listeners' certificate when one is configured.
        admin = AdminAPI(
            hub,
            auth,
            log=log,
            ssl_context=gateway.ssl_context,
            metrics=gateway.services.metrics,
            draining=lambda: gateway.draining,
        )
        http: HttpGateway | None = None
        if config.listeners.http is not None:
            http = HttpGateway(
                Services(
                    config,
                    auth,
                    recorder_factory=recorder,
                    log=log,
                    approvals=hub,
                    metrics=gateway.services.metrics,
                )
            )
        # Revocations written on any node reach this one's sessions.
        revoker = Revoker(store, [gateway] if http is None else [gateway, http], log=log)
        await nursery.start(revoker.run)
        admin_at = config.gateway.admin
        admin_listeners = await nursery.start(admin.serve, admin_at.host, admin_at.port)
        admin_port = bound_port(admin_listeners)
        scheme = "http" if admin.ssl_context is None else "https"
        log("admin_api", url=f"{scheme}://{admin_at.host}:{admin_port}/v1/approvals")
        http_port: int | None = None
        if http is not None and config.listeners.http is not None:
            at = config.listeners.http
            http_port = bound_port(await nursery.start(http.serve, at.host, at.port))
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:

            async def on_signal() -> None:
                async for signum in signals:
                    log("signal", signal=signal.Signals(signum).name)
                    async with trio.open_nursery() as draining:
                        if http is not None:
                            draining.start_soon(http.drain)
                        draining.start_soon(gateway.drain)
                    return

            async def listen_until_drained(
                task_status: trio.TaskStatus[list[trio.SocketListener]],
            ) -> None:
                await gateway.serve(listen.host, listen.port, task_status=task_status)
                nursery.cancel_scope.cancel()

            nursery.start_soon(on_signal)
            listeners = await nursery.start(listen_until_drained)
            task_status.started(
                Serving(
                    gateway,
                    listeners[0].socket.getsockname()[1],
                    admin_port,
                    hub,
                    discovery,
                    http_port,
                )
            )
            # Keep the signal handlers installed until the drained listener
            # cancels this nursery.
            await trio.sleep_forever()


def run(args: argparse.Namespace) -> int:
    config = load_config_arg(args)
    log = JsonLog(sys.stderr)
    Path(config.path(config.gateway.recordings)).mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    try:
        trio.run(serve, config, log)
    except* OSError as group:
        failed.extend(str(exc) for exc in group.exceptions)
    if failed:
        for message in failed:
            log("error", error=message)
        return 1
    log("exit", status=0)
    return 0
