"""Open streams per gateway worker, the time to first byte the gateway adds to a stream, and memory over a soak.

Starts a fake Anthropic upstream that holds streams open (gevent's WSGI server, benchmarks/fake_stream_upstream.py)
and the gateway as ``make run`` starts it (``gunicorn -c gunicorn.conf.py wsgi:app``) on bench.py's config with its
``claude`` model, and one model per other path of the fake, on that fake. The clients are gevent sockets in this
process (raw HTTP/1.1, ``Connection: close``). Three parts:

1. STREAMS (default 1000) streams open at once in one gateway worker (WEB_CONCURRENCY=1): half /v1/messages
   passthrough, half /v1/chat/completions converted to Anthropic, on streams the fake keeps open (an event a
   second), opened a quarter at a time. Prints the worker's RSS idle after a warm-up, after each quarter has had
   its first bytes (with its open file descriptors), per stream, and after they close.
2. The time from sending a streamed request to its first body byte, one request at a time (TTFB_REQUESTS,
   default 200, after a warm-up): straight to the fake, and through the gateway (passthrough and converted).
   Prints p50, p90 and the p50 the gateway adds.
3. SOAK_SECONDS (default 600) of mixed traffic from SOAK_CONCURRENCY (default 16) clients against the default
   two workers: streamed and not, passthrough and converted, streams the client abandons midway, upstream 500s
   (no circuit breaker opens).
   Prints each worker's RSS every 10 s, the first and last minute's averages, the slope, and the answers counted.

Prints figures; asserts nothing. PARTS (default 1,2,3) picks the parts. The open files limit of this process is
raised to its hard limit first: the fake and the gateway inherit it. A gevent worker serves at most gunicorn's
``worker_connections`` connections at once (the config key, 1000 by default; raised to STREAMS here
when a trial asks for more).
Run: ``.venv/bin/python benchmarks/streams.py`` (part 3 alone takes SOAK_SECONDS).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import platform
import random
import resource
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

import gevent
import gevent.socket

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import bench  # noqa: E402

STREAMS = int(os.environ.get("STREAMS", "1000"))
SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
SOAK_CONCURRENCY = int(os.environ.get("SOAK_CONCURRENCY", "16"))
TTFB_REQUESTS = int(os.environ.get("TTFB_REQUESTS", "200"))
PARTS = set(os.environ.get("PARTS", "1,2,3").replace(" ", "").split(","))
TTFB_WARMUP = 20
STEPS = 4  # part 1 opens its streams in this many batches
FIRST_BYTES_LIMIT = 60.0  # seconds a batch of streams may take to get its first bytes
SAMPLE_SECONDS = 10
SOAK_WARMUP_SECONDS = 10

MESSAGES, CHAT = "/v1/messages", "/v1/chat/completions"
DIRECT = "/anthropic-quick/v1/messages"  # the fake's own path for the gateway's claude-quick model


def gateway_config(upstream: str) -> dict:
    """bench.py's config, whose ``claude`` is the fake's /anthropic (held streams, JSON otherwise), and
    ``claude-quick``, ``claude-paced``, ``claude-500`` on the fake's other paths. No breaker opens: every
    request for ``claude-500`` reaches the fake (five 500s in a row would open it, and the gateway would answer
    503 itself for up to breaker_max_cooldown)."""
    config = {**bench.gateway_config(upstream), "breaker_failures": 10 ** 9,
              "worker_connections": max(1000, STREAMS)}  # the default, unless a trial asks for more
    for kind in ("quick", "paced", "500"):
        config["upstreams"].append({"name": f"fake-{kind}", "type": "anthropic",
                                    "base_url": f"{upstream}/anthropic-{kind}", "api_key": "k"})
        config["models"].append({"id": f"claude-{kind}", "upstream": f"fake-{kind}"})
    return config


# The raw HTTP client.

def request(path: str, model: str, stream: bool) -> bytes:
    body = json.dumps({"model": model, "max_tokens": 64, "stream": stream,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"anthropic-version: 2023-06-01\r\nx-api-key: k\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def first_byte(sock) -> tuple:
    """Read until the answer's first body byte: (status, everything read so far)."""
    read = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the first body byte")
        read += chunk
        end = read.find(b"\r\n\r\n")
        if 0 <= end < len(read) - 4:
            return int(read.split(b" ", 2)[1]), read


