"""This module starts what the end-to-end tests talk to: the fake upstream process, and the real gunicorn
server with a config that puts a model of every kind on that fake upstream."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests import fake_upstream
from tests.helpers import stop_process

from .client import get, post

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv the tests run in also holds gunicorn
STARTUP_LIMIT = 30.0
STOP_LIMIT = 15.0
LOG_TAIL = 20000

FACTORY_KEY = "fk-e2e-factory-key"
SYSTEM_PROMPT = "You are the e2e gateway.\n\n"  # ends in a blank line, like the packaged default

# Where the config below sends each kind of model on the fake upstream.
ANTHROPIC_PATH = "/api/llm/a/v1/messages"
COUNT_TOKENS_PATH = ANTHROPIC_PATH + "/count_tokens"
RESPONSES_PATH = "/api/llm/o/v1/responses"
DIRECT_ANTHROPIC_PATH = "/direct/v1/messages"
DIRECT_RESPONSES_PATH = "/direct/v1/responses"
GEMINI_PATH = "/api/llm/g/v1/generate"
CHAT_PATH = "/api/llm/o/v1/chat/completions"
DIRECT_GEMINI_PATH = "/direct/v1beta/models/gemini-2.0-flash"  # + ":generateContent" / ":streamGenerateContent"
DIRECT_ANTHROPIC_KEY = "sk-ant-direct-upstream"
DIRECT_GEMINI_KEY = "AIza-direct-upstream"
DIRECT_OPENAI_KEY = "sk-openai-direct-upstream"
# For the SDK clients. No retries: a retried request would hide what the gateway answered the first time.
SDK_OPTIONS = {"api_key": "sk-client-key", "max_retries": 0, "timeout": 20.0, "_strict_response_validation": True}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gateway_config(upstream_url: str, **overrides) -> dict:
    """A config with a model of every type on the fake upstream, Factory-style and direct, plus a dead upstream."""
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    config = {
        "endpoint": [
            {"name": "anthropic", "base_url": upstream_url + ANTHROPIC_PATH},
            {"name": "openai", "base_url": upstream_url + RESPONSES_PATH},
            {"name": "common", "base_url": upstream_url + CHAT_PATH},
            {"name": "google", "base_url": upstream_url + GEMINI_PATH},
        ],
        "upstreams": [
            {"name": "anthropic-direct", "type": "anthropic", "base_url": upstream_url + "/direct",
             "api_key": DIRECT_ANTHROPIC_KEY},
            {"name": "openai-direct", "type": "openai", "base_url": upstream_url + "/direct/v1",
             "api_key": DIRECT_OPENAI_KEY},
            {"name": "gemini-direct", "type": "google", "base_url": upstream_url + "/direct/v1beta",
             "api_key": DIRECT_GEMINI_KEY},
            {"name": "dead-anthropic", "type": "anthropic", "base_url": dead, "api_key": "sk-dead"},
            {"name": "dead-openai", "type": "openai", "base_url": dead + "/v1", "api_key": "sk-dead"},
        ],
        "models": [
            {"id": "claude-test", "type": "anthropic"},
            {"id": "claude-high", "type": "anthropic", "reasoning": "high"},
            {"id": "gpt-test", "type": "openai"},
            {"id": "gpt-high", "type": "openai", "reasoning": "high"},
            {"id": "glm-test", "type": "common"},
            {"id": "gemini-test", "type": "google"},
            {"id": "claude-direct", "upstream": "anthropic-direct", "upstream_model": "claude-sonnet-4-5"},
            {"id": "gpt-direct", "upstream": "openai-direct", "upstream_model": "gpt-5"},
            {"id": "gemini-direct", "upstream": "gemini-direct", "upstream_model": "gemini-2.0-flash"},
            {"id": "claude-dead", "upstream": "dead-anthropic"},
            {"id": "gpt-dead", "upstream": "dead-openai"},
        ],
        "model_redirects": {"claude-alias": "claude-test", "gpt-alias": "gpt-test"},
        "system_prompt": SYSTEM_PROMPT,
    }
    config.update(overrides)
    return config


class LoggedProcess:
    """A child process whose stderr goes to a file, shown when a test that used it fails."""

    def __init__(self, name: str, process: subprocess.Popen, log_path: Path):
        self.name = name
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""
        return text[-LOG_TAIL:]

    def terminate(self):
        """Ask the process to stop, without waiting (stopping several at once is faster)."""
        if self.process.poll() is None:
            self.process.terminate()

    def stop(self):
        stop_process(self.process, STOP_LIMIT)
        if self.process.stdout:
            self.process.stdout.close()

    def fail_if_exited(self, doing: str):
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode} while {doing}:\n{self.log()}")

    def wait_until(self, ready, what: str):
        """Poll ``ready()`` (False or OSError: not yet) until it holds; stop the process if it never does."""
        deadline = time.monotonic() + STARTUP_LIMIT
        while True:
            self.fail_if_exited("starting")
            try:
                if ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not {what} within {STARTUP_LIMIT:g}s:\n{self.log()}")
            time.sleep(0.05)


def reset_routing(server):
    """Close the server's breakers and wake its keys (POST /v1/gateway/routes/reset)."""
    key = getattr(server, "access_key", None)
    post(server.url + "/v1/gateway/routes/reset", {}, {"authorization": f"Bearer {key}"} if key else {}).read()


