"""``[[resources]]``: the upstreams a bot may reach, how limen talks TLS to
them, and where their credentials come from."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from limen.config.schema.base import Protocol, StatementClass, Strict
from limen.config.secrets import Secret, read_password
from limen.config.values import Address, Duration


class UpstreamTLS(Strict, frozen=True):
    """``tls`` of a resource: how limen talks TLS to the upstream."""

    mode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] = "verify-full"
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None


class HttpRoute(Strict, frozen=True):
    """``[[resources.http_routes]]``: the class of the requests whose method
    and path match (``http`` resources; see :mod:`limen.policy.http.routes`)."""

    path: str
    """A pattern: literal segments, ``{name}``, ``*``, and ``**`` last."""
    klass: StatementClass = msgspec.field(name="class")
    methods: list[str] = msgspec.field(default_factory=list)
    """Empty: any method."""
    body: list[str] = msgspec.field(default_factory=list)
    """Conditions on the JSON body, all of which must hold
    (``$.action == "delete"``; see :mod:`limen.policy.http.body`)."""


class Resource(Strict, frozen=True):
    """``[[resources]]``: one upstream a bot may reach, and its credential."""

    name: str
    protocol: Protocol
    upstream: str
    """``HOST:PORT`` (postgres, mysql, ssh) or a URL (http, kubernetes)."""
    database: str | None = None
    user: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    password: Secret | None = None
    """Refused unless ``dev = true``: real credentials come from env or files."""
    dev: bool = False
    private_key_file: str | None = None
    """SSH: limen's private key for the upstream (OpenSSH or PEM format)."""
    private_key_env: str | None = None
    """SSH: an environment variable holding that private key."""
    host_key: str | None = None
    """SSH: the upstream's host key as a ``known_hosts`` line (``[host]:port
    ssh-ed25519 AAAA…``, or just ``ssh-ed25519 AAAA…``); any other key refuses."""
    tls: UpstreamTLS | None = None
    description: str = ""
    max_connections: int | None = None
    idle_timeout: Duration | None = None
    http_auth: str | None = None
    """``http`` resources: how the credential goes upstream: ``bearer``
    (the default when a password source is set), ``basic`` (``user`` and the
    password), ``header:NAME`` (the password as header NAME) or
    ``query:NAME`` (the password as query parameter NAME of every request
    target)."""
    http_routes: list[HttpRoute] = msgspec.field(default_factory=list)
    pod_security: Literal["baseline", "restricted"] = "baseline"
    """``kubernetes`` resources: the Pod Security Standards profile pod
    writes are checked against (docs/kubernetes.md)."""

    def upstream_address(self) -> Address:
        return Address.parse(self.upstream)

    def resolve_password(self, base_dir: Path | None = None) -> Secret | None:
        """Read the upstream password now (env var or file); never logs it."""
        found = read_password(self.name, self.password_env, self.password_file, base_dir)
        return found if found is not None else self.password

    def resolve_private_key(self, base_dir: Path | None = None) -> Secret | None:
        """Read the upstream private key now (SSH: env var or file)."""
        return read_password(self.name, self.private_key_env, self.private_key_file, base_dir)
