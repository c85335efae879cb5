"""`limen serve` as a real process, for the reload and fleet tests: its
ports from its JSON log, the log lines as they come, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["Node", "limen", "token"]


def limen(*args: str) -> list[str]:
    return [sys.executable, "-m", "limen", *args]


def token(config: Path, sub: str, group: str) -> str:
    return subprocess.run(
        limen("token", "--config", str(config), "--sub", sub, "--group", group),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


class Node:
    """One `limen serve` process and what its log said."""

    def __init__(self, config: Path, *, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            limen("serve", "--config", str(config)),
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.port = 0
        self.admin = ""
        self.lines: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        assert self.proc.stderr is not None
        while not (self.port and self.admin):
            line = self.proc.stderr.readline()
            assert line, "limen serve exited early"
            event = json.loads(line)
            self.lines.append(event)
            if event["event"] == "listening" and event.get("protocol") == "postgres":
                self.port = int(event["port"])
            elif event["event"] == "admin_api":
                self.admin = str(event["url"]).removesuffix("/v1/approvals")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "not_json", "line": line}
            with self._cond:
                self.lines.append(event)
                self._cond.notify_all()

    def events(self, name: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.lines if e.get("event") == name]

    def wait_for(self, name: str, count: int = 1, timeout: float = 30.0) -> dict[str, Any]:
        """The ``count``-th log line of event ``name`` (waits for it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [e for e in self.lines if e.get("event") == name]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                assert left > 0, f"no {name!r} #{count} in the log: {self.lines[-5:]}"
                self._cond.wait(left)

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(5)
