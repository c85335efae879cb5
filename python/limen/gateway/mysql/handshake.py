"""The MySQL client's opening: limen's greeting, TLS, the token.

limen greets with a HandshakeV10 of its own (a fresh 20-byte scramble,
``_native.MYSQL_GATEWAY_CAPABILITIES``, ``CLIENT_SSL`` only when the
listener has a certificate, plugin ``caching_sha2_password``). A client's
SSLRequest starts TLS. The HandshakeResponse41 names the identity (user)
and the resource (database); the password is the token, which limen must
read in clear:

- ``caching_sha2_password``: limen always answers "perform full
  authentication" (``0x01 0x04``). Over TLS the client then sends the
  password in clear (NUL-terminated); on plaintext it asks for the server's
  public key (``0x02``), gets the listener's RSA key (PEM), and sends the
  password encrypted (RSA-OAEP, :mod:`limen.mysql_rsa`, XORed with the
  scramble); a client that already has the key sends that at once.
- ``mysql_clear_password`` (a client configured for it): the first
  response is the token.
- any other plugin (``mysql_native_password``, PyMySQL's default, ...):
  an AuthSwitchRequest to ``caching_sha2_password``, then as above.

The token is asked for only over TLS, or over loopback where ``[listeners]
allow_plaintext_loopback`` allows it. A refused token ends the connection
with ``ERROR 1045 (28000)`` saying why (never the token).
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import Protocol

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from limen import _native, mysql_rsa
from limen.config import Resource, is_loopback_host
from limen.gateway.mysql.ending import MySqlRefusal
from limen.gateway.mysql.wire import Packets, PrefixedStream
from limen.gateway.services import Services
from limen.gateway.session import Admission, SessionEnd
from limen.identity import Identity, IdentityError

__all__ = [
    "CACHING_SHA2",
    "CLEAR_PASSWORD",
    "Opening",
    "ServerKey",
    "greeting_capabilities",
    "new_scramble",
    "opening",
    "process_key",
    "receive_token",
    "verify_token",
]

CACHING_SHA2 = b"caching_sha2_password"
CLEAR_PASSWORD = b"mysql_clear_password"
SERVER_VERSION = b"5.7.99-limen"  # 8.0 would make clients ask for MySQL-8-only collations
COLLATION = 45  # utf8mb4_general_ci: known to MySQL and MariaDB
STATUS_AUTOCOMMIT = 2
PERFORM_FULL_AUTH = b"\x04"
REQUEST_PUBLIC_KEY = b"\x02"

CLIENT_SSL = 1 << 11
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_PLUGIN_AUTH = 1 << 19
#: What a client must speak for limen to receive its token.
REQUIRED = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH

#: RSA-OAEP (SHA-1) carries at most ``bits / 8 - 42`` bytes: 4096 bits take
#: a token of up to 469 bytes (a dev token is about 400); longer tokens need
#: TLS or mysql_clear_password (docs/mysql.md).
RSA_BITS = 4096

_SCRAMBLE_CHARS = bytes(range(0x21, 0x7F))


@dataclass(frozen=True)
class ServerKey:
    """The listener's RSA key for caching_sha2's plaintext step."""

    private: rsa.RSAPrivateKey
    pem: bytes

    @classmethod
    def generate(cls, bits: int = RSA_BITS) -> ServerKey:
        key, pem = mysql_rsa.new_server_key(bits)
        return cls(key, pem)

    @property
    def size(self) -> int:
        """The length of a ciphertext under this key."""
        return (self.private.key_size + 7) // 8


@dataclass(frozen=True)
class Opening:
    """A client admitted, and what its upstream login and the client's OK
    need: the session's capabilities, collation, packet size."""

    admission: Admission
    caps: int
    collation: int
    max_packet_size: int


class ClientSide(Protocol):
    """What the opening changes on the session (a MySqlSession)."""

    client: trio.abc.Stream
    tls: bool
    peer_host: str
    services: Services
    packets: Packets


@functools.cache
def process_key() -> ServerKey:
    """The process's RSA key, made on first use (under a second)."""
    return ServerKey.generate()


def new_scramble() -> bytes:
    """20 printable random bytes (no NUL: clients read it as a string)."""
    return bytes(secrets.choice(_SCRAMBLE_CHARS) for _ in range(20))


def greeting_capabilities(services: Services) -> int:
    """What limen advertises: CLIENT_SSL only with a certificate."""
    caps = _native.MYSQL_GATEWAY_CAPABILITIES
    if services.ssl_context is None:
        caps &= ~CLIENT_SSL
    return caps


