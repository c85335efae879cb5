"""Headers on their way through the gateway, and as recorded.

Requests lose the hop-by-hop headers, the bot's ``Authorization`` (its limen
token), any header that would carry the upstream credential, ``Host``
(the upstream's), ``Expect`` (limen answers 100-continue itself, through
h11, by reading the body) and the framing headers (limen frames the
request again: the client's ``Content-Length``, else chunked); they gain
the upstream's ``Host`` and the credential. When the response is masked,
``Accept-Encoding: identity`` asks for a body limen can read.

Responses lose the hop-by-hop headers and, when masked, ``Content-Length``
(masking changes lengths: limen frames the body again).

In the recording, ``Authorization``, ``Proxy-Authorization``, ``Cookie``,
``Set-Cookie``, the credential's header and every header whose name says it
carries a credential (a part, split at ``-``/``_``, that starts with
``token``, ``secret``, ``pass``, ``authenti``, ``authoriz``, ``cred``,
``session``, ``cookie`` or ``signature``, is ``auth`` or ``sig``, or ends
with ``key``: ``X-Api-Key``, ``X-Auth-Token``, ``Private-Token``) are
``[redacted]``; so is the value of every such query parameter in the
request target (:func:`target_text`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Final, Protocol

import h11

__all__ = [
    "HOP_BY_HOP",
    "checked_header",
    "head_text",
    "header_pairs",
    "parsed_request",
    "parsed_response",
    "request_headers",
    "response_headers",
    "target_text",
]

HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    }
)
_REQUEST_DROPPED: Final = HOP_BY_HOP | {
    b"authorization",
    b"host",
    b"expect",
    b"content-length",
    b"limen-approval",
}
#: Dropped from responses: unmasked, masked (masking changes lengths).
_RESPONSE_DROPPED: Final = {False: HOP_BY_HOP, True: HOP_BY_HOP | {b"content-length"}}
_SECRET: Final = frozenset({b"authorization", b"proxy-authorization", b"cookie", b"set-cookie"})
REDACTED: Final = b"[redacted]"


class RawHeaders(Protocol):
    """What h11 gives as an event's headers (``raw_items``)."""

    def raw_items(self) -> list[tuple[bytes, bytes]]: ...


def header_pairs(headers: RawHeaders) -> list[tuple[bytes, bytes]]:
    """An h11 event's headers as (lower-case name, value) pairs: what
    iterating it gives, read from its list in one pass (iterating goes
    through ``Sequence.__getitem__``, one call per header)."""
    return [(k.lower(), v) for k, v in headers.raw_items()]


def checked_header(name: bytes, value: bytes) -> None:
    """Refuses (``h11.LocalProtocolError``) a header h11 would not send: a
    value from the config (the upstream's Host, the credential) is checked
    once, so that :func:`parsed_request` may skip the check per request."""
    pairs = [(name, value)] if name == b"host" else [(b"host", b"x"), (name, value)]
    h11.Request(method=b"GET", target=b"/", headers=pairs)


def parsed_request(method: str, target: bytes, headers: list[tuple[bytes, bytes]]) -> h11.Request:
    """The upstream request as ``h11.Request`` would make it, without its
    per-header regexes (h11's ``_parsed``): every name and value here came
    out of h11's parser (the client's head), is a constant of this module
    or a length limen wrote, or was checked once by :func:`checked_header`
    (the Host and the credential). Method and target are still checked,
    as are Content-Length and Transfer-Encoding."""
    return h11.Request(method=method.encode("ascii"), target=target, headers=headers, _parsed=True)


def parsed_response(status: int, headers: list[tuple[bytes, bytes]], reason: bytes) -> h11.Response:
    """The client's response as ``h11.Response`` would make it, without the
    per-header regexes: the names and values came out of h11's parser (the
    upstream's head), or are lengths limen wrote (see :func:`parsed_request`)."""
    return h11.Response(status_code=status, headers=headers, reason=reason, _parsed=True)


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """Header names a ``Connection`` header lists (hop-by-hop too)."""
    out: set[bytes] = set()
    for k, v in headers:
        if k == b"connection":
            out.update(t.strip().lower() for t in v.split(b",") if t.strip())
    return out


def request_headers(
    headers: list[tuple[bytes, bytes]],
    *,
    host: bytes,
    credential: tuple[bytes, bytes] | None,
    content_length: bytes | None,
    chunked: bool,
    masked: bool,
) -> list[tuple[bytes, bytes]]:
    """The headers of the request limen sends upstream."""
    dropped = _REQUEST_DROPPED | _connection_tokens(headers)
    if credential is not None:
        dropped = dropped | {credential[0]}
    if masked:
        dropped = dropped | {b"accept-encoding"}
    out = [(b"host", host)]
    out += [(k, v) for k, v in headers if k not in dropped]
    if content_length is not None:
        out.append((b"content-length", content_length))
    elif chunked:
        out.append((b"transfer-encoding", b"chunked"))
    if masked:
        out.append((b"accept-encoding", b"identity"))
    if credential is not None:
        out.append(credential)
    return out


def response_headers(
    headers: Iterable[tuple[bytes, bytes]], *, masked: bool
) -> list[tuple[bytes, bytes]]:
    """The headers of the response limen sends the client."""
    pairs = [(bytes(k).lower(), bytes(v)) for k, v in headers]
    dropped = _RESPONSE_DROPPED[masked] | _connection_tokens(pairs)
    return [(k, v) for k, v in pairs if k not in dropped]


_SECRET_PART: Final = re.compile(
    rb"(?:token|secret|pass|pwd|authenti|authoriz|cred|session|cookie|signature).*|.*keys?|auth|sig"
)
_PARTS: Final = re.compile(rb"[^a-z0-9]+")
_QUERY_PAIR: Final = re.compile(rb"([^&=;]*)=([^&;]*)")


@functools.lru_cache(maxsize=4096)
def secret_name(name: bytes) -> bool:
    """Whether a header or query parameter named ``name`` carries a credential
    (a pure function of the name: remembered for the 4096 last names)."""
    return any(_SECRET_PART.fullmatch(p) for p in _PARTS.split(name.lower()) if p)


def target_text(target: bytes) -> bytes:
    """A request target as recorded: the values of secret-named query
    parameters (``?api_key=…&token=…``, percent-encoded names too) redacted."""
    path, sep, query = target.partition(b"?")
    if not sep:
        return target

    def hide(m: re.Match[bytes]) -> bytes:
        name = _unquote(m.group(1))
        return m.group(1) + b"=" + REDACTED if secret_name(name) else m.group(0)

    return path + b"?" + _QUERY_PAIR.sub(hide, query)


def _unquote(raw: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25 and i + 2 < len(raw) and _is_hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(0x20 if c == 0x2B else c)
            i += 1
    return bytes(out)


def _is_hex(two: bytes) -> bool:
    return len(two) == 2 and all(chr(b) in "0123456789abcdefABCDEF" for b in two)


def head_text(
    first_line: bytes, headers: Iterable[tuple[bytes, bytes]], secret: bytes | None = None
) -> bytes:
    """A head as recorded: the first line and the headers, secrets redacted."""
    lines = [first_line]
    for k, v in headers:
        hidden = k in _SECRET or (secret is not None and k == secret) or secret_name(k)
        lines.append(k + b": " + (REDACTED if hidden else v))
    return b"\r\n".join(lines) + b"\r\n\r\n"