def read_to_end(sock, read: bytes) -> bytes:
    pieces = [read]
    while chunk := sock.recv(65536):
        pieces.append(chunk)
    return b"".join(pieces)


def connect(port: int):
    return gevent.socket.create_connection(("127.0.0.1", port))


# The gateway's processes.

def worker_pids(master: int) -> list:
    return sorted(int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split())


def rss(pid: int) -> float:
    """VmRSS in MiB."""
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def open_files(pid: int) -> tuple:
    """(descriptors open, soft limit) of a process."""
    line = next(line for line in Path(f"/proc/{pid}/limits").read_text().splitlines()
                if line.startswith("Max open files"))
    return len(os.listdir(f"/proc/{pid}/fd")), int(line.split()[3])


def start_fake(directory: Path, running: contextlib.ExitStack) -> bench.Server:
    port = bench.free_port()
    fake = bench.Server("fake upstream", [sys.executable, str(REPO / "benchmarks" / "fake_stream_upstream.py"),
                                          str(port)], directory / "fake.log", port)
    running.callback(fake.stop)
    fake.wait_ready(bench.Row("fake", "fake", "/anthropic/v1/messages", bench.ANTHROPIC_HEADERS, bench.MESSAGES,
                              b'"content"'))
    return fake


def start_gateway(directory: Path, running: contextlib.ExitStack, fake: bench.Server, workers: int):
    """The gateway with ``workers`` workers (0: its default, two); returns it once every worker answers."""
    name = f"gateway-{workers or 'default'}"
    config = directory / f"{name}.json"
    config.write_text(json.dumps(gateway_config(f"http://127.0.0.1:{fake.port}")))
    port = bench.free_port()
    environ = {**bench.hermetic_environ(), "DROID2API_CONFIG": str(config), "DROID2API_HOST": "127.0.0.1",
               "DROID2API_DATA_DIR": str(directory / name), "DROID2API_AUTH_FILE": str(directory / "auth.json"),
               "PORT": str(port)}
    if workers:
        environ["WEB_CONCURRENCY"] = str(workers)
    gateway = bench.Server(name, [str(bench.BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                           directory / f"{name}.log", port, cwd=REPO, env=environ)
    running.callback(gateway.stop)
    gateway.wait_ready(bench.Row(name, "gateway", MESSAGES, bench.ANTHROPIC_HEADERS, bench.MESSAGES, b'"content"'))
    expected = workers or 2
    while len(worker_pids(gateway.process.pid)) < expected:
        gevent.sleep(0.1)
    for _ in range(20 * expected):  # each worker imports and warms up on its first requests
        for path in (MESSAGES, CHAT):
            with contextlib.closing(connect(port)) as sock:
                sock.sendall(request(path, "claude-quick", True))
                read_to_end(sock, b"")
    gevent.sleep(2)
    return gateway


# Part 1: streams open at once in one worker.

def hold(port: int, payload: bytes, firsts: collections.Counter, failures: collections.Counter):
    """One stream: count its first body byte by status, then read and drop what comes until killed."""
    try:
        with contextlib.closing(connect(port)) as sock:
            sock.sendall(payload)
            status, _ = first_byte(sock)
            firsts[status] += 1
            while sock.recv(65536):
                pass
            failures["closed by the gateway"] += 1
    except OSError as e:
        failures[type(e).__name__] += 1


def part_streams(gateway: bench.Server):
    [worker] = worker_pids(gateway.process.pid)
    idle = rss(worker)
    fds, limit = open_files(worker)
    print(f"1. {STREAMS} streams open at once in one gateway worker (pid {worker}; open files limit {limit}, "
          f"{fds} open idle)", flush=True)
    print(f"   RSS idle after warm-up: {idle:.1f} MiB")
    print(f"   {'streams':>8} {'first bytes':>12} {'RSS MiB':>8} {'MiB/stream':>11} {'open fds':>9} {'seconds':>8}")
    payloads = [request(MESSAGES, "claude", True), request(CHAT, "claude", True)]
    streams, firsts, failures = [], collections.Counter(), collections.Counter()
    for step in range(1, STEPS + 1):
        target, started = STREAMS * step // STEPS, time.monotonic()
        while len(streams) < target:
            streams.append(gevent.spawn(hold, gateway.port, payloads[len(streams) % 2], firsts, failures))
        while sum(firsts.values()) + sum(failures.values()) < target and \
                time.monotonic() - started < FIRST_BYTES_LIMIT:
            gevent.sleep(0.05)
        seconds = time.monotonic() - started
        gevent.sleep(2)  # the worker settles: every stream has had an event or two more
        now, got = rss(worker), sum(firsts.values())
        print(f"   {target:>8} {got:>12} {now:>8.1f} {(now - idle) / max(got, 1):>11.3f} "
              f"{open_files(worker)[0]:>9} {seconds:>8.1f}", flush=True)
    print(f"   streams open: {got - failures['closed by the gateway']} of {STREAMS}; got their first byte: {got} "
          f"(statuses {dict(firsts)}); failures: {dict(failures) or 'none'}")
    print(f"   RSS idle {idle:.1f} MiB, with {got} streams open {now:.1f} MiB: "
          f"{(now - idle) * 1024 / max(got, 1):.1f} KiB per stream")
    gevent.killall(streams)
    gevent.sleep(5)
    print(f"   RSS 5 s after the clients closed them: {rss(worker):.1f} MiB, {open_files(worker)[0]} fds open",
          flush=True)


# Part 2: time to the first byte.

def ttfb(port: int, payload: bytes) -> float:
    """Seconds from sending ``payload`` to the first body byte; the answer is read to its end."""
    with contextlib.closing(connect(port)) as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        status, read = first_byte(sock)
        elapsed = time.perf_counter() - start
        body = read_to_end(sock, read)
    if status != 200 or not (b"message_stop" in body or b"[DONE]" in body):
        raise RuntimeError(f"a streamed request was answered {status}: {body[:1000]!r}")
    return elapsed


def part_ttfb(fake: bench.Server, gateway: bench.Server):
    rows = [("direct to the fake", fake.port, request(DIRECT, "claude-quick", True)),
            ("gateway, /v1/messages passthrough", gateway.port, request(MESSAGES, "claude-quick", True)),
            ("gateway, Chat -> Anthropic", gateway.port, request(CHAT, "claude-quick", True))]
    times = {label: [] for label, _, _ in rows}
    for i in range(TTFB_WARMUP + TTFB_REQUESTS):
        for label, port, payload in rows:  # in turn, so that drift in the machine touches all three alike
            elapsed = ttfb(port, payload)
            if i >= TTFB_WARMUP:
                times[label].append(elapsed * 1000)
    print(f"2. Time to first byte of a stream, ms: {TTFB_REQUESTS} requests each after {TTFB_WARMUP}, one at a "
          f"time, a new connection each (one gateway worker)")
    print(f"   {'':<36}{'p50':>8}{'p90':>8}{'added p50':>11}")
    direct = statistics.median(times[rows[0][0]])
    for label, measured in times.items():
        p50, p90 = statistics.median(measured), statistics.quantiles(measured, n=10)[8]
        added = f"{p50 - direct:+.3f}" if label != rows[0][0] else ""
        print(f"   {label:<36}{p50:>8.3f}{p90:>8.3f}{added:>11}", flush=True)


# Part 3: memory over a soak.

MIX = [  # weight, label, path, model, streamed, abandoned midway by the client
    (30, "streamed, passthrough", MESSAGES, "claude-paced", True, False),
    (30, "streamed, Chat -> Anthropic", CHAT, "claude-paced", True, False),
    (15, "JSON, passthrough", MESSAGES, "claude", False, False),
    (15, "JSON, Chat -> Anthropic", CHAT, "claude", False, False),
    (4, "streamed, passthrough, abandoned", MESSAGES, "claude-paced", True, True),
    (4, "streamed, Chat -> Anthropic, abandoned", CHAT, "claude-paced", True, True),
    (1, "upstream 500, passthrough", MESSAGES, "claude-500", False, False),
    (1, "upstream 500, Chat -> Anthropic streamed", CHAT, "claude-500", True, False),
]
COMPLETE = {(MESSAGES, True): b"event: message_stop", (CHAT, True): b"data: [DONE]",
            (MESSAGES, False): b'"content"', (CHAT, False): b'"choices"'}


def one_request(port: int, kind: tuple, rng: random.Random) -> str:
    """One request of ``kind``: its status, and whether a 200 was whole or was abandoned."""
    _, _, path, model, streamed, abandoned = kind
    with contextlib.closing(connect(port)) as sock:
        sock.sendall(request(path, model, streamed))
        status, read = first_byte(sock)
        if abandoned:  # the paced stream lasts ~0.5 s: closed after its first few events
            gevent.sleep(rng.uniform(0.05, 0.3))
            return f"{status}, closed by the client"
        body = read_to_end(sock, read)
    return f"{status}, incomplete" if status == 200 and COMPLETE[path, streamed] not in body else str(status)


def client(port: int, until: float, answers: collections.Counter, rng: random.Random):
    weights = [kind[0] for kind in MIX]
    while time.monotonic() < until:
        kind = rng.choices(MIX, weights)[0]
        try:
            answer = one_request(port, kind, rng)
        except OSError as e:
            answer = type(e).__name__
        answers[kind[1], answer] += 1


def part_soak(gateway: bench.Server):
    master = gateway.process.pid
    answers = collections.Counter()
    warmup = [gevent.spawn(client, gateway.port, time.monotonic() + SOAK_WARMUP_SECONDS, answers, random.Random(-i))
              for i in range(SOAK_CONCURRENCY)]
    gevent.joinall(warmup)
    answers.clear()
    print(f"3. {SOAK_SECONDS:g} s of mixed traffic from {SOAK_CONCURRENCY} clients, two gateway workers (after "
          f"{SOAK_WARMUP_SECONDS} s of the same); RSS MiB every {SAMPLE_SECONDS} s")
    start = time.monotonic()
    clients = [gevent.spawn(client, gateway.port, start + SOAK_SECONDS, answers, random.Random(i))
               for i in range(SOAK_CONCURRENCY)]
    series = collections.defaultdict(list)  # worker pid -> [(seconds, MiB)]
    for i in range(int(SOAK_SECONDS // SAMPLE_SECONDS) + 1):
        gevent.sleep(max(0.0, start + i * SAMPLE_SECONDS - time.monotonic()))
        now = time.monotonic() - start
        sample = {pid: rss(pid) for pid in worker_pids(master)}
        for pid, mib in sample.items():
            series[pid].append((now, mib))
        print(f"   {now:>6.0f} s  " + "  ".join(f"worker {pid}: {mib:6.1f}" for pid, mib in sample.items()) +
              f"  ({sum(answers.values())} answers)", flush=True)
    gevent.joinall(clients)
    elapsed = time.monotonic() - start
    for pid, points in series.items():
        first = [mib for seconds, mib in points if seconds <= 60]
        last = [mib for seconds, mib in points if seconds >= points[-1][0] - 60]
        slope = (statistics.linear_regression([s / 60 for s, _ in points], [m for _, m in points]).slope
                 if len(points) > 1 else float("nan"))
        print(f"   worker {pid}: first minute {statistics.fmean(first):.1f} MiB, last minute "
              f"{statistics.fmean(last):.1f} MiB, slope {slope:+.3f} MiB per minute ({len(points)} samples)")
    total = sum(answers.values())
    print(f"   {total} requests in {elapsed:.0f} s ({total / elapsed:.0f}/s); answers:")
    for (label, answer), count in sorted(answers.items()):
        print(f"     {label:<42}{answer:<28}{count:>8}")


def run(directory: Path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    raised = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    libraries = ", ".join(f"{name} {metadata.version(name)}" for name in ("gunicorn", "gevent", "Flask"))
    print(f"machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}; Python "
          f"{platform.python_version()}, {libraries}; open files limit {soft} raised to {raised} (the gateway's "
          f"worker needs ~2 per stream)", flush=True)
    with contextlib.ExitStack() as running:
        fake = start_fake(directory, running)
        if PARTS & {"1", "2"}:
            gateway = start_gateway(directory, running, fake, workers=1)
            if "1" in PARTS:
                part_streams(gateway)
            if "2" in PARTS:
                part_ttfb(fake, gateway)
            gateway.stop()
        if "3" in PARTS:
            part_soak(start_gateway(directory, running, fake, workers=0))


def main() -> int:
    return bench.main_of("streams", run)


if __name__ == "__main__":
    sys.exit(main())
