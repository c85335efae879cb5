"""A test OIDC provider: real discovery and JWKS over HTTP on 127.0.0.1:0,
keys the test can add, drop and sign with, and a switch to take it down.

Served with limen's h11/Trio server; the verifier under test reaches it with
its ordinary httpx client, nothing patched.
"""

from __future__ import annotations

import base64
import datetime
import functools
import ipaddress
import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from limen.httpserver import HTTPServer, Request, Response, Router, bound_port

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@functools.cache
def rsa_key(n: int = 0) -> rsa.RSAPrivateKey:
    """RSA keys are slow to make: a few, cached for the whole run."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_key(alg: str, n: int = 0) -> PrivateKey:
    if alg.startswith(("RS", "PS")):
        return rsa_key(n)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(alg)


def public_jwk(key: PrivateKey) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        return dict(RSAAlgorithm.to_jwk(public, as_dict=True))
    if isinstance(public, ec.EllipticCurvePublicKey):
        return dict(ECAlgorithm.to_jwk(public, as_dict=True))
    return dict(OKPAlgorithm.to_jwk(public, as_dict=True))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A JWT put together by hand (for tokens no library would sign)."""
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(signature)}"


@dataclass
class Provider:
    audience: str = "limen"
    issuer: str = ""
    keys: dict[str, tuple[str, PrivateKey]] = field(default_factory=dict)
    jwks_requests: int = 0
    discovery_issuer: str | None = None
    """Overrides the issuer named in the discovery document."""
    tls: ssl.SSLContext | None = None
    """Serve over HTTPS with this context (see :func:`self_signed`)."""
    _scope: trio.CancelScope | None = None

    def add_key(self, kid: str, alg: str, key: PrivateKey | None = None) -> PrivateKey:
        k = key if key is not None else new_key(alg)
        self.keys[kid] = (alg, k)
        return k

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, (_alg, key) in self.keys.items():
            jwk = public_jwk(key)
            jwk.update(kid=kid, use="sig")
            out.append(jwk)
        return {"keys": out}

    def sign(
        self,
        claims: dict[str, Any],
        kid: str,
        *,
        key: PrivateKey | None = None,
        alg: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        key_alg, stored = self.keys.get(kid, ("EdDSA", None))
        signer = key if key is not None else stored
        assert signer is not None
        return jwt.encode(
            claims, signer, algorithm=alg or key_alg, headers={"kid": kid, **(headers or {})}
        )

    def claims(self, now: float, **overrides: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "bot-1",
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now) + 600,
            "jti": "token-1",
            "groups": ["ci"],
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def router(self) -> Router:
        router = Router()

        async def discovery(_request: Request) -> Response:
            return Response.json(
                200,
                {
                    "issuer": self.discovery_issuer or self.issuer,
                    "jwks_uri": f"{self.issuer}/keys",
                },
            )

        async def keys(_request: Request) -> Response:
            self.jwks_requests += 1
            return Response.json(200, self.jwks())

        router.get("/.well-known/openid-configuration", discovery)
        router.get("/keys", keys)
        return router

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            self._scope = scope
            async with trio.open_nursery() as nursery:
                server = HTTPServer(self.router(), ssl_context=self.tls)
                listeners = await nursery.start(server.serve, "127.0.0.1", 0)
                scheme = "https" if self.tls is not None else "http"
                self.issuer = f"{scheme}://127.0.0.1:{bound_port(listeners)}"
                task_status.started()

    def stop(self) -> None:
        """Take the provider down: the port stops answering."""
        assert self._scope is not None
        self._scope.cancel()


def self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 and the CA file that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "limen test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
