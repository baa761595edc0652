"""This module turns the Responses API's stream events into IR stream events.

The upstream numbers its parts two ways (``output_index`` for items,
``content_index`` / ``summary_index`` inside them); the decoder keys each open
IR part by (output_index, *slot) and hands out dense IR indices in order of
appearance. Two things need state beyond that:

* a reasoning item's ``encrypted_content`` only arrives with its
  ``response.output_item.done``, so the item's last Thinking part stays open
  ("held") until then and gets the encrypted data as its final Delta;
* some upstreams put content only in the ``*.done`` events; anything that
  got no delta is filled in from the complete part there.
"""

from __future__ import annotations

from ... import ir
from ...errors import openai_type
from ...wire import loads_or_none
from .response import SOURCE, content_part, output_parts, reasoning_thoughts, stop_reason, usage_from

# Error codes of `error` events and failed responses, by the status they mean to a client.
_STATUS_BY_CODE = {
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "insufficient_quota": 429,
    "context_length_exceeded": 400,
    "server_error": 502,
    "overloaded_error": 503,
    "server_is_overloaded": 503,
}


def error_status(code) -> int:
    if not isinstance(code, str):
        return 502
    if code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[code]
    # invalid_prompt, invalid_request_error, invalid_image_url, image_too_large, ...:
    # the documented codes about the input are the client's to fix.
    if code.startswith("invalid_") or "image" in code:
        return 400
    return 502


def _blank(part):
    """The empty part a PartStart announces: what a client may know before any delta."""
    if isinstance(part, ir.ToolCall):
        return ir.ToolCall(id=part.id, name=part.name)
    if isinstance(part, ir.Thinking):
        return ir.Thinking(source=part.source, id=part.id)
    return type(part)("")


