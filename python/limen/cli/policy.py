"""``limen policy check`` and ``limen policy classify``: dry-run the statement policy."""

from __future__ import annotations

import argparse
import json
import sys

from limen.cli import UsageError
from limen.cli._configfile import add_config_argument, load_config_arg
from limen.identity import Identity
from limen.policy import SEVERITY, Policy, classify
from limen.policy.mysql.session import MySqlSessionPolicy

MAX_SQL = 1024 * 1024

_CHECK_DESCRIPTION = """\
Dry-run one decision: classify the SQL with PostgreSQL's own parser and judge
it against the config's rules for the given identity and resource, exactly as
the gateway would for a simple-protocol query.

Prints the action (allow, hold or deny) on the first line, then the rule that
decided, the classes and tables, and the message a bot would see. With --json,
prints one JSON object instead.

Exit status: 0 when the statement would be allowed; 1 when it would be held
or denied (so `limen policy check ... && run-it` only runs allowed
statements); 2 for bad usage, a bad config, or an unknown resource.

Classes: read, write, unbounded-write (UPDATE/DELETE that do not restrict
their rows, TRUNCATE), ddl, admin, unknown (denied unless a rule names it),
and harmless (BEGIN, COMMIT, SET application_name ...: allowed for anyone a
rule gives access to the resource). A statement has a set of classes: deny
on any of them wins, then hold; allow must cover every one.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "policy",
        help="dry-run the statement policy",
        description="Dry-run the statement policy: classify SQL and judge it against rules.",
    )
    sub = parser.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    chk = sub.add_parser(
        "check",
        help="judge one statement for an identity and resource",
        description=_CHECK_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_argument(chk)
    chk.add_argument("--sub", required=True, metavar="NAME", help="the identity's subject")
    chk.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="G",
        help="a group of the identity (repeatable)",
    )
    chk.add_argument("--resource", required=True, metavar="R", help="the resource's name")
    _add_sql_argument(chk)
    chk.add_argument("--json", action="store_true", help="print one JSON object")
    chk.set_defaults(func=run_check)

    cls = sub.add_parser(
        "classify",
        help="print the classes of SQL (no config needed)",
        description=(
            "Classify SQL with PostgreSQL's own parser and print its classes, tables and, "
            "per statement, the command and why. Exit 0 whatever the class."
        ),
    )
    _add_sql_argument(cls)
    cls.add_argument("--json", action="store_true", help="print one JSON object")
    cls.set_defaults(func=run_classify)


def _add_sql_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sql",
        required=True,
        metavar="TEXT",
        help="the SQL text (one or more statements); '-' reads it from stdin",
    )


def _read_sql(args: argparse.Namespace) -> str:
    text: str = args.sql
    if text == "-":
        text = sys.stdin.read(MAX_SQL + 1)
        if len(text) > MAX_SQL:
            raise UsageError(f"the SQL on stdin is longer than {MAX_SQL} characters")
    return text


def _ordered(classes: frozenset[str]) -> list[str]:
    return sorted(classes, key=lambda c: SEVERITY.index(c) if c in SEVERITY else len(SEVERITY))


def run_check(args: argparse.Namespace) -> int:
    config = load_config_arg(args)
    resource = config.resource(args.resource)
    if resource is None:
        known = ", ".join(r.name for r in config.resources) or "none"
        raise UsageError(f"unknown resource {args.resource!r} (known: {known})")
    sql = _read_sql(args)
    identity = Identity(
        subject=args.sub,
        groups=tuple(args.group),
        issuer="limen policy check",
        expires_at=None,
        token_id=None,
        method="dev",
    )
    if resource.protocol == "mysql":  # the MySQL classifier, dangers; any server version
        decision = MySqlSessionPolicy(
            Policy(config), identity, args.resource, database=resource.database, server=None
        ).decide(sql)
    else:
        decision = Policy(config).decide(identity, args.resource, sql)
    if args.json:
        print(json.dumps(decision.to_json(), indent=2))
    else:
        print(decision.action)
        print(f"rule: {decision.rule or '(none)'}")
        print(f"class: {decision.klass}")
        print(f"classes: {', '.join(_ordered(decision.classes))}")
        print(f"tables: {', '.join(sorted(decision.tables)) or '(none)'}")
        print(f"commands: {', '.join(decision.commands) or '(none)'}")
        print(f"message: {decision.message}")
        if decision.hint:
            print(f"hint: {decision.hint}")
        if decision.action == "hold":
            print(f"approvers: {', '.join(decision.approvers)}")
            print(f"approvals required: {decision.approvals_required}")
            print(f"hold timeout: {decision.hold_timeout:g}s")
    return 0 if decision.action == "allow" else 1


def run_classify(args: argparse.Namespace) -> int:
    result = classify(_read_sql(args))
    if args.json:
        print(
            json.dumps(
                {
                    "class": result.klass,
                    "classes": _ordered(result.classes),
                    "tables": sorted(result.tables),
                    "error": result.error,
                    "statements": [
                        {
                            "command": s.command,
                            "classes": _ordered(s.classes),
                            "tables": sorted(s.tables),
                            "why": s.why,
                        }
                        for s in result.statements
                    ],
                },
                indent=2,
            )
        )
        return 0
    print(result.klass)
    print(f"classes: {', '.join(_ordered(result.classes))}")
    print(f"tables: {', '.join(sorted(result.tables)) or '(none)'}")
    for stmt in result.statements:
        print(f"  {stmt.command}: {', '.join(_ordered(stmt.classes))} ({stmt.why})")
    return 0
