"""A client that hangs up: the gateway closes its upstream connection within a second, streamed or not,
converted or passthrough, and logs one quiet line with status 499 instead of a traceback.

The upstream holds each answer at a gate, silent as a model that is thinking, so the gateway has nothing to
write: only watching the client's socket can tell it that the client has gone. Clients that stay (keep-alive,
pipelining, a long wait) must be served as before.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import time
from urllib.parse import urlsplit

import pytest

from tests.helpers import recorded, recorded_json

from .servers import ANTHROPIC_PATH, RESPONSES_PATH
from .test_nginx import nginx  # noqa: F401 (the fixture: the shipped site config in front of the gateway)

DEADLINE = 1.0  # the requirement: the upstream connection is closed within a second of the client's
WAIT_LIMIT = 5.0  # polls give up after this long, so a failure is quick and says what it waited for

CLAUDE_STREAM = "anthropic__test_anthropic_model_thinking_part_stream.0"
CLAUDE_ANSWER = "anthropic__test_anthropic_tool_output.0"
GPT_STREAM = "openai_responses__test_openai_responses_streaming_usage.0"
ASK = [{"role": "user", "content": "What is the capital of France?"}]

# (endpoint, client body, upstream path, recording the upstream answers with, whether it streams)
CASES = {
    "streamed passthrough": ("/v1/messages", {**recorded_json(f"{CLAUDE_STREAM}.request.json"), "model": "claude-test"},
                             ANTHROPIC_PATH, CLAUDE_STREAM, True),
    "streamed conversion": ("/v1/chat/completions", {"model": "claude-test", "messages": ASK, "stream": True},
                            ANTHROPIC_PATH, CLAUDE_STREAM, True),
    # The Messages front sends pings while the upstream is silent: its events come through a reader thread.
    "streamed conversion with pings": ("/v1/messages", {**recorded_json(f"{CLAUDE_STREAM}.request.json"),
                                                        "model": "gpt-test"}, RESPONSES_PATH, GPT_STREAM, True),
    "non-streamed passthrough": ("/v1/messages", {**recorded_json(f"{CLAUDE_ANSWER}.request.json"),
                                                  "model": "claude-test"}, ANTHROPIC_PATH, CLAUDE_ANSWER, False),
    "non-streamed conversion": ("/v1/chat/completions", {"model": "claude-test", "messages": ASK},
                                ANTHROPIC_PATH, CLAUDE_ANSWER, False),
}


class RawClient:
    """A client on a socket of its own, which it can close whenever it likes."""

    def __init__(self, url: str, ssl_context: ssl.SSLContext | None = None):
        parts = urlsplit(url)
        self.host = f"{parts.hostname}:{parts.port}"
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=WAIT_LIMIT)
        if ssl_context is not None:
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname=parts.hostname)
        self.received = b""

    def send(self, endpoint: str, body: dict):
        raw = json.dumps(body).encode()
        self.sock.sendall(f"POST {endpoint} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(raw)}\r\n\r\n".encode() + raw)

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.received:
            chunk = self.sock.recv(65536)
            assert chunk, f"the gateway closed the connection before {marker!r} arrived; got {self.received!r}"
            self.received += chunk
        return self.received

    def read_response(self) -> tuple:
        """(status, body) of the next response, which must have a Content-Length (every JSON answer has)."""
        head = self.read_until(b"\r\n\r\n").split(b"\r\n\r\n", 1)[0]
        length = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))
        start = len(head) + 4
        while len(self.received) < start + length:
            chunk = self.sock.recv(65536)
            assert chunk, f"the gateway closed the connection in the middle of a body; got {self.received!r}"
            self.received += chunk
        body, self.received = self.received[start:start + length], self.received[start + length:]
        return int(head.split(b" ", 2)[1]), body

    def hang_up(self) -> float:
        """Close the connection; the time it was closed."""
        closed = time.time()
        self.sock.close()
        return closed


def queue_answer(upstream, path: str, name: str, streamed: bool):
    """The recorded answer, held where a thinking model would be silent: after the first event, or before
    the status line."""
    if streamed:
        return upstream.reply_sse(path, recorded(f"{name}.response.sse"), hold_at=1)
    return upstream.reply_json(path, recorded(f"{name}.response.json"), hold_at=0)


def wait_for(what: str, probe):
    """``probe()``'s first true value, polled until WAIT_LIMIT."""
    deadline = time.monotonic() + WAIT_LIMIT
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"waited {WAIT_LIMIT:g}s for {what}"
        time.sleep(0.01)


