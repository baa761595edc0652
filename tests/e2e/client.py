"""This module is the raw HTTP client of the end-to-end tests: it sees a response's bytes exactly as they
arrive, so nothing between the gateway and the test can normalise a difference away."""

from __future__ import annotations

import http.client
import json
import ssl
from urllib.parse import urlsplit


class Exchange:
    """One request on its own connection, its response read as the bytes arrive."""

    def __init__(self, url: str, method: str, body: bytes | list | None, headers: dict,
                 ssl_context: ssl.SSLContext | None, timeout: float):
        parts = urlsplit(url)
        if parts.scheme == "https":
            self.connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                                          context=ssl_context)
        else:
            self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        if isinstance(body, list):  # pieces: sent with chunked transfer-encoding, as a streaming upload is
            self.connection.request(method, target, iter(body), headers, encode_chunked=True)
        else:
            self.connection.request(method, target, body, headers)
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = self.response.headers

    def read_until(self, marker: bytes) -> bytes:
        """Everything received until ``marker`` has arrived (a socket timeout fails the test, never a hang)."""
        received = b""
        while marker not in received:
            try:
                chunk = self.response.read1(65536)
            except TimeoutError:
                raise AssertionError(f"{marker!r} did not arrive (held back on the way?); got {received!r}") from None
            if not chunk:
                raise AssertionError(f"the response ended before {marker!r} arrived; got {received!r}")
            received += chunk
        return received

    def read(self) -> bytes:
        try:
            return self.response.read()
        finally:
            self.close()

    def json(self):
        return json.loads(self.read())

    def close(self):
        self.response.close()
        self.connection.close()


def post(url: str, body, headers: dict | None = None, *, ssl_context=None, timeout: float = 15.0) -> Exchange:
    """POST ``body`` (bytes as they are, a list of bytes in chunks, anything else as JSON); the response is
    left unread."""
    raw = body if isinstance(body, (bytes, list)) else json.dumps(body).encode()
    return Exchange(url, "POST", raw, {"content-type": "application/json", **(headers or {})}, ssl_context, timeout)


def get(url: str, *, headers: dict | None = None, timeout: float = 15.0) -> Exchange:
    return Exchange(url, "GET", None, headers or {}, None, timeout)


def in_pieces(raw: bytes, size: int) -> list:
    return [raw[i:i + size] for i in range(0, len(raw), size)]


def sse_payloads(raw: bytes) -> list:
    """The JSON payload of every event in a recorded stream (recordings put each payload on one data: line)."""
    payloads = []
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):  # not splitlines(): U+2028 occurs inside JSON
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data != b"[DONE]":
                payloads.append(json.loads(data))
    return payloads


def last_event(raw: bytes) -> tuple:
    """The name and payload of the final event in a stream."""
    block = raw.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
    lines = dict(line.split(b": ", 1) for line in block.split(b"\n"))
    return lines.get(b"event", b"").decode(), json.loads(lines[b"data"])
