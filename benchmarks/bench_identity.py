"""Token verification: limen's Verifier against PyJWT's bare ``jwt.decode``.

PyJWT alone checks the signature and the standard claims with a key the
caller already holds. limen's Verifier does that and more (algorithm policy,
key lookup in a JWKS fetched over real HTTP from 127.0.0.1, lifetime and
group checks, the verified-token cache). Rows: distinct tokens per second
(each one verified from scratch) and the same token again (a cache hit), per
algorithm.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import trio
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from limen.httpserver import HTTPServer, Request, Response, Router, bound_port
from limen.identity import Verifier, VerifierSettings

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _keys() -> dict[str, PrivateKey]:
    return {
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


def _jwk(alg: str, key: PrivateKey) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = dict(RSAAlgorithm.to_jwk(public, as_dict=True))
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = dict(ECAlgorithm.to_jwk(public, as_dict=True))
    else:
        jwk = dict(OKPAlgorithm.to_jwk(public, as_dict=True))
    jwk.update(kid=alg, alg=alg, use="sig")
    return jwk


async def _measure(n: int) -> tuple[list[list[Any]], dict[str, float]]:
    keys = _keys()
    router = Router()
    issuer = ""

    async def discovery(_request: Request) -> Response:
        return Response.json(200, {"issuer": issuer, "jwks_uri": f"{issuer}/keys"})

    async def jwks(_request: Request) -> Response:
        return Response.json(200, {"keys": [_jwk(a, k) for a, k in keys.items()]})

    router.get("/.well-known/openid-configuration", discovery)
    router.get("/keys", jwks)
    rows: list[list[Any]] = []
    ratios: dict[str, float] = {}
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(HTTPServer(router).serve, "127.0.0.1", 0)
        issuer = f"http://127.0.0.1:{bound_port(listeners)}"
        now = int(time.time())
        for alg, key in keys.items():
            tokens = [
                jwt.encode(
                    {
                        "iss": issuer,
                        "aud": "limen",
                        "sub": "bench",
                        "iat": now,
                        "exp": now + 600,
                        "jti": str(i),
                        "groups": ["ci"],
                    },
                    key,
                    algorithm=alg,
                    headers={"kid": alg},
                )
                for i in range(n)
            ]
            public = key.public_key()
            start = time.perf_counter()
            for token in tokens:
                jwt.decode(token, public, algorithms=[alg], audience="limen", issuer=issuer)
            pyjwt = n / (time.perf_counter() - start)

            verifier = Verifier(VerifierSettings(issuer=issuer, audiences=("limen",)))
            await verifier.verify(tokens[0])  # fetch discovery + JWKS once
            start = time.perf_counter()
            for token in tokens[1:]:
                await verifier.verify(token)
            fresh = (n - 1) / (time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(n):
                await verifier.verify(tokens[0])
            cached = n / (time.perf_counter() - start)
            rows.append([alg, pyjwt, fresh, cached])
            ratios[f"limen_vs_pyjwt_{alg}"] = fresh / pyjwt
            ratios[f"cached_vs_fresh_{alg}"] = cached / fresh
        nursery.cancel_scope.cancel()
    return rows, ratios


def run(short: bool) -> dict[str, Any]:
    n = 200 if short else 2000
    rows, ratios = trio.run(_measure, n)
    return {
        "title": "OIDC token verification (tokens/s): PyJWT decode vs limen Verifier",
        "columns": ["algorithm", "pyjwt decode/s", "limen fresh/s", "limen cached/s"],
        "rows": rows,
        "ratios": ratios,
        "notes": [f"{n} distinct tokens per algorithm; JWKS served over HTTP on 127.0.0.1"],
    }