def log_after(gateway, offset: int) -> str:
    return gateway.log_path.read_bytes()[offset:].decode("utf-8", "replace")


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_a_client_that_hangs_up_makes_the_gateway_close_the_upstream_connection(gateway, upstream, case):
    endpoint, body, path, name, streamed = case
    held = queue_answer(upstream, path, name, streamed)
    log_offset = gateway.log_path.stat().st_size
    client = RawClient(gateway.url)

    client.send(endpoint, body)
    if streamed:
        client.read_until(b"\r\n\r\n")  # the response has begun ...
        client.read_until(b"\n\n")  # ... and carries the first event
    wait_for("the upstream to hold its answer", lambda: held.state == "holding")
    hung_up = client.hang_up()

    closed_at = wait_for("the gateway to close its upstream connection", lambda: held.closed_at)
    assert closed_at - hung_up < DEADLINE
    access = wait_for("the access line", lambda: re.search(rf"POST {endpoint} model=\S+ upstream=\S+ status=(\S+)",
                                                           log_after(gateway, log_offset)))
    log = log_after(gateway, log_offset)
    assert f"client went away: POST {endpoint}" in log
    assert "Traceback" not in log and "ERROR" not in log
    assert access.group(1) == "499"


@pytest.mark.parametrize("case", [CASES["streamed passthrough"], CASES["non-streamed passthrough"]],
                         ids=["streamed", "non-streamed"])
def test_behind_nginx_too(nginx, upstream, case):  # noqa: F811
    """The shipped nginx site closes its connection to gunicorn when its client leaves: the watch sees that."""
    endpoint, body, path, name, streamed = case
    held = queue_answer(upstream, path, name, streamed)
    client = RawClient(nginx.https_url, nginx.ssl_context)

    client.send(endpoint, body)
    if streamed:
        client.read_until(b"\r\n\r\n")
        client.read_until(b"\n\n")
    wait_for("the upstream to hold its answer", lambda: held.state == "holding")
    hung_up = client.hang_up()

    closed_at = wait_for("the gateway to close its upstream connection", lambda: held.closed_at)
    assert closed_at - hung_up < DEADLINE


def test_a_client_that_waits_gets_its_answer(gateway, upstream):
    """A client whose answer takes long, but which stays, is not taken for gone."""
    held = queue_answer(upstream, ANTHROPIC_PATH, CLAUDE_ANSWER, streamed=False)
    client = RawClient(gateway.url)
    client.send("/v1/messages", {**recorded_json(f"{CLAUDE_ANSWER}.request.json"), "model": "claude-test"})
    wait_for("the upstream to hold its answer", lambda: held.state == "holding")
    time.sleep(0.3)  # the gateway waits with nothing to write, the client with nothing to send
    held.release()

    assert client.read_response() == (200, recorded(f"{CLAUDE_ANSWER}.response.json"))
    assert held.closed_at is None
    client.hang_up()


def test_keep_alive_clients_get_every_answer(gateway, upstream):
    """The watch of one request ends with it: it never fires between requests on the same connection."""
    stream = recorded(f"{CLAUDE_STREAM}.response.sse")
    answer = recorded(f"{CLAUDE_ANSWER}.response.json")
    upstream.reply_sse(ANTHROPIC_PATH, stream)
    upstream.reply_json(ANTHROPIC_PATH, answer)
    parts = urlsplit(gateway.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=WAIT_LIMIT)
    try:
        bodies = [{**recorded_json(f"{CLAUDE_STREAM}.request.json"), "model": "claude-test"},
                  {**recorded_json(f"{CLAUDE_ANSWER}.request.json"), "model": "claude-test"}]
        received = []
        for body in bodies:
            connection.request("POST", "/v1/messages", json.dumps(body), {"content-type": "application/json"})
            response = connection.getresponse()
            assert response.status == 200
            received.append(response.read())
            time.sleep(0.2)  # an idle keep-alive connection between requests
        sock = connection.sock
        connection.request("GET", "/health")
        assert connection.getresponse().read() and connection.sock is sock  # still the same connection
    finally:
        connection.close()
    assert received == [stream, answer]


def test_pipelined_requests_are_all_answered(gateway, upstream):
    """A request that arrives while the previous one is served is the client talking, not leaving."""
    answer = recorded(f"{CLAUDE_ANSWER}.response.json")
    first = upstream.reply_json(ANTHROPIC_PATH, answer, hold_at=0)
    upstream.reply_json(ANTHROPIC_PATH, answer)
    client = RawClient(gateway.url)
    body = {**recorded_json(f"{CLAUDE_ANSWER}.request.json"), "model": "claude-test"}
    client.send("/v1/messages", body)
    wait_for("the upstream to hold the first answer", lambda: first.state == "holding")
    client.send("/v1/messages", body)  # while the gateway waits for the first answer, watching the client
    time.sleep(0.2)
    first.release()

    assert [client.read_response(), client.read_response()] == [(200, answer), (200, answer)]
    client.hang_up()
    assert first.closed_at is None

