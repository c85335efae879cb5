"""What tests of the MySQL judge, holds and column plans share: a config
with a ``mysql`` resource, a session's judge over a MemoryRecorder, command
packets, ERR parsing, and -- until the native relay types of contract A are
on main -- small Python stand-ins for them (installed only where missing)."""

from __future__ import annotations

import enum
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from limen import _native
from limen.config import Config, load_config_text
from limen.gateway.judging import Judge
from limen.gateway.mysql.judge import MySqlJudge, PlanSource
from limen.identity import Identity
from limen.policy import Policy, SessionPolicy
from limen.policy.mysql import Server
from limen.recording import MemoryRecorder

CAPS = 0x000FA68D  # CLIENT_PROTOCOL_41 and friends (the parse does not depend on more)
MARIADB = Server.from_greeting("5.5.5-10.11.19-MariaDB")

BASE = """
[identity.dev]
enabled = true
[listeners]
mysql = "127.0.0.1:3307"
[[resources]]
name = "shop"
protocol = "mysql"
upstream = "127.0.0.1:3306"
database = "shop"
"""


class _Expect(enum.Enum):
    OK = 0
    QUERY = 1
    EXECUTE = 2
    FETCH = 3
    PREPARE = 4
    FIELD_LIST = 5
    RAW = 6
    NONE = 7


@dataclass
class _Plan:
    columns: list[tuple[str | None, str, str, bytes]]
    derived: bytes | None = None
    base_tables: list[tuple[str, str]] | None = None


@dataclass(frozen=True)
class _OkSeen:
    status: int = 0
    affected_rows: int = 0
    last_insert_id: int = 0
    warnings: int = 0


@dataclass(frozen=True)
class _ErrSeen:
    code: int = 1064
    sql_state: str = "42000"
    message: str = "error"


@dataclass(frozen=True)
class _PrepareOk:
    statement_id: int
    params: int = 0
    columns: int = 0


STAND_INS = {
    "MySqlExpect": _Expect,
    "MySqlColumnPlan": _Plan,
    "MySqlOkSeen": _OkSeen,
    "MySqlErrSeen": _ErrSeen,
    "MySqlPrepareOk": _PrepareOk,
}


@pytest.fixture
def relay_types(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The native relay types, or stand-ins where the build has none yet."""
    for name, value in STAND_INS.items():
        if not hasattr(_native, name):
            monkeypatch.setattr(_native, name, value, raising=False)
    return


def plan_fields(plan: Any) -> tuple[list[Any], bytes | None, list[Any] | None]:
    """(columns, derived, base_tables) of a plan (stand-in or native)."""
    return plan.columns, plan.derived, plan.base_tables


def config(rules: str, tmp_path: Path) -> Config:
    return load_config_text(BASE + rules, base_dir=tmp_path)


def rule(**fields: object) -> str:
    body = {"resources": ["shop"], "groups": ["ci"], **fields}
    return "[[rules]]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in body.items()) + "\n"


@dataclass
class Session:
    judge: MySqlJudge
    recorder: MemoryRecorder
    logs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(p) for k, p in self.recorder.records if k == "event"]


def session(
    cfg: Config,
    *,
    columns: PlanSource | None = None,
    groups: tuple[str, ...] = ("ci",),
    server: Server | None = MARIADB,
) -> Session:
    identity = Identity(
        subject="bot", groups=groups, issuer="test", expires_at=None, token_id=None, method="dev"
    )
    base = SessionPolicy(Policy(cfg), identity, "shop")
    recorder = MemoryRecorder()
    logs: list[tuple[str, dict[str, Any]]] = []
    judge = Judge(base, recorder, None, lambda e, **f: logs.append((e, f)), "s1")
    mj = MySqlJudge(judge, base, database="shop", server=server, caps=CAPS, columns=columns)
    return Session(mj, recorder, logs)


# --- packets ----------------------------------------------------------------------


def query(sql: str) -> bytes:
    return b"\x03" + sql.encode()


def prepare(sql: str) -> bytes:
    return b"\x16" + sql.encode()


def execute(sid: int) -> bytes:
    return b"\x17" + struct.pack("<IBI", sid, 0, 1)


def fetch(sid: int) -> bytes:
    return b"\x1c" + struct.pack("<II", sid, 10)


def close(sid: int) -> bytes:
    return b"\x19" + struct.pack("<I", sid)


def reset(sid: int) -> bytes:
    return b"\x1a" + struct.pack("<I", sid)


def long_data(sid: int) -> bytes:
    return b"\x18" + struct.pack("<IH", sid, 0) + b"data"


def init_db(name: str) -> bytes:
    return b"\x02" + name.encode()


@dataclass(frozen=True)
class Err:
    seq: int
    code: int
    state: str
    message: str


def parse_err(framed: bytes) -> Err:
    """A framed ERR packet (one packet)."""
    length = int.from_bytes(framed[:3], "little")
    assert length == len(framed) - 4
    payload = framed[4:]
    assert payload[0] == 0xFF
    code = int.from_bytes(payload[1:3], "little")
    assert payload[3:4] == b"#"
    return Err(framed[3], code, payload[4:9].decode(), payload[9:].decode())


# --- relay events: the real relay's when it is built, else the stand-ins ----------


def _events(expect: str, payloads: list[bytes]) -> list[Any]:
    relay = _native.MySqlServerRelay(None, CAPS)
    relay.expect(getattr(_native.MySqlExpect, expect), 0)
    data = b"".join(_native.mysql_packet(i + 1, p).data for i, p in enumerate(payloads))
    out = relay.feed(data)
    assert out.done
    return list(out.events)


def _real() -> bool:
    return hasattr(_native, "MySqlServerRelay")


def prepare_ok(statement_id: int) -> Any:
    """The event of a PREPARE_OK (no columns, no parameters)."""
    if not _real():
        return _PrepareOk(statement_id)
    payload = b"\x00" + struct.pack("<IHHBH", statement_id, 0, 0, 0, 0)
    (event,) = [e for e in _events("PREPARE", [payload]) if isinstance(e, _native.MySqlPrepareOk)]
    return event


def ok_seen(status: int = 2) -> Any:
    """The event of an OK packet with server status ``status``."""
    if not _real():
        return _OkSeen(status=status)
    (event,) = _events("OK", [b"\x00\x00\x00" + struct.pack("<HH", status, 0)])
    return event


def err_seen() -> Any:
    """The event of an ERR packet (1064 42000)."""
    if not _real():
        return _ErrSeen()
    (event,) = _events("OK", [_native.mysql_encode_err(1064, "42000", b"syntax")])
    return event
