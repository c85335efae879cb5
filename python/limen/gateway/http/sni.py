"""The TLS server name (SNI) a client asked for, on the HTTP listener.

The listener's ``ssl.SSLContext`` gets a ``sni_callback`` (once; it calls
the one the context had before, if any) that writes the name into a
per-task box: the callback runs
synchronously inside the handshake of the task that called
:func:`tls_handshake`, so a context variable tells it where to write. No
SNI (an IP address, an old client): None.

:func:`check_sni` holds a request to the name its connection was opened
with: a ``Host`` whose host name is not the SNI name is ``421
Misdirected Request`` (RFC 9110, 15.5.20), never routed elsewhere.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from contextvars import ContextVar

import trio

from limen.gateway.http.problem import problem
from limen.gateway.http.reader import ClientRequest
from limen.gateway.http.route import Refusal

__all__ = ["check_sni", "host_name", "tls_handshake"]

_BOX: ContextVar[list[str] | None] = ContextVar("limen_http_sni", default=None)


SniCallback = Callable[[ssl.SSLObject, str, ssl.SSLContext], int | None]


class _Remember:
    """The context's ``sni_callback``: notes the name for the task that is
    shaking hands, then calls the callback the context had before (if any:
    another part of the gateway may choose certificates by name)."""

    def __init__(self, before: SniCallback | None) -> None:
        self.before = before

    def __call__(self, obj: ssl.SSLObject, name: str, ctx: ssl.SSLContext) -> int | None:
        box = _BOX.get()
        if box is not None and name:
            box.append(name.lower().rstrip("."))
        return None if self.before is None else self.before(obj, name, ctx)


async def tls_handshake(
    stream: trio.abc.Stream, ctx: ssl.SSLContext
) -> tuple[trio.SSLStream[trio.abc.Stream], str | None]:
    """The server side of TLS on ``stream``, and the SNI name asked for."""
    if not isinstance(ctx.sni_callback, _Remember):
        ctx.sni_callback = _Remember(ctx.sni_callback)
    box: list[str] = []
    token = _BOX.set(box)
    try:
        tls = trio.SSLStream(stream, ctx, server_side=True)
        await tls.do_handshake()
    finally:
        _BOX.reset(token)
    return tls, box[0] if box else None


def host_name(req: ClientRequest) -> str | None:
    """The host name of ``req``'s ``Host`` (lower case, no port, no
    trailing dot); None without one."""
    host = req.header(b"host")
    if host is None:
        return None
    text = host.decode("ascii", "replace").strip().lower()
    if text.startswith("["):
        return text.split("]", 1)[0] + "]"
    return text.rsplit(":", 1)[0].rstrip(".") if ":" in text else text.rstrip(".")


def check_sni(req: ClientRequest, sni: str | None) -> None:
    """:class:`Refusal` 421 when ``req``'s Host is not the SNI name."""
    if sni is None:
        return
    host = host_name(req)
    if host != sni:
        raise Refusal(
            problem(
                421,
                "misdirected",
                f"this TLS connection was opened for {sni!r}; the request names "
                f"{host or 'no host'!r}",
                "open a connection for the host name you address (SNI and Host agree)",
            ),
            code="08P01",
        )
