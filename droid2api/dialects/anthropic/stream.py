"""This module turns the events of an Anthropic Messages stream into IR stream events.

One StreamDecoder per upstream response; it holds that stream's state (which
blocks are open, the usage so far) and nothing else.
"""

from __future__ import annotations

from ... import ir
from ...wire import loads_or_none
from .. import shape
from .response import SOURCE, decode_stop_reason, decode_usage

# The status an upstream `error` event stands for; anything else is a bad gateway.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "overloaded_error": 503,
}

_DELTA_FIELDS = {  # delta type -> (IR delta kind, field of the delta that holds the text, the block it fits)
    "text_delta": ("text", "text", "text"),
    "thinking_delta": ("thinking", "thinking", "thinking"),
    "signature_delta": ("signature", "signature", "thinking"),
    "input_json_delta": ("arguments", "partial_json", "tool_use"),
}


class StreamDecoder:
    """Feed it one SSE event at a time; it returns the IR events that event means."""

    def __init__(self):
        self._started = False
        self._done = False  # Finish or StreamError emitted: nothing may follow
        self._usage = {}  # the Anthropic usage object, as message_start and message_delta update it
        self._stop_reason = None
        self._stop_sequence = None
        self._indices = {}  # upstream block index -> IR part index, for the blocks we pass on
        self._next_index = 0
        self._open = []  # IR indices of the parts started and not yet stopped
        self._block_types = {}  # IR index -> the Anthropic block type it came from, to check deltas against
        self._without_arguments = set()  # IR indices of tool calls no arguments arrived for yet

    def feed(self, event: str | None, data: str) -> list:
        if self._done:
            return []
        payload = loads_or_none(data)
        if not isinstance(payload, dict):
            return self._fail(502, "api_error", f"the upstream sent an event that is not JSON: {data[:200]!r}")
        kind = event
        try:
            kind = shape.string(payload, "type", default=None) or event
            return self._dispatch(kind, payload)
        except shape.ShapeError as e:
            return self._fail(502, "api_error", shape.event_failure(kind, e))

    def _dispatch(self, kind, payload: dict) -> list:
        if kind == "error":
            return self._upstream_error(payload.get("error"))
        if kind == "message_start":
            return self._message_start(shape.obj(payload, "message", required=True))
        if kind in ("ping", None):
            return []
        if not self._started:
            return self._fail(502, "api_error", f"the upstream sent {kind[:80]!r} before message_start")
        if kind == "content_block_start":
            return self._block_start(shape.integer(payload, "index", required=True),
                                     shape.obj(payload, "content_block", required=True))
        if kind == "content_block_delta":
            return self._block_delta(shape.integer(payload, "index", required=True),
                                     shape.obj(payload, "delta", required=True))
        if kind == "content_block_stop":
            return self._block_stop(shape.integer(payload, "index", required=True))
        if kind == "message_delta":
            self._message_delta(payload)
            return []
        if kind == "message_stop":
            return self._finish()
        return []  # an event type newer than this code: nothing a client needs

    def close(self) -> list:
        if self._done:
            return []
        return self._fail(502, "api_error", "the upstream stream ended before message_stop")

    # -- message ------------------------------------------------------------

    def _message_start(self, message: dict) -> list:
        if self._started:
            return []
        start = ir.Start(id=shape.string(message, "id", "message"), model=shape.string(message, "model", "message"))
        usage = shape.obj(message, "usage", "message")
        decode_usage(usage, "message.usage")  # checked as it arrives, not when the stream ends
        self._started = True
        self._usage = dict(usage)
        return [start]

    def _message_delta(self, payload: dict):
        delta = shape.obj(payload, "delta")
        if "stop_reason" in delta:
            self._stop_reason = shape.string(delta, "stop_reason", "delta", default=None)
            self._stop_sequence = shape.string(delta, "stop_sequence", "delta", default=None)
        # output_tokens here is the running total; input and cache counts, when
        # present, are final and replace the estimate message_start gave.
        usage = shape.obj(payload, "usage")
        decode_usage(usage)
        self._usage.update((key, value) for key, value in usage.items() if value is not None)

    def _finish(self) -> list:
        events = []
        for index in list(self._open):  # blocks the upstream never closed
            events.extend(self._stop(index))
        self._done = True
        events.append(ir.Finish(decode_stop_reason(self._stop_reason), decode_usage(self._usage),
                                self._stop_sequence))
        return events

    # -- content blocks -----------------------------------------------------

    def _block_start(self, upstream_index: int, block: dict) -> list:
        where = "content_block"
        kind = shape.string(block, "type", where, required=True)
        # A block starts with its content empty and gets it in deltas; some upstreams send it whole here.
        if kind == "text":
            part, initial = ir.Text(""), [("text", shape.string(block, "text", where))]
        elif kind == "thinking":
            part = ir.Thinking(source=SOURCE)
            initial = [("thinking", shape.string(block, "thinking", where)),
                       ("signature", shape.string(block, "signature", where))]
        elif kind == "redacted_thinking":
            part, initial = ir.Thinking(redacted=shape.string(block, "data", where, required=True), source=SOURCE), []
        elif kind == "tool_use":
            part = ir.ToolCall(id=shape.string(block, "id", where, required=True),
                               name=shape.string(block, "name", where, required=True))
            # Anthropic starts a tool_use with an empty input and streams it as JSON text.
            tool_input = shape.object_text(block, "input", where)
            initial = [("arguments", tool_input if tool_input != "{}" else None)]
        else:
            return []  # a server-tool block: not the client's to see, and not given an IR index
        index = self._next_index
        self._next_index += 1
        self._indices[upstream_index] = index
        self._open.append(index)
        self._block_types[index] = kind
        if isinstance(part, ir.ToolCall):
            self._without_arguments.add(index)
        events = [ir.PartStart(index, part)]
        for delta_kind, value in initial:
            events.extend(self._delta(index, delta_kind, value))
        return events

    def _block_delta(self, upstream_index: int, delta: dict) -> list:
        index = self._indices.get(upstream_index)
        delta_type = shape.string(delta, "type", "delta", required=True)
        fields = _DELTA_FIELDS.get(delta_type)
        if index not in self._open or fields is None:
            return []  # a skipped block, or citations_delta and other extras
        kind, field, block_type = fields
        if self._block_types[index] != block_type:
            raise shape.ShapeError(f"a {delta_type} does not belong in a {self._block_types[index]} block")
        return self._delta(index, kind, shape.string(delta, field, "delta", required=True))

    def _delta(self, index: int, kind: str, value) -> list:
        if not value:
            return []
        if kind == "arguments":
            self._without_arguments.discard(index)
        return [ir.Delta(index, kind, value)]

    def _block_stop(self, upstream_index: int) -> list:
        index = self._indices.get(upstream_index)
        if index not in self._open:
            return []
        return self._stop(index)

    def _stop(self, index: int) -> list:
        self._open.remove(index)
        events = []
        if index in self._without_arguments:
            self._without_arguments.discard(index)
            events.append(ir.Delta(index, "arguments", "{}"))  # a call without parameters
        events.append(ir.PartStop(index))
        return events

    # -- failures -----------------------------------------------------------

    def _upstream_error(self, error) -> list:
        # Already a failure: a field of the wrong type falls back rather than hiding the error behind another.
        error = error if isinstance(error, dict) else {}
        kind = error.get("type") if isinstance(error.get("type"), str) and error["type"] else "api_error"
        message = error.get("message") if isinstance(error.get("message"), str) and error["message"] else \
            f"the upstream stream failed with {kind}"
        return self._fail(_ERROR_STATUS.get(kind, 502), kind, message)

    def _fail(self, status: int, kind: str, message: str) -> list:
        self._done = True
        return [ir.StreamError(status, kind, message)]
