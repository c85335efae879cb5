"""Planted secrets never reach what limen writes down or shows a person.

A bot plants secrets of several kinds through the PostgreSQL gateway (both
relays, simple and extended protocol): an AWS key and a GitHub token in
statement texts, passwords in ``ALTER ROLE``, a token in a ``SET``, values
in ``Bind`` parameters and ``COPY FROM STDIN`` data, and two held
statements. Then none of them appears in the session log (read back with
the auditor's recipient key; the file itself is encrypted), ``limen
sessions replay``, the approvals views (CLI and admin API), the webhook
bodies a local receiver captured, the audit table or the gateway's log
lines; the upstream got every one of them untouched. With
``record_raw_input = true`` the statements are kept raw in the encrypted
log (and the config refuses the option without a recipient)."""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio

from gateway_pg_support import Gateway, config_text, database, direct_query
from limen import recording
from limen.admin import AdminAPI
from limen.approvals import ApprovalHub
from limen.config import Config, ConfigError, load_config_text
from limen.gateway import PgGateway
from limen.gateway.server import JsonLog
from limen.httpserver import HTTPServer, Request, Response, Router, bound_port
from limen.identity import Authenticator, DevIdP
from limen.recording import recorder_factory
from limen.store import Store, open_store

pytestmark = pytest.mark.integration
__all__ = ["database"]

ROOT = Path(__file__).resolve().parents[1]


def vault_rule(url: str, raw: bool = False) -> str:
    return f"""
[[rules]]
name = "vault-app"
groups = ["vault"]
resources = ["app"]
allow = ["read"]
hold = ["write", "admin"]
approvers = ["security"]
webhook = "{url}"

[[rules]]
name = "raw-app"
groups = ["rawci"]
resources = ["app"]
allow = ["read", "write"]
deny = ["ddl", "admin"]
record_raw_input = {"true" if raw else "false"}
"""


class Env:
    def __init__(
        self,
        gw: Gateway,
        store: Store,
        admin_port: int,
        log: io.StringIO,
        hooks: list[bytes],
        config_file: Path,
        recipient: recording.RecipientKeyPair,
    ) -> None:
        self.gw = gw
        self.store = store
        self.admin_port = admin_port
        self.log = log
        self.hooks = hooks
        self.config_file = config_file
        self.recipient = recipient
        self.views: list[str] = []
        """Approvals as people saw them: CLI output, admin API bodies."""


async def start(nursery: trio.Nursery, tmp_path: Path, database: str, *, raw: bool) -> Env:
    hooks: list[bytes] = []

    async def hook(request: Request) -> Response:
        hooks.append(bytes(request.body))
        return Response(200, b"ok\n")

    router = Router()
    router.post("/hook", hook)
    listeners = await nursery.start(HTTPServer(router).serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(listeners)}/hook"
    recipient = recording.generate_recipient_key()
    pub = base64.b64encode(recipient.public).decode()
    text = config_text(database, f'recording_recipient = "{pub}"') + vault_rule(url, raw)
    config_file = tmp_path / "limen.toml"
    config_file.write_text(text)
    config: Config = load_config_text(text, base_dir=tmp_path)
    store = open_store(config.gateway.state, tmp_path)
    hub = ApprovalHub(store, poll_interval=0.05, webhook_backoff=0.05)
    await nursery.start(hub.run)
    idp = DevIdP.from_config(config)
    discovery = await nursery.start(idp.serve, "127.0.0.1", 0)
    auth = Authenticator.from_config(config, dev_discovery_url=discovery)
    log = io.StringIO()
    gateway = PgGateway(
        config,
        auth,
        recorder_factory=recorder_factory(config, store),
        log=JsonLog(log),
        approvals=hub,
    )
    gw_listeners = await nursery.start(gateway.serve, "127.0.0.1", 0)
    port = gw_listeners[0].socket.getsockname()[1]
    admin = AdminAPI(hub, auth)
    admin_listeners = await nursery.start(admin.serve, "127.0.0.1", 0)
    gw = Gateway(config, gateway, idp, port)
    return Env(gw, store, bound_port(admin_listeners), log, hooks, config_file, recipient)


def _psql(env: Env, token: str, user: str, *statements: str) -> subprocess.CompletedProcess[str]:
    """psql (simple protocol): every statement in one session."""
    args = ["psql", "-X", "-v", "ON_ERROR_STOP=0", env.gw.dsn(token, user=user)]
    for s in statements:
        args += ["-c", s]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def _cli(env: Env, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "limen", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=env.config_file.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
    )
    return done.stdout + done.stderr


async def _wait_pending(env: Env, count: int) -> list[Any]:
    with trio.fail_after(20):
        while True:
            reqs = await trio.to_thread.run_sync(env.store.approvals)
            if len(reqs) >= count:
                return list(reqs)
            await trio.sleep(0.05)


def _admin(env: Env, method: str, path: str, token: str) -> httpx.Response:
    return httpx.request(
        method,
        f"http://127.0.0.1:{env.admin_port}{path}",
        headers={"authorization": f"Bearer {token}"},
        json={"reason": "not now"} if method == "POST" else None,
        timeout=10,
    )


