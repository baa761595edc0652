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
from .. import shape
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


# The IR part class each delta kind may go to: an upstream that numbers a reasoning text and a message
# text alike must not pour thinking into a Text part.
_FITS = {"text": (ir.Text, ir.Refusal), "thinking": (ir.Thinking,), "encrypted": (ir.Thinking,),
         "arguments": (ir.ToolCall,)}
_CONTENT_KINDS = {"output_text": ir.Text, "refusal": ir.Refusal}  # message content part type -> IR part


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
        self._kinds = {}  # IR index -> the class of its part, which its deltas must fit
        self._held = {}  # output_index -> key of the reasoning part kept open for encrypted_content

    def feed(self, event: str | None, data: str) -> list:
        if self._ended or data.strip() == "[DONE]":
            return []
        self._events = []
        payload = loads_or_none(data)
        if not isinstance(payload, dict):
            self._fail(502, openai_type(502), f"the upstream sent an event that is not a JSON object: {data[:200]!r}")
            return self._events
        kind = event
        try:
            kind = shape.string(payload, "type", default=None) or event
            handler = _HANDLERS.get(kind)
            if handler is not None:
                handler(self, payload)
        except shape.ShapeError as e:
            self._fail(502, openai_type(502), shape.event_failure(kind, e))
        return self._events

    def close(self) -> list:
        if self._ended:
            return []
        self._ended = True
        return [ir.StreamError(502, openai_type(502), "the upstream stream ended before response.completed")]

    # -- building blocks ----------------------------------------------------

    def _start(self, response: dict | None):
        if not self._started:
            response = response or {}
            start = ir.Start(id=shape.string(response, "id", "response"),
                             model=shape.string(response, "model", "response"),
                             created=shape.integer(response, "created_at", "response", default=None))
            self._started = True
            self._events.append(start)

    def _open_part(self, key: tuple, part) -> int:
        self._start(None)  # lenient: a stream that skipped response.created still starts first
        index = self._next_index
        self._next_index += 1
        self._open[key] = index
        self._kinds[index] = type(part)
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

    def _delta(self, index: int | None, kind: str, value: str):
        if index is not None and value:
            if self._kinds[index] not in _FITS[kind]:
                raise shape.ShapeError(f"it sends {kind} into a {self._kinds[index].__name__} part")
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
        self._start(shape.obj(payload, "response"))

    def _on_item_added(self, payload):
        item = shape.obj(payload, "item", required=True)
        if shape.string(item, "type", "item") == "function_call":  # open it now: clients show the call's name early
            output_index = _output_index(payload)
            for slot, part in output_parts(item):
                self._ensure((output_index, *slot), part)

    def _on_content_added(self, payload):
        content = shape.obj(payload, "part", required=True)
        output_index, content_index = _output_index(payload), _index(payload, "content_index")
        kind = shape.string(content, "type", "part", required=True)
        if kind == "reasoning_text":
            self._thought(output_index, ("content", content_index), _item_id(payload))
        elif kind in _CONTENT_KINDS:
            self._ensure((output_index, "content", content_index), _CONTENT_KINDS[kind](""))

    def _on_text_delta(self, payload):
        self._content_delta(payload, ir.Text)

    def _on_refusal_delta(self, payload):
        self._content_delta(payload, ir.Refusal)

    def _content_delta(self, payload, kind):
        key = (_output_index(payload), "content", _index(payload, "content_index"))
        self._delta(self._ensure(key, kind("")), "text", _delta_text(payload))

    def _on_arguments_delta(self, payload):
        # A call is opened by output_item.added, which carries its id and name;
        # without it the arguments come complete with output_item.done.
        self._delta(self._open.get((_output_index(payload), "call", 0)), "arguments", _delta_text(payload))

    def _on_summary_added(self, payload):
        self._thought(_output_index(payload), ("summary", _index(payload, "summary_index")), _item_id(payload))

    def _on_summary_delta(self, payload):
        index = self._thought(_output_index(payload), ("summary", _index(payload, "summary_index")),
                              _item_id(payload))
        self._delta(index, "thinking", _delta_text(payload))

    def _on_reasoning_text_delta(self, payload):
        index = self._thought(_output_index(payload), ("content", _index(payload, "content_index")),
                              _item_id(payload))
        self._delta(index, "thinking", _delta_text(payload))

    def _on_summary_done(self, payload):
        # Filled but left open: the item's last part still waits for encrypted_content.
        key = (_output_index(payload), "summary", _index(payload, "summary_index"))
        text = shape.string(shape.obj(payload, "part"), "text", "part")
        self._fill(self._open.get(key), ir.Thinking(text=text))

    def _on_content_done(self, payload):
        key = (_output_index(payload), "content", _index(payload, "content_index"))
        part = content_part(shape.obj(payload, "part", required=True), "part")
        if part is not None and key in self._open:
            self._fill(self._open[key], part)
            self._close(key)

    def _on_item_done(self, payload):
        item = shape.obj(payload, "item", required=True)
        output_index = _output_index(payload)
        if shape.string(item, "type", "item") == "reasoning":
            self._reasoning_done(output_index, item)
        else:
            for slot, part in output_parts(item):
                self._fill(self._ensure((output_index, *slot), part), part)
        for key in [key for key in self._open if key[0] == output_index]:
            self._close(key)

    def _reasoning_done(self, output_index, item: dict):
        item_id = shape.string(item, "id", "item", default=None)
        for slot, thought in reasoning_thoughts(item):
            self._fill(self._thought(output_index, slot, item_id), thought)
        encrypted = shape.string(item, "encrypted_content", "item")
        held = self._held.pop(output_index, None)
        if held is None:  # no summary at all: the item is still one (empty) Thinking part
            held = (output_index, "summary", 0)
            self._open_part(held, ir.Thinking(source=SOURCE, id=item_id))
        self._delta(self._open.get(held), "encrypted", encrypted)
        self._close(held)

    def _on_finished(self, payload):
        response = shape.obj(payload, "response")
        self._start(response)
        reason = stop_reason(response, bool(self._calls), "response")
        usage = usage_from(shape.obj(response, "usage", "response"), "response.usage")
        for key in sorted(self._open, key=self._open.get):
            self._close(key)
        self._events.append(ir.Finish(reason, usage))
        self._ended = True

    def _on_failed(self, payload):
        # A failure already: fields of the wrong type fall back rather than hide the error behind another.
        response = payload.get("response")
        error = response.get("error") if isinstance(response, dict) else None
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


def _index(payload: dict, field: str) -> int:
    return shape.integer(payload, field, required=True)


def _output_index(payload: dict) -> int:
    return _index(payload, "output_index")


def _item_id(payload: dict) -> str | None:
    return shape.string(payload, "item_id", default=None)


def _delta_text(payload: dict) -> str:
    return shape.string(payload, "delta", required=True)


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
