"""``limen demo --walkthrough``: the gateway in-process, the scripted bot
through it, a human approving its held DELETE from the CLI, and the replay of
the bot's own recorded session."""

from __future__ import annotations

import argparse
import contextlib
import io
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import paramiko
import psycopg
import trio

from limen.cli import CheckFailed
from limen.cli.demo.bot import Steps, bot_script
from limen.cli.demo.defaults import APPROVER, HELD_DELETE, SELECT_USERS, SUBJECT, USERS
from limen.cli.demo.sshpart import ssh_steps
from limen.config import Config
from limen.gateway.server import JsonLog
from limen.identity import DevIdP
from limen.store import ApprovalRequest, StoreError, open_store


def cli_approver(config: Config, config_path: Path) -> Callable[[Steps], threading.Thread]:
    """The human: waits for the request, then runs `limen approvals approve`."""
    from limen.cli.approvals import cmd_vote

    def start(steps: Steps) -> threading.Thread:
        def approve() -> None:
            store = open_store(config.gateway.state, Path(config.base_dir))
            try:
                deadline = time.monotonic() + 20
                pending: list[ApprovalRequest] = []
                while not pending and time.monotonic() < deadline:
                    pending = [r for r in store.approvals() if r.subject == SUBJECT]
                    time.sleep(0.1)
            finally:
                store.close()
            if not pending:
                print("   human: no approval request appeared", flush=True)
                return
            req = pending[0]
            print(
                f"   human ran: limen approvals approve --config {config_path} {req.id} "
                f"--as {APPROVER} --reason 'cleanup ticket 42'",
                flush=True,
            )
            args = argparse.Namespace(
                config=str(config_path),
                id=req.id,
                name=APPROVER,
                reason="cleanup ticket 42",
                grant=None,
                approve=True,
            )
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    cmd_vote(args)
            except CheckFailed as exc:
                out.write(f"limen: {exc}")
            print(f"   human saw: {out.getvalue().strip()}", flush=True)

        thread = threading.Thread(target=approve, name="demo-approver", daemon=True)
        thread.start()
        return thread

    return start


def replay_own_session(steps: Steps, config: Config, config_path: Path, since: float) -> None:
    """Find the bot's session in the state store and replay its recording."""
    from limen.cli.sessions import cmd_replay

    steps.start("replay the bot's own session from its recording")
    store = open_store(config.gateway.state, Path(config.base_dir))
    try:
        session = None
        deadline = time.monotonic() + 15
        while session is None and time.monotonic() < deadline:
            for rec in store.sessions(20):
                if rec.subject == SUBJECT and rec.started_at >= since and rec.ended_at:
                    session = rec
                    break
            else:
                time.sleep(0.1)
    finally:
        store.close()
    if session is None:
        steps.check(False, "the session indexed in the state store")
        return
    steps.sent(f"limen sessions replay --config {config_path} {session.id}")
    out = io.StringIO()
    args = argparse.Namespace(config=str(config_path), target=session.id, key=None, play=False)
    try:
        with contextlib.redirect_stdout(out):
            rc = cmd_replay(args)
    except CheckFailed as exc:
        steps.saw(out.getvalue() + f"\nlimen: {exc}")
        steps.check(False, "a readable transcript")
        return
    text = out.getvalue()
    steps.saw(text)
    raw = [v for u in USERS for v in (u[2], u[3], u[4])]
    steps.check(
        rc == 0
        and SELECT_USERS in text
        and "DROP TABLE users" in text
        and HELD_DELETE in text
        and "[MASKED:email]" in text
        and not any(r in text for r in raw),
        "the SELECT, the DROP and the held DELETE in the transcript, the results masked, "
        "no raw secret",
    )


async def walkthrough(config: Config, config_path: Path, log: JsonLog) -> list[str]:
    """Run the gateway in-process, drive the bot, replay; the failed steps."""
    from limen.cli.serve import serve

    steps = Steps()
    since = time.time() - 1
    print(
        f"limen demo --walkthrough: gateway on 127.0.0.1 in front of PostgreSQL "
        f"{config.resources[0].upstream}, database {config.resources[0].database}; "
        f"config {config_path}",
        flush=True,
    )
    async with trio.open_nursery() as nursery:
        serving = await nursery.start(serve, config, log)
        try:
            idp = DevIdP.from_config(config)
            try:
                await trio.to_thread.run_sync(
                    bot_script, steps, idp, serving.port, cli_approver(config, config_path)
                )
            except (psycopg.Error, OSError, ValueError) as exc:
                steps.abort(exc)
            replay: Callable[[], None] = lambda: replay_own_session(  # noqa: E731
                steps, config, config_path, since
            )
            try:
                await trio.to_thread.run_sync(replay)
            except (StoreError, OSError, ValueError) as exc:
                steps.abort(exc)
            # after the replay: it looks for the bot's newest session (PostgreSQL's)
            if serving.ssh_port is not None:
                try:
                    await trio.to_thread.run_sync(ssh_steps, steps, idp, serving.ssh_port)
                except (paramiko.SSHException, OSError, EOFError) as exc:
                    steps.abort(exc)
        finally:
            async with trio.open_nursery() as draining:
                for gateway in (serving.gateway, serving.ssh):
                    if gateway is not None:
                        draining.start_soon(partial(gateway.drain, timeout=2))
    return steps.failed
