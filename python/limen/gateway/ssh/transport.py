"""paramiko transports with limen's window, packet size and ciphers.

paramiko encrypts in Python around the ``cryptography`` package, one call
per packet and step: AES-GCM (one AEAD call) costs about half the CPU of
AES-CTR plus HMAC-SHA-256 (a cipher call and an HMAC over every packet),
measured in docs/ssh.md. Both legs use it where they can:

- upstream (limen is the client, its order decides): AES-GCM first, the
  rest of paramiko's list after it, so a server without GCM still works;
- the client's leg (limen is the server, the client's order decides):
  OpenSSH (6.2 and later) lists chacha20-poly1305 (not in paramiko) and
  AES-CTR before AES-GCM, so limen offers OpenSSH clients AES-GCM only;
  other clients (paramiko, asyncssh, libssh2, Go…) get paramiko's whole
  list. An OpenSSH client configured without AES-GCM (``Ciphers``) is
  refused at key exchange ("no matching cipher"): docs/ssh.md.
"""

from __future__ import annotations

import re
import socket

import paramiko

from limen.gateway.ssh.bridge import MAX_PACKET, WINDOW
from limen.gateway.ssh.packets import GcmEngines

__all__ = ["GCM", "ServerTransport", "client_transport", "gcm_client", "prefer_gcm"]

GCM = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
"""paramiko's AES-GCM ciphers, fastest first."""

_OPENSSH = re.compile(r"SSH-2\.0-OpenSSH_(?:for_Windows_)?(\d+)\.(\d+)")


def gcm_client(banner: str) -> bool:
    """Whether a client's version banner is an OpenSSH that has AES-GCM
    (6.2 and later) in its default cipher list."""
    found = _OPENSSH.match(banner)
    if found is None:
        return False
    return (int(found.group(1)), int(found.group(2))) >= (6, 2)


def prefer_gcm(ciphers: tuple[str, ...]) -> tuple[str, ...]:
    """``ciphers`` with paramiko's AES-GCM first (those it has)."""
    first = tuple(c for c in GCM if c in ciphers)
    return first + tuple(c for c in ciphers if c not in first)


def client_transport(sock: socket.socket) -> paramiko.Transport:
    """limen's transport to an upstream server: AES-GCM preferred."""
    transport = GcmEngines(sock, default_window_size=WINDOW, default_max_packet_size=MAX_PACKET)
    options = transport.get_security_options()
    options.ciphers = prefer_gcm(tuple(options.ciphers))
    return transport


class ServerTransport(GcmEngines):
    """limen's transport for a client: offers an OpenSSH client AES-GCM
    only (decided from its banner, read before limen's key exchange
    offer) unless ``gcm_only`` is off, every other client paramiko's list
    with AES-GCM first."""

    def __init__(self, sock: socket.socket, *, gcm_only: bool = True) -> None:
        super().__init__(sock, default_window_size=WINDOW, default_max_packet_size=MAX_PACKET)
        self.gcm_only = gcm_only

    def _send_kex_init(self) -> None:
        options = self.get_security_options()
        ciphers = prefer_gcm(tuple(options.ciphers))
        if self.gcm_only and gcm_client(self.remote_version):
            ciphers = tuple(c for c in ciphers if c in GCM) or ciphers
        options.ciphers = ciphers
        getattr(super(), "_send_kex_init")()  # noqa: B009  # paramiko's own, not in its stubs
