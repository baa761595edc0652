"""This module turns Gemini generateContent answers into IR stream events.

Each SSE event of ``streamGenerateContent?alt=sse`` is a whole
GenerateContentResponse carrying the next parts of the answer, so a
non-streamed answer is simply a stream of one: response.py decodes it with
this same class, and a streamed and a non-streamed answer give the same IR
(synthesized tool call ids included).
"""

from __future__ import annotations

import hashlib
import uuid

from ... import ir
from ...wire import loads_or_none
from .. import shape

NAME = SOURCE = ir.Dialect.GEMINI  # this dialect; the Thinking.source of thought signatures read here

_STOP_REASONS = {
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
    # The model tried to call a function and failed to produce a valid call.
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
}

# The status a google.rpc error in the stream stands for; anything else is a bad gateway.
_ERROR_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
_ERROR_CODES = (400, 429, 503, 504)


class StreamDecoder:
    """Feed it one SSE event at a time; it returns the IR events that event means.

    Text chunks in a row continue one Text part and thought chunks one
    Thinking part; a function call is always a whole part. Gemini sends no
    final event, so the Finish comes from ``close()``, and only if the
    upstream said why it finished.
    """

    def __init__(self):
        self._started = False
        self._done = False  # Finish or StreamError emitted: nothing may follow
        self._next_index = 0
        self._open = None  # (IR index, "text" | "thinking") of the part still growing
        self._open_signed = False  # the open Thinking part has its signature already
        self._tool_calls = False
        self._finish_reason = None
        self._blocked = False  # the prompt was refused: no candidates at all
        self._usage_metadata = None  # the latest chunk's usageMetadata, read once, at the end

    def feed(self, event: str | None, data: str) -> list:
        if self._done or not data.strip():
            return []
        payload = loads_or_none(data)
        if not isinstance(payload, dict):
            return self._fail(502, "api_error", f"the upstream sent an event that is not a JSON object: {data[:200]!r}")
        try:
            return self.feed_response(payload)
        except shape.ShapeError as e:
            return self._fail(502, "api_error", shape.event_failure(None, e))

    def feed_response(self, payload: dict) -> list:
        """The IR events of one parsed GenerateContentResponse; a field of the wrong type is a ShapeError."""
        if self._done:
            return []
        if "error" in payload:
            return self._upstream_error(payload["error"])
        candidates = shape.objects(payload, "candidates", of="a list of candidates")
        where, candidate = candidates[0] if candidates else ("", {})
        content = shape.obj(candidate, "content", where)
        parts = shape.objects(content, "parts", shape.path_of(where, "content"), of="a list of parts")
        finish_reason = shape.string(candidate, "finishReason", where)
        block_reason = shape.string(shape.obj(payload, "promptFeedback"), "blockReason", "promptFeedback")
        usage = shape.obj(payload, "usageMetadata")
        events = []
        if not self._started:
            events.append(ir.Start(id=shape.string(payload, "responseId") or f"resp_{uuid.uuid4().hex[:24]}",
                                   model=shape.string(payload, "modelVersion")))
            self._started = True
        for path, part in parts:
            events.extend(self._part(part, path))
        if finish_reason:
            self._finish_reason = finish_reason
        if not candidates and block_reason:
            self._blocked = True
        if usage:
            self._usage_metadata = usage  # each chunk repeats the totals so far
        return events

    def close(self) -> list:
        if self._done:
            return []
        if not self._started:
            return self._fail(502, "api_error", "the upstream stream ended before it sent anything")
        if self._finish_reason is None and not self._blocked:
            return self._fail(502, "api_error", "the upstream stream ended before a finishReason; "
                                                "the answer is incomplete")
        try:
            return self.finish()
        except shape.ShapeError as e:
            return self._fail(502, "api_error", shape.event_failure(None, e))

    def finish(self) -> list:
        """End the answer as it stands: a non-streamed body is complete whatever it says. Usage of the wrong
        type is a ShapeError."""
        if self._done:
            return []
        usage = decode_usage(self._usage_metadata) if self._usage_metadata else ir.Usage()
        events = self._close_open()
        self._done = True
        events.append(ir.Finish(self._stop_reason(), usage))
        return events

    # -- parts --------------------------------------------------------------

    def _part(self, part: dict, where: str) -> list:
        # inlineData, executableCode and other part kinds have no IR part: only their signature is kept.
        signature = shape.string(part, "thoughtSignature", where) or None
        if part.get("functionCall") is not None:
            call = shape.obj(part, "functionCall", where)
            return self._function_call(call, signature, shape.path_of(where, "functionCall"))
        text = shape.string(part, "text", where)
        if shape.flag(part, "thought", where):
            events = self._grow("thinking", text) if text else []
            return events + (self._sign(signature) if signature else [])
        # A signature on an answer part belongs to the thinking that led to it.
        events = self._sign(signature) if signature else []
        return events + (self._grow("text", text) if text else [])

    def _function_call(self, call: dict, signature, where: str) -> list:
        name = shape.string(call, "name", where, required=True)
        arguments = shape.object_text(call, "args", where)
        given_id = shape.string(call, "id", where)
        events = self._close_open()
        index = self._new_index()
        call_id = given_id or tool_call_id(index, name, arguments, signature)
        self._tool_calls = True
        return events + [
            ir.PartStart(index, ir.ToolCall(id=call_id, name=name, signature=signature)),
            ir.Delta(index, "arguments", arguments),
            ir.PartStop(index),
        ]

    def _grow(self, kind: str, text: str) -> list:
        """Add text to the open part of this kind, opening one if the last part was of another kind."""
        events = []
        if self._open is None or self._open[1] != kind:
            events = self._open_part(kind)
        events.append(ir.Delta(self._open[0], kind, text))
        return events

    def _sign(self, signature: str) -> list:
        events = []
        if self._open is None or self._open[1] != "thinking" or self._open_signed:
            events = self._open_part("thinking")  # no thought text came before it: an empty Thinking part
        self._open_signed = True
        events.append(ir.Delta(self._open[0], "signature", signature))
        return events

    def _open_part(self, kind: str) -> list:
        events = self._close_open()
        index = self._new_index()
        self._open = (index, kind)
        self._open_signed = False
        events.append(ir.PartStart(index, ir.Thinking(source=SOURCE) if kind == "thinking" else ir.Text("")))
        return events

    def _close_open(self) -> list:
        if self._open is None:
            return []
        index, self._open = self._open[0], None
        return [ir.PartStop(index)]

    def _new_index(self) -> int:
        index = self._next_index
        self._next_index += 1
        return index

    # -- the end ------------------------------------------------------------

    def _stop_reason(self) -> str:
        if self._finish_reason is None and self._blocked:
            return "content_filter"
        if self._finish_reason in (None, "STOP"):
            return "tool_use" if self._tool_calls else "end_turn"
        return _STOP_REASONS.get(self._finish_reason, "end_turn")

    def _upstream_error(self, error) -> list:
        # Already a failure: a field of the wrong type falls back rather than hiding the error behind another.
        error = error if isinstance(error, dict) else {}
        status_name = error.get("status") if isinstance(error.get("status"), str) else None
        code = error.get("code") if type(error.get("code")) is int else None
        status = _ERROR_STATUS.get(status_name) or (code if code in _ERROR_CODES else 502)
        message = error.get("message") if isinstance(error.get("message"), str) and error["message"] else \
            f"the upstream stream failed with {status_name or code or 'an error'}"
        return self._fail(status, status_name or "api_error", message)

    def _fail(self, status: int, kind: str, message: str) -> list:
        self._done = True
        return [ir.StreamError(status, kind, message)]


def tool_call_id(index: int, name: str, arguments: str, signature: str | None = None) -> str:
    """A stable id for a call Gemini sent without one: the same answer always gets the same id. The call's
    thought signature, unique to the answer, makes it unique too: the reasoning memory is keyed by it."""
    key = f"{index}:{name}:{arguments}" + (f":{signature}" if signature else "")
    return "call_" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def decode_usage(usage: dict, where: str = "usageMetadata") -> ir.Usage:
    """Gemini's counts as IR usage: thoughts are output, tool-use prompt tokens are input."""
    thoughts = shape.integer(usage, "thoughtsTokenCount", where)
    return ir.Usage(
        input_tokens=shape.integer(usage, "promptTokenCount", where)
        + shape.integer(usage, "toolUsePromptTokenCount", where),
        output_tokens=shape.integer(usage, "candidatesTokenCount", where) + thoughts,
        cache_read_tokens=shape.integer(usage, "cachedContentTokenCount", where),
        reasoning_tokens=thoughts,
    )
