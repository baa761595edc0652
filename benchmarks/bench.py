"""Latency and throughput of the running gateway under wrk, beside the floors it cannot go below.

Starts a static upstream (nginx answering recorded bodies, benchmarks/nginx.py), the floors (a bare WSGI
app, a bare Flask view, a bare WSGI app making one urllib3 call and a Flask view making it through
requests, benchmarks/floors.py, each under gunicorn with the gateway's own worker settings) and the
gateway as ``make run`` starts it (``gunicorn -c gunicorn.conf.py wsgi:app``, its default two gevent
workers) on a config that puts every model on that nginx. Then, one row at a time: one checked request,
a warm-up, and wrk at 1 and at 16 connections for BENCH_SECONDS (default 10) each. Prints the machine
and one table; asserts nothing. nginx and wrk are installed with apt-get when missing.
Run: ``make bench``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import nginx, wrk  # noqa: E402

BIN = Path(sys.executable).parent  # the venv's gunicorn
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
WARMUP_SECONDS = 2
# wrk threads per column. On a 2-core machine a second wrk thread takes a core from the servers measured:
# here the gateway answered 16 connections ~25% slower with -t2 than with -t1, while one thread used ~6%
# of a core at the gateway's rate (~50 µs per request). Only for the direct row is wrk the bottleneck at
# c16 (a core for ~8 µs per request, beside nginx on the other), and -t2 was slower there too.
THREADS = {1: 1, 16: 1}
STARTUP_LIMIT = 30.0

RECORDED = REPO / "tests" / "recorded"
ANTHROPIC_JSON = (RECORDED / "anthropic__test_multiple_parallel_tool_calls.0.response.json").read_bytes()
# The recorded Anthropic streams have 27 and 118 events; 27 is the nearer to the ~47 of issue 12.
ANTHROPIC_SSE = (RECORDED / "anthropic__test_anthropic_model_thinking_part_redacted_stream.0.response.sse").read_bytes()
RESPONSES_SSE = (RECORDED / "openai_responses__test_openai_responses_stream.0.response.sse").read_bytes()
# Claude Code's first recorded request (the shared fixtures beside the repository, as the tests read them).
CLAUDE_CODE = json.loads((REPO.parent / "shared" / "fixtures" / "clients" / "claude-code.json").read_text())[0]

ANSWERS = {  # nginx path -> (content type, body)
    "/anthropic/v1/messages": ("application/json", ANTHROPIC_JSON),
    "/anthropic-sse/v1/messages": ("text/event-stream", ANTHROPIC_SSE),
    "/openai-sse/v1/responses": ("text/event-stream", RESPONSES_SSE),
}
DIRECT_PATH = "/anthropic/v1/messages"


def gateway_config(upstream: str) -> dict:
    """Every model on the static upstream: ``claude`` answers JSON, ``claude-sse`` and ``gpt-sse`` streams."""
    return {
        "upstreams": [
            {"name": "anthropic", "type": "anthropic", "base_url": upstream + "/anthropic", "api_key": "k"},
            {"name": "anthropic-sse", "type": "anthropic", "base_url": upstream + "/anthropic-sse", "api_key": "k"},
            {"name": "openai-sse", "type": "openai", "base_url": upstream + "/openai-sse/v1", "api_key": "k"},
        ],
        "models": [
            {"id": "claude", "upstream": "anthropic"},
            {"id": "claude-sse", "upstream": "anthropic-sse"},
            {"id": "gpt-sse", "upstream": "openai-sse"},
        ],
    }


QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
CHAT = {"model": "claude", "messages": QUESTION}
MESSAGES = {"model": "claude", "max_tokens": 64, "messages": QUESTION}
JSON_HEADERS = {"Content-Type": "application/json"}
ANTHROPIC_HEADERS = {**JSON_HEADERS, "anthropic-version": "2023-06-01"}


@dataclass
class Row:
    label: str
    server: str  # "nginx", a floor's name in benchmarks/floors.py, or "gateway"
    path: str
    headers: dict
    body: dict
    expect: bytes  # in every good answer
    results: dict = field(default_factory=dict)  # connections -> wrk.Result

    def raw_body(self) -> bytes:
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode()


def rows() -> list:
    claude_code = CLAUDE_CODE["body"]
    return [
        Row("direct: wrk -> nginx", "nginx", DIRECT_PATH, ANTHROPIC_HEADERS, MESSAGES, b'"content"'),
        Row("bare WSGI app", "bare_wsgi", "/v1/messages", ANTHROPIC_HEADERS, MESSAGES, b'"content"'),
        Row("bare Flask view", "bare_flask", "/v1/messages", ANTHROPIC_HEADERS, MESSAGES, b'"content"'),
        Row("bare WSGI + one urllib3 call", "upstream_call", "/v1/messages", ANTHROPIC_HEADERS, MESSAGES,
            b'"content"'),
        Row("Flask view + one requests call", "stack_relay", "/v1/messages", ANTHROPIC_HEADERS, MESSAGES,
            b'"content"'),
        Row("Chat -> Anthropic", "gateway", "/v1/chat/completions", JSON_HEADERS, CHAT, b'"choices"'),
        Row("Chat -> Anthropic, streamed (27 events)", "gateway", "/v1/chat/completions", JSON_HEADERS,
            {**CHAT, "model": "claude-sse", "stream": True}, b"data: [DONE]"),
        Row("/v1/messages passthrough", "gateway", "/v1/messages", ANTHROPIC_HEADERS, MESSAGES, b'"content"'),
        Row("/v1/messages passthrough, streamed", "gateway", "/v1/messages", ANTHROPIC_HEADERS,
            {**MESSAGES, "model": "claude-sse", "stream": True}, b"event: message_stop"),
        Row("  same, Claude Code's 117 KB body", "gateway", CLAUDE_CODE["path"], CLAUDE_CODE["headers"],
            {**claude_code, "model": "claude-sse"}, b"event: message_stop"),
        Row("Claude Code's body -> Responses (streamed)", "gateway", CLAUDE_CODE["path"], CLAUDE_CODE["headers"],
            {**claude_code, "model": "gpt-sse"}, b"event: message_stop"),
    ]


class Missing(RuntimeError):
    """A tool the benchmark needs is not installed and could not be."""


def tools(wanted: dict) -> dict:
    """The paths of ``wanted`` (binary -> Debian package), installed with apt-get first if need be."""
    def find(name):
        return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")  # sbin: not always on PATH

    missing = [package for name, package in wanted.items() if not find(name)]
    if missing:
        if not shutil.which("apt-get"):
            raise Missing(f"{', '.join(missing)} not installed and apt-get is not available: install "
                          f"{' and '.join(missing)} with the system's package manager, then run `make bench` again")
        environ = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for step in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *missing]):
            print(f"bench: {' '.join(step)}", file=sys.stderr)
            done = subprocess.run(step, env=environ, capture_output=True, text=True)
            if done.returncode != 0:
                raise Missing(f"`{' '.join(step)}` failed ({done.returncode}); run as root or install "
                              f"{' and '.join(missing)} yourself:\n{done.stderr[-2000:]}")
    found = {name: find(name) for name in wanted}
    for name, path in found.items():
        if not path:
            raise Missing(f"apt-get installed {wanted[name]} but no {name} binary is on PATH or in /usr/sbin")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(port: int, row: Row) -> tuple:
    """One request of ``row`` to 127.0.0.1:``port``: (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", row.path, body=row.raw_body(), headers=row.headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Server:
    """A child process with its output in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, command: list, log: Path, port: int, **popen):
        self.name, self.log, self.port = name, log, port
        with open(log, "ab") as out:  # a child of its own session: Ctrl-C reaches the benchmark, which stops it
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                            **popen)

    def wait_ready(self, row: Row):
        """Until it answers ``row``'s request (an error if that is not a good answer)."""
        deadline = time.monotonic() + STARTUP_LIMIT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.tail()}")
            try:
                status, body = post(self.port, row)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not answer within {STARTUP_LIMIT:.0f} s:\n{self.tail()}")
                time.sleep(0.1)
        self.check(row, status, body)

    def check(self, row: Row, status: int, body: bytes):
        if status != 200 or row.expect not in body:
            raise RuntimeError(f"{self.name} answered {row.label!r} with {status}, not a 200 with {row.expect!r}:\n"
                               f"{body[:2000]!r}\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self):
        """Stop it, and wait; idempotent. Killed if it lingers, or if a Ctrl-C cuts the wait short."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


def measure(wrk_binary: str, server: Server, row: Row, directory: Path):
    """Check one answer, warm up, then wrk at 1 and at 16 connections; results into ``row.results``."""
    status, body = post(server.port, row)
    server.check(row, status, body)
    name = re.sub(r"\W+", "-", row.label).strip("-")
    body_path, script = directory / f"{name}.body", directory / f"{name}.lua"
    body_path.write_bytes(row.raw_body())
    script.write_text(wrk.lua_script(str(body_path), row.headers))
    url = f"http://127.0.0.1:{server.port}{row.path}"
    for connections, seconds in [(16, WARMUP_SECONDS), (1, SECONDS), (16, SECONDS)]:
        done = subprocess.run(wrk.command(wrk_binary, url, str(script), connections, THREADS[connections], seconds),
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        row.results[connections] = wrk.parse(done.stdout)
    print(f"bench: {row.label}: c1 p50 {row.results[1].p50:.3f} ms, c16 {row.results[16].rps:,.0f} requests/s",
          file=sys.stderr)


COLUMNS = ["c1 p50", "c1 p99", "c16 p50", "c16 p99", "c16 rps", "c1 added", "c16 p99/p50"]


def table(measured: list) -> str:
    """The rows as a text table: milliseconds, requests per second, added p50 against the first row."""
    width = max(len(row.label) for row in measured) + 2
    direct = measured[0].results[1].p50
    lines = [" " * width + "".join(f"{column:>12}" for column in COLUMNS)]
    for row in measured:
        c1, c16 = row.results[1], row.results[16]
        mark = "" if c1.clean and c16.clean else " *"
        cells = [f"{c1.p50:.2f}", f"{c1.p99:.2f}", f"{c16.p50:.2f}", f"{c16.p99:.2f}", f"{c16.rps:,.0f}",
                 f"{c1.p50 - direct:+.2f}" if row is not measured[0] else "", f"{c16.p99 / c16.p50:.1f}"]
        lines.append(f"{row.label + mark:<{width}}" + "".join(f"{cell:>12}" for cell in cells))
    if any(not (row.results[1].clean and row.results[16].clean) for row in measured):
        lines.append("* wrk counted non-2xx answers or socket errors in this row: its figures are not to be trusted")
    return "\n".join(lines)


def version(command: list, pattern: str) -> str:
    """The version ``command`` prints, found by ``pattern`` (one group)."""
    done = subprocess.run(command, capture_output=True, text=True)
    found = re.search(pattern, done.stdout + done.stderr)
    return found.group(1) if found else "?"


def machine(binaries: dict) -> str:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
    libraries = ", ".join(f"{name} {metadata.version(name)}" for name in ("gunicorn", "gevent", "Flask", "urllib3"))
    nginx_version = version([binaries["nginx"], "-v"], r"nginx/(\S+)")
    wrk_version = version([binaries["wrk"], "-v"], r"^wrk (\S+)")
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, {libraries}; "
            f"nginx {nginx_version}, wrk {wrk_version}")


def hermetic_environ() -> dict:
    """This process's environment without the droid2api settings a shell may have set."""
    dropped = ("PORT", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR")
    return {name: value for name, value in os.environ.items()
            if not name.startswith("DROID2API_") and name not in dropped}


def run(directory: Path) -> str:
    binaries = tools({"nginx": "nginx", "wrk": "wrk"})
    measured = rows()
    with contextlib.ExitStack() as running:
        nginx_port = free_port()
        (directory / "nginx").mkdir()
        conf = directory / "nginx" / "nginx.conf"
        conf.write_text(nginx.config(str(directory / "nginx"), nginx_port, ANSWERS))
        upstream = Server("nginx", [binaries["nginx"], "-p", str(directory / "nginx"), "-c", str(conf),
                                    "-e", str(directory / "nginx" / "error.log"), "-g", "daemon off;"],
                          directory / "nginx.log", nginx_port)
        running.callback(upstream.stop)
        upstream.wait_ready(measured[0])
        measure(binaries["wrk"], upstream, measured[0], directory)

        config = directory / "config.json"
        config.write_text(json.dumps(gateway_config(f"http://127.0.0.1:{nginx_port}")))
        environ = {**hermetic_environ(), "DROID2API_CONFIG": str(config), "DROID2API_HOST": "127.0.0.1",
                   "DROID2API_DATA_DIR": str(directory / "data"), "DROID2API_AUTH_FILE": str(directory / "auth.json"),
                   "BENCH_UPSTREAM": f"http://127.0.0.1:{nginx_port}{DIRECT_PATH}"}
        for row in measured[1:]:
            if row.server == "gateway":
                break
            port = free_port()
            floor = Server(row.label, [str(BIN / "gunicorn"), "-c", "benchmarks/floors_gunicorn.py",
                                       f"benchmarks.floors:{row.server}"],
                           directory / f"{row.server}.log", port, cwd=REPO, env={**environ, "PORT": str(port)})
            running.callback(floor.stop)
            floor.wait_ready(row)
            measure(binaries["wrk"], floor, row, directory)
            floor.stop()  # one server at a time

        port = free_port()
        gateway = Server("gateway", [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                         directory / "gateway.log", port, cwd=REPO, env={**environ, "PORT": str(port)})
        running.callback(gateway.stop)
        gateway_rows = [row for row in measured if row.server == "gateway"]
        gateway.wait_ready(gateway_rows[0])
        for row in gateway_rows:
            measure(binaries["wrk"], gateway, row, directory)

    return "\n".join([
        f"machine: {machine(binaries)}",
        f"milliseconds (wrk's p50 and p99), requests per second at 16 connections; wrk -t{THREADS[1]} -c1 and "
        f"-t{THREADS[16]} -c16 for {SECONDS:g} s each after a {WARMUP_SECONDS} s warm-up; client, servers and nginx "
        f"on this host; every server under gunicorn + gevent, 2 workers",
        table(measured),
    ])


def main_of(name: str, run) -> int:
    """A benchmark's whole main: ``run(directory)`` in a fresh temporary directory; a failure is one line and
    an exit status (2: a tool is missing, 1: a server or tool failed, 130: interrupted, servers stopped)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a `kill` stops the servers too, as Ctrl-C does
    try:
        with tempfile.TemporaryDirectory(prefix=f"droid2api-{name}-") as directory:
            run(Path(directory))
    except Missing as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # a server that did not start or answered wrong, a wrk that failed
        print(f"{name}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted; servers stopped", file=sys.stderr)
        return 130
    return 0


def main() -> int:
    return main_of("bench", lambda directory: print(run(directory)))


if __name__ == "__main__":
    sys.exit(main())
