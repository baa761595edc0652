"""The outermost WSGI middleware: a request id, a RequestRecord, and one log line per request.

It gives each request its id (the client's ``X-Request-Id`` or a new one,
echoed on the response), starts its RequestRecord, notes the time to the
first byte and the bytes sent, and when the response is closed hands the
finished record to every sink: the log line first (plain, or one JSON object
with ``log_format: "json"``), then whatever else was registered (metrics,
usage counters). A sink that fails is logged, never the request's problem.
"""

from __future__ import annotations

import logging
import time

from .record import RequestRecord

log = logging.getLogger("droid2api.access")

ENV_STATUS = "droid2api.status"  # set when a response ended otherwise than it began ("499": the client left)
_ROUTING_HEADERS = {"x-gateway-attempts", "x-gateway-switched", "x-gateway-model"}


class AccessLog:
    def __init__(self, app, log_format: str = "plain", sinks=()):
        self.app = app
        self.line = _json_line if log_format == "json" else _plain_line
        self.sinks = sinks  # the caller's list, as it is when each request ends (gateway.sinks)

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        record = RequestRecord.start(environ)

        def capture(status_line, headers, exc_info=None):
            record.status = int(status_line.split(" ", 1)[0])
            for name, value in headers:
                lowered = name.lower()
                if lowered in _ROUTING_HEADERS:
                    _note_routing(record, lowered, value)
            headers = [*headers, ("X-Request-Id", record.request_id)]
            return start_response(status_line, headers, exc_info)

        body = self.app(environ, capture)
        return _CountingBody(body, environ, record, started, [self.line, *self.sinks])


def _note_routing(record: RequestRecord, name: str, value: str):
    if name == "x-gateway-attempts":
        record.attempts = int(value) if value.isdigit() else 0
    elif name == "x-gateway-switched":
        record.switched = value == "1"
    else:
        record.model = value


class _CountingBody:
    __slots__ = ("_body", "_environ", "_record", "_started", "_sinks")

    def __init__(self, body, environ, record, started, sinks):
        self._body = body
        self._environ = environ
        self._record = record
        self._started = started
        self._sinks = sinks

    def __iter__(self):
        record = self._record
        for chunk in self._body:
            if record.ttfb_ms is None and chunk:
                record.ttfb_ms = round((time.perf_counter() - self._started) * 1000, 1)
            record.bytes_out += len(chunk)
            yield chunk

    def close(self):
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            record = self._record
            record.duration_ms = round((time.perf_counter() - self._started) * 1000, 1)
            if self._environ.get(ENV_STATUS):
                record.status = int(self._environ[ENV_STATUS])
            for sink in self._sinks:
                try:
                    sink(record)
                except Exception:
                    log.exception("a request record sink failed")


def _plain_line(record: RequestRecord):
    client = f" client={record.client}" if record.client else ""
    tokens = f" tokens={record.tokens.get('input', 0)}/{record.tokens.get('output', 0)}" if record.tokens else ""
    log.info("%s %s model=%s upstream=%s status=%s %.1fms %dB%s%s id=%s", record.method, record.path,
             record.model or _word(record.requested), record.upstream or "-", record.status or "-",
             record.duration_ms or 0.0, record.bytes_out, client, tokens, record.request_id)


def _word(text: str | None) -> str:
    """A client-given name fit for one field of a plain line: no spaces or control characters, bounded."""
    if not text:
        return "-"
    return "".join(c if c.isprintable() and not c.isspace() else "?" for c in text[:100])


def _json_line(record: RequestRecord):
    log.info("request %s", record.request_id, extra={"request": record.as_dict()})  # logs.JsonFormatter
