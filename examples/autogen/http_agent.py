"""An AutoGen agent whose HTTP tool goes through limen.

An AgentChat ``AssistantAgent`` gets one tool, ``call_api``, that calls an
internal HTTP API (a ticketing service, say) with httpx — not with the API's
key, but through limen's HTTP listener with a short-lived bearer token that
the tool fetches itself by OAuth2 client credentials (``limen.client``).
limen checks the token, removes it, adds the API's real credential and
judges the request. What the agent then sees is what limen lets through:

1. it reads a customer record (``GET /echo``): the JSON comes back with the
   email address, the card number and the AWS key masked;
2. it tries ``DELETE /users/3``: refused, a ``403`` whose
   ``application/problem+json`` body names the rule, the class and that it
   cannot be approved;
3. it opens a ticket (``POST /tickets``): held. The call waits in place
   until a human runs ``limen approvals approve ID --as NAME``, then the API
   answers (or a ``403`` naming the approval when it is denied or times out);
4. finally its whole session — every request and response, heads and masked
   bodies — is listed and replayed with ``limen sessions``.

By default the model is AutoGen's ``ReplayChatCompletionClient`` scripted
with the tool calls above: offline and deterministic. Set
``LIMEN_AGENT_MODEL`` (and ``LIMEN_AGENT_BASE_URL`` / ``LIMEN_AGENT_API_KEY``
for any OpenAI-compatible endpoint, else ``OPENAI_API_KEY``) to let a real
model drive the same tool.

Settings come from the environment: ``LIMEN_DISCOVERY_URL`` (or
``LIMEN_ISSUER``), ``LIMEN_CLIENT_ID``, ``LIMEN_CLIENT_SECRET`` (or
``LIMEN_CLIENT_SECRET_FILE``), ``LIMEN_HTTP_GATEWAY`` (limen's HTTP
listener, ``http://host:port`` or ``https://...``), ``LIMEN_RESOURCE`` (the
``http`` resource) and optionally ``LIMEN_CONFIG`` (for ``limen sessions``).
See README.md beside this file.

Needs ``pip install 'limen[autogen]'``; the tool itself needs only limen and
httpx.
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
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

import httpx
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

MAX_BODY = 4000
_KNOWN = frozenset(s.value for s in HTTPStatus)
#: How long one call may take: a held call waits for a human (limen's
#: ``hold_timeout`` bounds it; this only bounds a gateway that never answers).
CALL_TIMEOUT = 600.0

#: The scripted run: (what the agent means to do, method, path, JSON body).
SCRIPT: tuple[tuple[str, str, str, str], ...] = (
    ("read the customer record", "GET", "/echo", ""),
    ("delete user 3", "DELETE", "/users/3", ""),
    ("open a ticket", "POST", "/tickets", '{"title": "rotate the staging API key"}'),
)

SYSTEM_MESSAGE = """\
You operate an internal ticketing API. Use the call_api tool, one request per
call. The API is behind limen, an access gateway: response bodies may be
masked ([MASKED:...]), requests may be refused (HTTP 403 with an
application/problem+json body naming the rule and what can be approved) or
held for a human's approval (the call then waits). Never retry a refused
request. When done, say DONE and summarise what you saw."""

TASK = """\
Read the customer record at /echo, then delete user 3 (/users/3), then open a
ticket titled "rotate the staging API key" (POST /tickets). Report what
happened at each step."""


@dataclass(frozen=True)
class Settings:
    """How to reach limen (no secret in ``repr``)."""

    discovery_url: str
    client_id: str
    client_secret: str = field(repr=False)
    gateway: str
    """limen's HTTP listener: ``http://host:port`` (``https://`` with TLS)."""
    resource: str
    config: str | None = None
    """The gateway's config file, for ``limen sessions`` (optional)."""
    ca_file: str | None = None
    """The CA of limen's listener certificate (``LIMEN_CA_FILE``), if not a public one."""

    @classmethod
    def load(cls, env: Mapping[str, str]) -> Settings:
        def need(key: str) -> str:
            value = env.get(key)
            if not value:
                raise SystemExit(f"http_agent: set {key} in the environment (see README.md)")
            return value

        discovery = env.get("LIMEN_DISCOVERY_URL")
        if not discovery:
            discovery = need("LIMEN_ISSUER").rstrip("/") + "/.well-known/openid-configuration"
        secret = env.get("LIMEN_CLIENT_SECRET")
        if not secret:
            secret = Path(need("LIMEN_CLIENT_SECRET_FILE")).read_text(encoding="utf-8").strip()
        return cls(
            discovery_url=discovery,
            client_id=need("LIMEN_CLIENT_ID"),
            client_secret=secret,
            gateway=need("LIMEN_HTTP_GATEWAY").rstrip("/"),
            resource=need("LIMEN_RESOURCE"),
            config=env.get("LIMEN_CONFIG") or None,
            ca_file=env.get("LIMEN_CA_FILE") or None,
        )


