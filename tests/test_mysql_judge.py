"""The MySQL judge (limen.gateway.mysql.judge) in memory: every command
kind, every MySQL danger denied by default and allowed by a rule naming
it, USE/COM_INIT_DB, the binary protocol's statement ids, the ERR packets
a client gets (code, SQLSTATE, sequence id, message)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limen import _native
from limen.config import ConfigError
from limen.gateway.mysql.judge import LAST_PREPARED, NO_BACKSLASH_ESCAPES
from limen.policy import Decision
from limen.policy.classes import DANGERS
from limen.policy.mysql import DANGERS as CLASSIFIER_DANGERS
from mysql_judge_support import (
    close,
    config,
    err_seen,
    execute,
    fetch,
    init_db,
    long_data,
    ok_seen,
    parse_err,
    prepare,
    prepare_ok,
    query,
    relay_types,
    reset,
    rule,
    session,
)

pytestmark = pytest.mark.usefixtures("relay_types")
__all__ = ["relay_types"]

EVERY_CLASS = ["read", "write", "unbounded-write", "ddl", "admin"]

#: danger -> a statement that shows it (and no other danger)
SHOWS = {
    "local-infile": "LOAD DATA LOCAL INFILE '/tmp/rows.csv' INTO TABLE users",
    "server-file": "SELECT id FROM users INTO OUTFILE '/tmp/out.csv'",
    "set-global": "SET GLOBAL max_connections = 10",
    "grant": "GRANT SELECT ON shop.* TO 'someone'@'%'",
    "plugin": "INSTALL PLUGIN audit SONAME 'audit.so'",
    "handler": "HANDLER users OPEN",
    "do": "DO 1",
    "call": "CALL refresh_totals()",
    "multi-statement": "SELECT 1; SELECT 2",
    "use": "USE other",
}


def test_the_rule_vocabulary_is_the_classifier_s() -> None:
    assert set(SHOWS) == DANGERS
    assert {"prepare-from-variable"} == CLASSIFIER_DANGERS - DANGERS


@pytest.mark.parametrize("danger", sorted(SHOWS))
def test_every_danger_is_denied_unless_a_rule_names_it(danger: str, tmp_path: Path) -> None:
    sql = SHOWS[danger]
    plain = session(config(rule(name="all-classes", allow=EVERY_CLASS), tmp_path))
    v = plain.judge.command(0, query(sql))
    assert v.forward is None
    assert v.held is None
    assert v.reply is not None
    err = parse_err(v.reply)
    assert (err.seq, err.state) == (1, "42000")
    assert err.code in (1142, 1227)
    assert f"danger {danger}" in err.message
    assert "rule: (none)" in err.message
    assert "cannot be approved" in err.message
    assert plain.events()[-1]["action"] == "deny"

    named = session(config(rule(name="named", allow=[*EVERY_CLASS, danger]), tmp_path))
    v = named.judge.command(0, query(sql))
    assert v.reply is None
    assert v.forward == _native.mysql_packet(0, query(sql)).data
    assert v.expect == _native.MySqlExpect.QUERY
    assert v.allow_infile == (danger == "local-infile")
    assert named.events()[-1]["action"] == "allow"

    denied = session(
        config(
            rule(name="d", allow=[*EVERY_CLASS, danger]) + rule(name="no", deny=[danger]), tmp_path
        )
    )
    v = denied.judge.command(0, query(sql))
    assert v.reply is not None
    assert "denied by rule no: danger" in parse_err(v.reply).message


def test_a_held_danger_waits(tmp_path: Path) -> None:
    s = session(
        config(rule(name="careful", allow=["write"], hold=["call"], approvers=["sec"]), tmp_path)
    )
    v = s.judge.command(3, query("CALL refresh_totals()"))
    assert v.held is not None
    assert v.forward is None
    assert v.reply is None
    assert v.on_approval == _native.mysql_packet(3, query("CALL refresh_totals()")).data
    assert v.held.decision.klass == "call"


def test_the_class_must_be_allowed_as_well_as_the_danger(tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=["read", "call"]), tmp_path))
    v = s.judge.command(0, query("CALL p()"))
    assert v.reply is not None
    assert "class write" in parse_err(v.reply).message


def test_prepare_from_a_variable_is_unknown(tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=EVERY_CLASS), tmp_path))
    v = s.judge.command(0, query("PREPARE p FROM @text"))
    assert v.reply is not None
    err = parse_err(v.reply)
    assert (err.code, err.state) == (1227, "42000")
    assert "class unknown" in err.message
    s = session(config(rule(name="r", allow=[*EVERY_CLASS, "unknown"]), tmp_path))
    assert s.judge.command(0, query("PREPARE p FROM @text")).forward is not None


@pytest.mark.parametrize(
    ("packet", "own"),
    [
        (query("USE shop"), True),
        (query("USE `shop`"), True),
        (init_db("shop"), True),
        (query("USE other"), False),
        (init_db("other"), False),
        (init_db("sh`op"), False),
        (query("USE shop; USE other"), False),
    ],
)
def test_use_only_of_the_resource_s_database(packet: bytes, own: bool, tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=["read"]), tmp_path))
    v = s.judge.command(0, packet)
    assert (v.forward is not None) == own
    if own:
        assert v.expect in (_native.MySqlExpect.OK, _native.MySqlExpect.QUERY)
    else:
        assert v.reply is not None
        assert "danger use" in parse_err(v.reply).message or "multi-statement" in (
            parse_err(v.reply).message
        )
    allowed = session(config(rule(name="r", allow=["read", "use", "multi-statement"]), tmp_path))
    assert allowed.judge.command(0, packet).forward is not None


def test_init_db_is_recorded_as_a_use(tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=["read"]), tmp_path))
    s.judge.command(0, init_db("other"))
    (kind, payload) = s.recorder.records[0]
    assert kind == "c2u"
    assert payload == b"USE `other`"
    assert s.events()[-1]["classes"] == ["harmless", "use"]


def test_prepare_then_execute_by_statement_id(tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=["read"]), tmp_path))
    sql = "SELECT id FROM users WHERE id = ?"
    v = s.judge.command(0, prepare(sql))
    assert (v.command, v.expect, v.forward) == (
        "prepare",
        _native.MySqlExpect.PREPARE,
        _native.mysql_packet(0, prepare(sql)).data,
    )
    s.judge.response([prepare_ok(7)], 2)
    v = s.judge.command(0, execute(7))
    assert (v.command, v.expect, v.reply) == ("execute", _native.MySqlExpect.EXECUTE, None)
    assert v.statement_id == 7
    assert v.forward == _native.mysql_packet(0, execute(7)).data
    last = s.events()[-1]
    assert (last["command"], last["statement_id"], last["action"], last["rule"]) == (
        "execute",
        7,
        "allow",
        "r",
    )
    for packet, expect in (
        (fetch(7), _native.MySqlExpect.FETCH),
        (reset(7), _native.MySqlExpect.OK),
        (long_data(7), _native.MySqlExpect.NONE),
    ):
        v = s.judge.command(0, packet)
        assert (v.forward, v.expect) == (_native.mysql_packet(0, packet).data, expect)
    v = s.judge.command(0, close(7))
    assert (v.forward, v.expect) == (
        _native.mysql_packet(0, close(7)).data,
        _native.MySqlExpect.NONE,
    )
    v = s.judge.command(0, execute(7))  # closed: unknown now
    assert v.forward is None
    assert v.reply is not None
    assert parse_err(v.reply).code == 1243


@pytest.mark.parametrize("packet", [execute(9), fetch(9), reset(9)])
def test_an_unknown_statement_id_is_refused(packet: bytes, tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=EVERY_CLASS), tmp_path))
    v = s.judge.command(4, packet)
    assert v.forward is None
    assert v.reply is not None
    err = parse_err(v.reply)
    assert (err.seq, err.code, err.state) == (5, 1243, "HY000")
    assert "statement id 9 was not prepared through limen" in err.message
    assert s.events()[-1]["action"] == "deny"


@pytest.mark.parametrize("packet", [long_data(9), close(9)])
def test_unanswered_commands_of_an_unknown_id_are_dropped(packet: bytes, tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=EVERY_CLASS), tmp_path))
    v = s.judge.command(0, packet)
    assert (v.forward, v.reply, v.expect) == (None, None, _native.MySqlExpect.NONE)


def test_a_denied_prepare_is_never_remembered(tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=["read"]), tmp_path))
    v = s.judge.command(0, prepare("DELETE FROM users WHERE id = ?"))
    assert v.reply is not None
    assert v.forward is None
    s.judge.response([prepare_ok(3)], 2)
    assert parse_err(s.judge.command(0, execute(3)).reply or b"").code == 1243


def test_a_failed_prepare_leaves_no_id(tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=["read"]), tmp_path))
    s.judge.command(0, prepare("SELECT nope FROM nowhere"))
    s.judge.response([err_seen()], 2)
    s.judge.response([prepare_ok(3)], 2)  # a later, unasked answer
    assert s.judge.command(0, execute(3)).reply is not None


def test_a_held_prepare_is_held_at_every_execute(tmp_path: Path) -> None:
    s = session(config(rule(name="c", allow=["read"], hold=["write"], approvers=["sec"]), tmp_path))
    sql = "UPDATE users SET name = ? WHERE id = ?"
    v = s.judge.command(0, prepare(sql))
    assert v.forward is not None
    assert v.held is None
    s.judge.response([prepare_ok(1)], 2)
    for _ in range(2):
        v = s.judge.command(0, execute(1))
        assert v.held is not None
        assert v.forward is None
        assert v.on_approval == _native.mysql_packet(0, execute(1)).data
        assert v.statement == sql.encode()
        assert s.events()[-1]["action"] == "hold"


def test_reset_connection_forgets_prepared_statements(tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=["read"]), tmp_path))
    s.judge.command(0, prepare("SELECT 1"))
    s.judge.response([prepare_ok(1)], 2)
    v = s.judge.command(0, b"\x1f")
    assert (v.command, v.expect) == ("reset_connection", _native.MySqlExpect.OK)
    assert v.forward is not None
    s.judge.response([ok_seen()], 2)
    assert s.judge.command(0, execute(1)).reply is not None


@pytest.mark.parametrize(
    ("packet", "command", "expect"),
    [
        (b"\x0e", "ping", "OK"),
        (b"\x09", "statistics", "RAW"),
        (b"\x07\x01", None, None),
        (b"\x1b\x00\x00", "set_option", "OK"),
        (b"\x08", None, None),
        (b"\x04users\x00", "field_list", "FIELD_LIST"),
    ],
)
def test_plain_commands(
    packet: bytes, command: str | None, expect: str | None, tmp_path: Path
) -> None:
    s = session(config(rule(name="r", allow=["read"]), tmp_path))
    v = s.judge.command(0, packet)
    if command is None:
        assert v.forward is None
        assert v.reply is not None
        assert parse_err(v.reply).code == 1227
    else:
        assert v.command == command
        assert v.forward == _native.mysql_packet(0, packet).data
        assert v.expect == getattr(_native.MySqlExpect, str(expect))


def test_quit_and_change_user_are_the_driver_s(tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=["read"]), tmp_path))
    v = s.judge.command(0, b"\x01")
    assert (v.command, v.forward, v.reply) == ("quit", None, None)
    v = s.judge.command(0, b"\x11bot\x00\x00shop\x00")
    assert (v.command, v.forward, v.reply) == ("change_user", None, None)


@pytest.mark.parametrize(
    ("packet", "code", "state"),
    [
        (b"\x0c\x05\x00\x00\x00", 1227, "42000"),  # COM_PROCESS_KILL
        (b"\x08", 1227, "42000"),  # COM_SHUTDOWN
        (b"\x0d", 1227, "42000"),  # COM_DEBUG
        (b"\x12\x04\x00\x00\x00\x00\x00\x01\x00\x00\x00", 1227, "42000"),  # COM_BINLOG_DUMP
        (b"\x15" + bytes(18), 1227, "42000"),  # COM_REGISTER_SLAVE
        (b"\xee", 1047, "08S01"),  # nobody knows it
    ],
)
def test_refused_commands(packet: bytes, code: int, state: str, tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=[*EVERY_CLASS, "unknown"]), tmp_path))
    v = s.judge.command(255, packet)
    assert v.forward is None
    assert v.reply is not None
    err = parse_err(v.reply)
    assert (err.seq, err.code, err.state) == (0, code, state)  # 255 + 1 wraps
    assert "is not allowed through the gateway" in err.message
    assert s.events()[-1]["action"] == "deny"
    assert s.logs[-1][0] == "decision"


def test_no_backslash_escapes_changes_the_judgement(tmp_path: Path) -> None:
    sql = "SELECT 'a\\' ; DROP TABLE users; -- '"
    s = session(config(rule(name="r", allow=["read"]), tmp_path))
    assert s.judge.command(0, query(sql)).forward is not None  # one string
    s.judge.response([ok_seen(NO_BACKSLASH_ESCAPES)], NO_BACKSLASH_ESCAPES)
    v = s.judge.command(0, query(sql))  # the cached allow must not be reused
    assert v.forward is None
    assert v.reply is not None
    s.judge.response([ok_seen()], 2)
    assert s.judge.command(0, query(sql)).forward is not None


def test_a_malformed_command_raises(tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=["read"]), tmp_path))
    with pytest.raises(_native.MySqlProtocolError):
        s.judge.command(0, b"\x17\x01")  # COM_STMT_EXECUTE cut short


def test_invalid_utf8_is_denied(tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=[*EVERY_CLASS, "unknown"]), tmp_path))
    v = s.judge.command(0, b"\x03SELECT '\xff'")
    assert v.reply is not None
    assert v.forward is None


def test_dangers_are_refused_in_postgres_rules(tmp_path: Path) -> None:
    text = """
