"""Session recording: the signed log format, its keys, and the gateway's
recorders.

- :mod:`limen.recording.log`: write, read and verify session logs (the
  native ``limen-record`` crate; format in ``docs/recording-format.md``).
- :mod:`limen.recording.keys`: signing and recipient keys, their files, and
  the gateway's own recording key.
- :mod:`limen.recording.recorder`: what a gateway session records to (the
  :class:`Recorder` protocol, :class:`SessionInfo`, record kinds).
- :mod:`limen.recording.index`: the gateway's recorder, a signed log per
  session indexed in the state store (the default of every gateway).
- :mod:`limen.recording.memory`: :class:`MemoryRecorder`, the tests' double.
"""

from limen.recording.index import IndexedRecorder, configured_recorder_factory, recorder_factory
from limen.recording.keys import (
    KeyType,
    RecipientKeyPair,
    generate_recipient_key,
    generate_signing_key,
    key_id,
    load_key,
    load_or_create_recording_key,
    recipient_public_key,
    save_key,
    signing_public_key,
)
from limen.recording.log import (
    Header,
    Kind,
    LogError,
    LogReader,
    Record,
    SessionWriter,
    VerifyResult,
    open_log,
    verify,
)
from limen.recording.memory import MemoryRecorder
from limen.recording.recorder import (
    C2U,
    EVENT,
    U2C,
    NativeRecorder,
    Recorder,
    RecorderFactory,
    SessionInfo,
)

__all__ = [
    "C2U",
    "EVENT",
    "U2C",
    "Header",
    "IndexedRecorder",
    "KeyType",
    "Kind",
    "LogError",
    "LogReader",
    "MemoryRecorder",
    "NativeRecorder",
    "RecipientKeyPair",
    "Record",
    "Recorder",
    "RecorderFactory",
    "SessionInfo",
    "SessionWriter",
    "VerifyResult",
    "configured_recorder_factory",
    "generate_recipient_key",
    "generate_signing_key",
    "key_id",
    "load_key",
    "load_or_create_recording_key",
    "open_log",
    "recipient_public_key",
    "recorder_factory",
    "save_key",
    "signing_public_key",
    "verify",
]
