"""limen's own answers to kubectl: Kubernetes ``Status`` objects.

The HTTP driver answers with ``application/problem+json``; a Kubernetes
client shows a ``Status`` object's ``message`` and ``reason`` instead
(``Error from server (Forbidden): denied by rule ...``), so the Kubernetes
driver turns each of limen's problem answers into a ``Status`` with the
same HTTP status, the problem's detail and hint in its message, and the
rule and class in its details. No token, credential or query in any of
them (the problem documents carry none).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Final

import msgspec

__all__ = ["status_body", "to_status"]

_REASONS: Final = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    421: "BadRequest",
    429: "TooManyRequests",
    502: "InternalError",
    503: "ServiceUnavailable",
}


def status_body(doc: dict[str, Any]) -> bytes:
    """A ``Status`` object for problem document ``doc`` (a dict)."""
    code = int(doc.get("status", 500))
    message = str(doc.get("detail", HTTPStatus(code).phrase))
    if doc.get("hint"):
        message += f" ({doc['hint']})"
    causes = [
        {"reason": f"limen.{key}", "message": str(doc[key])}
        for key in ("rule", "class", "action", "approval")
        if doc.get(key) is not None
    ]
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "limen: " + message,
        "reason": _REASONS.get(code, "InternalError"),
        "code": code,
    }
    if causes:
        body["details"] = {"causes": causes}
    return msgspec.json.encode(body)


def to_status(response: bytes) -> bytes:
    """``response`` (a complete HTTP/1.1 response limen made) with its
    problem+json body made a ``Status``; any other response as it is."""
    head, sep, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not sep or b"content-type: application/problem+json" not in lines:
        return response
    try:
        doc = msgspec.json.decode(body) if body else None
    except msgspec.DecodeError:
        return response
    if not isinstance(doc, dict):
        return response  # a HEAD answer has no body: its head is kept
    new = status_body(doc)
    out = [
        b"content-type: application/json" if ln.startswith(b"content-type:") else ln for ln in lines
    ]
    out = [
        b"content-length: " + str(len(new)).encode() if ln.startswith(b"content-length:") else ln
        for ln in out
    ]
    return b"\r\n".join(out) + b"\r\n\r\n" + new
