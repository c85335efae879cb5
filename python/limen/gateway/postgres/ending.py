"""Why a PostgreSQL relay ends, as the client hears it: the same for both
relays (the native pump and the Trio relay share the client-side state
machine, ``limen_pump::PumpCore``, and its ``EndReason``)."""

from __future__ import annotations

from typing import assert_never

from limen import _native
from limen.gateway.session import SessionEnd

__all__ = ["end_for"]


def end_for(reason: _native.EndReason, detail: str) -> SessionEnd | None:
    """The FATAL error a relay's end calls for, or None when there is
    nobody to tell or nothing to say (the client closed, terminated or
    stopped reading; the host stopped the relay)."""
    match reason:
        case _native.EndReason.UPSTREAM_CLOSED:
            return SessionEnd("08006", "the upstream server closed the connection")
        case _native.EndReason.UPSTREAM_IO:
            return SessionEnd("08006", "the connection to the upstream server failed")
        case _native.EndReason.CLIENT_PROTOCOL | _native.EndReason.UPSTREAM_PROTOCOL:
            return SessionEnd("08P01", f"protocol error: {detail}; closing this connection")
        case _native.EndReason.RECORD:
            return SessionEnd("58030", "the session could not be recorded; closing it")
        case _native.EndReason.INTERNAL:
            return SessionEnd("XX000", "the gateway's relay failed; closing this connection")
        case (
            _native.EndReason.CLIENT_CLOSED
            | _native.EndReason.TERMINATE
            | _native.EndReason.CLIENT_IO
            | _native.EndReason.CLIENT_STALLED
            | _native.EndReason.STOPPED
        ):
            return None
        case _:
            assert_never(reason)
