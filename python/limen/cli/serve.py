"""``limen serve``: run the gateway in the foreground.

Serves the PostgreSQL listener (``[listeners] postgres``), the MySQL
listener (``[listeners] mysql``; it shares the PostgreSQL listener's
connection counts and approvals hub) and the HTTP one (``[listeners]
http``), whichever the config names, the admin API
(``[gateway] admin``: approvals, see :mod:`limen.admin`) with the approvals
hub, and, when the config enables it, the dev IdP on ``[identity.dev] listen`` (tokens from
``limen token`` are verified against it). JSON log lines go to stderr;
SIGTERM (or SIGINT) stops accepting, lets open sessions finish for up to
``[gateway] drain_timeout``, ends the rest, and exits 0. SIGHUP reloads the
config file (:mod:`limen.gateway.reload`).
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import trio

from limen.admin import AdminAPI
from limen.approvals import ApprovalHub
from limen.cli import UsageError
from limen.cli._configfile import add_config_argument, load_config_arg
from limen.config import Address, Config
from limen.gateway.fence import Fence, fence_after
from limen.gateway.fleetlimits import FleetSlots
from limen.gateway.reload import Reloader
from limen.gateway.revocations import Revoker
from limen.gateway.server import (
    HttpGateway,
    JsonLog,
    Listener,
    MySqlGateway,
    PgGateway,
    SshGateway,
)
from limen.gateway.services import Services
from limen.gateway.sweeper import Sweeper, node_name
from limen.httpserver import bound_port
from limen.identity import Authenticator, DevIdP
from limen.recording import recorder_factory
from limen.recording.index import IndexBacklog, configured_shipper
from limen.store import PostgresStore, StoreError, open_store


@dataclass(frozen=True)
class Serving:
    """A running gateway: its PostgreSQL listener and the port it is bound
    to (None without ``[listeners] postgres``), the port of its admin API,
    its approvals hub, the dev IdP's discovery URL when it runs, and the
    HTTP and MySQL listeners' ports when they run."""

    gateway: PgGateway | None
    port: int | None
    admin_port: int
    approvals: ApprovalHub
    discovery: str | None = None
    http_port: int | None = None
    """The HTTP listener's port (``[listeners] http``), when it runs."""
    mysql: MySqlGateway | None = None
    mysql_port: int | None = None
    """The MySQL listener's port (``[listeners] mysql``), when it runs."""
    ssh_port: int | None = None
    """The SSH listener's port (``[listeners] ssh``), when it runs."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the gateway in the foreground",
        description=(
            "Run the gateway: the PostgreSQL listener of [listeners] postgres for every "
            "postgres resource, the MySQL listener of [listeners] mysql for every mysql "
            "resource, the HTTP listener of [listeners] http, the admin API (approvals) on "
            "[gateway] admin, and the dev IdP when [identity.dev] enabled = true. JSON log "
            "lines on stderr; SIGTERM drains open sessions (up to [gateway] drain_timeout), "
            "then exits 0; SIGHUP reloads the config file (rules and masks; a config that "
            "does not validate is refused and the running one stays)."
        ),
    )
    add_config_argument(parser)
    parser.set_defaults(func=run)


async def serve(
    config: Config,
    log: JsonLog,
    *,
    config_path: str | None = None,
    task_status: trio.TaskStatus[Serving] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the dev IdP (when enabled) and the listeners until SIGTERM/SIGINT
    or :meth:`Listener.drain`; ``nursery.start(serve, ...)`` returns a
    :class:`Serving` once the listeners are bound. With ``config_path``,
    SIGHUP reloads that file (:mod:`limen.gateway.reload`)."""
    ls = config.listeners
    if (
        ls.postgres is None
        and ls.mysql is None
        and ls.http is None
        and ls.ssh is None
        and (ls.kubernetes is None)
    ):
        raise UsageError(
            "the config has no [listeners] postgres, mysql, http, ssh or kubernetes address"
        )
    try:
        store = open_store(config.gateway.state, Path(config.base_dir))
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    # Signed (and, with [gateway] recording_recipient, encrypted) session logs,
    # indexed in the state store for `limen sessions --config`.
    node = node_name()
    # [gateway] recordings_copy: logs copied as they grow to a shared store.
    shipper = configured_shipper(config, store, node=node, log=log)
    # Session ends the store missed (it did not answer), written when it answers.
    backlog = IndexBacklog()
    recorder = recorder_factory(config, store, node=node, log=log, shipper=shipper, backlog=backlog)
    gw = config.gateway

    async with trio.open_nursery() as nursery:
        discovery: str | None = None
        if config.identity.dev.enabled:
            dev = DevIdP.from_config(config)
            listen_dev = config.identity.dev.listen
            discovery = await nursery.start(dev.serve, listen_dev.host, listen_dev.port)
            log("dev_idp", discovery=discovery)
        auth = Authenticator.from_config(config, dev_discovery_url=discovery)
        hub = ApprovalHub(store, log=log, node=node)
        await nursery.start(hub.run)
        # One Services for every listener: one connection count per
        # identity across protocols, one masker cache, one approvals hub.
        services = Services(config, auth, recorder_factory=recorder, log=log, approvals=hub)
        if isinstance(store, PostgresStore):  # a fleet: limits count every node's sessions
            services.fleet_slots = FleetSlots(
                store,
                node,
                identity_limit=lambda: services.config.gateway.max_connections_per_identity,
                log=log,
            )
        pg = PgGateway(config, auth, services=services)
        serving: list[tuple[Listener, Address]] = []
        if ls.postgres is not None:
            serving.append((pg, ls.postgres))
        my: MySqlGateway | None = None
        if ls.mysql is not None:
            my = MySqlGateway(services)
            serving.append((my, ls.mysql))
        if ls.http is not None:
            serving.append((HttpGateway(services), ls.http))
        ssh: SshGateway | None = None
        if ls.ssh is not None:
            ssh = SshGateway(services)
            serving.append((ssh, ls.ssh))
        if ls.kubernetes is not None:
            from limen.gateway.kube import KubeGateway  # the Kubernetes listener

            serving.append((KubeGateway(services), ls.kubernetes))
        # HTTPS with the listeners' certificate when one is configured.
        admin = AdminAPI(
            hub,
            auth,
            log=log,
            ssl_context=pg.ssl_context,
            metrics=pg.services.metrics,
            # 503 on /readyz while draining, or fenced (cut off from the store)
            draining=lambda: (
                services.fenced is not None or any(listener.draining for listener, _ in serving)
            ),
            ssh_ca=ssh.ca if ssh is not None else None,
            max_cert_lifetime=config.identity.max_token_lifetime.seconds,
        )
        # Revocations written on any node reach this one's sessions.
        revoker = Revoker(store, [listener for listener, _ in serving], log=log)
        # Heartbeats into the store; lost nodes' open sessions swept (node_lost);
        # this node fenced while it cannot reach the store (limen.gateway.fence).
        fence = Fence([listener for listener, _ in serving], log=log)
        sweeper = Sweeper(
            store,
            node,
            heartbeat=gw.heartbeat.seconds,
            timeout=gw.node_timeout.seconds,
            log=log,
            fence_after=fence_after(gw.heartbeat.seconds, gw.node_timeout.seconds),
            on_fence=fence.close,
            on_recover=fence.open,
            backlog=backlog,
        )
        await nursery.start(revoker.run)
        await nursery.start(sweeper.run)
        if shipper is not None:
            await nursery.start(shipper.run)
        admin_at = config.gateway.admin
        admin_listeners = await nursery.start(admin.serve, admin_at.host, admin_at.port)
        admin_port = bound_port(admin_listeners)
        scheme = "http" if admin.ssl_context is None else "https"
        log("admin_api", url=f"{scheme}://{admin_at.host}:{admin_port}/v1/approvals")
        reloader = (
            None
            if config_path is None
            else Reloader(config_path, services, [listener for listener, _ in serving], log=log)
        )
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:

            async def on_signal() -> None:
                async for signum in signals:
                    log("signal", signal=signal.Signals(signum).name)
                    if signum == signal.SIGHUP:
                        if reloader is not None:
                            reloader.reload()
                        continue
                    async with trio.open_nursery() as draining:
                        for listener, _ in serving:
                            draining.start_soon(listener.drain)
                    return

            left = [len(serving)]

            async def listen_until_drained(
                listener: Listener,
                at: Address,
                task_status: trio.TaskStatus[list[trio.SocketListener]],
            ) -> None:
                await listener.serve(at.host, at.port, task_status=task_status)
                left[0] -= 1
                if not left[0]:  # every listener drained
                    nursery.cancel_scope.cancel()

            nursery.start_soon(on_signal)
            ports: dict[str, int] = {}
            for listener, at in serving:
                bound = await nursery.start(listen_until_drained, listener, at)
                ports[listener.protocol] = bound_port(bound)
            task_status.started(
                Serving(
                    pg if ls.postgres is not None else None,
                    ports.get("postgres"),
                    admin_port,
                    hub,
                    discovery,
                    ports.get("http"),
                    my,
                    ports.get("mysql"),
                    ports.get("ssh"),
                )
            )
            # Keep the signal handlers installed until the drained listeners
            # cancel this nursery.
            await trio.sleep_forever()
    # Every listener drained: this node's sessions have ended.
    await sweeper.stopped()


def run(args: argparse.Namespace) -> int:
    config = load_config_arg(args)
    log = JsonLog(sys.stderr)
    Path(config.path(config.gateway.recordings)).mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    try:
        trio.run(partial(serve, config, log, config_path=args.config))
    except* OSError as group:
        failed.extend(str(exc) for exc in group.exceptions)
    if failed:
        for message in failed:
            log("error", error=message)
        return 1
    log("exit", status=0)
    return 0
