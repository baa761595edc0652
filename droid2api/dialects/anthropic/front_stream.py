"""This module writes IR stream events as an Anthropic Messages stream, for a client of /v1/messages.

Anthropic's grammar, which its SDKs enforce: ``message_start``; then per
content block ``content_block_start``, its deltas and ``content_block_stop``,
one block at a time, numbered from 0; then ``message_delta`` (stop reason,
usage) and ``message_stop``. An ``error`` event may end the stream anywhere;
nothing follows it. ``ping`` may come at any time.

How the IR fits that grammar:

* Block indices are the encoder's own: an IR part can make no block (a
  thinking part with nothing in it) or two (a tool call with a Gemini thought
  signature first gets a thinking block that carries it), so text and
  thinking blocks open at their first content, not at their PartStart.
* A thinking block's signature (Anthropic's own, or another dialect's opaque
  data wrapped by carried.py) goes out as one ``signature_delta`` just before
  its ``content_block_stop``, as Anthropic sends it: the IR's signature and
  encrypted deltas are collected until the part stops.
* The IR's Start has no token counts, so ``message_start`` says 0; the final
  counts, input and cache included, go in ``message_delta``, whose usage
  Anthropic's SDKs merge into the message (as Anthropic itself sends input
  counts there for server-tool answers).
* Tool arguments go out fragment by fragment as they arrive; whether they
  form a JSON object is known only when the call ends, so a broken call fails
  the stream at its end, under the rule front_response.py describes.
"""

from __future__ import annotations

from dataclasses import replace

from ... import ir
from ...errors import GatewayError
from ...sse import encode_event
from ...wire import arguments_object, dump_bytes
from .. import carried
from ..encoding import EventEncoder
from .errors import stream_error
from .front_response import (ENDED_IN_ERROR, call_signature, empty_thinking_block, encode_usage, message_id,
                             stop_reason, tool_use_block, unreadable_arguments)

PING = encode_event('{"type": "ping"}', "ping")
_MESSAGE_STOP = encode_event('{"type":"message_stop"}', "message_stop")
_TEXT_BLOCK = {"type": "text", "text": ""}


def _event(payload: dict) -> bytes:
    return encode_event(dump_bytes(payload), payload["type"])


