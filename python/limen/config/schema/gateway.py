"""``[gateway]`` and ``[listeners]``: state, recordings, the admin API, the
global limits, and one listening address per protocol."""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from limen.config.schema.base import PROTOCOLS, Strict
from limen.config.values import Address, ByteSize, Duration

DEFAULT_STATE: Final = "sqlite://.limen/state.db"
STATE_COPY: Final = "state:"
"""``[gateway] recordings_copy`` naming the (PostgreSQL) state store."""


class GatewayConfig(Strict, frozen=True):
    """``[gateway]``: state, recordings, the admin API and every global limit."""

    state: str = DEFAULT_STATE
    """``sqlite://PATH`` (``sqlite:///abs/path.db``) or ``postgresql://…``."""
    state_dir: str | None = None
    """Folder for local state (dev IdP keys, the recording key). Default: the
    SQLite database's folder, or ``.limen`` beside the config file."""
    recordings: str = ".limen/recordings"
    recordings_copy: str | None = None
    """Where every log is copied as it grows, so recordings outlive the node
    that wrote them: a shared directory (same ``DAY/ID`` layout), or
    ``"state:"``, the PostgreSQL state store (:mod:`limen.recording.shipping`)."""
    recordings_copy_interval: Duration = Duration(3)
    """How often a live session's new records are copied (a lost node loses
    at most this much of its sessions' records)."""
    admin: Address = msgspec.field(default_factory=lambda: Address("127.0.0.1", 8899))
    recording_key: str | None = None
    """Ed25519 key that signs each closed session log. Default
    ``STATE_DIR/recording.key``, created on first use."""
    ssh_ca_key: str | None = None
    """The ed25519 key that signs SSH user certificates (``limen ssh
    cert``). Default ``STATE_DIR/ssh-user-ca.key``, created on first use."""
    ssh_ciphers: Literal["fast", "all"] = "fast"
    """The ciphers the SSH listener offers an OpenSSH client (6.2 and later):
    ``fast``, AES-GCM only (OpenSSH's own order would pick AES-CTR, about
    twice limen's CPU per byte; a client configured without AES-GCM is
    refused), or ``all``, paramiko's whole list, AES-GCM first (the client's
    order decides). Other clients always get the whole list."""
    recording_recipient: str | None = None
    """An auditor's X25519 public key (base64 or hex, 32 bytes): when set,
    recordings are encrypted to it."""
    max_message_size: ByteSize = ByteSize(16 * 1024 * 1024)
    max_judged_body: ByteSize = ByteSize(1024 * 1024)
    """HTTP: the largest request body limen reads whole to judge its JSON
    fields (a route with ``body`` conditions); a longer one is refused (413)."""
    max_connections: int = 1000
    max_connections_per_identity: int = 20
    handshake_timeout: Duration = Duration(10)
    connect_timeout: Duration = Duration(10)
    idle_timeout: Duration = Duration(15 * 60)
    hold_timeout: Duration = Duration(15 * 60)
    """Default for rules that do not set ``hold_timeout``."""
    drain_timeout: Duration = Duration(30)
    heartbeat: Duration = Duration(2)
    """How often this node says it is alive in the state store."""
    node_timeout: Duration = Duration(15)
    """A node not heard from for this long is lost: any other node marks its
    open sessions ended ``node_lost`` in the session index. At least 4
    heartbeats: a node fences itself 2 heartbeats before (:mod:`limen.gateway.fence`)."""
    relay: Literal["native", "trio"] = "native"
    """Who moves a PostgreSQL session's bytes after the handshake: ``native``
    (a native pump thread per session; sessions with client or upstream TLS
    stay on the Trio relay) or ``trio`` (the Trio relay for every session).
    Decisions, masking and recording are the same either way."""


class ListenersConfig(Strict, frozen=True):
    """``[listeners]``: one address per protocol, shared by its resources."""

    postgres: Address | None = None
    mysql: Address | None = None
    ssh: Address | None = None
    http: Address | None = None
    kubernetes: Address | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    allow_plaintext_loopback: bool = True
    """Without TLS, listeners are only allowed on loopback, and only while this is true."""
    proxy_protocol_from: list[str] = msgspec.field(default_factory=list)
    """Load balancers (addresses or networks, ``10.0.0.0/8``) whose
    connections start with a PROXY protocol header (v1 or v2) naming the
    real client; every connection from them must."""

    def items(self) -> list[tuple[str, Address]]:
        return [(p, a) for p in PROTOCOLS if (a := getattr(self, p)) is not None]


def sqlite_path(state: str) -> str | None:
    """The file path of a ``sqlite://`` state URL, or None for other stores.

    ``sqlite:///var/lib/limen/state.db`` is ``/var/lib/limen/state.db``;
    ``sqlite://.limen/state.db`` is relative to the config file's folder.
    """
    if not state.startswith("sqlite://"):
        return None
    return state.removeprefix("sqlite://")