# -- the tool -------------------------------------------------------------------


def describe_response(response: httpx.Response) -> str:
    """A response as the agent sees it: the status, the content type, and
    the body (limen's problem documents summarised on one line first)."""
    ctype = response.headers.get("content-type", "")
    code = response.status_code
    reason = response.reason_phrase or (HTTPStatus(code).phrase if code in _KNOWN else "")
    lines = [f"HTTP {code} {reason}".rstrip(), f"content-type: {ctype}"]
    if ctype.startswith("application/problem+json"):
        try:
            doc = response.json()
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            parts = [f"limen: {doc.get('detail', '')}"]
            if doc.get("rule"):
                parts.append(f"rule {doc['rule']}, class {doc.get('class')}")
            if "approvable" in doc:
                parts.append("approvable" if doc["approvable"] else "cannot be approved")
            if doc.get("approval"):
                parts.append(f"approval {doc['approval']}")
            lines.append("; ".join(parts))
    text = response.text
    lines.append(text if len(text) <= MAX_BODY else text[:MAX_BODY] + "...")
    return "\n".join(lines)


class HttpTool:
    """One httpx client (keep-alive: one limen session) through limen, with
    a fresh token on every call; each call runs in a worker thread."""

    def __init__(self, settings: Settings, credentials: ClientCredentials) -> None:
        self.settings = settings
        self.credentials = credentials
        verify: str | bool = settings.ca_file if settings.ca_file else True
        self._http = httpx.Client(timeout=CALL_TIMEOUT, verify=verify)
        self._lock = threading.Lock()

    async def call_api(
        self,
        method: Annotated[str, "the HTTP method: GET, POST, PUT, PATCH or DELETE"],
        path: Annotated[str, "the API path, starting with /"],
        body: Annotated[str, "a JSON request body, or empty"] = "",
    ) -> str:
        """Call the ticketing API through limen and return the status, the
        content type and the body (or limen's reason for refusing it)."""
        return await asyncio.to_thread(self.call_sync, method, path, body)

    def call_sync(self, method: str, path: str, body: str = "") -> str:
        s = self.settings
        url = f"{s.gateway}/r/{s.resource}/{path.lstrip('/')}"
        with self._lock:
            for attempt in (1, 2):
                headers = {"authorization": f"Bearer {self.credentials.token()}"}
                if body:
                    headers["content-type"] = "application/json"
                try:
                    response = self._http.request(
                        method.upper(), url, headers=headers, content=body.encode() or None
                    )
                except httpx.HTTPError as exc:
                    return f"the call through limen failed: {type(exc).__name__}: {exc}"
                if response.status_code == 401 and attempt == 1:
                    self.credentials.invalidate()  # the token may have expired: once more
                    continue
                break
            return describe_response(response)

    def close(self) -> None:
        with self._lock:
            self._http.close()


# -- the model --------------------------------------------------------------------

