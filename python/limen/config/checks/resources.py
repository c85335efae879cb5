"""Checks of ``[[resources]]``: upstreams, password sources, upstream TLS,
limits, and resources no listener serves or no rule names."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from limen.config.checks.common import Report, check_names
from limen.config.schema import Config
from limen.config.schema.resources import Resource

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_QUERY_NAME = re.compile(r"[0-9A-Za-z._~-]+")  # unreserved: needs no percent-encoding


def check_resources(config: Config, err: Report, warn: Report) -> None:
    check_names([r.name for r in config.resources], "$.resources", err)
    used = {name for rule in config.rules for name in rule.resources}
    for i, res in enumerate(config.resources):
        path = f"$.resources[{i}]"
        if res.protocol in ("http", "kubernetes"):
            parts = urlsplit(res.upstream)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                err(
                    f"{path}.upstream", f"a {res.protocol} upstream is a URL, e.g. https://host:443"
                )
        else:
            try:
                addr = res.upstream_address()
            except ValueError as exc:
                err(f"{path}.upstream", str(exc))
            else:
                if addr.port == 0:
                    err(f"{path}.upstream", "the upstream port cannot be 0")
        sources = [
            f for f in ("password_env", "password_file", "password") if getattr(res, f) is not None
        ]
        if len(sources) > 1:
            err(f"{path}.{sources[1]}", f"choose one of {', '.join(sources)}")
        if res.password is not None and not res.dev:
            err(
                f"{path}.password",
                "a plain password is only allowed on a resource marked dev = true; "
                "use password_env or password_file",
            )
        if res.password_env is not None and not re.fullmatch(
            r"[A-Za-z_][A-Za-z0-9_]*", res.password_env
        ):
            err(f"{path}.password_env", "is not an environment variable name")
        if res.tls is not None and (res.tls.cert_file is None) != (res.tls.key_file is None):
            err(f"{path}.tls", "cert_file and key_file go together")
        check_http(res, path, err)
        if res.max_connections is not None and res.max_connections < 1:
            err(f"{path}.max_connections", "must be at least 1")
        if res.protocol == "mysql":
            _check_mysql(res, path, err, warn)
        if getattr(config.listeners, res.protocol) is None:
            warn(f"{path}.protocol", f"no listeners.{res.protocol}: bots cannot reach it")
        _check_ssh(res, path, err)
        if res.name and res.name not in used:
            warn(f"{path}.name", f"no rule names resource {res.name!r}: nobody may use it")


def _check_mysql(res: Resource, path: str, err: Report, warn: Report) -> None:
    """A mysql resource's name is the database name clients send (at most
    64 characters in MySQL); without ``database`` the upstream session
    starts with none selected."""
    if len(res.name) > 64:
        err(f"{path}.name", "a mysql resource name is a database name: at most 64 characters")
    if not res.database:
        warn(
            f"{path}.database",
            "no database: sessions start with none selected (USE is judged by the rules)",
        )


def check_http(res: Resource, path: str, err: Report) -> None:
    """``http_auth`` and ``http_routes`` (http resources only)."""
    # Imported here: limen.policy imports limen.config.
    from limen.policy.http.routes import RouteError, compile_route

    if res.protocol != "http":
        if res.http_auth is not None:
            err(f"{path}.http_auth", "only http resources take http_auth")
        if res.http_routes:
            err(f"{path}.http_routes", "only http resources take http_routes")
        return
    auth = res.http_auth
    if auth is not None:
        if auth == "basic" and res.user is None:
            err(f"{path}.user", "http_auth = basic needs the user name")
        elif auth.startswith("header:"):
            name = auth.removeprefix("header:")
            if not _HEADER_NAME.fullmatch(name) or name.lower() in ("host", "content-length"):
                err(f"{path}.http_auth", f"{name!r} is not a header name limen can set")
        elif auth.startswith("query:"):
            name = auth.removeprefix("query:")
            if not _QUERY_NAME.fullmatch(name):
                err(f"{path}.http_auth", f"{name!r} is not a query parameter name limen can set")
        elif auth not in ("bearer", "basic"):
            err(f"{path}.http_auth", 'is "bearer", "basic", "header:NAME" or "query:NAME"')
    for j, route in enumerate(res.http_routes):
        try:
            compile_route(route.methods, route.path, route.klass, route.body)
        except RouteError as exc:
            err(f"{path}.http_routes[{j}]", str(exc))


_KNOWN_HOSTS: Final = re.compile(
    r"(\S+\s+)?(ssh-[a-z0-9-]+|ecdsa-sha2-nistp\d+|sk-\S+)\s+[A-Za-z0-9+/]+={0,2}(\s.*)?"
)


def _check_ssh(res: Resource, path: str, err: Report) -> None:
    """An ssh resource pins its upstream host key and has one credential;
    the SSH keys are refused elsewhere."""
    ssh_keys = ("private_key_file", "private_key_env", "host_key")
    if res.protocol != "ssh":
        for key in ssh_keys:
            if getattr(res, key) is not None:
                err(f"{path}.{key}", "only ssh resources take SSH keys")
        return
    if res.host_key is None:
        err(
            f"{path}.host_key",
            "an ssh resource pins its upstream host key (a known_hosts line; "
            "ssh-keyscan -p PORT HOST prints them)",
        )
    elif not _KNOWN_HOSTS.fullmatch(res.host_key.strip()):
        err(f"{path}.host_key", "is not a known_hosts line ([host]:port TYPE BASE64)")
    keys = [k for k in ("private_key_file", "private_key_env") if getattr(res, k) is not None]
    if len(keys) > 1:
        err(f"{path}.{keys[1]}", "choose one of private_key_file, private_key_env")
    passwords = (res.password_env, res.password_file, res.password)
    if not keys and all(p is None for p in passwords):
        err(path, "an ssh resource needs private_key_file, private_key_env or a password")
    if res.private_key_env is not None and not re.fullmatch(
        r"[A-Za-z_][A-Za-z0-9_]*", res.private_key_env
    ):
        err(f"{path}.private_key_env", "is not an environment variable name")
