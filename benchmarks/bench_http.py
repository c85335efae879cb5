"""The HTTP gateway under wrk: nginx direct, limen in front of it, and nginx
as a reverse proxy in front of it (the peer), in one run.

The origin is Debian's nginx on loopback serving a 1 KiB static file (with
a Content-Length) and the same file chunked (``sub_filter`` makes nginx
drop the length). The peer is a second nginx that proxies to the origin
over kept-alive connections and adds a header credential, as limen does.
limen is `limen serve` in its own process (plain HTTP listener on
loopback, a dev-IdP token, policy judging every request, built-in masking
of every answer, recording on). wrk runs 1 connection (1 thread) and 32
connections (2 threads) against each, for each body.

Reports requests per second and wrk's mean latency, the throughput of
limen over the peer's (target: at least 0.5) and the latency limen adds
over direct at 1 connection (target: under 200 µs).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(TESTS))

from http_support import free_port, wait_port  # noqa: E402
from limen_bench_gateway import LimenServe  # noqa: E402

WRK = shutil.which("wrk") or "/usr/bin/wrk"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ORIGIN_KEY = "bench-origin-key-3d1e"

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    default_type text/plain;
    keepalive_requests 1000000;
    upstream origin {{ server 127.0.0.1:{origin}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{origin};
        root {dir}/www;
        location /chunked/ {{
            sub_filter_types text/plain;
            sub_filter "@@" "@@";
        }}
    }}
    server {{
        listen 127.0.0.1:{proxy};
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Api-Key "{key}";
        }}
    }}
}}
"""


def _limen_config(origin: int, key_file: Path) -> str:
    return f"""
[gateway]
state = "sqlite://state/limen.db"
recordings = "recordings"
admin = "127.0.0.1:0"
max_connections_per_identity = 200

[listeners]
http = "127.0.0.1:0"

[identity.dev]
enabled = true
listen = "127.0.0.1:0"

[[resources]]
name = "origin"
protocol = "http"
upstream = "http://127.0.0.1:{origin}"
password_file = "{key_file}"
http_auth = "header:X-Api-Key"

[[rules]]
name = "bench"
groups = ["bench"]
resources = ["origin"]
allow = ["read"]
mask = ["builtin"]
"""


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_LAT = re.compile(r"Latency\s+([\d.]+)(us|ms|s)\b")
_SCALE = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def wrk(url: str, connections: int, seconds: int, token: str | None) -> tuple[float, float]:
    """Requests per second and mean latency (µs) of one wrk run."""
    threads = 1 if connections == 1 else 2
    cmd = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    if token is not None:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors against {url}:\n{out}")
    rps, lat = _RPS.search(out), _LAT.search(out)
    if rps is None or lat is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return float(rps.group(1)), float(lat.group(1)) * _SCALE[lat.group(2)]


def _start_nginx(folder: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    (folder / "tmp").mkdir()
    www = folder / "www"
    (www / "chunked").mkdir(parents=True)
    body = ("limen bench line 0123456789abcdef\n" * 30)[:1024]
    (www / "static.txt").write_text(body)
    (www / "chunked" / "static.txt").write_text(body)
    origin, proxy = free_port(), free_port()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=folder, origin=origin, proxy=proxy, key=ORIGIN_KEY))
    proc = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(conf)])
    wait_port(origin, proc)
    wait_port(proxy, proc)
    return proc, origin, proxy


def run(short: bool) -> dict[str, Any]:
    for tool in (WRK, NGINX):
        if not Path(tool).exists():
            raise RuntimeError(f"{tool} is not installed (apt-get install wrk nginx)")
    seconds = 2 if short else 8
    folder = Path(tempfile.mkdtemp(prefix="limen-bench-http-"))
    nginx, origin, proxy = _start_nginx(folder)
    serve: LimenServe | None = None
    try:
        key_file = folder / "origin.key"
        key_file.write_text(ORIGIN_KEY + "\n")
        serve = LimenServe("http", _limen_config(origin, key_file))
        bases = {
            "direct": (f"http://127.0.0.1:{origin}", None),
            "nginx-proxy": (f"http://127.0.0.1:{proxy}", None),
            "limen": (f"http://127.0.0.1:{serve.port}/r/origin", serve.token),
        }
        results: dict[tuple[str, str, int], tuple[float, float]] = {}
        for body, path in (("static", "/static.txt"), ("chunked", "/chunked/static.txt")):
            for conns in (1, 32):
                for name, (base, token) in bases.items():
                    wrk(base + path, conns, 1, token)  # warm-up
                    results[(name, body, conns)] = wrk(base + path, conns, seconds, token)
    finally:
        if serve is not None:
            serve.close()
        nginx.terminate()
        nginx.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    rows: list[list[Any]] = []
    ratios: dict[str, float] = {}
    for body in ("static", "chunked"):
        for conns in (1, 32):
            d_rps, d_lat = results[("direct", body, conns)]
            p_rps, p_lat = results[("nginx-proxy", body, conns)]
            l_rps, l_lat = results[("limen", body, conns)]
            rows.append(
                [
                    f"{body}, {conns} conn",
                    d_rps,
                    p_rps,
                    l_rps,
                    round(l_rps / p_rps, 3),
                    round(d_lat),
                    round(p_lat),
                    round(l_lat),
                    round(l_lat - d_lat),
                ]
            )
            ratios[f"http_{body}_c{conns}_limen_over_nginx_proxy_rps"] = round(l_rps / p_rps, 3)
            if conns == 1:
                ratios[f"http_{body}_c1_limen_added_latency_us"] = round(l_lat - d_lat, 1)
    return {
        "title": "HTTP: wrk against nginx direct, through nginx as a reverse proxy, through limen",
        "columns": [
            "body, connections",
            "direct req/s",
            "nginx-proxy req/s",
            "limen req/s",
            "limen/proxy",
            "direct µs",
            "proxy µs",
            "limen µs",
            "limen added µs",
        ],
        "rows": rows,
        "ratios": ratios,
        "notes": [
            f"wrk {seconds}s per figure after a 1 s warm-up; 1 connection: 1 thread, 32: 2 threads",
            "latency: wrk's mean; 'added' is limen's minus direct",
            "limen: policy on every request, built-in masking of every answer, recording on",
            "targets: limen/proxy >= 0.5, added latency at 1 connection < 200 µs",
        ],
    }


if __name__ == "__main__":
    print(json.dumps(run("--short" in sys.argv), indent=2))
