"""CPU per request of one bench.py row inside one process, without a server: where the gateway's own time goes.

Starts bench.py's nginx upstream, builds the app on bench.py's config, and calls it with a raw WSGI
environ for the row's request, again and again (no gunicorn, no gevent, no client: what is left is
Flask, the gateway and the upstream call). Prints the CPU microseconds per request (best of three
runs); with ``--profile`` also cProfile's top functions by cumulative time, with ``--profile=tottime``
by their own time (profiling slows everything about twice, evenly enough to compare). Asserts nothing.

Run: ``.venv/bin/python benchmarks/profile_request.py ROW [--profile[=tottime]]``, ROW being the index of a
gateway row in bench.py's table (0: Chat -> Anthropic, 2: /v1/messages passthrough, ...).
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import logging
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench, nginx  # noqa: E402
from droid2api.app import create_app  # noqa: E402
from droid2api.config import parse_settings  # noqa: E402

REQUESTS = int(os.environ.get("REQUESTS", 3000))


def environ_for(row: bench.Row, body: bytes) -> dict:
    path, _, query = row.path.partition("?")
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
               "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.multithread": False,
               "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
               "CONTENT_LENGTH": str(len(body))}
    for name, value in row.headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    return environ


def main() -> int:
    row_index = int(sys.argv[1])
    options = [a for a in sys.argv[2:] if a.startswith("--profile")]
    profile = options[0].partition("=")[2] or "cumulative" if options else None
    with tempfile.TemporaryDirectory() as d, contextlib.ExitStack() as running:
        directory = Path(d)
        measured = bench.rows()
        nginx_binary = bench.tools({"nginx": "nginx"})["nginx"]
        port = bench.free_port()
        (directory / "nginx").mkdir()
        conf = directory / "nginx" / "nginx.conf"
        conf.write_text(nginx.config(str(directory / "nginx"), port, bench.ANSWERS))
        upstream = bench.Server("nginx", [nginx_binary, "-p", str(directory / "nginx"), "-c", str(conf), "-e",
                                          str(directory / "nginx" / "error.log"), "-g", "daemon off;"],
                                directory / "nginx.log", port)
        running.callback(upstream.stop)
        upstream.wait_ready(measured[0])
        config = {**bench.gateway_config(f"http://127.0.0.1:{port}"), "data_dir": str(directory / "data")}
        app = create_app(parse_settings(json.dumps(config), "bench-config.json", {}), {})
        logging.getLogger("droid2api.access").setLevel(logging.WARNING)  # the log line is measured by bench.py
        row = [r for r in measured if r.server == "gateway"][row_index]
        body = row.raw_body()
        base = environ_for(row, body)

        def one():
            environ = {**base, "wsgi.input": io.BytesIO(body)}
            statuses = []
            answer = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
            try:
                for _ in answer:
                    pass
            finally:
                answer.close()
            if not statuses[0].startswith("200"):
                raise RuntimeError(f"{row.label}: {statuses[0]}")

        best = float("inf")
        for _ in range(3):
            for _ in range(200):
                one()
            started = time.process_time()
            for _ in range(REQUESTS):
                one()
            best = min(best, (time.process_time() - started) / REQUESTS * 1e6)
        print(f"{row.label.strip()}: {best:.0f} µs of CPU per request in one process (best of 3 × {REQUESTS})")
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(REQUESTS):
                one()
            profiler.disable()
            pstats.Stats(profiler).sort_stats(profile).print_stats(50)
    return 0


if __name__ == "__main__":
    sys.exit(main())
