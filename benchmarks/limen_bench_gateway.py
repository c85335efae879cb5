"""limen as a benchmark target: `limen serve` as its own process in front of
the local PostgreSQL, with policy (pglast classification), masking (every
built-in detector) and recording on, and a dev-IdP token as the password.
`relay` picks who moves the bytes after the handshake: the native pump
(target "limen") or the Trio relay (target "limen-trio"); `columns` adds
``column:`` masks (target name "…-colmask")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pgpeers import PG_HOST, PG_PORT, Target

LIMEN = str(Path(sys.executable).parent / "limen")


class LimenServe:
    def __init__(self, dbname: str, relay: str = "native", columns: tuple[str, ...] = ()) -> None:
        self.relay = relay
        self.columns = columns
        mask = json.dumps(["builtin", *(f"column:{c}" for c in columns)])
        self.dir = Path(tempfile.mkdtemp(prefix="limen-bench-gw-"))
        cfg = self.dir / "limen.toml"
        cfg.write_text(
            f"""
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
relay = "{relay}"
admin = "127.0.0.1:0"

[listeners]
postgres = "127.0.0.1:0"

[identity.dev]
enabled = true
listen = "127.0.0.1:0"

[[resources]]
name = "{dbname}"
protocol = "postgres"
upstream = "{PG_HOST}:{PG_PORT}"
database = "{dbname}"
user = "postgres"

[[rules]]
name = "bench"
groups = ["bench"]
resources = ["{dbname}"]
allow = ["read", "write"]
mask = {mask}
"""
        )
        self.token = subprocess.run(
            [
                LIMEN,
                "token",
                "--config",
                str(cfg),
                "--sub",
                "bench",
                "--group",
                "bench",
                "--ttl",
                "1h",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        self.proc = subprocess.Popen(
            [LIMEN, "serve", "--config", str(cfg)],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stderr is not None
        self.port = 0
        while not self.port:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("limen serve exited before listening")
            event: dict[str, Any] = json.loads(line)
            if (
                event.get("event") == "listening"
                and event.get("protocol", "postgres") == "postgres"
            ):
                self.port = int(event["port"])
        # keep reading its log so the pipe never fills
        import threading

        threading.Thread(target=self._drain, daemon=True).start()
        self.dbname = dbname

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for _ in self.proc.stderr:
            pass

    def target(self) -> Target:
        return Target(
            ("limen" if self.relay == "native" else f"limen-{self.relay}")
            + ("-colmask" if self.columns else ""),
            "127.0.0.1",
            self.port,
            "bench",
            self.dbname,
            password=self.token,
            pid=self.proc.pid,
            env={"PGSSLMODE": "disable"},
        )

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_limen(
    dbname: str, relay: str = "native", columns: tuple[str, ...] = ()
) -> tuple[Target, LimenServe]:
    serve = LimenServe(dbname, relay, columns)
    return serve.target(), serve
