"""A stand-in Kubernetes API server for the kubernetes gateway's tests.

It is a stand-in because no kube-apiserver can be installed here (no
Debian package, no network to fetch one): an ASGI app run by uvicorn in its
own process that speaks enough of the API for Debian's ``kubectl`` (1.32)
to work unchanged with ``--validate=false``:

- discovery: ``/version``, ``/api``, ``/api/v1``, ``/apis``,
  ``/apis/apps/v1``, ``/apis/batch/v1`` (legacy, not aggregated: kubectl
  falls back to it when the answer is plain ``application/json``);
- namespaced CRUD of pods (``/api/v1``), deployments, statefulsets,
  daemonsets, replicasets (``/apps/v1``), jobs and cronjobs (``/batch/v1``):
  list (also across namespaces, with a ``metadata.name`` field selector),
  get, create, update (PUT), delete, and patch (JSON patch, merge patch,
  and a simplified strategic merge: lists of objects with a ``name`` merge
  by name, other lists are replaced); ``?dryRun=All`` answers what the
  write would do and stores nothing; ``?watch=true`` answers the current
  objects as ``ADDED`` events (chunked, each event cut across two chunks)
  and ends;
- custom resources, as if their CRDs were installed: Argo Rollouts
  (``rollouts.argoproj.io``: a pod template at ``spec.template``) and
  ``workerpools.example.com`` (pod specs wherever the test puts them),
  with the same CRUD, patches and dry run;
- ``pods/ephemeralcontainers`` (PATCH, PUT), ``pods/NAME/log``;
- a ``Table`` answer when the client asks for one (kubectl get);
- ``Status`` objects for errors (404, 409, 415, 422);
- WebSocket: ``pods/NAME/exec`` (``v5.channel.k8s.io``) and
  ``pods/NAME/portforward`` with SPDY tunnelled in binary messages
  (``SPDY/3.1+portforward.k8s.io``, kubectl 1.31+; an echo per port);
  SPDY upgrades are served by the front (tests/kube_front.py).

A bearer token is required when the app is started with ``KUBE_STANDIN_TOKEN``
set (the cluster credential limen holds); ``/_calls`` (no token) lists the
calls received, ``/_reset`` forgets them and the objects.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from kube_standin_ops import json_patch, merge, table

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: (group, version) → {plural: (Kind, namespaced)}
RESOURCES: dict[tuple[str, str], dict[str, tuple[str, bool]]] = {
    ("", "v1"): {
        "pods": ("Pod", True),
        "namespaces": ("Namespace", False),
        "services": ("Service", True),
    },
    ("apps", "v1"): {
        "deployments": ("Deployment", True),
        "statefulsets": ("StatefulSet", True),
        "daemonsets": ("DaemonSet", True),
        "replicasets": ("ReplicaSet", True),
    },
    ("batch", "v1"): {"jobs": ("Job", True), "cronjobs": ("CronJob", True)},
    # custom resources (as if their CRDs were installed)
    ("argoproj.io", "v1alpha1"): {"rollouts": ("Rollout", True)},
    ("example.com", "v1"): {"workerpools": ("WorkerPool", True)},
}
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SHORT = {"pods": ["po"], "deployments": ["deploy"], "namespaces": ["ns"], "services": ["svc"]}

#: (group, plural, namespace, name) → object
STORE: dict[tuple[str, str, str, str], dict[str, Any]] = {}
CALLS: list[dict[str, Any]] = []
_RV = [1000]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _resource_list(group: str, version: str) -> dict[str, Any]:
    gv = f"{group}/{version}" if group else version
    out = []
    for plural, (kind, namespaced) in RESOURCES[(group, version)].items():
        entry: dict[str, Any] = {
            "name": plural,
            "singularName": kind.lower(),
            "namespaced": namespaced,
            "kind": kind,
            "verbs": VERBS,
        }
        if plural in SHORT:
            entry["shortNames"] = SHORT[plural]
        out.append(entry)
        if plural == "pods":
            for sub, verbs in (
                ("pods/log", ["get"]),
                ("pods/exec", ["create", "get"]),
                ("pods/ephemeralcontainers", ["get", "patch", "update"]),
            ):
                out.append(
                    {
                        "name": sub,
                        "singularName": "",
                        "namespaced": True,
                        "kind": kind,
                        "verbs": verbs,
                    }
                )
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}


def _discovery(path: str) -> dict[str, Any] | None:
    if path == "/version":
        return {
            "major": "1",
            "minor": "32",
            "gitVersion": "v1.32.0-standin",
            "platform": "linux/amd64",
        }
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "standin"}],
        }
    if path == "/apis":
        groups = []
        for group, version in RESOURCES:
            if group:
                gv = {"groupVersion": f"{group}/{version}", "version": version}
                groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    parts = path.strip("/").split("/")
    if parts[:1] == ["api"] and len(parts) == 2 and ("", parts[1]) in RESOURCES:
        return _resource_list("", parts[1])
    if parts[:1] == ["apis"] and len(parts) == 3 and (parts[1], parts[2]) in RESOURCES:
        return _resource_list(parts[1], parts[2])
    return None


class Reply(Exception):
    def __init__(self, code: int, body: dict[str, Any]) -> None:
        super().__init__(code)
        self.code = code
        self.body = body


def _fail(code: int, reason: str, message: str) -> Reply:
    return Reply(code, _status(code, reason, message))


def _parse(path: str) -> tuple[str, str, str, str, str, str]:
    """(group, version, plural, namespace, name, subresource) of a path."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise _fail(404, "NotFound", f"the server could not find the requested resource {path}")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    if plural not in RESOURCES.get((group, version), {}):
        raise _fail(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else ""
    sub = "/".join(rest[2:])
    return group, version, plural, namespace, name, sub


def _handle(
    method: str, path: str, query: dict[str, list[str]], ctype: str, accept: str, body: bytes
) -> dict[str, Any]:
    found = _discovery(path)
    if found is not None and method == "GET":
        return found
    group, version, plural, namespace, name, sub = _parse(path)
    kind = RESOURCES[(group, version)][plural][0]
    api_version = f"{group}/{version}" if group else version
    dry = query.get("dryRun", [""])[0] == "All"
    key = (group, plural, namespace, name)
    if method == "GET" and not name:
        items = [
            v
            for (g, p, ns, _), v in sorted(STORE.items())
            if g == group and p == plural and (not namespace or ns == namespace)
        ]
        for sel in query.get("fieldSelector", []):
            field, _, want = sel.partition("=")
            if field == "metadata.name":
                items = [i for i in items if i["metadata"]["name"] == want.lstrip("=")]
        if query.get("watch", [""])[0] in ("true", "1"):
            raise Reply(200, {"__watch__": items})
        meta = {"resourceVersion": str(_RV[0])}
        if "as=Table" in accept:
            return table(items, meta)
        return {"kind": f"{kind}List", "apiVersion": api_version, "metadata": meta, "items": items}
    if method == "POST" and not name:
        try:
            obj = json.loads(body)
        except ValueError:
            raise _fail(415, "UnsupportedMediaType", "the body is not JSON") from None
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            raise _fail(422, "Invalid", f"{kind} is invalid: metadata.name: Required value")
        meta.setdefault("namespace", namespace)
        key = (group, plural, namespace, meta["name"])
        if key in STORE:
            raise _fail(409, "AlreadyExists", f'{plural} "{meta["name"]}" already exists')
        obj["kind"], obj["apiVersion"] = kind, api_version
        _RV[0] += 1
        meta.update(resourceVersion=str(_RV[0]), creationTimestamp=_now(), uid=f"uid-{_RV[0]}")
        if kind == "Pod":
            obj.setdefault("status", {})["phase"] = "Running"
        if not dry:
            STORE[key] = obj
        raise Reply(201, obj)
    if key not in STORE:
        raise _fail(404, "NotFound", f'{plural} "{name}" not found')
    current = STORE[key]
    if method == "GET" and sub == "log":
        raise Reply(200, {"__text__": f"log of {name}\n"})
    if method == "GET" and not sub:
        return current
    if method == "DELETE" and not sub:
        if not dry:
            del STORE[key]
        return current
    if method in ("PUT", "PATCH") and sub in ("", "ephemeralcontainers", "status"):
        try:
            patch = json.loads(body)
            if method == "PUT":
                new = patch
            elif ctype.startswith("application/json-patch+json"):
                new = json_patch(current, patch)
            elif ctype.startswith("application/merge-patch+json"):
                new = merge(current, patch, strategic=False)
            elif ctype.startswith("application/strategic-merge-patch+json"):
                new = merge(current, patch, strategic=True)
            else:
                raise _fail(415, "UnsupportedMediaType", f"the patch type {ctype} is not supported")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _fail(422, "Invalid", f"the patch does not apply: {exc}") from None
        new["kind"], new["apiVersion"] = kind, api_version
        _RV[0] += 1
        new.setdefault("metadata", {})["resourceVersion"] = str(_RV[0])
        if not dry:
            STORE[key] = new
        return new
    raise _fail(405, "MethodNotAllowed", f"{method} is not supported on {path}")


TUNNEL = "SPDY/3.1+portforward.k8s.io"


async def _tunnel(receive: Receive, send: Send) -> None:
    """Port-forward over WebSocket (kubectl 1.31+): SPDY tunnelled in
    binary messages; the SPDY echo of tests/kube_spdy_standin.py."""
    from kube_spdy_standin import SpdyExec, WsIO

    msg = await receive()
    if msg["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept", "subprotocol": TUNNEL})
    io = WsIO(receive, send)
    with contextlib.suppress(ValueError):
        await SpdyExec(io, io).forward()
    await send({"type": "websocket.close", "code": 1000})


