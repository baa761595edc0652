"""Added latency of the running gateway: non-streamed calls through gunicorn + gevent vs. straight to the upstream.

Starts a minimal local upstream (gevent WSGI, fixed answers per dialect) and the real server
(``gunicorn -c gunicorn.conf.py wsgi:app``, one worker) on a config pointing every model type at
that upstream, then times sequential keep-alive requests: straight to the upstream, and through
the gateway on the passthrough and conversion paths. Prints median / p90 / p99 and the gateway's
added median. Prints figures; asserts nothing. Run: ``make bench-latency`` (``make bench`` runs
benchmarks/bench.py, which measures the same paths and more under wrk).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers import recorded  # noqa: E402

WARMUP, REQUESTS = 200, 2000
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]

ANSWERS = {  # upstream path -> (content type, body)
    "/anthropic/v1/messages": recorded("anthropic__test_multiple_parallel_tool_calls.0.response.json"),
    "/openai/v1/chat/completions": json.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}).encode(),
    "/gemini/v1beta/models/gemini-2.0-flash:generateContent":
        recorded("google__test_google_tool_output.1.response.json"),
}
for line in recorded("openai_responses__test_openai_responses_stream.0.response.sse").split(b"\n"):
    if line.startswith(b'data: {"type":"response.completed"'):
        ANSWERS["/openai/v1/responses"] = json.dumps(json.loads(line[6:])["response"]).encode()

CASES = [  # label, gateway path, model, body, the upstream path it lands on
    ("passthrough  /v1/messages -> Anthropic", "/v1/messages", "claude",
     {"max_tokens": 64, "messages": QUESTION}, "/anthropic/v1/messages"),
    ("passthrough  /v1/chat/completions -> Chat", "/v1/chat/completions", "chat",
     {"messages": QUESTION}, "/openai/v1/chat/completions"),
    ("conversion   /v1/chat/completions -> Anthropic", "/v1/chat/completions", "claude",
     {"messages": QUESTION}, "/anthropic/v1/messages"),
    ("conversion   /v1/chat/completions -> Responses", "/v1/chat/completions", "gpt",
     {"messages": QUESTION}, "/openai/v1/responses"),
    ("conversion   /v1/chat/completions -> Gemini", "/v1/chat/completions", "gemini",
     {"messages": QUESTION}, "/gemini/v1beta/models/gemini-2.0-flash:generateContent"),
]


def serve_upstream(port: int):
    """The fixed-answer upstream (run in a child process)."""
    from gevent.pywsgi import WSGIServer

    def app(environ, start_response):
        environ["wsgi.input"].read()
        body = ANSWERS.get(environ["PATH_INFO"], b'{"error": {"message": "unknown path"}}')
        start_response("200 OK", [("content-type", "application/json"), ("content-length", str(len(body)))])
        return [body]

    from gevent import socket as gsocket

    listener = gsocket.socket()
    listener.setsockopt(gsocket.SOL_SOCKET, gsocket.SO_REUSEADDR, 1)
    # Accepted sockets inherit TCP_NODELAY: without it Nagle holds the body back behind the headers
    # until the client's delayed ACK (~40 ms), which would swamp everything measured here.
    listener.setsockopt(gsocket.IPPROTO_TCP, gsocket.TCP_NODELAY, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    WSGIServer(listener, app, log=None).serve_forever()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def config(upstream: str) -> dict:
    return {
        "upstreams": [
            {"name": "anthropic", "type": "anthropic", "base_url": upstream + "/anthropic", "api_key": "k"},
            {"name": "openai", "type": "openai", "base_url": upstream + "/openai/v1", "api_key": "k"},
            {"name": "chat", "type": "common", "base_url": upstream + "/openai/v1", "api_key": "k"},
            {"name": "gemini", "type": "google", "base_url": upstream + "/gemini/v1beta", "api_key": "k"},
        ],
        "models": [
            {"id": "claude", "upstream": "anthropic"},
            {"id": "gpt", "upstream": "openai"},
            {"id": "chat", "upstream": "chat"},
            {"id": "gemini", "upstream": "gemini", "upstream_model": "gemini-2.0-flash"},
        ],
    }


def timings(session: requests.Session, url: str, body: dict) -> list:
    payload = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    for _ in range(WARMUP):
        session.post(url, data=payload, headers=headers).content
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = session.post(url, data=payload, headers=headers)
        response.content
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return sorted(samples)


def line(label: str, samples: list, baseline: float | None = None) -> str:
    def pick(q):
        return samples[min(len(samples) - 1, int(q * len(samples)))]
    added = f"{statistics.median(samples) - baseline:+8.3f}" if baseline is not None else " " * 8
    return f"{label:<57} {statistics.median(samples):8.3f} {pick(0.9):8.3f} {pick(0.99):8.3f} {added}"


def main():
    upstream_port, gateway_port = free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    children = [subprocess.Popen([sys.executable, __file__, "--upstream", str(upstream_port)])]
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "config.json"
        config_path.write_text(json.dumps(config(upstream_url)))
        env = {**os.environ, "DROID2API_CONFIG": str(config_path), "PORT": str(gateway_port),
               "WEB_CONCURRENCY": "1", "DROID2API_HOST": "127.0.0.1"}
        children.append(subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
                                          "wsgi:app"], cwd=REPO, env=env, stderr=subprocess.DEVNULL))
        try:
            gateway_url = f"http://127.0.0.1:{gateway_port}"
            wait_for(upstream_url + "/")
            wait_for(gateway_url + "/health")
            session = requests.Session()
            print(f"{REQUESTS} sequential keep-alive requests each; milliseconds")
            print(f"{'':<57} {'median':>8} {'p90':>8} {'p99':>8} {'added':>8}")
            for label, path, model, body, upstream_path in CASES:
                direct = timings(session, upstream_url + upstream_path, {"model": model, **body})
                through = timings(session, gateway_url + path, {"model": model, **body})
                print(line(f"{label} (direct)", direct))
                print(line(f"{label}", through, statistics.median(direct)))
        finally:
            for child in children:
                child.terminate()
                child.wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--upstream"]:
        serve_upstream(int(sys.argv[2]))
    else:
        main()
