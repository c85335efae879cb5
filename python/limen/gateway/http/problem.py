"""The gateway's own HTTP answers: ``application/problem+json`` (RFC 9457).

Every refusal names what happened and what to do next; a denial names the
rule, the class and what can be approved; a 401 carries a
``WWW-Authenticate: Bearer`` challenge saying how to get a token. Never a
token, a credential or a request's query in any of them.
"""

from __future__ import annotations

from http import HTTPStatus

import msgspec

from limen.policy import Decision

__all__ = ["Problem", "denial", "problem_bytes", "unauthorized"]

PROBLEM_TYPE = "https://limen.dev/problems/"
#: How to get a token (not one).
AUTH_HELP = (
    "send Authorization: Bearer TOKEN with a limen token (mint one with `limen token` "
    "or from your identity provider)"
)


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A problem document; ``limen_*`` members are limen's extensions."""

    type: str
    title: str
    status: int
    detail: str
    hint: str | None = None
    rule: str | None = None
    klass: str | None = msgspec.field(default=None, name="class")
    action: str | None = None
    approvable: bool | None = None
    approval: str | None = None


def problem(status: int, slug: str, detail: str, hint: str | None = None) -> Problem:
    return Problem(
        type=PROBLEM_TYPE + slug,
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        hint=hint,
    )


def unauthorized(detail: str) -> tuple[Problem, list[tuple[bytes, bytes]]]:
    """A 401 and its challenge."""
    quoted = detail.replace("\\", "").replace('"', "'")
    challenge = (
        f'Bearer realm="limen", error="invalid_token", error_description="{quoted}; {AUTH_HELP}"'
    )
    return problem(401, "token", detail, AUTH_HELP), [(b"www-authenticate", challenge.encode())]


def denial(decision: Decision, approval: str | None = None) -> Problem:
    """The 403 of a denied (or not approved) request."""
    held = decision.action == "hold"
    if held:
        approvable = "this class is held for approval: send the request again to ask anew"
    else:
        approvable = decision.hint or "this cannot be approved; ask the limen operator"
    return Problem(
        type=PROBLEM_TYPE + ("not-approved" if held else "denied"),
        title="Forbidden",
        status=403,
        detail=decision.message,
        hint=approvable,
        rule=decision.rule,
        klass=decision.klass,
        action=decision.action,
        approvable=held,
        approval=approval,
    )


def problem_bytes(
    doc: Problem,
    extra: list[tuple[bytes, bytes]] | None = None,
    *,
    close: bool,
    head: bool = False,
) -> bytes:
    """A complete HTTP/1.1 response carrying ``doc`` (``head``: no body)."""
    body = msgspec.json.encode(doc)
    lines = [
        f"HTTP/1.1 {doc.status} {HTTPStatus(doc.status).phrase}".encode(),
        b"content-type: application/problem+json",
        b"content-length: " + str(len(body)).encode(),
        b"cache-control: no-store",
    ]
    lines += [k + b": " + v for k, v in extra or []]
    if close:
        lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + (b"" if head else body)