async def _exec(scope: Scope, receive: Receive, send: Send) -> None:
    """``pods/NAME/exec`` over WebSocket, subprotocol ``v5.channel.k8s.io``
    (each binary message starts with its channel: 0 stdin, 1 stdout, 2
    stderr, 3 status, 255 close). The command runs nowhere: ``echo ARGS``
    prints its arguments, ``cat`` echoes stdin until the client closes
    stdin, anything else prints ``ran: ARGS``; then a Success status."""
    headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
    CALLS.append(
        {
            "method": "WEBSOCKET",
            "path": scope["path"],
            "query": scope["query_string"].decode("latin-1"),
            "authorization": headers.get("authorization", ""),
        }
    )
    token = os.environ.get("KUBE_STANDIN_TOKEN")
    protocols = list(scope.get("subprotocols") or [])
    if token and headers.get("authorization") != f"Bearer {token}":
        await send({"type": "websocket.close", "code": 1008})
        return
    if scope["path"].endswith("/portforward") and TUNNEL in protocols:
        await _tunnel(receive, send)
        return
    if "v5.channel.k8s.io" not in protocols or not scope["path"].endswith("/exec"):
        await send({"type": "websocket.close", "code": 1008})
        return
    msg = await receive()
    if msg["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept", "subprotocol": "v5.channel.k8s.io"})
    command = parse_qs(scope["query_string"].decode("latin-1")).get("command", [])
    if command[:1] == ["cat"]:
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                return
            data = msg.get("bytes") or b""
            if data[:1] == b"\x00" and len(data) > 1:
                await send({"type": "websocket.send", "bytes": b"\x01" + data[1:]})
            elif data[:2] == b"\xff\x00":  # the client closed stdin
                break
    elif command[:1] == ["echo"]:
        out = " ".join(command[1:]) + "\n"
        await send({"type": "websocket.send", "bytes": b"\x01" + out.encode()})
    else:
        out = "ran: " + " ".join(command) + "\n"
        await send({"type": "websocket.send", "bytes": b"\x01" + out.encode()})
    status = json.dumps({"metadata": {}, "status": "Success"}).encode()
    await send({"type": "websocket.send", "bytes": b"\x03" + status})
    await send({"type": "websocket.close", "code": 1000})


