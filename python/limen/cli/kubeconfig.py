"""``limen kubeconfig``: a kubeconfig for kubectl through limen.

The cluster is limen's Kubernetes listener (``[listeners] kubernetes``)
with the resource's path, ``https://HOST:PORT/r/RESOURCE`` (kubectl sends
bearer tokens only over TLS: a listener without ``tls_cert`` gets an
``http://`` server and a warning); the user is an exec credential plugin,
``limen token --exec-credential ...``, so kubectl asks for a fresh
short-lived limen token by itself. The cluster's own credential never
appears: it stays in limen's config.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from limen.cli import CheckFailed, UsageError
from limen.cli._configfile import add_config_argument, load_config_arg


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "kubeconfig",
        help="write a kubeconfig whose user gets limen tokens by itself",
        description=(
            "Write a kubeconfig (JSON, which kubectl reads) for a kubernetes resource: the "
            "server is limen's Kubernetes listener, the user an exec plugin running `limen "
            "token --exec-credential` (dev IdP tokens for --sub/--group, or a token file your "
            "identity provider's client keeps fresh)."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--resource", required=True, metavar="NAME", help="a kubernetes resource")
    parser.add_argument("--sub", metavar="NAME", help="the subject of dev IdP tokens")
    parser.add_argument(
        "--group", action="append", default=[], metavar="G", help="a group (repeatable)"
    )
    parser.add_argument("--ttl", metavar="DURATION", help="dev IdP token lifetime, e.g. 10m")
    parser.add_argument("--token-file", metavar="FILE", help="read tokens from FILE instead")
    parser.add_argument("--server", metavar="URL", help="the gateway's URL as kubectl reaches it")
    parser.add_argument(
        "--ca-file", metavar="FILE", help="the CA kubectl checks limen's certificate with"
    )
    parser.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config_arg(args)
    resource = config.resource(args.resource)
    if resource is None or resource.protocol != "kubernetes":
        raise UsageError(f"--resource: no kubernetes resource named {args.resource!r}")
    if (args.sub is None) == (args.token_file is None):
        raise UsageError("give --sub (dev IdP tokens) or --token-file, not both")
    if args.sub is not None and not config.identity.dev.enabled:
        raise UsageError("--sub needs [identity.dev] enabled = true; else use --token-file")
    listeners = config.listeners
    server = args.server
    if server is None:
        at = listeners.kubernetes
        if at is None:
            raise UsageError("the config has no [listeners] kubernetes (or give --server)")
        scheme = "https" if listeners.tls_cert else "http"
        if scheme == "http":
            print(
                "limen: warning: [listeners] has no tls_cert: kubectl sends no token over http",
                file=sys.stderr,
            )
        host = f"[{at.host}]" if ":" in at.host else at.host
        server = f"{scheme}://{host}:{at.port}"
    server = server.rstrip("/") + f"/r/{resource.name}"
    plugin = ["-m", "limen", "token", "--exec-credential", "--config"]
    plugin.append(str(Path(args.config).resolve()))
    if args.token_file is not None:
        plugin += ["--token-file", str(Path(args.token_file).resolve())]
    else:
        plugin += ["--sub", args.sub]
        for group in args.group:
            plugin += ["--group", group]
        if args.ttl:
            plugin += ["--ttl", args.ttl]
    cluster: dict[str, Any] = {"server": server}
    if args.ca_file:
        cluster["certificate-authority"] = str(Path(args.ca_file).resolve())
    name = f"limen-{resource.name}"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [
            {
                "name": name,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1",
                        "command": sys.executable,
                        "args": plugin,
                        "interactiveMode": "Never",
                        "provideClusterInfo": False,
                    }
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    text = json.dumps(doc, indent=2) + "\n"
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            raise CheckFailed(f"--output: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
    return 0
