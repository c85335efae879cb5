"""limen's own SSH login upstream: the pinned host key, then the
resource's private key (or password).

Runs on a worker thread (paramiko blocks). An unknown or changed host key
refuses the connection before any credential is sent.
"""

from __future__ import annotations

import socket

import paramiko

from limen.config import Config, Resource
from limen.gateway.session import SessionEnd
from limen.gateway.ssh.keys import SshKeyError, pinned_key, private_key
from limen.gateway.ssh.transport import client_transport

__all__ = ["login_upstream"]

TIMEOUT = 15.0


def login_upstream(sock: socket.socket, config: Config, resource: Resource) -> paramiko.Transport:
    """The upstream transport, authenticated (blocking; on a thread).
    Refusals raise :class:`SessionEnd` (``08006``: host key, login)."""
    try:
        pinned = pinned_key(resource)
        with_key = resource.private_key_file is not None or resource.private_key_env is not None
        key = private_key(config, resource) if with_key else None
    except SshKeyError as exc:
        raise SessionEnd("08006", str(exc)) from None
    transport = client_transport(sock)
    try:
        options = transport.get_security_options()
        preferred = [t for t in options.key_types if t == pinned.key_type]
        if preferred:
            options.key_types = tuple(preferred)
        try:
            transport.start_client(timeout=TIMEOUT)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise SessionEnd(
                "08006", f"the upstream SSH server did not complete the handshake: {exc}"
            ) from None
        remote = transport.get_remote_server_key()
        if not pinned.matches(remote):
            raise SessionEnd(
                "08006",
                f"the upstream host key of {resource.name} is not the pinned one "
                f"({remote.get_name()} {remote.fingerprint}); refusing to connect",
                "if the host was re-keyed, the operator updates the resource's host_key",
            )
        user = resource.user or "root"
        try:
            if key is not None:
                transport.auth_publickey(user, key)
            else:
                secret = config.resolve_password(resource)
                transport.auth_password(user, secret.reveal() if secret is not None else "")
        except (paramiko.SSHException, EOFError, OSError):
            raise SessionEnd(
                "08006", f"limen could not log in to {resource.name} as {user}"
            ) from None
        if not transport.is_authenticated():
            raise SessionEnd("08006", f"limen could not log in to {resource.name} as {user}")
        return transport
    except BaseException:
        transport.close()
        raise
