"""``limen approvals``: list, show, approve and deny held statements.

The CLI works on the state store of ``--config`` directly, so it reaches
the requests of every gateway process sharing that store; the process whose
session waits notices the decision within its poll interval. Whoever can
run this with the config can decide (like an operator with the database's
credentials); ``--as NAME`` names the human, and the requester can never
decide its own request. For group-checked decisions use the admin API.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

import msgspec

from limen.approvals import MAX_REASON, format_duration, parse_duration
from limen.cli import CheckFailed, UsageError
from limen.cli._configfile import add_config_argument, open_state_store
from limen.store import ApprovalError, ApprovalRequest


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "approvals",
        help="list, approve and deny statements held for approval",
        description=(
            "Statements that a rule holds wait in place until humans approve or deny them "
            "(or the rule's hold_timeout passes). These commands work on the state store of "
            "--config, shared by every gateway process of a fleet."
        ),
    )
    sub = p.add_subparsers(dest="approvals_command", metavar="SUBCOMMAND")
    sub.required = True

    ls = sub.add_parser(
        "list",
        help="what waits for approval",
        description=(
            "Pending approvals, newest first: id, identity, resource, class, rule, "
            "approvals so far, age and the (masked) statement."
        ),
    )
    add_config_argument(ls)
    ls.add_argument("--json", action="store_true", help="a JSON array (every field)")
    ls.add_argument("--all", action="store_true", help="decided requests too")
    ls.add_argument("--limit", type=int, default=100, metavar="N", help="at most N (default 100)")
    ls.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help="one request with its votes, as JSON")
    add_config_argument(show)
    show.add_argument("id", metavar="ID")
    show.set_defaults(func=cmd_show)

    for name, approve in (("approve", True), ("deny", False)):
        sp = sub.add_parser(
            name,
            help=f"{name} a held statement",
            description=(
                f"{name.capitalize()} the held statement ID as NAME. "
                + (
                    "With approvals_required > 1 the statement runs once that many distinct "
                    "people approved. --for also grants the same identity this statement "
                    "class on this resource for that long (just-in-time access)."
                    if approve
                    else "The waiting statement fails with SQLSTATE 42501 naming you and "
                    "your reason."
                )
            ),
        )
        add_config_argument(sp)
        sp.add_argument("id", metavar="ID", help="the approval id (from the NOTICE or list)")
        sp.add_argument("--as", dest="name", required=True, metavar="NAME", help="who decides")
        sp.add_argument("--reason", metavar="TEXT", help="why (shown to the bot and recorded)")
        if approve:
            sp.add_argument(
                "--for",
                dest="grant",
                metavar="DURATION",
                help="also grant this class on this resource to the requester for DURATION "
                "(e.g. 30m)",
            )
        sp.set_defaults(func=cmd_vote, approve=approve)


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _one_line(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def cmd_list(args: argparse.Namespace) -> int:
    _config, store = open_state_store(args)
    try:
        rows = store.approvals(pending_only=not args.all, limit=max(1, args.limit))
    finally:
        store.close()
    if args.json:
        print(json.dumps([msgspec.to_builtins(r) for r in rows], indent=None))
        return 0
    if not rows:
        print("nothing waits for approval" if not args.all else "no approval requests")
        return 0
    now = time.time()
    table = [("ID", "IDENTITY", "RESOURCE", "CLASS", "RULE", "VOTES", "AGE", "STATUS", "STATEMENT")]
    for r in rows:
        table.append(
            (
                r.id,
                r.subject,
                r.resource,
                r.klass,
                r.rule,
                f"{len(r.votes)}/{r.approvals_required}",
                _age(now - r.requested_at),
                r.status if r.status != "pending" or now < r.expires_at else "pending (expired)",
                _one_line(r.statement),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    _config, store = open_state_store(args)
    try:
        req = store.approval(args.id)
    except ApprovalError as exc:
        raise CheckFailed(str(exc)) from None
    finally:
        store.close()
    print(json.dumps(msgspec.to_builtins(req), indent=2))
    return 0


def cmd_vote(args: argparse.Namespace) -> int:
    name = str(args.name).strip()
    if not name:
        raise UsageError("--as needs a name")
    reason = args.reason
    if reason is not None and len(reason) > MAX_REASON:
        raise UsageError(f"--reason: at most {MAX_REASON} characters")
    grant: float | None = None
    if getattr(args, "grant", None):
        try:
            grant = parse_duration(args.grant)
        except ValueError as exc:
            raise UsageError(f"--for: {exc}") from None
    _config, store = open_state_store(args)
    try:
        try:
            req = store.approval_vote(
                args.id,
                approver=name,
                approve=args.approve,
                now=time.time(),
                reason=reason,
                grant_seconds=grant,
            )
        except ApprovalError as exc:
            raise CheckFailed(str(exc)) from None
        store.audit(
            "approval_vote",
            {
                "approval": req.id,
                "approver": name,
                "approve": args.approve,
                "reason": reason,
                "status": req.status,
                "grant_seconds": grant,
                "via": "cli",
            },
            at=time.time(),
            session_id=req.session_id,
            subject=req.subject,
        )
    finally:
        store.close()
    print(_outcome(req, name))
    return 0


def _outcome(req: ApprovalRequest, name: str) -> str:
    if req.status == "approved":
        grant = (
            f"; {req.subject} may run {req.klass} statements on {req.resource} without asking "
            f"for {format_duration(req.grant_seconds)}"
            if req.grant_seconds
            else ""
        )
        return f"approved {req.id} (by {req.decided_by}): the statement runs now{grant}"
    if req.status == "denied":
        return f"denied {req.id}: the statement fails with SQLSTATE 42501"
    left = req.approvals_required - len(req.votes)
    return (
        f"{name} approved {req.id}; it needs {left} more distinct approver"
        f"{'s' if left != 1 else ''} ({len(req.votes)}/{req.approvals_required}) "
        f"before {dt.datetime.fromtimestamp(req.expires_at, tz=dt.UTC):%H:%M:%S} UTC"
    )
