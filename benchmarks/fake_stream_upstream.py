"""A fake Anthropic upstream for benchmarks/streams.py: gevent's WSGI server, streams held open as long as asked.

Serves ``POST <prefix>/v1/messages``. A body with ``"stream": true`` gets the recorded 27-event Messages
stream (tests/recorded/, split into events at blank lines), paced by the prefix; any other body gets the
recorded JSON answer at once.

``/anthropic``        the first event at once, then one event a second: the stream's events up to its text
                      block, then its 15 text deltas over and over, for HOLD_SECONDS (argv[2], default
                      3600); then the end of the stream (content_block_stop, message_delta, message_stop). A
                      client that goes away ends it at the next write.
``/anthropic-quick``  the first event at once (its own write), then the rest straight after.
``/anthropic-paced``  the whole stream, PACED_SECONDS between events (about half a second in all).
``/anthropic-500``    500 with an Anthropic ``api_error`` body.

Run: ``python benchmarks/fake_stream_upstream.py PORT [HOLD_SECONDS]``; it serves until killed.
"""

from __future__ import annotations

import itertools
import json
import socket
import sys
import time
from pathlib import Path

import gevent
from gevent.pywsgi import WSGIServer

RECORDED = Path(__file__).resolve().parents[1] / "tests" / "recorded"
EVENTS = [event + b"\n\n" for event in
          (RECORDED / "anthropic__test_anthropic_model_thinking_part_redacted_stream.0.response.sse")
          .read_bytes().split(b"\n\n") if event.strip()]
JSON_ANSWER = (RECORDED / "anthropic__test_multiple_parallel_tool_calls.0.response.json").read_bytes()
ERROR_ANSWER = json.dumps({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}
                          ).encode()

# The recorded stream: message_start; two redacted thinking blocks and a text block's start, with pings;
# the text block's deltas; its content_block_stop, message_delta and message_stop.
FIRST_TEXT_DELTA = next(i for i, event in enumerate(EVENTS) if b'"text_delta"' in event)
TAIL = len(EVENTS) - 3
HEAD, PREFIX, LOOP, END = EVENTS[0], EVENTS[1:FIRST_TEXT_DELTA], EVENTS[FIRST_TEXT_DELTA:TAIL], EVENTS[TAIL:]
assert [e.split(b"\n")[0] for e in END] == [b"event: content_block_stop", b"event: message_delta",
                                            b"event: message_stop"]

HELD_INTERVAL = 1.0
PACED_SECONDS = 0.02
HOLD_SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 3600.0


def held():
    yield HEAD
    deadline = time.monotonic() + HOLD_SECONDS
    for event in PREFIX:  # up to the text block's start, whatever the hold: the end then closes that block
        gevent.sleep(HELD_INTERVAL)
        yield event
    for event in itertools.cycle(LOOP):
        gevent.sleep(HELD_INTERVAL)
        if time.monotonic() >= deadline:
            break
        yield event
    yield from END


def quick():
    yield HEAD
    yield b"".join(EVENTS[1:])


def paced():
    for i, event in enumerate(EVENTS):
        if i:
            gevent.sleep(PACED_SECONDS)
        yield event


STREAMS = {"/anthropic": held, "/anthropic-quick": quick, "/anthropic-paced": paced}


def app(environ, start_response):
    body = environ["wsgi.input"].read()
    prefix, _, rest = environ["PATH_INFO"].rpartition("/v1/")
    if environ["REQUEST_METHOD"] != "POST" or rest != "messages" or prefix not in (*STREAMS, "/anthropic-500"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    if prefix == "/anthropic-500":
        start_response("500 Internal Server Error", [("Content-Type", "application/json")])
        return [ERROR_ANSWER]
    if json.loads(body).get("stream"):
        start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        return STREAMS[prefix]()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(JSON_ANSWER)))])
    return [JSON_ANSWER]


class Server(WSGIServer):
    """pywsgi writes a streamed answer's headers and first chunk apart: without TCP_NODELAY the chunk waits
    for the ACK of the headers, which a client on a reused connection delays by ~40 ms (Linux's delayed ACK)."""

    def handle(self, sock, address):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


def main():
    # No access log (a line per request would cost more than the answers); errors go to stderr.
    Server(("127.0.0.1", int(sys.argv[1])), app, log=None, backlog=4096).serve_forever()


if __name__ == "__main__":
    main()
