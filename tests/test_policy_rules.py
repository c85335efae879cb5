"""Rule evaluation with real configs loaded from TOML, and the per-session
prepared-statement tracking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from limen.config import Config, load_config_text
from limen.identity import Identity
from limen.policy import UNKNOWN, Policy, SessionPolicy, classify

BASE = """
[gateway]
hold_timeout = "20m"
[identity.dev]
enabled = true
[listeners]
postgres = "127.0.0.1:6432"
[[resources]]
name = "staging"
protocol = "postgres"
upstream = "127.0.0.1:5432"
[[resources]]
name = "prod"
protocol = "postgres"
upstream = "127.0.0.1:5433"
"""

CI_STAGING = """
[[rules]]
name = "ci-staging"
groups = ["ci"]
resources = ["staging"]
allow = ["read"]
hold = ["write"]
deny = ["ddl", "admin"]
mask = ["builtin", "column:users.email"]
approvers = ["security"]
approvals_required = 2
hold_timeout = "5m"
webhook = "https://hooks.example.com/limen"
"""


def config(rules: str, tmp_path: Path) -> Config:
    return load_config_text(BASE + rules, base_dir=tmp_path)


def rules(*tables: dict[str, object]) -> str:
    """``[[rules]]`` tables as TOML (every rule is on resource staging unless
    it says otherwise)."""
    out = []
    for table in tables:
        fields = {"resources": ["staging"], **table}
        out.append("[[rules]]")
        out.extend(f"{key} = {json.dumps(value)}" for key, value in fields.items())
    return "\n".join(out) + "\n"


def policy_of(tmp_path: Path, *tables: dict[str, object]) -> Policy:
    return Policy(config(rules(*tables), tmp_path))


def who(*groups: str, subject: str = "bot") -> Identity:
    return Identity(
        subject=subject,
        groups=groups,
        issuer="http://127.0.0.1:8898",
        expires_at=None,
        token_id=None,
        method="dev",
    )


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return Policy(config(CI_STAGING, tmp_path))


def test_allow_hold_deny_by_one_rule(policy: Policy) -> None:
    allowed = policy.decide(who("ci"), "staging", "SELECT email FROM users")
    assert (allowed.action, allowed.rule, allowed.klass) == ("allow", "ci-staging", "read")
    assert allowed.tables == {"users"}
    assert allowed.approvers == ()
    assert allowed.hold_timeout is None

    held = policy.decide(who("ci"), "staging", "DELETE FROM users WHERE id = 7")
    assert (held.action, held.rule, held.klass) == ("hold", "ci-staging", "write")
    assert held.approvers == ("security",)
    assert held.approvals_required == 2
    assert held.hold_timeout == 300
    assert held.webhook == "https://hooks.example.com/limen"
    assert "ci-staging" in held.message
    assert "write" in held.message
    assert "security" in held.message

    denied = policy.decide(who("ci"), "staging", "DROP TABLE users")
    assert (denied.action, denied.rule, denied.klass) == ("deny", "ci-staging", "ddl")
    assert "denied by rule ci-staging" in denied.message
    assert "class ddl" in denied.message
    assert "group ci" in denied.message
    assert "resource staging" in denied.message
    assert denied.hint is not None
    assert "read" in denied.hint


def test_deny_wins_over_hold_and_allow_in_a_multi_statement_query(policy: Policy) -> None:
    decision = policy.decide(
        who("ci"), "staging", "SELECT 1; DELETE FROM t WHERE id = 1; SELECT pg_read_file('x')"
    )
    assert decision.action == "deny"
    assert decision.klass == "admin"
    assert decision.classes == {"read", "write", "admin"}


def test_no_applicable_rule_denies(policy: Policy) -> None:
    for identity, resource in (
        (who("ops"), "staging"),  # group does not match
        (who("ci"), "prod"),  # resource does not match
        (who(), "staging"),  # no groups at all
    ):
        decision = policy.decide(identity, resource, "SELECT 1")
        assert decision.action == "deny"
        assert decision.rule is None
        assert f"resource {resource}" in decision.message
        # harmless statements need an applicable rule too
        assert policy.decide(identity, resource, "BEGIN").action == "deny"


def test_harmless_statements_need_only_an_applicable_rule(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, {"name": "writer-only", "groups": ["etl"], "allow": ["write"]})
    for sql in ("BEGIN", "COMMIT", "SET application_name = 'etl'", "DEALLOCATE ALL", ""):
        decision = policy.decide(who("etl"), "staging", sql)
        assert decision.action == "allow", sql
        assert decision.klass == "harmless"
        assert decision.rule == "writer-only"
    # reading is still not allowed by this rule
    assert policy.decide(who("etl"), "staging", "SELECT 1").action == "deny"
    # and a harmless statement does not carry a denied one through
    assert policy.decide(who("etl"), "staging", "BEGIN; SELECT 1; COMMIT").action == "deny"


def test_allow_must_cover_every_class(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, {"name": "writes", "groups": ["ci"], "allow": ["read", "write"]})
    bounded = policy.decide(who("ci"), "staging", "UPDATE t SET a = 1 WHERE id = 1")
    assert bounded.action == "allow"
    unbounded = policy.decide(who("ci"), "staging", "UPDATE t SET a = 1")
    assert unbounded.action == "deny"
    assert unbounded.rule is None
    assert unbounded.klass == "unbounded-write"
    assert "no rule allows class unbounded-write" in unbounded.message
    truncate = policy.decide(who("ci"), "staging", "TRUNCATE t")
    assert (truncate.action, truncate.klass) == ("deny", "unbounded-write")


def test_classes_may_be_covered_by_different_rules(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        {"name": "writes", "groups": ["ci"], "allow": ["write"]},
        {"name": "bulk", "subjects": ["etl-bot"], "allow": ["unbounded-write"]},
    )
    assert policy.decide(who("ci"), "staging", "DELETE FROM t").action == "deny"
    decision = policy.decide(who("ci", subject="etl-bot"), "staging", "DELETE FROM t")
    assert decision.action == "allow"
    assert decision.rule == "bulk"  # the rule that allowed the most dangerous class


def test_precedence_across_rules(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        {"name": "a-allows", "groups": ["ci"], "allow": ["read", "write"]},
        {"name": "b-holds", "groups": ["reviewed"], "hold": ["write"], "approvers": ["dba"]},
        {"name": "c-denies", "groups": ["frozen"], "deny": ["write"]},
        {"name": "d-subject", "subjects": ["special-bot"], "deny": ["read"]},
    )
    sql = "INSERT INTO t VALUES (1)"
    assert policy.decide(who("ci"), "staging", sql).action == "allow"
    held = policy.decide(who("ci", "reviewed"), "staging", sql)
    assert (held.action, held.rule, held.approvers) == ("hold", "b-holds", ("dba",))
    assert held.hold_timeout == 20 * 60  # the gateway default: the rule sets none
    denied = policy.decide(who("ci", "reviewed", "frozen"), "staging", sql)
    assert (denied.action, denied.rule) == ("deny", "c-denies")
    by_subject = policy.decide(who("ci", subject="special-bot"), "staging", "SELECT 1")
    assert (by_subject.action, by_subject.rule) == ("deny", "d-subject")
    assert "subject special-bot" in by_subject.message
    # a read alongside a held write: the whole query is held
    mixed = policy.decide(who("ci", "reviewed"), "staging", "SELECT nextval('s')")
    assert mixed.classes == {"read", "write"}
    assert (mixed.action, mixed.klass) == ("hold", "write")


def test_unknown_is_denied_unless_a_rule_names_it(tmp_path: Path) -> None:
    strict = Policy(config(CI_STAGING, tmp_path))
    decision = strict.decide(who("ci"), "staging", "SELEC * FROM users")
    assert (decision.action, decision.klass, decision.rule) == ("deny", UNKNOWN, None)
    assert "syntax error" in decision.message
    assert "could not tell" in (decision.hint or "")
    lenient = Policy(
        config(CI_STAGING.replace('allow = ["read"]', 'allow = ["read", "unknown"]'), tmp_path)
    )
    assert lenient.decide(who("ci"), "staging", "SELEC * FROM users").action == "allow"
    # admin stays denied even when unknown is allowed
    assert lenient.decide(who("ci"), "staging", "SELECT pg_read_file('x')").action == "deny"


def test_messages_never_echo_the_statement(policy: Policy) -> None:
    for sql in (
        "UPDATE users SET password = 'hunter2' WHERE id = 1",
        "ALTER USER bot WITH PASSWORD 'hunter2'",
        "SELECT 'hunter2' 'x'",
        "CREATE ROLE x WITH hunter2",
        "INSERT INTO t VALUES ('hunter2'); DROP TABLE t",
    ):
        decision = policy.decide(who("ci"), "staging", sql)
        assert decision.action != "allow"
        assert "hunter2" not in decision.message, sql
        assert "hunter2" not in (decision.hint or ""), sql


def test_evaluation_errors_fail_closed(policy: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> tuple[object, ...]:
        raise RuntimeError("boom")

    monkeypatch.setattr(policy, "rules_for", broken)
    decision = policy.decide(who("ci"), "staging", "SELECT 1")
    assert decision.action == "deny"
    assert "could not be evaluated" in decision.message
    assert "boom" not in decision.message


def test_a_class_limen_does_not_know_is_denied(policy: Policy) -> None:
    decision = policy.decide_classification(
        who("ci"), "staging", classify("SELECT 1"), frozenset({"read", "teleport"})
    )
    assert (decision.action, decision.klass) == ("deny", UNKNOWN)


def test_mask_is_the_union_of_applicable_rules(tmp_path: Path) -> None:
    extra = {
        "name": "extra-mask",
        "groups": ["ci"],
        "resources": ["staging", "prod"],
        "allow": ["read"],
        "mask": ["column:users.phone", "builtin"],
    }
    policy = Policy(config(CI_STAGING + rules(extra), tmp_path))
    assert policy.mask_for(who("ci"), "staging") == (
        "builtin",
        "column:users.email",
        "column:users.phone",
    )
    assert policy.mask_for(who("ci"), "prod") == ("column:users.phone", "builtin")
    assert policy.mask_for(who("ops"), "staging") == ()


def test_decision_json_round_trips_the_fields(policy: Policy) -> None:
    held = policy.decide(who("ci"), "staging", "DELETE FROM t WHERE id = 1")
    data = held.to_json()
    assert data["action"] == "hold"
    assert data["approvers"] == ["security"]
    assert data["hold_timeout"] == 300
    assert data["statements"] == [
        {"command": "DELETE", "classes": ["write"], "tables": ["t"], "why": "DELETE changes data"}
    ]
    allowed = policy.decide(who("ci"), "staging", "SELECT 1").to_json()
    assert "approvers" not in allowed


# --- SessionPolicy -----------------------------------------------------------------


@pytest.fixture
def session(tmp_path: Path) -> SessionPolicy:
    return SessionPolicy(Policy(config(CI_STAGING, tmp_path)), who("ci"), "staging")


def test_session_knows_the_rules_and_mask(session: SessionPolicy) -> None:
    assert [r.name for r in session.rules] == ["ci-staging"]
    assert session.mask == ("builtin", "column:users.email")


def test_execute_gets_the_class_of_its_prepare(session: SessionPolicy) -> None:
    assert session.decide("PREPARE r AS SELECT * FROM t WHERE id = $1").action == "allow"
    assert session.decide("EXECUTE r(1)").action == "allow"
    held = session.decide("PREPARE w(int) AS DELETE FROM t WHERE id = $1")
    assert held.action == "hold"
    again = session.decide("EXECUTE w(1)")
    assert (again.action, again.klass) == ("hold", "write")
    # holds are decided afresh each time, never cached
    assert session.decide("EXECUTE w(2)").action == "hold"
    assert session.decide("EXPLAIN ANALYZE EXECUTE w(3)").action == "hold"
    assert session.decide("EXPLAIN EXECUTE w(3)").action == "allow"  # not executed
    ctas = session.decide("CREATE TABLE x AS EXECUTE r(1)")
    assert (ctas.action, ctas.klass) == ("deny", "ddl")


def test_execute_of_an_unseen_name_is_unknown(session: SessionPolicy) -> None:
    decision = session.decide("EXECUTE nope")
    assert (decision.action, decision.klass) == ("deny", UNKNOWN)
    assert "EXECUTE" in decision.message
    assert "nope" not in decision.message  # client-chosen names stay out


def test_prepare_and_execute_in_one_query(session: SessionPolicy) -> None:
    assert session.decide("PREPARE a AS SELECT 1; EXECUTE a").action == "allow"
    both = session.decide("PREPARE b AS UPDATE t SET x = 1; EXECUTE b")
    assert (both.action, both.klass) == ("deny", "unbounded-write")
    # the denied query defined nothing
    assert "b" not in session.prepared_names
    assert session.decide("EXECUTE b").klass == UNKNOWN


def test_a_denied_prepare_is_not_recorded(session: SessionPolicy) -> None:
    assert session.decide("PREPARE d AS SELECT pg_read_file('x')").action == "deny"
    decision = session.decide("EXECUTE d")
    assert decision.klass == UNKNOWN  # not "read": the upstream never saw it


def test_preparing_a_name_again_keeps_the_union(session: SessionPolicy) -> None:
    assert session.decide("PREPARE p AS DELETE FROM t WHERE id = $1").action == "hold"
    # the upstream refuses a second PREPARE p, so p may still be the DELETE
    assert session.decide("PREPARE p AS SELECT 1").action == "allow"
    decision = session.decide("EXECUTE p")
    assert decision.classes == {"read", "write"}
    assert decision.action == "hold"


def test_deallocate_forgets_only_when_the_session_confirms(session: SessionPolicy) -> None:
    session.decide("PREPARE p AS DELETE FROM t WHERE id = $1")
    assert session.decide("DEALLOCATE p").action == "allow"
    assert session.decide("EXECUTE p").action == "hold"  # DEALLOCATE may have failed upstream
    session.forget_prepared("p")
    assert session.decide("EXECUTE p").klass == UNKNOWN
    session.decide("PREPARE q AS SELECT 1")
    session.forget_prepared(None)
    assert session.prepared_names == frozenset()


def test_protocol_parse_and_execute(session: SessionPolicy) -> None:
    parse = session.decide_parse("s1", "SELECT * FROM users WHERE id = $1")
    assert (parse.action, parse.klass) == ("allow", "read")
    assert session.decide_execute("s1").action == "allow"
    # protocol and SQL names are one namespace
    assert session.decide("EXECUTE s1(1)").action == "allow"
    write = session.decide_parse("s2", "UPDATE users SET a = 1 WHERE id = $1")
    assert write.action == "hold"
    execute = session.decide_execute("s2")
    assert (execute.action, execute.klass, execute.commands) == ("hold", "write", ("UPDATE",))
    assert execute.tables == {"users"}
    assert session.decide("EXECUTE s2(1)").action == "hold"
    denied = session.decide_parse("s3", "DROP TABLE users")
    assert denied.action == "deny"
    assert session.decide_execute("s3").klass == UNKNOWN
    assert session.decide_execute("never-parsed").action == "deny"


def test_unnamed_statement_is_overwritten_even_when_denied(session: SessionPolicy) -> None:
    assert session.decide_parse("", "SELECT 1").action == "allow"
    assert session.decide_execute("").action == "allow"
    assert session.decide_parse("", "DROP TABLE users").action == "deny"
    # the upstream still holds the old unnamed statement: Execute is refused
    assert session.decide_execute("").action == "deny"
    session.forget_prepared("")
    assert session.decide_execute("").klass == UNKNOWN


def test_parse_of_execute_is_resolved_at_execute(session: SessionPolicy) -> None:
    session.decide("PREPARE p AS SELECT 1")
    assert session.decide_parse("s", "EXECUTE p").action == "allow"
    session.decide("PREPARE p AS DELETE FROM t WHERE id = 1")  # p may now be the DELETE
    assert session.decide_execute("s").action == "hold"


def test_parse_of_prepare_defines_the_name(session: SessionPolicy) -> None:
    assert (
        session.decide_parse("", "PREPARE inner_p AS DELETE FROM t WHERE id = 1").action == "hold"
    )
    assert session.decide("EXECUTE inner_p").action == "hold"


def test_prepared_statement_limit(tmp_path: Path) -> None:
    session = SessionPolicy(
        Policy(config(CI_STAGING, tmp_path)), who("ci"), "staging", max_prepared=2
    )
    assert session.decide("PREPARE a AS SELECT 1").action == "allow"
    assert session.decide_parse("b", "SELECT 2").action == "allow"
    refused = session.decide("PREPARE c AS SELECT 3")
    assert refused.action == "deny"
    assert "prepared statements" in refused.message
    assert session.decide_parse("d", "SELECT 4").action == "deny"
    # an existing name can still be used and re-prepared
    assert session.decide_parse("b", "SELECT 5").action == "allow"
    assert session.decide_parse("", "SELECT 6").action == "allow"


def test_unclassifiable_protocol_messages_are_denied(session: SessionPolicy) -> None:
    decision = session.decide_unclassifiable("a FunctionCall message")
    assert (decision.action, decision.klass) == ("deny", UNKNOWN)
    assert "FunctionCall" in decision.message


def test_session_caches_allow_and_deny_but_never_holds(session: SessionPolicy) -> None:
    first = session.decide("SELECT * FROM users")
    assert session.decide("SELECT * FROM users") is first
    denied = session.decide("DROP TABLE users")
    assert session.decide("DROP TABLE users") is denied
    held = session.decide("DELETE FROM users WHERE id = 1")
    again = session.decide("DELETE FROM users WHERE id = 1")
    assert held.action == again.action == "hold"
    assert again is not held
    # statements that prepare or execute depend on session state: not cached
    session.decide("PREPARE p AS SELECT 1")
    assert session.decide("EXECUTE p").action == "allow"
    session.decide("PREPARE p AS DELETE FROM t WHERE id = 1")
    assert session.decide("EXECUTE p").action == "hold"


def test_same_statement_with_other_literals_reuses_the_decision(session: SessionPolicy) -> None:
    first = session.decide("SELECT email FROM users WHERE id = 12345")
    again = session.decide("SELECT email FROM users WHERE id = 678")
    assert first.action == "allow"
    assert again is first  # same template: same classification, same decision
    # literal-dependent classifications decide afresh
    assert session.decide("SET client_encoding = 'UTF8'").action == "allow"
    assert session.decide("SET client_encoding = 'LATIN1'").action == "deny"
    # holds are never reused, by text or by template
    held = session.decide("DELETE FROM t WHERE id = 1")
    assert held.action == "hold"
    assert session.decide("DELETE FROM t WHERE id = 2") is not held