class StreamDecoder:
    """One per upstream stream: ``feed`` each SSE event, then ``close``."""

    def __init__(self):
        self._events = []  # what the current feed() returns
        self._started = False
        self._ended = False
        self._next_index = 0
        self._open = {}  # (output_index, *slot) -> IR index of a part not stopped yet
        self._closed = set()  # keys of stopped parts, never reopened
        self._written = set()  # IR indices that received content
        self._calls = set()  # IR indices of tool calls
        self._held = {}  # output_index -> key of the reasoning part kept open for encrypted_content

    def feed(self, event: str | None, data: str) -> list:
        if self._ended or data.strip() == "[DONE]":
            return []
        self._events = []
        payload = loads_or_none(data)
        if not isinstance(payload, dict):
            self._fail(502, openai_type(502), f"the upstream sent an event that is not a JSON object: {data[:200]!r}")
            return self._events
        handler = _HANDLERS.get(payload.get("type") or event)
        try:
            if handler is not None:
                handler(self, payload)
        except (AttributeError, TypeError):  # a field of the wrong JSON type
            self._fail(502, openai_type(502), f"the upstream sent a malformed {payload.get('type')} event")
        return self._events

    def close(self) -> list:
        if self._ended:
            return []
        self._ended = True
        return [ir.StreamError(502, openai_type(502), "the upstream stream ended before response.completed")]

    # -- building blocks ----------------------------------------------------

    def _start(self, response: dict | None):
        if not self._started:
            self._started = True
            response = response or {}
            self._events.append(ir.Start(id=response.get("id") or "", model=response.get("model") or "",
                                         created=response.get("created_at")))

    def _open_part(self, key: tuple, part) -> int:
        self._start(None)  # lenient: a stream that skipped response.created still starts first
        index = self._next_index
        self._next_index += 1
        self._open[key] = index
        if isinstance(part, ir.ToolCall):
            self._calls.add(index)
        self._events.append(ir.PartStart(index, _blank(part)))
        return index

    def _ensure(self, key: tuple, part) -> int | None:
        """The IR index of the part at ``key``, opening it like ``part`` if new; None once stopped."""
        if key in self._open:
            return self._open[key]
        if key in self._closed:
            return None
        return self._open_part(key, part)

    def _thought(self, output_index, slot: tuple, item_id) -> int | None:
        """The Thinking part for one summary / reasoning_text part; opening one stops the held one."""
        key = (output_index, *slot)
        if key in self._open or key in self._closed:
            return self._open.get(key)
        held = self._held.get(output_index)
        if held is not None:
            self._close(held)
        self._held[output_index] = key
        return self._open_part(key, ir.Thinking(source=SOURCE, id=item_id))

    def _delta(self, index: int | None, kind: str, value):
        if index is not None and isinstance(value, str) and value:
            self._written.add(index)
            self._events.append(ir.Delta(index, kind, value))

    def _fill(self, index: int | None, part):
        """Content the upstream sent only complete, for a part that got no delta."""
        if index is None or index in self._written:
            return
        if isinstance(part, ir.ToolCall):
            self._delta(index, "arguments", part.arguments)
        elif isinstance(part, ir.Thinking):
            self._delta(index, "thinking", part.text)
        else:
            self._delta(index, "text", part.text)

    def _close(self, key: tuple):
        index = self._open.pop(key, None)
        if index is None:
            return
        self._closed.add(key)
        if index in self._calls and index not in self._written:
            self._delta(index, "arguments", "{}")
        self._events.append(ir.PartStop(index))

    def _fail(self, status: int, kind: str, message: str):
        self._ended = True
        self._events.append(ir.StreamError(status, kind, message))

    def _fail_with(self, code, message, fallback: str):
        status = error_status(code)
        self._fail(status, code if isinstance(code, str) else openai_type(status),
                   message if isinstance(message, str) and message else fallback)

    # -- event handlers -----------------------------------------------------

    def _on_response(self, payload):
        self._start(payload.get("response"))

    def _on_item_added(self, payload):
        item = payload.get("item") or {}
        if item.get("type") == "function_call":  # open it now: clients show the call's name early
            for slot, part in output_parts(item):
                self._ensure((payload.get("output_index"), *slot), part)

    def _on_content_added(self, payload):
        content = payload.get("part") or {}
        output_index, content_index = payload.get("output_index"), payload.get("content_index")
        if content.get("type") == "reasoning_text":
            self._thought(output_index, ("content", content_index), payload.get("item_id"))
            return
        part = content_part(content)
        if part is not None:
            self._ensure((output_index, "content", content_index), part)

    def _on_text_delta(self, payload):
        self._content_delta(payload, ir.Text)

    def _on_refusal_delta(self, payload):
        self._content_delta(payload, ir.Refusal)

    def _content_delta(self, payload, kind):
        key = (payload.get("output_index"), "content", payload.get("content_index"))
        self._delta(self._ensure(key, kind("")), "text", payload.get("delta"))

    def _on_arguments_delta(self, payload):
        # A call is opened by output_item.added, which carries its id and name;
        # without it the arguments come complete with output_item.done.
        self._delta(self._open.get((payload.get("output_index"), "call", 0)), "arguments", payload.get("delta"))

    def _on_summary_added(self, payload):
        self._thought(payload.get("output_index"), ("summary", payload.get("summary_index")), payload.get("item_id"))

    def _on_summary_delta(self, payload):
        index = self._thought(payload.get("output_index"), ("summary", payload.get("summary_index")),
                              payload.get("item_id"))
        self._delta(index, "thinking", payload.get("delta"))

    def _on_reasoning_text_delta(self, payload):
        index = self._thought(payload.get("output_index"), ("content", payload.get("content_index")),
                              payload.get("item_id"))
        self._delta(index, "thinking", payload.get("delta"))

    def _on_summary_done(self, payload):
        # Filled but left open: the item's last part still waits for encrypted_content.
        key = (payload.get("output_index"), "summary", payload.get("summary_index"))
        text = (payload.get("part") or {}).get("text") or ""
        self._fill(self._open.get(key), ir.Thinking(text=text))

    def _on_content_done(self, payload):
        key = (payload.get("output_index"), "content", payload.get("content_index"))
        part = content_part(payload.get("part") or {})
        if part is not None and key in self._open:
            self._fill(self._open[key], part)
            self._close(key)

    def _on_item_done(self, payload):
        item = payload.get("item") or {}
        output_index = payload.get("output_index")
        if item.get("type") == "reasoning":
            self._reasoning_done(output_index, item)
        else:
            for slot, part in output_parts(item):
                self._fill(self._ensure((output_index, *slot), part), part)
        for key in [key for key in self._open if key[0] == output_index]:
            self._close(key)

    def _reasoning_done(self, output_index, item: dict):
        for slot, thought in reasoning_thoughts(item):
            self._fill(self._thought(output_index, slot, item.get("id")), thought)
        held = self._held.pop(output_index, None)
        if held is None:  # no summary at all: the item is still one (empty) Thinking part
            held = (output_index, "summary", 0)
            self._open_part(held, ir.Thinking(source=SOURCE, id=item.get("id")))
        self._delta(self._open.get(held), "encrypted", item.get("encrypted_content"))
        self._close(held)

    def _on_finished(self, payload):
        response = payload.get("response") or {}
        self._start(response)
        for key in sorted(self._open, key=self._open.get):
            self._close(key)
        self._events.append(ir.Finish(stop_reason(response, bool(self._calls)), usage_from(response.get("usage"))))
        self._ended = True

    def _on_failed(self, payload):
        error = (payload.get("response") or {}).get("error")
        error = error if isinstance(error, dict) else {}
        self._fail_with(error.get("code"), error.get("message"), "the upstream response failed")

    def _on_error(self, payload):
        # The documented shape is flat ({"type": "error", "code", "message"}); some
        # proxies nest an OpenAI error object instead.
        error = payload.get("error")
        if isinstance(error, dict):
            code, message = error.get("code") or error.get("type"), error.get("message")
        else:
            code, message = payload.get("code"), payload.get("message")
        self._fail_with(code, message, "the upstream stream reported an error")


_HANDLERS = {
    "response.created": StreamDecoder._on_response,
    "response.in_progress": StreamDecoder._on_response,
    "response.output_item.added": StreamDecoder._on_item_added,
    "response.output_item.done": StreamDecoder._on_item_done,
    "response.content_part.added": StreamDecoder._on_content_added,
    "response.content_part.done": StreamDecoder._on_content_done,
    "response.output_text.delta": StreamDecoder._on_text_delta,
    "response.refusal.delta": StreamDecoder._on_refusal_delta,
    "response.function_call_arguments.delta": StreamDecoder._on_arguments_delta,
    "response.reasoning_summary_part.added": StreamDecoder._on_summary_added,
    "response.reasoning_summary_part.done": StreamDecoder._on_summary_done,
    "response.reasoning_summary_text.delta": StreamDecoder._on_summary_delta,
    "response.reasoning_text.delta": StreamDecoder._on_reasoning_text_delta,
    "response.completed": StreamDecoder._on_finished,
    "response.incomplete": StreamDecoder._on_finished,
    "response.failed": StreamDecoder._on_failed,
    "error": StreamDecoder._on_error,
}
