"""Type stubs for the native extension (native/limen-py). Checked by
tests/test_native_stub.py against the built module."""

__version__: str

# --- limen-mask ---------------------------------------------------------------

# --- limen-record -------------------------------------------------------------

from collections.abc import Iterable
from typing import Any, final

@final
class RecordWriter:
    def __init__(
        self,
        path: str,
        *,
        session_id: str,
        identity: str,
        resource: str,
        protocol: str,
        signing_key: bytes,
        recipient: bytes | None = None,
        start_unix_us: int | None = None,
        max_record: int = 1048576,
        flush_bytes: int = 262144,
        flush_ms: float | None = 200.0,
        fsync_each: bool = False,
    ) -> None: ...
    def append(self, kind: str, payload: bytes | bytearray | memoryview) -> None: ...
    def append_many(
        self, kind: str, payloads: Iterable[bytes | bytearray | memoryview]
    ) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> dict[str, int]: ...
    @property
    def records(self) -> int: ...
    @property
    def closed(self) -> bool: ...

@final
class RecordReader:
    def __init__(
        self,
        path: str,
        key: bytes | None = None,
        public_key: bytes | None = None,
        max_message: int = 268435456,
    ) -> None: ...
    def __iter__(self) -> RecordReader: ...
    def __next__(self) -> tuple[int, int, str, bytes]: ...
    def header(self) -> dict[str, Any]: ...
    def ending(self) -> str | None: ...

def record_verify(path: str, public_key: bytes | None = None) -> dict[str, Any]: ...
def record_generate_signing_key() -> bytes: ...
def record_signing_public_key(signing_key: bytes) -> bytes: ...
def record_generate_recipient_key() -> tuple[bytes, bytes]: ...
def record_recipient_public_key(private_key: bytes) -> bytes: ...
def record_key_id(public_key: bytes) -> str: ...
