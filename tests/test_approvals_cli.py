"""`limen approvals` through the real entry point, on a state store seeded
directly: list (table and JSON), show, approve with a grant, deny, and the
refusals with their exit status (1 for a vote that cannot be taken, 2 for
bad usage)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from limen.config import load_config
from limen.store import ApprovalRequest, Store, open_store

CONFIG = """
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
"""


def limen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limen", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _request(rid: str, required: int = 1) -> ApprovalRequest:
    now = time.time()
    return ApprovalRequest(
        id=rid,
        session_id="sess-1",
        subject="bot",
        issuer="http://idp",
        groups=["ci"],
        resource="staging",
        protocol="postgres",
        statement="DELETE FROM users\n  WHERE id = 3",
        klass="write",
        rule="careful",
        approvers=["security"],
        approvals_required=required,
        requested_at=now - 75,
        expires_at=now + 900,
        node="gw-1",
    )


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Store]:
    cfg = tmp_path / "limen.toml"
    cfg.write_text(CONFIG)
    config = load_config(cfg)
    store = open_store(config.gateway.state, tmp_path)
    store.approval_create(_request("aaaaaaaaaaa1"))
    store.approval_create(_request("bbbbbbbbbbb2", required=2))
    return cfg, store


def test_list_show_approve_and_deny(setup: tuple[Path, Store]) -> None:
    cfg, store = setup
    table = limen("approvals", "list", "--config", str(cfg))
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:4] == ["ID", "IDENTITY", "RESOURCE", "CLASS"]
    assert len(rows) == 2
    assert "DELETE FROM users WHERE id = 3" in table.stdout  # one line
    # requested 75 s before the store was seeded: the age shown is 1m15s plus
    # however long seeding and the command took (a loaded machine is slow)
    ages = [int(m) for m in re.findall(r"\b1m(\d\d)s\b", table.stdout)]
    assert len(ages) == 2, table.stdout
    assert all(15 <= a < 60 for a in ages), table.stdout
    listed = json.loads(limen("approvals", "list", "--config", str(cfg), "--json").stdout)
    assert {r["id"] for r in listed} == {"aaaaaaaaaaa1", "bbbbbbbbbbb2"}
    assert listed[0]["class"] == "write"
    shown = json.loads(limen("approvals", "show", "--config", str(cfg), "aaaaaaaaaaa1").stdout)
    assert shown["statement"] == "DELETE FROM users\n  WHERE id = 3"

    ok = limen(
        "approvals", "approve", "--config", str(cfg), "aaaaaaaaaaa1", "--as", "sam", "--for", "30m"
    )
    assert ok.returncode == 0, ok.stderr
    assert "approved aaaaaaaaaaa1" in ok.stdout
    assert "without asking for 30m" in ok.stdout
    (grant,) = store.grants(now=time.time())
    assert (grant.subject, grant.klass, grant.granted_by) == ("bot", "write", "sam")
    assert 29 * 60 < grant.expires_at - time.time() <= 30 * 60

    half = limen("approvals", "approve", "--config", str(cfg), "bbbbbbbbbbb2", "--as", "sam")
    assert half.returncode == 0
    assert "needs 1 more distinct approver" in half.stdout
    no = limen(
        "approvals",
        "deny",
        "--config",
        str(cfg),
        "bbbbbbbbbbb2",
        "--as",
        "kim",
        "--reason",
        "not today",
    )
    assert no.returncode == 0
    assert "denied bbbbbbbbbbb2" in no.stdout
    final = store.approval("bbbbbbbbbbb2")
    assert (final.status, final.decided_by, final.reason) == ("denied", "kim", "not today")
    assert limen("approvals", "list", "--config", str(cfg)).stdout.strip() == (
        "nothing waits for approval"
    )
    everything = json.loads(
        limen("approvals", "list", "--config", str(cfg), "--json", "--all").stdout
    )
    assert sorted(r["status"] for r in everything) == ["approved", "denied"]
    kinds = [e["kind"] for e in store.audit_events()]
    assert kinds.count("approval_vote") == 3


@pytest.mark.parametrize(
    ("args", "status", "said"),
    [
        (["approve", "nope00000000", "--as", "sam"], 1, "no approval request"),
        (["approve", "aaaaaaaaaaa1", "--as", "bot"], 1, "cannot decide"),
        (["approve", "aaaaaaaaaaa1", "--as", "sam", "--for", "soon"], 2, "--for: invalid duration"),
        (["approve", "aaaaaaaaaaa1", "--as", "  "], 2, "--as needs a name"),
        (["show", "nope00000000"], 1, "no approval request"),
    ],
)
def test_refusals_say_why(
    setup: tuple[Path, Store], args: list[str], status: int, said: str
) -> None:
    cfg, store = setup
    sub, *rest = args
    p = limen("approvals", sub, "--config", str(cfg), *rest)
    assert p.returncode == status
    assert said in p.stderr
    assert store.approval("aaaaaaaaaaa1").status == "pending"


def test_a_decided_request_cannot_be_decided_again(setup: tuple[Path, Store]) -> None:
    cfg, store = setup
    assert (
        limen("approvals", "deny", "--config", str(cfg), "aaaaaaaaaaa1", "--as", "a").returncode
        == 0
    )
    again = limen("approvals", "approve", "--config", str(cfg), "aaaaaaaaaaa1", "--as", "b")
    assert again.returncode == 1
    assert "already denied (by a)" in again.stderr
    assert store.approval("aaaaaaaaaaa1").status == "denied"
