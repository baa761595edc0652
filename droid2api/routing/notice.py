"""This module tells a client that its request was answered by a fallback: headers, and a ``gateway_notice``.

Every response of a routed request carries ``x-gateway-attempts``,
``x-gateway-switched`` and ``x-gateway-model``. When a fallback answered,
``x-gateway-notice`` carries the notice as JSON, and the body carries it too,
in the one form each official SDK accepts in strict mode and lets its user
read: a top-level ``gateway_notice`` key in a JSON answer, and in a stream
the same key on the first event (inside ``message`` for Anthropic's
``message_start``, whose object the SDK's stream helper returns at the end).
A separate leading event would be rejected by the openai SDK in strict mode,
and an SSE comment by google-genai, so neither is used.
"""

from __future__ import annotations

import json
import re

from ..ir import Dialect
from ..wire import dump_bytes, dumps, loads_or_none

HEADER = "x-gateway-notice"
FIRST_EVENT_LIMIT = 1024 * 1024  # wait at most this much for the first event before giving up on it
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_DATA_LINE = re.compile(rb"^data: ?(.*?)\r?$", re.MULTILINE)


def notice(first_model: str, model: str, trigger, attempts: int) -> dict:
    return {"type": "gateway_notice", "from": first_model, "to": model, "trigger_status": trigger.status,
            "reason": trigger.message[:300], "attempts": attempts}


def mark(response, *, attempts: int, model: str, notice_: dict | None, dialect: str):
    """Add the routing headers to a Flask response, and the notice to its body when there is one."""
    headers = response.headers
    headers["x-gateway-attempts"] = str(attempts)
    headers["x-gateway-switched"] = "1" if notice_ else "0"
    headers["x-gateway-model"] = model
    if notice_ is None:
        return
    headers[HEADER] = json.dumps(notice_, ensure_ascii=True, separators=(",", ":"))
    if response.is_streamed:
        if response.mimetype == "text/event-stream":
            response.response = _first_event_noted(response.response, notice_, dialect)
    elif response.mimetype == "application/json" and response.status_code < 400:
        body = loads_or_none(response.get_data())
        if isinstance(body, dict):
            response.set_data(dumps({**body, "gateway_notice": notice_}))


def routing_headers(attempts: int, model: str | None) -> dict:
    """The headers of a routed request that ended in an error."""
    headers = {"x-gateway-attempts": str(attempts), "x-gateway-switched": "0"}
    if model:
        headers["x-gateway-model"] = model
    return headers


def _first_event_noted(chunks, notice_: dict, dialect: str):
    """``chunks`` with the notice added to the first event that has data; everything else unchanged."""
    held = b""
    try:
        for chunk in chunks:
            held += chunk
            noted = _note_first_event(held, notice_, dialect)
            if noted is None and len(held) < FIRST_EVENT_LIMIT:
                continue  # the first event with data has not ended yet
            yield held if noted is None else noted
            held = b""
            break
        if held:
            yield held
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def _note_first_event(held: bytes, notice_: dict, dialect: str) -> bytes | None:
    """``held`` with the notice in its first data event, or None while that event is incomplete."""
    start = 0
    for end in _EVENT_END.finditer(held):
        event = held[start:end.start()]
        data = _DATA_LINE.search(event)
        if data is None:
            start = end.end()
            continue
        payload = loads_or_none(data.group(1))
        if not isinstance(payload, dict):
            return held  # not JSON ([DONE], or a multi-line event): leave the stream as it is
        target = payload
        if dialect == Dialect.ANTHROPIC and isinstance(payload.get("message"), dict):
            target = payload["message"]
        target["gateway_notice"] = notice_
        at = start + data.start(1)
        return held[:at] + dump_bytes(payload) + held[start + data.end(1):]
    return None
