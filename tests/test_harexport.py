"""`limen sessions export --format har` on signed logs written here: entries
split at request and response heads, bodies rejoined across records (base64
when not UTF-8), credential headers redacted even when a log holds them in
clear, a request without an answer kept, and a non-HTTP session refused.
(The export of a live session through `limen serve` is in
tests/test_autogen_http_example.py.)"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from limen import recording

START_US = 1_700_000_000_000_000


def limen(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limen", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write(path: Path, protocol: str, records: list[tuple[str, bytes, bool]]) -> Path:
    key = recording.generate_signing_key()
    with recording.SessionWriter(
        path,
        session_id="sess-har",
        identity="bot",
        resource="api",
        protocol=protocol,
        signing_key=key,
        start_unix_us=START_US,
    ) as w:
        for kind, payload, masked in records:
            w.append(kind, payload, masked=masked)
    return path


BINARY = bytes(range(256))
HTTP_RECORDS = [
    (
        "c2u",
        b"POST /r/api/items?q=1&empty= HTTP/1.1\r\nhost: gw.example:6480\r\n"
        b"authorization: Bearer eyJhbGciOiJFUzI1NiJ9.leaked\r\ncontent-type: application/json\r\n"
        b"cookie: sid=clear\r\n\r\n",
        False,
    ),
    ("c2u", b'{"name": ', False),
    ("c2u", b'"x"}', False),
    ("event", b'{"event":"decision","action":"allow","rule":"r1","class":"write"}', False),
    (
        "u2c",
        b"HTTP/1.1 201 Created\r\ncontent-type: application/octet-stream\r\n"
        b"set-cookie: session=clear-too\r\nlocation: /items/7\r\n\r\n",
        False,
    ),
    ("u2c", BINARY[:100], True),
    ("u2c", BINARY[100:], True),
    ("event", b'{"event":"http_response","status":201,"masked":0}', False),
    ("c2u", b"GET /r/api/slow HTTP/1.1\r\nhost: gw.example:6480\r\n\r\n", False),
]


def test_har_entries_from_an_http_log(tmp_path: Path) -> None:
    log = write(tmp_path / "h.log", "http", HTTP_RECORDS)
    done = limen("sessions", "export", log, "--format", "har")
    assert done.returncode == 0, done.stderr
    assert "clear" not in done.stdout
    assert "leaked" not in done.stdout
    har = json.loads(done.stdout)["log"]
    assert har["version"] == "1.2"
    assert "sess-har" in har["comment"]
    first, second = har["entries"]
    req = first["request"]
    assert (req["method"], req["url"], req["httpVersion"]) == (
        "POST",
        "http://gw.example:6480/r/api/items?q=1&empty=",
        "HTTP/1.1",
    )
    assert req["queryString"] == [{"name": "q", "value": "1"}, {"name": "empty", "value": ""}]
    headers = {h["name"]: h["value"] for h in req["headers"]}
    assert headers["authorization"] == "[redacted]"
    assert headers["cookie"] == "[redacted]"
    assert req["cookies"] == []
    assert req["postData"] == {"mimeType": "application/json", "text": '{"name": "x"}'}
    assert req["bodySize"] == len('{"name": "x"}')
    resp = first["response"]
    assert (resp["status"], resp["statusText"], resp["redirectURL"]) == (201, "Created", "/items/7")
    assert {h["name"]: h["value"] for h in resp["headers"]}["set-cookie"] == "[redacted]"
    content = resp["content"]
    assert content["encoding"] == "base64"
    assert base64.b64decode(content["text"]) == BINARY
    assert content["size"] == resp["bodySize"] == 256
    assert first["_limen"]["response_masked"] is True
    assert first["_limen"]["request_masked"] is False
    events = [e["record"]["event"] for e in first["_limen"]["events"]]
    assert events == ["decision", "http_response"]
    assert first["startedDateTime"] == "2023-11-14T22:13:20.000Z"
    assert first["time"] >= 0
    assert set(first["timings"]) == {"send", "wait", "receive"}
    # The request the log ends on has no answer: kept, with status 0.
    assert second["request"]["url"] == "http://gw.example:6480/r/api/slow"
    assert "postData" not in second["request"]
    assert second["response"]["status"] == 0


def test_har_is_for_http_sessions_only(tmp_path: Path) -> None:
    log = write(tmp_path / "p.log", "postgres", [("c2u", b"SELECT 1", False)])
    done = limen("sessions", "export", log, "--format", "har")
    assert done.returncode == 2
    assert "HAR is for http" in done.stderr
    assert done.stdout == ""


def test_a_websocket_stream_is_the_entrys_messages(tmp_path: Path) -> None:
    records = [
        ("c2u", b"GET /r/api/ws HTTP/1.1\r\nhost: gw\r\nupgrade: websocket\r\n\r\n", False),
        ("event", b'{"event":"decision","action":"allow","rule":"r1","class":"read"}', False),
        ("u2c", b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n", False),
        ("event", b'{"event":"http_upgrade","protocol":"websocket"}', False),
        ("c2u", b"hello", False),
        ("u2c", b"echo:hello", True),
        ("c2u", b"\xff\x00", False),
        ("event", b'{"event":"http_upgrade_end","why":"closed"}', False),
    ]
    done = limen(
        "sessions", "export", write(tmp_path / "w.log", "http", records), "--format", "har"
    )
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)["log"]["entries"]  # the frames start no new entry
    assert entry["response"]["status"] == 101
    messages = [(m["type"], m["opcode"], m["data"]) for m in entry["_webSocketMessages"]]
    assert messages == [
        ("send", 1, "hello"),
        ("receive", 1, "echo:hello"),
        ("send", 2, base64.b64encode(b"\xff\x00").decode()),
    ]
    events = [e["record"]["event"] for e in entry["_limen"]["events"]]
    assert events == ["decision", "http_upgrade", "http_upgrade_end"]
