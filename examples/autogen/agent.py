"""An AutoGen agent whose SQL tool goes through limen.

An AgentChat ``AssistantAgent`` gets one tool, ``run_sql``, that runs a
statement on a staging database — not with a database password, but through
limen with a short-lived token that the tool fetches itself by OAuth2 client
credentials (``limen.client``). What the agent then sees is what limen lets
through:

1. it lists the tables;
2. it reads ``users``: emails, card numbers and API keys come back masked;
3. it tries ``DROP TABLE users``: refused, and the tool result carries
   limen's reason (the rule, the statement class, that it cannot be
   approved) from PostgreSQL's own error fields — message, detail, hint;
4. it tries a ``DELETE ... WHERE``: held. limen's NOTICE names the approval
   id and the command that approves it; the tool call blocks until a human
   runs ``limen approvals approve ID --as NAME``, then returns the row count;
5. finally its whole session is listed and replayed with ``limen sessions``.

By default the model is AutoGen's ``ReplayChatCompletionClient`` scripted
with the tool calls above: offline and deterministic. Set
``LIMEN_AGENT_MODEL`` (and ``LIMEN_AGENT_BASE_URL`` / ``LIMEN_AGENT_API_KEY``
for any OpenAI-compatible endpoint, else ``OPENAI_API_KEY``) to let a real
model drive the same tool.

Where limen is comes from the environment or from the file that ``limen demo``
writes (``.limen/agent.env``): ``LIMEN_DISCOVERY_URL`` (or ``LIMEN_ISSUER``),
``LIMEN_CLIENT_ID``, ``LIMEN_CLIENT_SECRET`` (or ``LIMEN_CLIENT_SECRET_FILE``),
``LIMEN_GATEWAY`` (host:port), ``LIMEN_RESOURCE`` and ``LIMEN_CONFIG`` (for
``limen sessions``). See README.md beside this file.

Needs ``pip install 'limen[autogen]'``; the tool itself needs only limen and
psycopg.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import psycopg
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import ToolCallExecutionEvent, ToolCallRequestEvent
from autogen_core import EVENT_LOGGER_NAME, FunctionCall
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    ModelFamily,
    ModelInfo,
    RequestUsage,
)
from autogen_ext.models.replay import ReplayChatCompletionClient

from limen.client import ClientCredentials

DEFAULT_ENV_FILE = Path(".limen/agent.env")
MAX_ROWS = 50
MAX_CELL = 200

#: The scripted run: (what the agent means to do, the SQL it sends).
SCRIPT: tuple[tuple[str, str], ...] = (
    (
        "list the tables",
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' ORDER BY table_name",
    ),
    ("read the users", "SELECT id, name, email, card, api_key, note FROM users ORDER BY id"),
    ("drop the users table", "DROP TABLE users"),
    ("delete one user", "DELETE FROM users WHERE id = 3"),
)

SYSTEM_MESSAGE = """\
You test code against a staging PostgreSQL database. Use the run_sql tool, one
statement per call. The database is behind limen, an access gateway: results
may be masked ([MASKED:...]), statements may be refused (the tool result then
says which rule refused it and what to do next) or held for a human's approval
(the call then waits). Never retry a refused statement. When done, say DONE
and summarise what you saw."""

TASK = """\
List the tables, read the users table, then drop the users table, then delete
the user with id 3. Report what happened at each step."""


# -- where limen is ------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """How to reach limen (no secret in ``repr``)."""

    discovery_url: str
    client_id: str
    client_secret: str = field(repr=False)
    host: str
    port: int
    resource: str
    config: str | None = None
    """The gateway's config file, for ``limen sessions`` (optional)."""

    @classmethod
    def load(cls, env: Mapping[str, str], env_file: Path | None) -> Settings:
        """From ``env``, falling back to ``env_file`` (KEY=VALUE lines)."""
        values: dict[str, str] = {}
        if env_file is not None and env_file.exists():
            for line in env_file.read_text(encoding="utf-8").splitlines():
                key, sep, value = line.strip().partition("=")
                if sep and not key.startswith("#"):
                    values[key.strip()] = value.strip()
        values.update({k: v for k, v in env.items() if k.startswith("LIMEN_")})

        def need(key: str) -> str:
            if not values.get(key):
                where = f" or in {env_file}" if env_file is not None else ""
                raise SystemExit(
                    f"agent: set {key} in the environment{where} "
                    "(run `limen demo` first: it writes .limen/agent.env)"
                )
            return values[key]

        discovery = values.get("LIMEN_DISCOVERY_URL")
        if not discovery:
            discovery = need("LIMEN_ISSUER").rstrip("/") + "/.well-known/openid-configuration"
        secret = values.get("LIMEN_CLIENT_SECRET")
        if not secret:
            secret_file = Path(need("LIMEN_CLIENT_SECRET_FILE"))
            secret = secret_file.read_text(encoding="utf-8").strip()
        host, _, port = need("LIMEN_GATEWAY").rpartition(":")
        return cls(
            discovery_url=discovery,
            client_id=need("LIMEN_CLIENT_ID"),
            client_secret=secret,
            host=host.strip("[]") or "127.0.0.1",
            port=int(port),
            resource=need("LIMEN_RESOURCE"),
            config=values.get("LIMEN_CONFIG") or None,
        )


