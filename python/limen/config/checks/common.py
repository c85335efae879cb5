"""What the section checks share: the :data:`Report` callback, unique
names, URLs, SHA-256 hex digests."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

from limen.config.values import is_loopback_host

HEX64: Final = re.compile(r"[0-9a-f]{64}")

Report = Callable[[str, str], None]


def check_names(names: list[str], section: str, err: Report) -> None:
    """Names in a list of tables must be non-empty and unique."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            err(f"{section}[{i}].name", "cannot be empty")
        elif name in first:
            where = f"{section.removeprefix('$.')}[{first[name]}]"
            err(f"{section}[{i}].name", f"duplicate name {name!r} (also {where})")
        first.setdefault(name, i)


def check_url(path: str, url: str, report: Report, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        report(path, f"{what} must be an http(s) URL with a host, got {url!r}")
    elif parts.scheme == "http" and not is_loopback_host(parts.hostname):
        report(path, f"{what} must use https (plain http is only allowed on loopback)")
