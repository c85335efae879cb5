"""The config's errors: :class:`Issue` (a JSON path and what is wrong there),
:class:`ConfigError` (the config cannot be used) and :class:`SecretError` (a
secret it names cannot be read)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec


class Issue(msgspec.Struct, frozen=True):
    """One problem found in a config: where (a JSON path) and what."""

    path: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """The config cannot be used. ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[Issue], source: str = "config") -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        self.source = source
        lines = [f"{source}: invalid configuration"]
        lines.extend(f"  {issue}" for issue in self.issues)
        super().__init__("\n".join(lines))


class SecretError(Exception):
    """A secret named by the config could not be read (the message names
    where it was looked for, never a value)."""
