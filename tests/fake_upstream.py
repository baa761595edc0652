"""This module is a scriptable stand-in for an LLM upstream, run as a process of its own by the end-to-end tests.

The server half (stdlib only, HTTP/1.1 with keep-alive) answers every path
with the next answer a test queued for it: a status, headers and a body sent
as chunks, optionally paced, held at a gate until the test releases it, or
cut off by dropping the connection. It records every request it received,
and when the gateway closed its connection while an answer was held.
Tests drive it through ``FakeUpstream``, the client half below, which speaks
the control API under ``/_control/``::

    python tests/fake_upstream.py [--port N]   # prints "listening on http://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import re
import select
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

CONTROL = "/_control"
GATE_LIMIT = 60.0  # a gate nobody releases opens by itself, so a failed test never hangs the process
HOLD_POLL = 0.01  # how often a held answer looks whether the gateway has closed the connection


# -- server -------------------------------------------------------------------


class Answer:
    """One scripted response, and how far sending it has got."""

    def __init__(self, spec: dict, answer_id: str):
        self.id = answer_id
        self.status = spec.get("status", 200)
        self.headers = spec.get("headers", {})
        self.chunks = [base64.b64decode(c) for c in spec.get("chunks", [])]
        self.chunked = spec.get("chunked", True)
        self.delay = spec.get("delay", 0.0)
        self.hold_at = spec.get("hold_at")  # chunk index to wait before; 0 waits before the status line
        self.drop_after = spec.get("drop_after")  # chunks sent before the connection is cut
        self.gate = threading.Event()
        self.state = "queued"  # -> sending -> holding -> sending -> done | dropped | failed
        self.sent = 0
        self.closed_at = None  # time.time() when the gateway was seen closing the connection while held

    def describe(self) -> dict:
        return {"id": self.id, "state": self.state, "sent": self.sent, "closed_at": self.closed_at}


class GatewayLeft(Exception):
    """The gateway closed the connection while an answer was held."""


class Script:
    """The queued answers per path and the requests received, shared by all handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.queues = {}
        self.answers = {}
        self.received = []

    def queue(self, spec: dict) -> Answer:
        with self.lock:
            answer = Answer(spec, f"a{next(self.ids)}")
            self.queues.setdefault(spec["path"], []).append(answer)
            self.answers[answer.id] = answer
            return answer

    def next_answer(self, path: str) -> Answer | None:
        with self.lock:
            queue = self.queues.get(path)
            return queue.pop(0) if queue else None

    def reset(self):
        with self.lock:
            for answer in self.answers.values():
                answer.gate.set()  # let any held handler finish
            self.queues.clear()
            self.answers.clear()
            self.received.clear()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real upstream
    disable_nagle_algorithm = True  # each chunk leaves at once, as from a real streaming server
    script: Script  # set on the class by serve()

    def log_message(self, format, *args):  # one line per request is noise in a test log
        pass

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def _dispatch(self):
        parts = urlsplit(self.path)
        body = self._read_body()
        if parts.path.startswith(CONTROL + "/"):
            self._control(self.command, parts.path[len(CONTROL) + 1:], body)
            return
        with self.script.lock:
            self.script.received.append({
                "method": self.command, "path": parts.path, "query": parts.query,
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            })
        answer = self.script.next_answer(parts.path)
        if answer is None:
            self._send_json(599, {"error": f"fake upstream: nothing queued for {self.command} {parts.path}"})
            return
        try:
            self._play(answer)
        except (OSError, GatewayLeft):  # the gateway went away mid-answer; that is its business
            answer.state = "failed"
            self.close_connection = True

    def _read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _control(self, method: str, action: str, body: bytes):
        script = self.script
        if method == "POST" and action == "answers":
            self._send_json(200, script.queue(json.loads(body)).describe())
        elif method == "GET" and action.startswith("answers/"):
            answer = script.answers.get(action.split("/", 1)[1])
            self._send_json(200 if answer else 404, answer.describe() if answer else {})
        elif method == "POST" and action.startswith("release/"):
            answer = script.answers.get(action.split("/", 1)[1])
            if answer:
                answer.gate.set()
            self._send_json(200 if answer else 404, {})
        elif method == "GET" and action == "requests":
            with script.lock:
                self._send_json(200, list(script.received))
        elif method == "POST" and action == "reset":
            script.reset()
            self._send_json(200, {})
        else:
            self._send_json(404, {"error": f"no control action {method} {action}"})

    def _send_json(self, status: int, data):
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _play(self, answer: Answer):
        answer.state = "sending"
        self._hold(answer, 0)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.chunked:
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("content-length", str(sum(len(c) for c in answer.chunks)))
        self.end_headers()
        self.wfile.flush()
        for index, chunk in enumerate(answer.chunks):
            if index:
                self._hold(answer, index)
                if answer.delay:
                    time.sleep(answer.delay)
            if answer.drop_after is not None and index >= answer.drop_after:
                self._drop(answer)
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if answer.chunked else chunk)
            self.wfile.flush()
            answer.sent = index + 1
        if answer.drop_after is not None and answer.drop_after >= len(answer.chunks):
            self._drop(answer)  # everything sent, but never the end of the body
            return
        if answer.chunked:
            self.wfile.write(b"0\r\n\r\n")
        answer.state = "done"

    def _hold(self, answer: Answer, index: int):
        if answer.hold_at == index:
            answer.state = "holding"
            deadline = time.monotonic() + GATE_LIMIT
            while not answer.gate.wait(HOLD_POLL) and time.monotonic() < deadline:
                if self._gateway_closed():
                    answer.closed_at = time.time()
                    raise GatewayLeft()
            answer.state = "sending"

    def _gateway_closed(self) -> bool:
        """Whether the gateway has closed this connection (end of file or a reset), judged without reading."""
        try:
            if not select.select([self.connection], [], [], 0)[0]:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except ConnectionError:
            return True

    def _drop(self, answer: Answer):
        """Cut the connection mid-body, as a crashed upstream or a broken network would."""
        answer.state = "dropped"
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


