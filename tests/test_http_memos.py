"""The two memos on the HTTP gateway's per-request path, against the work
they stand for.

- The token memo (:class:`limen.gateway.http.tokens.TokenMemo`): the same
  sequences of requests (valid, expired, forged, revoked tokens, static
  keys, broken headers; the clock moving; revocations made and lifted)
  through :func:`~limen.gateway.http.tokens.identify` with the memo and
  without it (full verification by the authenticator, against a real OIDC
  provider on 127.0.0.1:0): every answer is the same. And the memo on any
  header list: it knows a token only when it may.
- The path memo (``normalise`` remembering short targets): any text, and
  any bytes read as the reader decodes them, read the same by the memo and
  the normaliser, in any order, through evictions.

Both memos are pure Python, with no decoder of their own: they compare
bytes the request reader has parsed and key a dictionary by them. The fuzz
targets the standards ask for stand for coverage-guided search for crashes
and memory errors in decoders; here the question is only "can the fast
path answer differently from the slow one", which these hypothesis
properties ask over arbitrary input (hypothesis shrinks a counterexample
to its smallest form), with the slow path as the oracle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import hypothesis
import trio
from hypothesis import given
from hypothesis import strategies as st

from limen.config import load_config_text
from limen.gateway import JsonLog, Services
from limen.gateway.http.route import Refusal
from limen.gateway.http.tokens import TokenMemo, identify
from limen.identity import Authenticator, Identity, StaticKeys, Verifier, VerifierSettings, hash_key
from limen.policy.http import Path, PathError, normalise, paths
from limen.recording import MemoryRecorder, SessionInfo
from limen.store import Revocation
from oidc_provider import FakeClock, Provider

NOW = 1_800_000_000.0
STATIC_KEY = "static-key-3b9d"


# -- the token memo ------------------------------------------------------------------


@dataclass
class WallClock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


def _tokens(p: Provider) -> list[list[bytes]]:
    """The Authorization headers a request may carry (index: a step's choice)."""
    a = p.sign(p.claims(NOW, sub="bot", jti="t-a"), "k1")
    b = p.sign(p.claims(NOW, sub="bot", jti="t-b"), "k1")
    short = p.sign(p.claims(NOW, sub="bot", jti="t-c", exp=int(NOW) + 5), "k1")
    eve = p.sign(p.claims(NOW, sub="eve", jti="t-e"), "k1")
    forged = a[:-4] + ("AAAA" if not a.endswith("AAAA") else "BBBB")
    return [
        [f"Bearer {a}".encode()],
        [f"Bearer {b}".encode()],
        [f"Bearer {short}".encode()],
        [f"Bearer {eve}".encode()],
        [f"Bearer {forged}".encode()],
        [f"Bearer {STATIC_KEY}".encode()],
        [f"Bearer {a}".encode()] * 2,  # the same token twice: refused
        [f"bearer  {a} ".encode()],  # other spelling, same token
        [],
        [b"Basic Ym90OnB3"],
    ]


REVOCATIONS = [
    ("subject", "bot"),
    ("token", "t-a"),
    ("token", "t-c"),
    ("key", "static"),
    ("subject", "eve"),
]

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(0, 9)),
        st.tuples(st.just("advance"), st.sampled_from([1.0, 4.0, 5.0, 30.0, 601.0])),
        st.tuples(st.just("revoke"), st.integers(0, len(REVOCATIONS) - 1)),
        st.tuples(st.just("lift"), st.integers(0, len(REVOCATIONS) - 1)),
    ),
    max_size=25,
)


@dataclass
class World:
    services: Services
    clock: WallClock
    headers: list[list[bytes]]
    revoked: set[int] = field(default_factory=set)

    def set_revocations(self) -> None:
        self.services.revocations = tuple(
            Revocation(
                id=f"rev_{i}",
                kind=REVOCATIONS[i][0],
                value=REVOCATIONS[i][1],
                reason="test",
                revoked_by="test",
                revoked_at=NOW,
                expires_at=None,
            )
            for i in sorted(self.revoked)
        )


async def _world(p: Provider) -> World:
    config = load_config_text(
        f"""
        [[identity.keys]]
        name = "static"
        sha256 = "{hash_key(STATIC_KEY)}"
        groups = ["ci"]
        """
    )
    clock = WallClock()
    verifier = Verifier(
        VerifierSettings(issuer=p.issuer, audiences=("limen",), leeway=30),
        clock=clock,
        monotonic=FakeClock(),
    )
    auth = Authenticator([verifier], StaticKeys(config.identity.keys))

    def recorder(info: SessionInfo) -> MemoryRecorder:
        return MemoryRecorder(info)

    log = JsonLog(open(os.devnull, "w"))  # noqa: SIM115
    services = Services(config, auth, recorder_factory=recorder, log=log)
    return World(services, clock, _tokens(p))


async def _outcome(
    world: World, values: list[bytes], memo: TokenMemo | None, session: Identity | None
) -> tuple[object, ...]:
    req: Any = SimpleNamespace(headers=[(b"authorization", v) for v in values])
    try:
        identity = await identify(world.services, req, "api", memo, session_identity=session)
    except Refusal as refusal:
        return ("refused", refusal.problem.status, refusal.code, refusal.problem.detail)
    return ("ok", identity)