async def opening(side: ClientSide, key: ServerKey, connection_id: int) -> Opening | None:
    """Greets, starts TLS, reads the HandshakeResponse41 and the token.
    None when the client left before saying anything."""
    services = side.services
    packets = side.packets
    scramble = new_scramble()
    advertised = greeting_capabilities(services)
    greeting = _native.MySqlHandshakeV10(
        server_version=SERVER_VERSION,
        connection_id=connection_id,
        scramble=scramble,
        capabilities=advertised,
        collation=COLLATION,
        status=STATUS_AUTOCOMMIT,
        auth_plugin=CACHING_SHA2,
    )
    await packets.send(greeting.encode())
    try:
        first = await packets.read()
    except trio.BrokenResourceError:
        return None
    hello = _native.mysql_parse_client_hello(first.payload)
    if isinstance(hello, _native.MySqlSslRequest):
        if services.ssl_context is None or side.tls:
            raise SessionEnd("08P01", "TLS was not offered")
        prefix = packets.take_rest()  # a ClientHello sent right after the SSLRequest
        tls = trio.SSLStream(
            PrefixedStream(side.client, prefix), services.ssl_context, server_side=True
        )
        await tls.do_handshake()
        side.client = tls
        side.tls = True
        packets.stream = tls
        hello = _native.mysql_parse_client_hello((await packets.read()).payload)
        if not isinstance(hello, _native.MySqlHandshakeResponse41):
            raise SessionEnd("08P01", "expected the handshake response after TLS")
    caps = hello.capabilities & advertised
    if caps & REQUIRED != REQUIRED:
        raise MySqlRefusal(
            "08P01",
            1251,  # ER_NOT_SUPPORTED_AUTH_MODE
            "08004",
            "the client must support the 4.1 protocol with pluggable authentication",
        )
    user = hello.username.decode("utf-8", "replace")
    resource = _resource(services, hello.database)
    if not side.tls and not (
        services.config.listeners.allow_plaintext_loopback and is_loopback_host(side.peer_host)
    ):
        raise MySqlRefusal(
            "28000",
            3159,  # ER_SECURE_TRANSPORT_REQUIRED
            "HY000",
            "limen asks for the token only over TLS",
            "connect with TLS, e.g. --ssl / ssl_mode=REQUIRED",
        )
    token = await receive_token(side, key, scramble, hello.auth_plugin, hello.auth_response)
    identity = await verify_token(services, token, user, resource.name)
    return Opening(
        Admission(identity, resource),
        caps,
        hello.collation,
        hello.max_packet_size,
    )


def _resource(services: Services, database: bytes | None) -> Resource:
    name = (database or b"").decode("utf-8", "replace")
    resource = services.config.resource(name) if name else None
    if resource is None or resource.protocol != "mysql":
        raise SessionEnd(
            "3D000",
            f"no MySQL resource named {name!r}" if name else "no database (resource) named",
            "the database name in the connection names the limen resource",
        )
    return resource


async def receive_token(
    side: ClientSide,
    key: ServerKey,
    scramble: bytes,
    plugin: bytes | None,
    first_response: bytes,
) -> str:
    """The client's password (the token) in clear, by the plugin's way."""
    packets = side.packets
    if plugin == CLEAR_PASSWORD:
        return _clear(first_response)
    if plugin != CACHING_SHA2:
        # The response was for another plugin: switch (its answer is a
        # proof limen cannot use, read and dropped).
        await packets.send(_native.mysql_encode_auth_switch(CACHING_SHA2, scramble + b"\0"))
        await packets.read()
    await packets.send(_native.mysql_encode_auth_more_data(PERFORM_FULL_AUTH))
    answer = (await packets.read()).payload
    if answer == REQUEST_PUBLIC_KEY and not side.tls:
        await packets.send(_native.mysql_encode_auth_more_data(key.pem))
        answer = (await packets.read()).payload
    if not side.tls and len(answer) == key.size:
        try:
            password = mysql_rsa.decrypt_password(key.private, answer, scramble)
        except ValueError as exc:
            raise MySqlRefusal("28P01", 1045, "28000", f"token refused: {exc}") from None
        return _text(password)
    return _clear(answer)


def _clear(response: bytes) -> str:
    """A password sent in clear: NUL-terminated (the terminator optional)."""
    return _text(response[:-1] if response.endswith(b"\0") else response)


def _text(password: bytes) -> str:
    try:
        return password.decode("utf-8")
    except UnicodeDecodeError:
        raise MySqlRefusal("28P01", 1045, "28000", "token refused: not valid UTF-8") from None


async def verify_token(services: Services, token: str, user: str, resource: str) -> Identity:
    """The token's identity, whose subject must be ``user``."""
    try:
        identity = await services.authenticator.authenticate(token)
    except IdentityError as exc:
        services.auth_refused("mysql", exc.reason.value, user=user, resource=resource)
        raise MySqlRefusal(
            "28P01",
            1045,
            "28000",
            f"Access denied for user {user!r}: token refused ({exc.reason.value}): {exc.message}",
            "mint a fresh token (limen token) and pass it as the password",
        ) from None
    if identity.subject != user:
        services.auth_refused("mysql", "user_mismatch", resource=resource)
        raise MySqlRefusal(
            "28P01",
            1045,
            "28000",
            f"Access denied for user {user!r}: the user name is not the token's subject",
            "connect with the token's subject as the user name",
        )
    return identity