def _records(env: Env) -> tuple[list[recording.Record], list[Path]]:
    paths = sorted((env.config_file.parent / "recordings").rglob("*.limenlog"))
    out: list[recording.Record] = []
    for path in paths:
        assert recording.verify(path, None).ok
        out.extend(recording.open_log(path, env.recipient.private))
    return out, paths


def _plant() -> dict[str, str]:
    """Fresh secrets (each test runs once per relay)."""
    h = secrets.token_hex(8).upper()
    return {
        "aws": "AKIA" + secrets.token_hex(8).upper(),
        "aws_bind": "AKIA" + secrets.token_hex(8).upper(),
        "gh": "ghp_" + secrets.token_hex(18),
        "gh_shape": "ghp_" + secrets.token_hex(18),
        "role_pw": f"rolepw-{h}",
        "ext_pw": f"extpw-{h}",
        "set_tok": f"settok-{h}",
        "bind_plain": f"bindplain-{h}",
        "copy_plain": f"copyplain-{h}",
        "held_pw": f"heldpw-{h}",
        "held_gh": "ghp_" + secrets.token_hex(18),
    }


async def _drive(env: Env, database: str, s: dict[str, str], ci_group: str) -> None:
    """Everything the bots send, then the two held statements denied."""
    base = 9100 + secrets.randbelow(800) * 10
    ci = env.gw.token("bot", (ci_group,))
    out = await trio.to_thread.run_sync(
        lambda: _psql(
            env,
            ci,
            "bot",
            f"SELECT '{s['aws']}' AS k, 'password=plain' AS p",
            f"ALTER ROLE limen_no_such_role PASSWORD '{s['role_pw']}'",
            f"SET app.api_token = '{s['set_tok']}'",
            f"INSERT INTO users_in VALUES ({base}, 'plain-value')",
            f"INSERT INTO users_in VALUES ({base + 1}, '{s['gh_shape']}')",
            f"INSERT INTO users_in VALUES ({base + 2}, '{s['gh']}')",
        )
    )
    assert "INSERT 0 1" in out.stdout, out.stderr

    def extended() -> None:
        with psycopg.connect(env.gw.dsn(ci), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO users_in VALUES (%s, %s), (%s, %s)",
                (base + 3, s["aws_bind"], base + 4, s["bind_plain"]),
            )
            with conn.cursor().copy("COPY users_in (id, email) FROM STDIN") as copy:
                copy.write_row((base + 5, s["copy_plain"]))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"ALTER ROLE limen_no_such_role PASSWORD '{s['ext_pw']}'")

    await trio.to_thread.run_sync(extended)
    vault = env.gw.token("vic", ("vault",))
    approver = env.gw.token("sam", ("security",))

    def held_psql() -> None:
        _psql(env, vault, "vic", f"ALTER ROLE limen_no_such_role PASSWORD '{s['held_pw']}'")

    def held_extended() -> None:
        with (
            psycopg.connect(env.gw.dsn(vault, user="vic"), autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(f"INSERT INTO users_in VALUES ({base + 6}, '{s['held_gh']}')")

    views = env.views
    async with trio.open_nursery() as n:
        n.start_soon(trio.to_thread.run_sync, held_psql)
        n.start_soon(trio.to_thread.run_sync, held_extended)
        reqs = await _wait_pending(env, 2)
        statements = " ".join(r.statement for r in reqs)
        assert "[MASKED:sql-secret]" in statements
        assert "[MASKED:github-token]" in statements
        views.append(
            await trio.to_thread.run_sync(_cli, env, "approvals", "list", "--config", "limen.toml")
        )
        views.append(
            await trio.to_thread.run_sync(
                _cli, env, "approvals", "list", "--json", "--config", "limen.toml"
            )
        )
        for r in reqs:
            views.append(
                await trio.to_thread.run_sync(
                    _cli, env, "approvals", "show", r.id, "--config", "limen.toml"
                )
            )
            got = await trio.to_thread.run_sync(
                _admin, env, "GET", f"/v1/approvals/{r.id}", approver
            )
            assert got.status_code == 200
            views.append(got.text)
        listed = await trio.to_thread.run_sync(_admin, env, "GET", "/v1/approvals", approver)
        views.append(listed.text)
        assert len(listed.json()) == 2
        with trio.fail_after(10):
            while len(env.hooks) < 2:
                await trio.sleep(0.05)
        for r in reqs:
            denied = await trio.to_thread.run_sync(
                _admin, env, "POST", f"/v1/approvals/{r.id}/deny", approver
            )
            assert denied.status_code == 200, denied.text
    with trio.fail_after(20):  # every session ended: its log is closed and signed
        while env.gw.gateway.sessions:
            await trio.sleep(0.05)
    # the upstream got the values untouched
    rows = direct_query(
        database, f"SELECT email FROM users_in WHERE id >= {base} AND id < {base + 10}"
    )
    emails = {str(r[0]) for r in rows}
    for k in ("gh", "gh_shape", "aws_bind", "bind_plain", "copy_plain"):
        assert s[k] in emails


def _assert_absent(what: str, text: str | bytes, s: dict[str, str]) -> None:
    data = text.encode() if isinstance(text, str) else text
    for name, value in s.items():
        assert value.encode() not in data, f"{name} in {what}"


async def _planted(
    nursery: trio.Nursery, tmp_path: Path, database: str, *, raw: bool
) -> tuple[Env, dict[str, str], list[recording.Record], list[Path]]:
    """A gateway, the bots' sessions, and the records of their logs (whose
    files, encrypted, show none of the secrets)."""
    env = await start(nursery, tmp_path, database, raw=raw)
    s = _plant()
    await _drive(env, database, s, "rawci" if raw else "ci")
    recs, paths = _records(env)
    assert paths
    for path in paths:
        _assert_absent(f"the file {path.name}", path.read_bytes(), s)
    return env, s, recs, paths


async def test_planted_secrets_appear_nowhere(
    nursery: trio.Nursery, tmp_path: Path, database: str
) -> None:
    env, s, recs, paths = await _planted(nursery, tmp_path, database, raw=False)
    for rec in recs:
        _assert_absent(f"a {rec.kind} record", rec.payload, s)
    c2u = [r.payload for r in recs if r.kind == recording.Kind.C2U]
    # every statement went through the masker; results too where a rule
    # masks them (ci-app does, vault-app does not)
    assert all(r.masked for r in recs if r.kind == recording.Kind.C2U)
    assert not any(r.masked for r in recs if r.kind == recording.Kind.EVENT)
    for path in paths:
        log = recording.open_log(path, env.recipient.private)
        u2c = [r.masked for r in log if r.kind == recording.Kind.U2C]
        assert u2c
        assert set(u2c) == {log.header.identity == "bot"}
    assert any(b"PASSWORD '[MASKED:sql-secret]'" in p for p in c2u)
    assert any(b"[MASKED:aws-access-key-id]" in p for p in c2u)
    assert any(b"[MASKED:github-token]" in p for p in c2u)
    assert any(b"'plain-value'" in p for p in c2u)  # the rest stays readable
    maskings = [json.loads(r.payload) for r in recs if r.kind == recording.Kind.MASKING]
    assert {"record": "c2u", "masked": {"sql-secret": 1}} in maskings
    assert any("github-token" in m["masked"] for m in maskings)
    # a masking record follows each masked statement
    for i, r in enumerate(recs):
        if r.kind == recording.Kind.C2U and b"[MASKED:" in r.payload:
            assert recs[i + 1].kind == recording.Kind.MASKING
    key_file = tmp_path / "auditor.key"
    recording.save_key(key_file, env.recipient.private, "recipient")
    for session in env.store.sessions():
        replay = await trio.to_thread.run_sync(
            _cli,
            env,
            "sessions",
            "replay",
            "--config",
            "limen.toml",
            "--key",
            str(key_file),
            session.id,
        )
        assert "# end:" in replay, replay
        assert "bot -> upstream [masked]" in replay
        _assert_absent("replay", replay, s)
    for view in env.views:
        _assert_absent("an approvals view", view, s)
    assert len(env.hooks) >= 2
    for body in env.hooks:
        _assert_absent("a webhook body", body, s)
    assert any(b"[MASKED:sql-secret]" in b for b in env.hooks)
    _assert_absent("the audit table", json.dumps(env.store.audit_events()), s)
    _assert_absent("the gateway's log", env.log.getvalue(), s)
    assert '"event":"session_start"' in env.log.getvalue()


async def test_record_raw_input_keeps_statements_raw_in_the_encrypted_log(
    nursery: trio.Nursery, tmp_path: Path, database: str
) -> None:
    env, s, recs, _paths = await _planted(nursery, tmp_path, database, raw=True)
    raw = [r for r in recs if r.kind == recording.Kind.C2U and not r.masked]
    assert raw  # the rawci session's statements: kept raw, flagged so
    c2u = b"\n".join(r.payload for r in raw)
    for k in ("aws", "role_pw", "set_tok", "gh", "gh_shape", "ext_pw"):
        assert s[k].encode() in c2u, k
    events = [json.loads(r.payload) for r in recs if r.kind == recording.Kind.EVENT]
    assert any(e.get("event") == "input_raw" for e in events)
    # people still see them masked: approvals (the vault session is masked
    # anyway), webhooks and logs
    for view in env.views:
        _assert_absent("an approvals view", view, s)
    for body in env.hooks:
        _assert_absent("a webhook body", body, s)
    _assert_absent("the gateway's log", env.log.getvalue(), s)


def test_record_raw_input_needs_a_recipient(tmp_path: Path) -> None:
    text = config_text("db") + vault_rule("http://127.0.0.1:1/hook", raw=True)
    with pytest.raises(ConfigError) as info:
        load_config_text(text, base_dir=tmp_path)
    assert "record_raw_input" in str(info.value)
    assert "recording_recipient" in str(info.value)
