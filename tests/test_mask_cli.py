"""`limen mask` as a user runs it: a real subprocess on stdin/stdout."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

LIMEN = [sys.executable, "-m", "limen"]


def run(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*LIMEN, *args], input=data, capture_output=True, timeout=60, check=False)


def test_masks_stdin_to_stdout() -> None:
    p = run(["mask"], b"key=AKIAIOSFODNN7EXAMPLE mail alice@example.com\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"key=[MASKED:aws-access-key-id] mail [MASKED:email]\n"


def test_detector_selection_and_rules() -> None:
    p = run(["mask", "--detector", "email"], b"alice@example.com AKIAIOSFODNN7EXAMPLE")
    assert p.stdout == b"[MASKED:email] AKIAIOSFODNN7EXAMPLE"
    p = run(
        ["mask", "--rule", "ticket=T-[0-9]+", "--words", "proj=apollo,gemini"], b"T-99 apollo x"
    )
    assert p.stdout == b"[MASKED:ticket] [MASKED:proj] x"


def test_findings_go_to_stderr_without_the_secret() -> None:
    p = run(["mask", "--findings"], b"token ghp_16C7e42F292c6912E7710c838347Ae178B4a\n")
    assert p.returncode == 0
    assert b"finding github-token offset=6 length=40" in p.stderr
    assert b"ghp_" not in p.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["mask", "--rule", "broken=a(b"], b"broken"),
        (["mask", "--detector", "nope"], b"nope"),
        (["mask", "--rule", "missing-equals"], b"NAME=VALUE"),
    ],
)
def test_bad_usage_exits_2_naming_the_problem(args: list[str], needle: bytes) -> None:
    p = run(args, b"")
    assert p.returncode == 2
    assert needle in p.stderr


def test_list_and_help() -> None:
    p = run(["mask", "--list"], b"")
    assert p.returncode == 0
    assert b"pem-private-key" in p.stdout
    assert b"card-number" in p.stdout
    for cmd in (["--help"], ["mask", "--help"], ["demo", "--help"]):
        h = run(cmd, b"")
        assert h.returncode == 0
        assert b"usage:" in h.stdout


def test_demo_shows_before_and_after() -> None:
    p = run(["demo", "--mask-sample"], b"")
    assert p.returncode == 0, p.stderr
    after = p.stdout.split(b"what the bot sees", 1)[1]
    assert b"[MASKED:card-number]" in after
    assert b"4111 1111 1111 1111" not in after
    assert b"4111 1111 1111 1111" in p.stdout  # shown in the "before" half


@pytest.mark.slow
def test_large_stream_in_constant_memory() -> None:
    """256 MiB through `limen mask` stays far under 100 MB resident, and the
    secrets sprinkled through it are all masked."""
    block = (b"row 42 | alice@example.com | " + b"x" * 200 + b"\n") * 256  # ~60 KiB
    total = 256 * 1024 * 1024
    n_blocks = total // len(block)
    proc = subprocess.Popen([*LIMEN, "mask"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None
    assert proc.stdout is not None
    counts = {"bytes": 0, "masked": 0, "leaked": 0}

    def reader() -> None:
        # Count whole lines only: a line may straddle two reads.
        assert proc.stdout is not None
        carry = b""
        while chunk := proc.stdout.read(1 << 20):
            counts["bytes"] += len(chunk)
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            whole, carry = data[:cut], data[cut:]
            counts["masked"] += whole.count(b"[MASKED:email]")
            counts["leaked"] += whole.count(b"alice@example.com")
        counts["leaked"] += carry.count(b"alice@example.com")

    t = threading.Thread(target=reader)
    t.start()
    # Peak RSS of the child's own image (VmHWM), sampled as it runs: the
    # wait4 figure would count the pytest process it was forked from.
    peak_kib = 0
    for i in range(n_blocks):
        proc.stdin.write(block)
        if i % 256 == 0:
            peak_kib = max(peak_kib, _vm_hwm_kib(proc.pid))
    peak_kib = max(peak_kib, _vm_hwm_kib(proc.pid))
    proc.stdin.close()
    proc.wait(timeout=120)
    t.join()
    assert proc.returncode == 0
    assert counts["leaked"] == 0
    assert counts["masked"] == n_blocks * 256
    assert 0 < peak_kib < 100 * 1024, f"peak RSS {peak_kib} KiB"


def _vm_hwm_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def test_json_paths_mask_by_key_then_the_detectors_run() -> None:
    body = b'{"user": "a", "password": "pw-9f", "t": [{"token": 1}], "mail": "bob@example.org"}\n'
    done = run(["mask", "--json", "$.password", "--json", "$..token"], body)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        b'{"user": "a", "password": "[MASKED:json:$.password]", '
        b'"t": [{"token": "[MASKED:json:$..token]"}], "mail": "[MASKED:email]"}\n'
    )
    refused = run(["mask", "--json", "$.a"], b'{"a": "s3cr3t"} <html>')
    assert refused.returncode == 1
    assert b"cannot be masked" in refused.stderr
    assert b"s3cr3t" not in refused.stdout  # nothing of the chunk with the break
    bad = run(["mask", "--json", "password"], b"{}")
    assert bad.returncode == 2
    assert b"starts with $" in bad.stderr