def serve(port: int = 0):
    Handler.script = Script()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


# -- client -------------------------------------------------------------------


@dataclass
class Received:
    """A request the fake upstream received."""

    method: str
    path: str
    query: str
    headers: dict  # lower-case names
    body: str

    def json(self):
        return json.loads(self.body)


class Queued:
    """A handle on one queued answer: release its gate, or ask how far it has got."""

    def __init__(self, upstream: "FakeUpstream", answer_id: str):
        self.upstream = upstream
        self.id = answer_id

    def release(self):
        self.upstream.call("POST", f"release/{self.id}")

    @property
    def state(self) -> str:
        return self.upstream.call("GET", f"answers/{self.id}")["state"]

    @property
    def closed_at(self) -> float | None:
        """When (time.time()) the gateway closed the connection while this answer was held, else None."""
        return self.upstream.call("GET", f"answers/{self.id}")["closed_at"]


class FakeUpstream:
    """The tests' side of the control API."""

    def __init__(self, url: str):
        self.url = url
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy

    def call(self, method: str, action: str, payload=None):
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"{self.url}{CONTROL}/{action}", data=data, method=method,
                                         headers={"content-type": "application/json"})
        with self._opener.open(request, timeout=10) as response:
            return json.loads(response.read())

    def reply(self, path: str, chunks=(), *, status: int = 200, headers: dict | None = None,
              content_type: str | None = "application/json", chunked: bool = True, delay: float = 0.0,
              hold_at: int | None = None, drop_after: int | None = None) -> Queued:
        """Queue the answer to the next request for ``path``: ``chunks`` of bytes, sent one by one."""
        headers = dict(headers or {})
        if content_type:
            headers.setdefault("content-type", content_type)
        spec = {"path": path, "status": status, "headers": headers, "chunked": chunked, "delay": delay,
                "hold_at": hold_at, "drop_after": drop_after,
                "chunks": [base64.b64encode(c).decode() for c in chunks]}
        return Queued(self, self.call("POST", "answers", spec)["id"])

    def reply_json(self, path: str, body, *, status: int = 200, headers: dict | None = None, **options) -> Queued:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.reply(path, [raw], status=status, headers=headers, chunked=False, **options)

    def reply_sse(self, path: str, raw: bytes, **options) -> Queued:
        """Queue an event stream, one chunk per event (see ``sse_chunks``)."""
        return self.reply(path, sse_chunks(raw), content_type="text/event-stream; charset=utf-8", **options)

    def requests(self, path: str | None = None) -> list:
        return [Received(**r) for r in self.call("GET", "requests") if path is None or r["path"] == path]

    def only_request(self, path: str | None = None) -> Received:
        received = self.requests(path)
        assert len(received) == 1, f"expected one request to {path or 'the upstream'}, got {len(received)}"
        return received[0]

    def reset(self):
        self.call("POST", "reset")


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def sse_chunks(raw: bytes) -> list:
    """An event stream's bytes cut after each event, the way an upstream flushes them."""
    chunks, start = [], 0
    for match in _EVENT_END.finditer(raw):
        chunks.append(raw[start:match.end()])
        start = match.end()
    if start < len(raw):
        chunks.append(raw[start:])
    return chunks


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="a scriptable fake LLM upstream for the end-to-end tests")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    try:
        serve(parser.parse_args().port)
    except KeyboardInterrupt:
        sys.exit(0)