[[resources]]
name = "pg"
protocol = "postgres"
upstream = "127.0.0.1:5432"
"""
    with pytest.raises(ConfigError, match="MySQL danger"):
        config(text + rule(name="r", resources=["pg", "shop"], allow=["read", "call"]), tmp_path)


@settings(max_examples=80, deadline=None)
@given(
    picked=st.lists(st.sampled_from(sorted(SHOWS)), min_size=1, max_size=3, unique=True),
    named=st.sets(st.sampled_from(sorted(SHOWS))),
)
def test_a_query_runs_only_when_every_danger_it_shows_is_named(
    picked: list[str], named: set[str]
) -> None:
    sql = "; ".join(SHOWS[d] for d in picked)
    shows = set(picked) | ({"multi-statement"} if len(picked) > 1 else set())
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(rule(name="r", allow=[*EVERY_CLASS, *sorted(named)]), Path(tmp))
    s = session(cfg)
    v = s.judge.command(0, query(sql))
    assert (v.forward is not None) == (shows <= named), (sql, named)


def test_mariadb_s_last_prepared_statement_id(tmp_path: Path) -> None:
    s = session(config(rule(name="r", allow=["read"]), tmp_path))
    s.judge.command(0, prepare("SELECT id FROM users WHERE id = ?"))
    s.judge.response([prepare_ok(4)], 2)
    v = s.judge.command(0, execute(LAST_PREPARED))
    assert v.forward == _native.mysql_packet(0, execute(LAST_PREPARED)).data
    assert v.expect == _native.MySqlExpect.EXECUTE
    # a refused prepare: the server's last one is an older statement, not the client's
    refused = s.judge.command(0, prepare("DELETE FROM users"))
    assert refused.reply is not None
    v = s.judge.command(0, execute(LAST_PREPARED))
    assert v.forward is None
    assert parse_err(v.reply or b"").code == 1243
    assert s.judge.command(0, execute(4)).forward is not None  # by its own id it still runs


class _Columns:
    """A column hook that only records where USE pointed it."""

    def __init__(self) -> None:
        self.plan = None
        self.server = None
        self.backslash_escapes = True
        self.refused = False
        self.cacheable = False
        self.masked: list[dict[str, object]] = []
        self.database: str | None = "shop"

    def use(self, database: str | None) -> None:
        self.database = database

    def judge(self, decision: Decision, sql: str, *, extended: bool, name: str) -> Decision:
        return decision


@pytest.mark.parametrize(
    ("packet", "events", "database"),
    [
        (init_db("other"), ["ok"], "other"),
        (init_db("other"), ["err"], "shop"),
        (query("USE other"), ["ok"], "other"),
        (query("USE other; SELECT nope"), ["ok", "err"], None),
        (query("SELECT 1; USE other"), ["ok"], None),
    ],
)
def test_the_column_masks_follow_use(
    packet: bytes, events: list[str], database: str | None, tmp_path: Path
) -> None:
    cols = _Columns()
    s = session(
        config(rule(name="r", allow=["read", "use", "multi-statement"]), tmp_path), columns=cols
    )
    v = s.judge.command(0, packet)
    assert v.forward is not None
    seen = [ok_seen() if e == "ok" else err_seen() for e in events]
    s.judge.response(seen, 2)
    assert cols.database == database