TOOL_MODEL_INFO = ModelInfo(
    vision=False,
    function_calling=True,
    json_output=False,
    family=ModelFamily.UNKNOWN,
    structured_output=False,
)


def scripted_model(
    script: Sequence[tuple[str, str, str, str]] = SCRIPT,
) -> ReplayChatCompletionClient:
    """A model that calls ``call_api`` once per step of ``script``, then says DONE."""
    replies: list[str | CreateResult] = [
        CreateResult(
            finish_reason="function_calls",
            content=[
                FunctionCall(
                    id=f"call_{i}",
                    name="call_api",
                    arguments=json.dumps({"method": method, "path": path, "body": body}),
                )
            ],
            usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
            cached=False,
            thought=intent,
        )
        for i, (intent, method, path, body) in enumerate(script, start=1)
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

    request: str
    result: str
    is_error: bool


@dataclass
class AgentRun:
    steps: list[ToolStep]
    final: str
    subject: str
    started_at: float


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
    tool = HttpTool(settings, credentials)
    subject = await asyncio.to_thread(credentials.subject)
    say(f"agent: token for {subject} from {credentials.token_endpoint} (client credentials)")
    agent = AssistantAgent(
        name="ticket_operator",
        model_client=model,
        tools=[tool.call_api],
        system_message=SYSTEM_MESSAGE,
        max_tool_iterations=8,
        reflect_on_tool_use=False,
    )
    pending: dict[str, str] = {}
    steps: list[ToolStep] = []
    final = ""
    try:
        async for item in agent.run_stream(task=task):
            if isinstance(item, ToolCallRequestEvent):
                for call in item.content:
                    args = json.loads(call.arguments)
                    shown = f"{args.get('method', '')} {args.get('path', '')}"
                    if args.get("body"):
                        shown += f" {args['body']}"
                    pending[call.id] = shown
                    say(_indent("agent calls call_api", shown))
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
        await asyncio.to_thread(tool.close)  # ends the limen session
        credentials.close()
    say(_indent("agent says", final))
    return AgentRun(steps=steps, final=final, subject=subject, started_at=started)


def _indent(label: str, text: str) -> str:
    lines = text.splitlines() or [""]
    pad = " " * (len(label) + 2)
    return "\n".join([f"{label}: {lines[0]}", *(pad + line for line in lines[1:])])


# -- limen sessions -------------------------------------------------------------------


def limen_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limen", *args], capture_output=True, text=True, check=False
    )


def find_session(config: str, subject: str, since: float, wait: float = 15.0) -> dict[str, Any]:
    """The agent's closed HTTP session from ``limen sessions list --json``."""
    deadline = time.monotonic() + wait
    while True:
        done = limen_cli("sessions", "list", "--config", config, "--json")
        if done.returncode != 0:
            raise RuntimeError(f"limen sessions list failed: {done.stderr.strip()}")
        for line in done.stdout.splitlines():
            rec = json.loads(line)
            if (
                rec.get("subject") == subject
                and rec.get("protocol") == "http"
                and rec.get("started_at", 0) >= since - 1
                and rec.get("ended_at")
            ):
                return dict(rec)
        if time.monotonic() > deadline:
            raise RuntimeError(f"no closed HTTP session of {subject} in limen sessions list")
        time.sleep(0.2)


def replay_session(config: str, session_id: str) -> str:
    done = limen_cli("sessions", "replay", "--config", config, session_id)
    if done.returncode != 0:
        raise RuntimeError(f"limen sessions replay failed: {done.stderr.strip()}")
    return done.stdout


async def main_async(args: argparse.Namespace) -> int:
    settings = Settings.load(os.environ)
    script = SCRIPT[: args.steps] if args.steps else SCRIPT
    model = model_from_env(os.environ) or scripted_model(script)
    mode = "a real model" if os.environ.get("LIMEN_AGENT_MODEL") else "the scripted model"
    print(f"agent: {mode}; limen at {settings.gateway}, resource {settings.resource}")
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
