"""This module starts a real redis-server on a free loopback port, for the unit and end-to-end tests of the
Redis backend (tests/conftest.py has the session's server; an e2e module may start one of its own).

redis-server comes from the distribution's packages: when it is missing, ``redis_binary`` installs it with
apt-get (CI runs as root), as tests/e2e/test_nginx.py does for nginx, and fails (never skips) if that is
impossible, unless DROID2API_SKIP_REDIS=1 says to leave Redis out: then the tests that need it skip.
The server keeps nothing on disk (no RDB, no AOF) and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from .debian import installed
from .helpers import stop_process

STARTUP_LIMIT = 20.0
STOP_LIMIT = 10.0


def redis_binary() -> str:
    """redis-server's path, installed from the distribution's packages first if need be."""
    return installed("redis-server", "redis-server", "DROID2API_SKIP_REDIS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ping(port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis answers PING on ``port`` (raw RESP, so the check needs no client library)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process on ``port``; ``stop`` and ``start`` again keep the port (and lose the data)."""

    def __init__(self, binary: str, directory: Path, port: int | None = None):
        self.binary = binary
        self.directory = Path(directory)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = self.directory / "redis.log"
        self.process = None

    def start(self) -> "RedisServer":
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.directory), "--daemonize", "no", "--protected-mode", "yes"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_LIMIT
        while not ping(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING within {STARTUP_LIMIT:g}s:\n{self.log()}")
            time.sleep(0.05)
        return self

    def stop(self):
        if self.process is not None:
            stop_process(self.process, STOP_LIMIT)

    def command(self, *args) -> bytes:
        """One command sent raw (RESP array of bulk strings); the first reply line, e.g. b"+OK" (tests only)."""
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            raw = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"".join(parts))
            return sock.recv(65536).split(b"\r\n", 1)[0]

    def log(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")[-20000:]
        except OSError:
            return ""


def start_redis(directory: Path) -> RedisServer:
    """A new redis-server (installed first if missing) on a free port, answering PING."""
    return RedisServer(redis_binary(), directory).start()
