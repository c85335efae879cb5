"""The CPU of one HTTP exchange through limen, and where it goes.

Not a side-by-side benchmark (that is bench_http.py): a profiling harness.
nginx (bench_http's origin) serves a 1 KiB file; an in-process HTTP
gateway (policy, built-in masking, recording to files as `limen serve`
does) relays N kept-alive GETs from a raw client on one connection.
Prints the CPU time per request (process time: the gateway and the small
client, not nginx); with ``--profile``, cProfile on process time, the
functions by own time and the share of each package.

    .venv/bin/python benchmarks/http_profile.py [N] [--profile]
"""

from __future__ import annotations

import collections
import cProfile
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path

import trio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_http import ORIGIN_KEY, _limen_config, _start_nginx  # noqa: E402
from limen.config import load_config_text  # noqa: E402
from limen.gateway import HttpGateway, JsonLog, Services  # noqa: E402
from limen.identity import Authenticator, DevIdP  # noqa: E402
from limen.recording import configured_recorder_factory  # noqa: E402

_LENGTH = re.compile(rb"content-length: (\d+)", re.IGNORECASE)


async def _exchanges(port: int, request: bytes, n: int) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    for _ in range(n):
        await stream.send_all(request)
        buf = b""
        while True:
            buf += await stream.receive_some(65536)
            head, sep, body = buf.partition(b"\r\n\r\n")
            if not sep:
                continue
            if b"transfer-encoding: chunked" in head.lower():
                if body.endswith(b"0\r\n\r\n"):
                    break
            elif (m := _LENGTH.search(head)) and len(body) >= int(m.group(1)):
                break
    await stream.aclose()


async def _run(config_text: str, base: Path, n: int, prof: cProfile.Profile | None) -> float:
    config = load_config_text(config_text, base_dir=base)
    async with trio.open_nursery() as nursery:
        idp = DevIdP.from_config(config)
        discovery = await nursery.start(idp.serve, "127.0.0.1", 0)
        auth = Authenticator.from_config(config, dev_discovery_url=discovery)
        services = Services(
            config,
            auth,
            recorder_factory=configured_recorder_factory(config),
            log=JsonLog(open("/dev/null", "w")),  # noqa: SIM115
        )
        listeners = await nursery.start(HttpGateway(services).serve, "127.0.0.1", 0)
        port = listeners[0].socket.getsockname()[1]
        token = idp.mint("bench", ("bench",), 600)
        request = (
            f"GET /r/origin/static.txt HTTP/1.1\r\nhost: limen\r\n"
            f"authorization: Bearer {token}\r\n\r\n"
        ).encode()
        await _exchanges(port, request, 50)  # warm
        if prof is not None:
            prof.enable()
        cpu = time.process_time()
        await _exchanges(port, request, n)
        cpu = time.process_time() - cpu
        if prof is not None:
            prof.disable()
        nursery.cancel_scope.cancel()
    return cpu / n


def _shares(stats: pstats.Stats) -> list[tuple[float, str]]:
    by: collections.Counter[str] = collections.Counter()
    for (path, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        if "site-packages/" in path:
            key = path.split("site-packages/")[1].split("/")[0]
        elif "/python/limen/" in path:
            key = "limen/" + path.split("/python/limen/")[1]
        else:
            key = "(builtins and stdlib)" if path.startswith(("~", "/root", "/usr")) else name
        by[key] += own
    total = sum(by.values()) or 1.0
    return [(v / total * 100, k) for k, v in by.most_common(15)]


def main() -> None:
    n = int(next((a for a in sys.argv[1:] if a.isdigit()), "2000"))
    profile = "--profile" in sys.argv
    folder = Path(tempfile.mkdtemp(prefix="limen-http-profile-"))
    nginx, origin, _proxy = _start_nginx(folder)
    try:
        key = folder / "origin.key"
        key.write_text(ORIGIN_KEY + "\n")
        prof = cProfile.Profile(time.process_time) if profile else None
        per = trio.run(_run, _limen_config(origin, key), folder, n, prof)
    finally:
        nginx.terminate()
        nginx.wait(10)
    print(f"{n} kept-alive GETs through limen: {per * 1e6:.0f} µs of CPU each")
    if prof is not None:
        stats = pstats.Stats(prof)
        stats.sort_stats("tottime").print_stats(25)
        for share, key in _shares(stats):
            print(f"{share:5.1f}%  {key}")


if __name__ == "__main__":
    main()