# -- the tool -------------------------------------------------------------------


def describe_error(exc: psycopg.Error) -> str:
    """A PostgreSQL error as the agent sees it: SQLSTATE, message, detail, hint."""
    diag = exc.diag
    primary = diag.message_primary or str(exc).strip()
    lines = [f"ERROR {exc.sqlstate or '?'}: {primary}"]
    if diag.message_detail:
        lines.append(f"DETAIL: {diag.message_detail}")
    if diag.message_hint:
        lines.append(f"HINT: {diag.message_hint}")
    return "\n".join(lines)


def describe_notice(diag: psycopg.errors.Diagnostic) -> str:
    lines = [f"{diag.severity or 'NOTICE'}: {diag.message_primary or ''}"]
    if diag.message_detail:
        lines.append(f"DETAIL: {diag.message_detail}")
    if diag.message_hint:
        lines.append(f"HINT: {diag.message_hint}")
    return "\n".join(lines)


def _cell(value: object) -> str:
    text = "NULL" if value is None else str(value)
    return text if len(text) <= MAX_CELL else text[:MAX_CELL] + "..."


class SqlTool:
    """One psycopg connection through limen, (re)opened with a fresh token
    when needed; each call runs in a worker thread (the agent is asyncio)."""

    def __init__(
        self,
        settings: Settings,
        credentials: ClientCredentials,
        on_notice: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.on_notice = on_notice
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._lock = threading.Lock()
        self._notices: list[str] = []

    async def run_sql(
        self, sql: Annotated[str, "one SQL statement to run on the staging database"]
    ) -> str:
        """Run one SQL statement on the staging database through limen and
        return the rows, the row count, or limen's reason for refusing it."""
        return await asyncio.to_thread(self.run_sync, sql)

    def run_sync(self, sql: str) -> str:
        with self._lock:
            self._notices = []
            try:
                conn = self._connection()
            except psycopg.Error as exc:
                return f"could not connect through limen: {describe_error(exc)}"
            try:
                with conn.cursor() as cur:
                    cur.execute(sql.encode())
                    result = self._format(cur)
            except psycopg.OperationalError as exc:
                self.close_locked()
                result = (
                    describe_error(exc) + "\n(the connection was lost; the next call reconnects)"
                )
            except psycopg.Error as exc:
                result = describe_error(exc)
            return "\n".join([*self._notices, result])

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        s = self.settings
        url = self.credentials.connection_url(
            s.resource,
            host=s.host,
            port=s.port,
            params={"sslmode": "prefer", "application_name": "autogen-agent"},
        )
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError:
            self.credentials.invalidate()  # the token may have been refused
            raise
        conn.add_notice_handler(self._notice)
        self._conn = conn
        return conn

    def _notice(self, diag: psycopg.errors.Diagnostic) -> None:
        text = describe_notice(diag)
        self._notices.append(text)
        self.on_notice(text)

    @staticmethod
    def _format(cur: psycopg.Cursor[tuple[Any, ...]]) -> str:
        if cur.description is None:
            n = cur.rowcount
            affected = f" ({n} row{'s' if n != 1 else ''} affected)" if n >= 0 else ""
            return f"OK: {cur.statusmessage}{affected}"
        rows = cur.fetchmany(MAX_ROWS + 1)
        lines = [" | ".join(col.name for col in cur.description)]
        lines.extend(" | ".join(_cell(v) for v in row) for row in rows[:MAX_ROWS])
        if len(rows) > MAX_ROWS:
            lines.append(f"(more than {MAX_ROWS} rows; only the first {MAX_ROWS} shown)")
        else:
            lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
        return "\n".join(lines)

    def close_locked(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self.close_locked()


# -- the model --------------------------------------------------------------------

TOOL_MODEL_INFO = ModelInfo(
    vision=False,
    function_calling=True,
    json_output=False,
    family=ModelFamily.UNKNOWN,
    structured_output=False,
)


def scripted_model(script: Sequence[tuple[str, str]] = SCRIPT) -> ReplayChatCompletionClient:
    """A model that calls ``run_sql`` once per step of ``script``, then says DONE."""
    replies: list[str | CreateResult] = [
        CreateResult(
            finish_reason="function_calls",
            content=[
                FunctionCall(id=f"call_{i}", name="run_sql", arguments=json.dumps({"sql": sql}))
            ],
            usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
            cached=False,
            thought=intent,
        )
        for i, (intent, sql) in enumerate(script, start=1)
    ]
    replies.append("DONE: every step ran; see the tool results above.")
    return ReplayChatCompletionClient(replies, model_info=TOOL_MODEL_INFO)


def model_from_env(env: Mapping[str, str]) -> ChatCompletionClient | None:
    """A real model when ``LIMEN_AGENT_MODEL`` is set (any OpenAI-compatible API)."""
    model = env.get("LIMEN_AGENT_MODEL")
    if not model:
        return None
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    base_url = env.get("LIMEN_AGENT_BASE_URL") or None
    api_key = env.get("LIMEN_AGENT_API_KEY") or env.get("OPENAI_API_KEY") or "unused"
    if base_url is None:
        return OpenAIChatCompletionClient(model=model, api_key=api_key)
    return OpenAIChatCompletionClient(
        model=model, base_url=base_url, api_key=api_key, model_info=TOOL_MODEL_INFO
    )


# -- the run ------------------------------------------------------------------------


@dataclass
class ToolStep:
    """One tool call: what the agent sent and what it saw."""

    sql: str
    result: str
    is_error: bool


@dataclass
class AgentRun:
    steps: list[ToolStep]
    final: str
    subject: str
    started_at: float
    session: dict[str, Any] | None = None
    replay: str = ""


def build_agent(model: ChatCompletionClient, tool: SqlTool, max_steps: int = 8) -> AssistantAgent:
    return AssistantAgent(
        name="staging_tester",
        model_client=model,
        tools=[tool.run_sql],
        system_message=SYSTEM_MESSAGE,
        max_tool_iterations=max_steps,
        reflect_on_tool_use=False,
    )


async def run_agent(
    settings: Settings,
    model: ChatCompletionClient,
    *,
    task: str = TASK,
    say: Callable[[str], None] = print,
) -> AgentRun:
    """Run the agent to the end; print each step with ``say``."""
    started = time.time()
    credentials = ClientCredentials(
        discovery_url=settings.discovery_url,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
    )
    tool = SqlTool(settings, credentials, on_notice=lambda text: say(_indent("limen", text)))
    subject = await asyncio.to_thread(credentials.subject)
    say(f"agent: token for {subject} from {credentials.token_endpoint} (client credentials)")
    agent = build_agent(model, tool)
    pending: dict[str, str] = {}
    steps: list[ToolStep] = []
    final = ""
    try:
        async for item in agent.run_stream(task=task):
            if isinstance(item, ToolCallRequestEvent):
                for call in item.content:
                    sql = str(json.loads(call.arguments).get("sql", ""))
                    pending[call.id] = sql
                    say(_indent("agent calls run_sql", sql))
            elif isinstance(item, ToolCallExecutionEvent):
                for res in item.content:
                    steps.append(
                        ToolStep(pending.pop(res.call_id, ""), res.content, bool(res.is_error))
                    )
                    say(_indent("agent sees", res.content))
            elif isinstance(item, TaskResult):
                last = item.messages[-1] if item.messages else None
                final = last.to_text() if last is not None else ""
    finally:
        tool.close()
        credentials.close()
    say(_indent("agent says", final))
    return AgentRun(steps=steps, final=final, subject=subject, started_at=started)


def _indent(label: str, text: str) -> str:
    lines = text.splitlines() or [""]
    pad = " " * (len(label) + 2)
    return "\n".join([f"{label}: {lines[0]}", *(pad + line for line in lines[1:])])


# -- limen sessions -------------------------------------------------------------------


def _limen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limen", *args], capture_output=True, text=True, check=False
    )


def find_session(config: str, subject: str, since: float, wait: float = 15.0) -> dict[str, Any]:
    """The agent's closed session from ``limen sessions list --json``."""
    deadline = time.monotonic() + wait
    while True:
        done = _limen("sessions", "list", "--config", config, "--json")
        if done.returncode != 0:
            raise RuntimeError(f"limen sessions list failed: {done.stderr.strip()}")
        for line in done.stdout.splitlines():
            rec = json.loads(line)
            if (
                rec.get("subject") == subject
                and rec.get("started_at", 0) >= since - 1
                and rec.get("ended_at")
            ):
                return dict(rec)
        if time.monotonic() > deadline:
            raise RuntimeError(f"no closed session of {subject} in limen sessions list")
        time.sleep(0.2)


def replay_session(config: str, session_id: str) -> str:
    done = _limen("sessions", "replay", "--config", config, session_id)
    if done.returncode != 0:
        raise RuntimeError(f"limen sessions replay failed: {done.stderr.strip()}")
    return done.stdout


async def main_async(args: argparse.Namespace) -> int:
    settings = Settings.load(os.environ, None if args.env_file == "" else Path(args.env_file))
    script = SCRIPT[: args.steps] if args.steps else SCRIPT
    model = model_from_env(os.environ) or scripted_model(script)
    mode = "a real model" if os.environ.get("LIMEN_AGENT_MODEL") else "the scripted model"
    print(f"agent: {mode}; limen at {settings.host}:{settings.port}, resource {settings.resource}")
    run = await run_agent(settings, model)
    if settings.config is None:
        print("(set LIMEN_CONFIG to the gateway's config to list and replay the session)")
        return 0
    session = await asyncio.to_thread(find_session, settings.config, run.subject, run.started_at)
    print(f"\n$ limen sessions list --config {settings.config}  (the agent's session)")
    print(json.dumps(session, indent=2))
    print(f"\n$ limen sessions replay --config {settings.config} {session['id']}")
    print(await asyncio.to_thread(replay_session, settings.config, str(session["id"])))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--env-file",
        default=str(DEFAULT_ENV_FILE),
        help="KEY=VALUE file with the LIMEN_* settings (default .limen/agent.env, written by "
        "`limen demo`; '' for none); the environment wins",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=0,
        metavar="N",
        help="scripted model only: run the first N steps of the script (default: all)",
    )
    args = parser.parse_args(argv)
    # The replay model warns on every call that it counts tokens roughly.
    logging.getLogger(EVENT_LOGGER_NAME).setLevel(logging.ERROR)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
