"""One record per request: who asked, for what, where it went and how it went.

The access log middleware (access_log.py) creates it when a request arrives
and hands it, once the last byte has gone, to every sink: the log line, the
metrics, the usage counters. The request path fills in what it learns on the
way: the client key's name, the front, the model asked for and the one that
answered, the upstream, and the tokens the upstream reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from . import ir

ENV_RECORD = "droid2api.record"
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    method: str
    path: str
    client: str | None = None  # the access key's name (never the key)
    front: str | None = None  # the dialect the client speaks
    requested: str | None = None  # the model the client asked for
    model: str | None = None  # the model that answered (x-gateway-model)
    upstream: str | None = None
    status: int | None = None
    attempts: int = 0
    switched: bool = False
    stream: bool = False
    tokens: dict = field(default_factory=dict)  # kind (TOKEN_KINDS) -> count
    ttfb_ms: float | None = None
    duration_ms: float | None = None
    bytes_out: int = 0

    @classmethod
    def start(cls, environ) -> "RequestRecord":
        """A record for the request in ``environ``; its id is the client's X-Request-Id if it sent a usable one."""
        given = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = given if 0 < len(given) <= 128 and given.isprintable() and given.isascii() else \
            "req_" + os.urandom(16).hex()
        record = cls(request_id, environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        environ[ENV_RECORD] = record
        return record

    def add_usage(self, usage: ir.Usage | None):
        """Take an upstream's usage report. A stream reports several times, each report the counts so far of
        the kinds it names (Anthropic's message_start the input, message_delta the output; Gemini every
        chunk, its prompt count not always the same): each kind takes its latest non-zero count."""
        if usage is None:
            return
        for kind, value in zip(TOKEN_KINDS, (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens,
                                             usage.cache_write_tokens, usage.reasoning_tokens)):
            if value:
                self.tokens[kind] = value

    @property
    def total_tokens(self) -> int:
        return self.tokens.get("input", 0) + self.tokens.get("output", 0)

    def as_dict(self) -> dict:
        """The record as one JSON log object."""
        return {"request_id": self.request_id, "method": self.method, "path": self.path, "client": self.client,
                "front": self.front, "requested": self.requested, "model": self.model, "upstream": self.upstream,
                "status": self.status, "attempts": self.attempts, "switched": self.switched, "stream": self.stream,
                "tokens": dict(self.tokens), "ttfb_ms": self.ttfb_ms, "duration_ms": self.duration_ms,
                "bytes": self.bytes_out}


def current(environ) -> RequestRecord | None:
    return environ.get(ENV_RECORD)
