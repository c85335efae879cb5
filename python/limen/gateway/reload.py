"""``SIGHUP``: reload the config file of a running ``limen serve``.

:meth:`Reloader.reload` reads the file again and checks it as ``limen
serve`` does at start (:func:`limen.config.load_config`). A config that
does not validate is refused: logged (``reload_refused``, with the
checker's messages, which never hold a secret's value) and the running
config stays. A valid one is installed in the gateway's
:class:`~limen.gateway.services.Services` (rules, masks, resources,
limits and timeouts for new sessions), and every live session is rebound
(:meth:`limen.gateway.session.Session.rebind`): its next statements are
judged by the new rules, its cached decisions forgotten, its prepared
statements kept. Live sessions take the new masks too: PostgreSQL on
either relay (:mod:`limen.gateway.postgres.remask`; changed column masks
are resolved on a side connection, :mod:`limen.gateway.postgres.relive`),
HTTP, Kubernetes and SSH at their next response, message or chunk
(:mod:`limen.gateway.livemasks`), MySQL on either relay at its next
command (changed column masks resolved on a side connection,
:mod:`limen.gateway.mysql.relive`). A session whose new column masks
cannot be resolved is ended, saying why.

The listeners' certificate and key files are read again when they changed
since they were read (:meth:`limen.gateway.tlsnative.ListenerTls.reload_if_changed`,
logged ``tls_reloaded``; a pair that does not load is logged
``tls_reload_refused`` and the old one stays): new handshakes get them,
live sessions keep theirs. This happens on every ``SIGHUP``, whether the
config file validates or not.

Some settings are bound when the process starts: the listeners and the
paths of their TLS files, the admin address, the state store, the recordings directories
and keys, and the identity providers. A reload that changes one of them
still installs the rest, and logs ``reload_needs_restart`` naming them.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from limen import _native
from limen.config import Config, ConfigError, load_config
from limen.gateway.server import Listener
from limen.gateway.services import Services

__all__ = ["RESTART_SETTINGS", "Reloaded", "Reloader", "needs_restart"]

#: The settings a running process keeps until it restarts.
RESTART_SETTINGS: tuple[str, ...] = (
    "listeners",
    "identity",
    "gateway.state",
    "gateway.state_dir",
    "gateway.admin",
    "gateway.recordings",
    "gateway.recordings_copy",
    "gateway.recordings_copy_interval",
    "gateway.recording_key",
    "gateway.recording_recipient",
    "base_dir",
)


def _setting(config: Config, name: str) -> object:
    value: object = config
    for part in name.split("."):
        value = getattr(value, part)
    return value


def needs_restart(old: Config, new: Config) -> list[str]:
    """The settings of :data:`RESTART_SETTINGS` that differ."""
    return [n for n in RESTART_SETTINGS if _setting(old, n) != _setting(new, n)]


@dataclass(frozen=True)
class Reloaded:
    """What one reload did."""

    ok: bool
    """False: the file did not validate (or could not be read); nothing changed."""
    sessions: int = 0
    """Live sessions given the new rules."""
    restart: tuple[str, ...] = ()
    """Settings that changed but wait for a restart."""
    error: str = ""


class Reloader:
    """Reloads one gateway's config file into its services and sessions."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        services: Services,
        listeners: Sequence[Listener],
        *,
        log: Callable[..., None],
    ) -> None:
        self.path = path
        self.services = services
        self.listeners = list(listeners)
        self.log = log
        self.started = services.config
        """The config the process started with (what restart-bound settings hold)."""

    def reload_tls(self) -> None:
        """Reloads each listener's certificate and key if the files changed."""
        seen: set[int] = set()
        for services in [self.services, *(listener.services for listener in self.listeners)]:
            tls = services.listener_tls
            if tls is None or id(tls) in seen:
                continue
            seen.add(id(tls))
            try:
                if tls.reload_if_changed():
                    self.log("tls_reloaded", cert=str(tls.cert))
            except (OSError, ssl.SSLError, _native.TlsError) as exc:
                self.log("tls_reload_refused", cert=str(tls.cert), error=str(exc))

    def reload(self) -> Reloaded:
        self.reload_tls()
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            message = str(exc)
            self.log("reload_refused", error=message, generation=self.services.generation)
            return Reloaded(False, error=message)
        restart = tuple(needs_restart(self.started, config))
        self.services.reload(config)
        rebound = 0
        for listener in self.listeners:
            if listener.services is not self.services:
                listener.services.reload(config)
            for session in list(listener.sessions):
                if session.end is None and session.rebind():
                    rebound += 1
        self.log(
            "reloaded",
            generation=self.services.generation,
            sessions=rebound,
            rules=len(config.rules),
            mask_rules=len(config.mask_rules),
        )
        if restart:
            self.log("reload_needs_restart", settings=list(restart))
        return Reloaded(True, rebound, restart)