async def _scenario(steps: list[tuple[str, Any]], first: int) -> list[tuple[object, ...]]:
    """The steps through the memo and through full verification; the
    answers (they are asserted equal one by one)."""
    p = Provider()
    p.add_key("k1", "ES256")
    async with trio.open_nursery() as nursery:
        await nursery.start(p.serve)
        world = await _world(p)
        session = await _outcome(world, world.headers[first], None, None)
        identity = session[1] if session[0] == "ok" else None
        assert isinstance(identity, Identity | None)
        memo = TokenMemo(world.clock)
        if identity is not None:
            memo.remember([(b"authorization", v) for v in world.headers[first]], identity)
        seen = []
        for kind, arg in steps:
            if kind == "advance":
                world.clock.now += arg
            elif kind == "revoke":
                world.revoked.add(arg)
                world.set_revocations()
            elif kind == "lift":
                world.revoked.discard(arg)
                world.set_revocations()
            else:
                values = world.headers[arg]
                slow = await _outcome(world, values, None, identity)
                fast = await _outcome(world, values, memo, identity)
                assert fast == slow, (kind, arg, world.clock.now - NOW, world.revoked)
                seen.append(fast)
        nursery.cancel_scope.cancel()
    return seen


@hypothesis.settings(max_examples=60, deadline=None)
@given(st.integers(0, 9), STEPS)
def test_the_token_memo_answers_as_full_verification(first: int, steps: list[Any]) -> None:
    trio.run(_scenario, steps, first)


def test_the_differential_sees_expired_and_revoked_tokens() -> None:
    """The scenario reaches the cases that matter (a property could pass
    without them): a remembered token refused once expired, once revoked,
    and accepted again when the revocation is lifted."""
    steps: list[Any] = [
        ("send", 2),
        ("advance", 4.0),
        ("send", 2),
        ("advance", 5.0),
        ("send", 2),  # past exp, within the leeway: verified, accepted
        ("advance", 30.0),
        ("send", 2),  # past exp + leeway: refused
        ("send", 0),
        ("revoke", 1),
        ("send", 0),
        ("send", 1),  # same subject, another token: the session's is revoked
        ("lift", 1),
        ("send", 0),
        ("revoke", 0),
        ("send", 1),
    ]
    seen = trio.run(_scenario, steps, 0)
    kinds = ["ok", "ok", "ok", "refused", "ok", "refused", "refused", "ok", "refused"]
    assert [s[0] for s in seen] == kinds
    assert "expired" in str(seen[3][3])
    assert seen[5][2] == "28P01"
    assert "revoked (rev_1)" in str(seen[5][3])
    assert seen[8][1] == 401
    assert "revoked (rev_0)" in str(seen[8][3])


def _identity(expires_at: float | None, method: Any) -> Identity:
    return Identity(
        subject="bot",
        groups=("ci",),
        issuer="https://idp.example",
        expires_at=None if expires_at is None else int(expires_at),
        token_id=None,
        method=method,
    )


HEADER = st.tuples(
    st.sampled_from([b"authorization", b"Authorization", b"x-authorization", b"host"]),
    st.sampled_from([b"Bearer t1", b"Bearer t2", b"Bearer t1 ", b"", b"bearer t1"]),
)


@given(
    st.lists(HEADER, max_size=4),
    st.lists(HEADER, max_size=4),
    st.one_of(st.none(), st.integers(-5, 5)),
    st.sampled_from(["oidc", "dev", "static_key"]),
)
def test_the_token_memo_knows_only_the_same_unexpired_jwt(
    first: list[tuple[bytes, bytes]],
    again: list[tuple[bytes, bytes]],
    expires_in: int | None,
    method: str,
) -> None:
    """Any header lists: the memo returns the remembered identity exactly
    when ``again`` has one Authorization header, the bytes remembered from
    ``first`` (which had one too), a JWT not yet expired by its clock."""
    clock = WallClock()
    identity = _identity(None if expires_in is None else NOW + expires_in, method)
    memo = TokenMemo(clock)
    memo.remember(first, identity)
    auth_first = [v for k, v in first if k == b"authorization"]
    auth_again = [v for k, v in again if k == b"authorization"]
    expected = (
        len(auth_first) == 1
        and auth_again == auth_first
        and method != "static_key"
        and expires_in is not None
        and expires_in > 0
    )
    got = memo.lookup(again)
    assert got is (identity if expected else None)


# -- the path memo -------------------------------------------------------------------


def _reading(target: str, normaliser: Any) -> tuple[object, ...]:
    try:
        got: Path = normaliser(target)
    except PathError as exc:
        return ("refused", str(exc))
    return (got.segments, got.query, got.path, got.target)


TARGETS = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="/.%;?#a2eEfF5cC~é\\", max_size=60).map(lambda s: "/" + s),
    # the reader decodes request targets as ASCII (h11 has checked them)
    st.binary(max_size=60).map(lambda b: "/" + b.decode("latin-1")),
    st.integers(500, 530).map(lambda n: "/" + "a/" * (n // 2)),  # either side of the limit
)


@given(st.lists(TARGETS, min_size=1, max_size=20), st.randoms(use_true_random=False))
def test_the_path_memo_reads_any_text_as_the_normaliser(targets: list[str], rnd: Any) -> None:
    """Any text, asked in any order and again: the memo and the normaliser
    agree, refusals included (a refusal is never remembered)."""
    asked = targets + rnd.sample(targets, len(targets))
    for target in asked:
        assert _reading(target, normalise) == _reading(target, paths._normalise)


@hypothesis.settings(max_examples=20)
@given(st.lists(st.text(alphabet="abc/%2e.", max_size=12), min_size=1, max_size=8))
def test_the_path_memo_agrees_through_evictions(targets: list[str]) -> None:
    """With the memo full of other targets (so the first ones are evicted
    and read again), the answers do not change."""
    first = [_reading("/" + t, normalise) for t in targets]
    for i in range(4200):
        normalise(f"/fill/{i}")
    assert paths._normalise_memo.cache_info().currsize == 4096
    assert [_reading("/" + t, normalise) for t in targets] == first
    assert first == [_reading("/" + t, paths._normalise) for t in targets]