def routes_report(server) -> dict:
    """GET /v1/gateway/routes: each model's route (breaker, keys, recent figures), by model id."""
    return {route["model"]: route for route in get(server.url + "/v1/gateway/routes").json()["routes"]}


class UpstreamProcess(LoggedProcess):
    client: fake_upstream.FakeUpstream


class GatewayServer(LoggedProcess):
    url: str


def start_fake_upstream(directory: Path) -> UpstreamProcess:
    log_path = directory / "fake-upstream.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, fake_upstream.__file__], stdout=subprocess.PIPE, stderr=log,
                                   cwd=REPO)
    upstream = UpstreamProcess("fake upstream", process, log_path)
    line = _first_line(upstream, "starting")
    upstream.client = fake_upstream.FakeUpstream(line.rsplit(" ", 1)[1])
    return upstream


@contextlib.contextmanager
def extra_upstream(directory: Path, running: dict, name: str):
    """One more fake upstream process, its log shown with a failing test's (``running``), stopped at the end."""
    process = start_fake_upstream(directory)
    running[name] = process
    try:
        yield process
    finally:
        del running[name]
        process.stop()


def fresh(process):
    """A fake upstream's control client, with nothing queued and no requests recorded; reset after the test too,
    which releases any answer still held, so the gateway's stream ends."""
    client = process.client
    client.reset()
    yield client
    client.reset()


def _first_line(child: LoggedProcess, doing: str) -> str:
    selector = selectors.DefaultSelector()
    selector.register(child.process.stdout, selectors.EVENT_READ)
    if not selector.select(STARTUP_LIMIT):
        child.stop()
        raise RuntimeError(f"{child.name} printed nothing within {STARTUP_LIMIT:g}s:\n{child.log()}")
    line = child.process.stdout.readline().decode().strip()
    if not line:
        child.fail_if_exited(doing)
    return line


def start_gateway(config: dict, directory: Path, env: dict | None = None, bin_dir: Path = BIN) -> GatewayServer:
    """``gunicorn -c gunicorn.conf.py wsgi:app`` from the repository root, as the README runs it.

    ``bin_dir`` holds the gunicorn to run: by default the one of the venv the tests run in.
    """
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "config.json"
    config_path.write_text(json.dumps(config, indent=1))
    port = free_port()
    environ = {name: value for name, value in os.environ.items()
               if not name.startswith(("DROID2API_", "DROID_", "FACTORY_")) and name not in ("PORT", "WEB_CONCURRENCY")}
    environ.update({
        "DROID2API_CONFIG": str(config_path),
        "DROID2API_HOST": "127.0.0.1",
        "DROID2API_AUTH_FILE": str(directory / "auth.json"),
        "DROID2API_DATA_DIR": str(directory / "data"),
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "FACTORY_API_KEY": FACTORY_KEY,
        **(env or {}),
    })
    log_path = directory / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=REPO,
                                   env=environ, stdout=log, stderr=subprocess.STDOUT)
    server = GatewayServer("gunicorn", process, log_path)
    server.url = f"http://127.0.0.1:{port}"

    def healthy():
        health = get(server.url + "/health", timeout=1)
        health.read()
        return health.status == 200

    server.wait_until(healthy, "answer /health")
    return server


# -- the routing tests: scripted answers, and servers of several workers -------------------------


def message_json(text: str, model: str = "claude-sonnet-4-5") -> dict:
    """An Anthropic Messages answer saying ``text``."""
    return {"id": "msg_e2e", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 3}}


def message_sse(text: str, model: str = "claude-sonnet-4-5") -> bytes:
    """An Anthropic Messages stream saying ``text``, one event per chunk when queued with reply_sse."""
    events = [
        ("message_start", {"type": "message_start", "message": {**message_json("", model), "content": [],
                                                                "stop_reason": None}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": text}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 3}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


def worker_pids(server: GatewayServer, count: int) -> list:
    """The pids of the server's gunicorn workers, once ``count`` of them run (they boot one after another)."""
    server.wait_until(lambda: len(_children(server)) == count, f"run {count} workers")
    return _children(server)


@contextlib.contextmanager
def served_by(server: GatewayServer, pid: int):
    """Within the block, worker ``pid`` accepts every new connection: the server's other workers are
    stopped (SIGSTOP), and continue (SIGCONT) when the block ends. So a test decides which worker serves
    each request, and can tell what the workers share from what each keeps to itself."""
    others = [other for other in _children(server) if other != pid]
    for other in others:
        _wait_idle(other)
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)


def _wait_idle(pid: int, limit: float = 2.0):
    """Wait until worker ``pid`` sits in its event loop's wait: a worker stopped in the middle of a state store
    write (a request's usage is written after its last byte) would hold the store's lock from every other."""
    deadline = time.monotonic() + limit
    idle_reads = 0
    while time.monotonic() < deadline and idle_reads < 3:
        try:
            idle = Path(f"/proc/{pid}/wchan").read_text() == "do_epoll_wait"
        except OSError:
            return
        idle_reads = idle_reads + 1 if idle else 0
        time.sleep(0.005)


def _children(server: GatewayServer) -> list:
    """The pids of the gunicorn master's child processes: its workers."""
    master = server.process.pid
    return sorted(int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split())