async def _send(send: Send, code: int, body: bytes, ctype: bytes = b"application/json") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await _exec(scope, receive, send)
        return
    if scope["type"] != "http":
        return
    body = bytearray()
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    path: str = scope["path"]
    method: str = scope["method"]
    headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
    if path == "/_calls":
        await _send(send, 200, json.dumps(CALLS).encode())
        return
    if path == "/_reset":
        CALLS.clear()
        STORE.clear()
        await _send(send, 200, b"{}")
        return
    query = parse_qs(scope["query_string"].decode("latin-1"))
    CALLS.append(
        {
            "method": method,
            "path": path,
            "query": scope["query_string"].decode("latin-1"),
            "authorization": headers.get("authorization", ""),
        }
    )
    token = os.environ.get("KUBE_STANDIN_TOKEN")
    if token and headers.get("authorization") != f"Bearer {token}":
        reply = _status(401, "Unauthorized", "Unauthorized")
        await _send(send, 401, json.dumps(reply).encode())
        return
    try:
        result = _handle(
            method,
            path,
            query,
            headers.get("content-type", ""),
            headers.get("accept", ""),
            bytes(body),
        )
        code = 200
    except Reply as r:
        code, result = r.code, r.body
    if "__text__" in result:
        await _send(send, code, result["__text__"].encode(), b"text/plain")
        return
    if "__watch__" in result:  # chunked, each event cut in two chunks
        start = {"type": "http.response.start", "status": 200}
        await send({**start, "headers": [(b"content-type", b"application/json")]})
        for obj in result["__watch__"]:
            line = json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n"
            half = len(line) // 2
            for part in (line[:half], line[half:]):
                await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    await _send(send, code, json.dumps(result).encode())
