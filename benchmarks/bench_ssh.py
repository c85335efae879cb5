"""OpenSSH through limen's SSH listener vs straight to sshd, in one run.

A real OpenSSH sshd (the tests' fixture: its own config and host key on a
loopback port, key authentication) and `limen serve` in its own process in
front of it (the resource's key, the pinned host key, command rules,
built-in masking of stdout/stderr, recording on). The client is plain
`ssh`: with its key straight to sshd, with the token as the password
(`sshpass -e`) through limen.

Reports the throughput of ``ssh RESOURCE 'head -c N /dev/zero'`` (256 MiB,
16 MiB with ``--short``; best of 3) and the median wall time of ``ssh
RESOURCE true`` (a whole session: process start, key exchange,
authentication, one exec), and the ratios limen/direct.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(TESTS))

from limen_bench_gateway import LimenServe  # noqa: E402
from ssh_support import SSHD, Sshd, start_sshd  # noqa: E402

MIB = 1 << 20


def _config(server: Sshd) -> str:
    return f"""
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
admin = "127.0.0.1:0"

[listeners]
ssh = "127.0.0.1:0"

[identity.dev]
enabled = true
listen = "127.0.0.1:0"

[[resources]]
name = "box"
protocol = "ssh"
upstream = "127.0.0.1:{server.port}"
user = "{server.user}"
private_key_file = "{server.client_key}"
host_key = "[127.0.0.1]:{server.port} {server.host_key}"

[[rules]]
name = "bench"
groups = ["bench"]
resources = ["box"]
allow_commands = ["head -c * /dev/zero", "true"]
mask = ["builtin"]
"""


def _direct(server: Sshd, folder: Path, command: str) -> tuple[list[str], dict[str, str]]:
    known = folder / "known_direct"
    known.write_text(f"[127.0.0.1]:{server.port} {server.host_key}\n")
    argv = [
        "ssh",
        "-F",
        "none",
        "-p",
        str(server.port),
        "-i",
        str(server.client_key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={known}",
        "-o",
        "BatchMode=yes",
        f"{server.user}@127.0.0.1",
        command,
    ]
    return argv, dict(os.environ)


def _limen(serve: LimenServe, folder: Path, command: str) -> tuple[list[str], dict[str, str]]:
    private = serve.dir / "state" / "ssh-host-ed25519.key"
    pub = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(private)], check=True, capture_output=True, text=True
    )
    key = pub.stdout.split()[:2]
    known = folder / "known_limen"
    known.write_text(f"[127.0.0.1]:{serve.port} {' '.join(key)}\n")
    argv = [
        "sshpass",
        "-e",
        "ssh",
        "-F",
        "none",
        "-p",
        str(serve.port),
        "-o",
        f"UserKnownHostsFile={known}",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password",
        "box@127.0.0.1",
        command,
    ]
    return argv, {**os.environ, "SSHPASS": serve.token}


def _throughput(argv: list[str], env: dict[str, str], size: int) -> float:
    """Seconds to receive ``size`` bytes of the command's stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    got = 0
    while chunk := proc.stdout.read(MIB):
        got += len(chunk)
    err = proc.stderr.read() if proc.stderr is not None else b""
    status = proc.wait()
    took = time.perf_counter() - start
    if status != 0 or got != size:
        raise RuntimeError(f"{argv[-1]!r}: status {status}, {got} bytes: {err[-300:]!r}")
    return took


def _cpu(pid: int | None) -> float:
    """CPU seconds (user and system, every thread) a process used so far;
    0 without one (the direct peer: sshd forks per session)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed(argv: list[str], env: dict[str, str], size: int, pid: int | None) -> tuple[float, float]:
    """``_throughput`` and the CPU seconds ``pid`` spent meanwhile."""
    before = _cpu(pid)
    took = _throughput(argv, env, size)
    return took, _cpu(pid) - before


def _setup(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"ssh true: {done.stderr.decode()[-300:]}")
    return took


def run(short: bool) -> dict[str, Any]:
    if not (os.path.exists(SSHD) and shutil.which("ssh") and shutil.which("sshpass")):
        raise RuntimeError("needs openssh-server, openssh-client and sshpass")
    size = (16 if short else 256) * MIB
    n = 3 if short else 9
    folder = Path(tempfile.mkdtemp(prefix="limen-bench-ssh-"))
    sshd, server = start_sshd(folder / "sshd")
    serve: LimenServe | None = None
    results: dict[str, dict[str, float]] = {}
    try:
        serve = LimenServe("ssh", _config(server))
        peers = {
            "direct": (lambda c: _direct(server, folder, c), None),
            "limen": (lambda c, s=serve: _limen(s, folder, c), serve.proc.pid),
        }
        for name, (make, pid) in peers.items():
            argv, env = make(f"head -c {size // MIB}M /dev/zero")
            _setup(*make("true"))  # warm: host key, first login
            runs = [_timed(argv, env, size, pid) for _ in range(3)]
            rate = min(took for took, _ in runs)
            cpu = min(used for _, used in runs)
            setup = statistics.median(_setup(*make("true")) for _ in range(n))
            results[name] = {
                "seconds": rate,
                "mbps": size / MIB / rate,
                "setup": setup,
                "cpu": cpu,
            }
    finally:
        if serve is not None:
            serve.close()
        sshd.terminate()
        sshd.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    d, lim = results["direct"], results["limen"]
    rows = [
        [
            f"ssh box 'head -c {size // MIB}M /dev/zero' MiB/s (best of 3)",
            d["mbps"],
            lim["mbps"],
            lim["mbps"] / d["mbps"],
        ],
        [
            f"ssh box true ms (median of {n})",
            d["setup"] * 1000,
            lim["setup"] * 1000,
            lim["setup"] / d["setup"],
        ],
    ]
    return {
        "title": "SSH: OpenSSH through limen vs direct to sshd",
        "columns": ["operation", "direct", "limen", "limen/direct"],
        "rows": rows,
        "ratios": {
            "ssh_throughput_limen_over_direct": round(lim["mbps"] / d["mbps"], 3),
            "ssh_setup_limen_over_direct": round(lim["setup"] / d["setup"], 3),
        },
        "cpu": {"limen_cpu_seconds": round(lim["cpu"], 2), "mib": size // MIB},
        "notes": [
            "targets (issue 15): throughput >= 0.5x direct, setup <= 2x direct",
            f"limen serve's CPU (user+system, all threads) per {size // MIB} MiB,"
            f" least of 3 runs: {lim['cpu']:.2f} s (load-independent-ish)",
            "direct: key authentication; limen: the token as the password (sshpass -e),"
            " then limen's own key login upstream",
            "limen: command rules, built-in masking of stdout/stderr, recording on",
            *(
                [
                    "--short: 16 MiB takes about as long as the login, so the throughput "
                    "ratio mostly compares setup times; the full run's 256 MiB is the figure"
                ]
                if short
                else []
            ),
        ],
    }


if __name__ == "__main__":
    print(json.dumps(run("--short" in sys.argv), indent=2))
