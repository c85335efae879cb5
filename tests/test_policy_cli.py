"""``limen policy check`` and ``limen policy classify`` through the installed
``limen`` entry point, as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

LIMEN = str(Path(sys.executable).parent / "limen")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "limen.toml"


def limen(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LIMEN, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def config() -> Path:
    """The example config: rule ci-staging allows read, holds write, denies
    ddl, admin and unbounded-write on resource staging for group ci."""
    return EXAMPLE


def check(
    config: Path, sql: str, *extra: str, group: str = "ci"
) -> subprocess.CompletedProcess[str]:
    return limen(
        "policy", "check", "--config", str(config), "--sub", "bot", "--group", group,
        "--resource", "staging", "--sql", sql, *extra,
    )  # fmt: skip


def test_help() -> None:
    for args in (["policy"], ["policy", "check"], ["policy", "classify"]):
        result = limen(*args, "--help")
        assert result.returncode == 0, result.stderr
        assert "usage: limen policy" in result.stdout
    detail = limen("policy", "check", "--help").stdout
    assert "Exit status" in detail
    assert "unbounded-write" in detail


def test_allow_exits_0(config: Path) -> None:
    result = check(config, "SELECT * FROM users")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "allow"
    assert "rule: ci-staging" in lines
    assert "classes: read" in lines
    assert "tables: users" in lines


def test_hold_and_deny_exit_1(config: Path) -> None:
    held = check(config, "DELETE FROM users WHERE id = 1")
    assert held.returncode == 1
    assert held.stdout.splitlines()[0] == "hold"
    assert "approvers: security" in held.stdout
    assert "hold timeout: 900s" in held.stdout
    denied = check(config, "SELECT 1; DROP TABLE users")
    assert denied.returncode == 1
    assert denied.stdout.splitlines()[0] == "deny"
    assert "class: ddl" in denied.stdout
    assert "classes: read, ddl" in denied.stdout
    nobody = check(config, "SELECT 1", group="ops")
    assert nobody.returncode == 1
    assert "rule: (none)" in nobody.stdout


def test_json_output(config: Path) -> None:
    result = check(config, "UPDATE users SET password = 'hunter2'", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["action"] == "deny"
    assert data["rule"] == "ci-staging"
    assert data["class"] == "unbounded-write"
    assert data["classes"] == ["write", "unbounded-write"]
    assert data["tables"] == ["users"]
    assert data["statements"][0]["command"] == "UPDATE"
    assert "hunter2" not in result.stdout  # the statement's literals never appear


def test_sql_from_stdin(config: Path) -> None:
    result = limen(
        "policy", "check", "--config", str(config), "--sub", "bot", "--group", "ci",
        "--resource", "staging", "--sql", "-", "--json",
        stdin="WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d",
    )  # fmt: skip
    assert result.returncode == 1
    assert json.loads(result.stdout)["action"] == "hold"


def test_bad_usage_exits_2(config: Path, tmp_path: Path) -> None:
    unknown = limen(
        "policy", "check", "--config", str(config), "--sub", "bot", "--resource", "nope",
        "--sql", "SELECT 1",
    )  # fmt: skip
    assert unknown.returncode == 2
    assert "unknown resource 'nope'" in unknown.stderr
    assert "staging" in unknown.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]]\nname = 'x'\nresources = ['missing']\nallow = ['read']\n")
    result = check(bad, "SELECT 1")
    assert result.returncode == 2
    assert "$.rules[0]" in result.stderr
    missing = limen("policy", "check", "--config", str(config), "--sql", "SELECT 1")
    assert missing.returncode == 2


def test_classify(config: Path) -> None:
    result = limen("policy", "classify", "--sql", "COPY t TO PROGRAM 'x'", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["class"] == "admin"
    assert data["statements"][0]["command"] == "COPY TO"
    text = limen("policy", "classify", "--sql", "garbage")
    assert text.returncode == 0
    assert text.stdout.splitlines()[0] == "unknown"
    assert "syntax error" in text.stdout


def test_a_mysql_resource_is_judged_by_the_mysql_classifier(config: Path) -> None:
    """Rule orders-jobs of the example allows write and call on MySQL
    resource orders, holds multi-statement and denies use."""

    def run(sql: str) -> subprocess.CompletedProcess[str]:
        return limen(
            "policy", "check", "--config", str(config), "--sub", "bot", "--group", "ci",
            "--resource", "orders", "--sql", sql,
        )  # fmt: skip

    called = run("CALL refresh_totals()")
    assert called.returncode == 0, called.stdout
    assert "classes: write, call" in called.stdout.splitlines()
    moved = run("USE other")
    assert moved.returncode == 1
    assert "denied by rule orders-jobs: danger use" in moved.stdout
    assert run("USE orders").returncode == 0
    both = run("SELECT 1; SELECT 2")
    assert both.stdout.splitlines()[0] == "hold"