class StreamEncoder(EventEncoder):
    """IR events -> Anthropic stream events (bytes), for one response.

    The state is explicit so that no event can come out of order: nothing
    before ``message_start`` (any event, even a ping, sends it first), no
    block inside another, nothing after ``message_stop`` or ``error``.
    """

    def __init__(self, model: str, request: ir.Request):
        # Nothing in the request changes an Anthropic stream: usage is always sent.
        self.model = model  # the name the client asked for
        self._started = False
        self._done = False
        self._blocks = 0  # blocks started so far: the next block's index
        self._open = None  # index of the open block
        self._part = None  # the IR part being streamed, as its PartStart gave it
        self._index = None  # its IR index
        self._opaque = {"signature": [], "encrypted": []}  # the part's opaque data, sent when it stops
        self._arguments = []  # the tool call's argument fragments, checked when it stops
        self._refused = False
        self._broken = []  # names of tool calls whose arguments are not a JSON object

    def on_start(self, event: ir.Start) -> bytes:
        return self._begin(event.id)

    def on_part_start(self, event: ir.PartStart) -> bytes:
        return self._begin() + self._part_start(event)

    def on_delta(self, event: ir.Delta) -> bytes:
        return self._delta(event)

    def on_part_stop(self, event: ir.PartStop) -> bytes:
        return self._part_stop(event.index)

    def on_finish(self, event: ir.Finish) -> bytes:
        return self._begin() + self._finish(event)

    def on_error(self, event: ir.StreamError) -> bytes:
        return self._error(event.status, event.message)

    def ping(self) -> bytes:
        """A keep-alive while the upstream is silent (before the first event too, so message_start goes first)."""
        if self._done:
            return b""
        return self._begin() + PING

    # -- the message --------------------------------------------------------

    def _begin(self, upstream_id: str | None = None) -> bytes:
        if self._started:
            return b""
        self._started = True
        message = {"id": message_id(upstream_id), "type": "message", "role": "assistant", "model": self.model,
                   "content": [], "stop_reason": None, "stop_sequence": None, "usage": encode_usage(ir.Usage())}
        return _event({"type": "message_start", "message": message})

    def _finish(self, event: ir.Finish) -> bytes:
        out = self._part_stop(self._index)  # a part the upstream never stopped
        if event.stop_reason == "error":
            return out + self._error(502, ENDED_IN_ERROR)
        stop = stop_reason(event.stop_reason, self._refused)
        if self._broken and stop != "max_tokens":
            return out + self._error(502, unreadable_arguments(self._broken).message)
        self._done = True
        delta = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": event.stop_sequence},
                 "usage": encode_usage(event.usage)}
        return out + _event(delta) + _MESSAGE_STOP

    def _error(self, status: int, message: str) -> bytes:
        self._done = True
        return stream_error(GatewayError(status, message))

    # -- blocks -------------------------------------------------------------

    def _open_block(self, block: dict) -> bytes:
        self._open = self._blocks
        self._blocks += 1
        return _event({"type": "content_block_start", "index": self._open, "content_block": block})

    def _ensure_open(self, block: dict) -> bytes:
        return b"" if self._open is not None else self._open_block(block)

    def _block_delta(self, delta: dict) -> bytes:
        return _event({"type": "content_block_delta", "index": self._open, "delta": delta})

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open = self._open, None
        return _event({"type": "content_block_stop", "index": index})

    def _call_carrier(self, call: ir.ToolCall, signature: str) -> bytes:
        """The empty thinking block that carries a function call's Gemini thought signature."""
        return (self._open_block(empty_thinking_block())
                + self._block_delta({"type": "signature_delta", "signature": call_signature(call, signature)})
                + self._close_block())

    # -- IR parts -----------------------------------------------------------

    def _part_start(self, event: ir.PartStart) -> bytes:
        out = self._part_stop(self._index)  # the IR sends one part at a time; this keeps it so if one was left open
        part = self._part = event.part
        self._index = event.index
        self._opaque = {"signature": [], "encrypted": []}
        self._arguments = []
        if isinstance(part, ir.ToolCall):
            if part.signature:
                out += self._call_carrier(part, part.signature)
            return out + self._open_block(tool_use_block(part, {}))
        if isinstance(part, ir.Thinking) and part.redacted is not None:
            return out + self._open_block({"type": "redacted_thinking", "data": part.redacted})
        return out  # text and thinking blocks open with their first content

    def _delta(self, event: ir.Delta) -> bytes:
        if self._part is None or event.index != self._index:
            return b""  # a delta for no open part: the IR contract has no such thing
        kind, value = event.kind, event.value
        if kind == "text":
            self._refused = self._refused or isinstance(self._part, ir.Refusal)
            return self._ensure_open(_TEXT_BLOCK) + self._block_delta({"type": "text_delta", "text": value})
        if kind == "thinking":
            return self._ensure_open(empty_thinking_block()) + self._block_delta(
                {"type": "thinking_delta", "thinking": value})
        if kind == "arguments":
            self._arguments.append(value)
            return self._block_delta({"type": "input_json_delta", "partial_json": value})
        if kind in self._opaque:  # signature / encrypted: one signature_delta when the part stops
            self._opaque[kind].append(value)
        return b""

    def _part_stop(self, index) -> bytes:
        if self._part is None or index != self._index:
            return b""
        part, self._part = self._part, None
        out = b""
        if isinstance(part, ir.Thinking) and part.redacted is None:
            complete = replace(part, signature=_joined(part.signature, self._opaque["signature"]),
                               encrypted=_joined(part.encrypted, self._opaque["encrypted"]))
            signature = carried.wrap_thinking(complete)
            if signature:
                out += self._ensure_open(empty_thinking_block()) + self._block_delta(
                    {"type": "signature_delta", "signature": signature})
        out += self._close_block()
        if isinstance(part, ir.ToolCall):
            if arguments_object("".join(self._arguments)) is None:
                self._broken.append(part.name)
            late_signature = "".join(self._opaque["signature"])
            if late_signature:  # arrived after the call started: it can only follow the call now
                out += self._call_carrier(part, late_signature)
        return out


def _joined(initial: str | None, fragments: list) -> str | None:
    """An opaque field as the IR accumulates it (what the PartStart held, then each delta), None if empty."""
    return (initial or "") + "".join(fragments) or None
