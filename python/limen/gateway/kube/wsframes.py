"""WebSocket frames: moved to :mod:`limen.gateway.wsframes` (the HTTP
driver relays WebSocket upgrades too); re-exported here."""

from limen.gateway.wsframes import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    Frame,
    FrameError,
    FrameReader,
    encode,
)

__all__ = [
    "BINARY",
    "CLOSE",
    "CONTINUATION",
    "PING",
    "PONG",
    "TEXT",
    "Frame",
    "FrameError",
    "FrameReader",
    "encode",
]
