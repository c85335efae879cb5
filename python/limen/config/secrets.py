"""Secrets never live in the config: ``password_env`` and ``password_file``
name where to find them, and :func:`read_password` reads them at use time
(through :meth:`Resource.resolve_password <limen.config.Resource.resolve_password>`)
into a :class:`Secret`, whose ``repr`` never shows the value. A plain
``password`` (dev resources only) is decoded straight into a :class:`Secret`.

Relative paths in a config file are relative to the folder of that file
(:func:`resolve_path`).
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Any

from limen.config.errors import SecretError


class Secret:
    """A secret value that does not show itself: ``repr``/``str`` name only
    where it came from. Call :meth:`reveal` at the point of use."""

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self._source = source

    @property
    def source(self) -> str:
        return self._source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(<{self._source}>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(Secret)  # equal secrets must hash alike; the value must not leak

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


def resolve_path(value: str, base_dir: Path | None) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def read_password(
    resource: str, password_env: str | None, password_file: str | None, base_dir: Path | None
) -> Secret | None:
    """Read a resource's upstream password now from its environment variable
    or file (None when it names neither); never logs it."""
    if password_env is not None:
        value = os.environ.get(password_env)
        if value is None:
            raise SecretError(
                f"resource {resource!r}: environment variable {password_env} is not set"
            )
        return Secret(value, f"env {password_env}")
    if password_file is not None:
        path = resolve_path(password_file, base_dir)
        try:
            value = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SecretError(
                f"resource {resource!r}: cannot read password_file {path}: "
                f"{exc.strerror or type(exc).__name__}"
            ) from None
        value = value.removesuffix("\n").removesuffix("\r")
        if not value:
            raise SecretError(f"resource {resource!r}: password_file {path} is empty")
        return Secret(value, f"file {path}")
    return None
