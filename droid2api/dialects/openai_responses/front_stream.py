"""This module writes IR stream events as a Responses API stream, for a client of /v1/responses.

The grammar, which the openai SDK's ResponseStreamState enforces and Codex
reads: ``response.created`` and ``response.in_progress``; then each output
item in turn, ``response.output_item.added`` … ``response.output_item.done``,
numbered by ``output_index``, the events between them naming it by
``item_id``; then one terminal event, ``response.completed`` or
``response.incomplete``, carrying the whole Response. Every event has a
``sequence_number``: 0, 1, 2...

How the IR fits that grammar (front_response.py says which parts make which
items):

* An item opens at its first content — a message at its first text, a
  reasoning item at its first summary text (or, with only encrypted content
  to show, when it ends) — and a tool call at its PartStart. It is done when
  a part that is not its own starts, or when the answer ends: consecutive
  parts can share an item, and the item being written when an answer is cut
  off is the one marked incomplete.
* ``encrypted_content`` is known only when a reasoning item ends, so it is
  in ``response.output_item.done`` only.
* Function arguments go out fragment by fragment. A custom tool's input is
  the ``input`` string inside the JSON arguments the upstream writes, which
  a fragment cannot be cut out of: that one call's arguments are collected,
  and its input sent as one delta when the call is done.
* A Gemini signature that arrives after its call started gets its carrier
  item after the call, the only place left for it.
* A failure is an ``error`` event (the shape errors.py writes for every
  Responses stream) and then ``response.failed``, the terminal event Codex
  reads the error from. Nothing follows it.
* The grammar has no keep-alive event: ``ping()`` is an SSE comment, which
  every SSE reader skips.
"""

from __future__ import annotations

import time
from dataclasses import replace

from ... import ir
from ...errors import GatewayError
from ...sse import encode_event
from ...wire import dump_bytes
from ..encoding import EventEncoder
from .errors import error_event
from .front_response import (ENDED_IN_ERROR, ClientView, completion, content_entry, custom_input, failure_code,
                             item_id, joins, message_item, reasoning_item, response_id, response_object,
                             summary_entry)

PING = b": keep-alive\n\n"


class _Item:
    """One output item as it is written: the parts that make it, and what of it has been sent."""

    def __init__(self, head):
        self.head = self.last = head  # the first part decides the item's kind; the last decides what joins
        self.index = None  # output_index, once added
        self.id = None
        self.content = []  # finished message content parts, or finished summary texts
        self.thoughts = []  # a reasoning item's complete Thinking parts, for its encrypted content
        self.arguments = []  # a call's argument fragments
        self.late_signature = []  # a call's Gemini signature fragments that came after it started


class StreamEncoder(EventEncoder):
    """IR events -> Responses stream events (bytes), for one response.

    The state is explicit so that no event can come out of order: nothing
    before ``response.created`` (any event starts the response first), one
    item open at a time, nothing after the terminal event.
    """

    def __init__(self, model: str, request: ir.Request | None):
        self.model = model  # the name the client asked for
        self.request = request
        self._view = ClientView(request)
        self._sequence = 0
        self._id = self._created_at = None
        self._started = self._done = False
        self._added = 0  # items added so far: the next item's output_index
        self._output = []  # the items done so far, for the terminal event's Response
        self._item = None  # the item being written (opened or not yet)
        self._part = self._index = None  # the IR part being streamed, as its PartStart gave it, and its index
        self._text = []  # its text so far
        self._thought = None  # a Thinking part's opaque data so far: a copy of the part, deltas added
        self._entry_open = False  # whether its content part / summary part has been added
        self.final_response = None  # the Response the terminal event carried, once the stream completed

    def on_start(self, event: ir.Start) -> bytes:
        return self._begin(event)

    def on_part_start(self, event: ir.PartStart) -> bytes:
        return self._begin() + self._part_start(event)

    def on_delta(self, event: ir.Delta) -> bytes:
        return self._delta(event)

    def on_part_stop(self, event: ir.PartStop) -> bytes:
        return self._part_stop(event.index)

    def on_finish(self, event: ir.Finish) -> bytes:
        return self._begin() + self._finish(event)

    def on_error(self, event: ir.StreamError) -> bytes:
        return self._begin() + self._fail(event.status, event.type, event.message)

    def ping(self) -> bytes:
        return b"" if self._done else PING

    # -- the response -------------------------------------------------------

    def _emit(self, kind: str, **fields) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return encode_event(dump_bytes(payload), kind)

    def _response(self, status: str, **fields) -> dict:
        return response_object(self.request, self.model, self._id, self._created_at, status, **fields)

    def _begin(self, start: ir.Start | None = None) -> bytes:
        if self._started:
            return b""
        self._started = True
        self._id = response_id(start.id if start else None)
        self._created_at = (start.created if start else None) or int(time.time())
        in_progress = self._response("in_progress", output=[])
        return (self._emit("response.created", response=in_progress)
                + self._emit("response.in_progress", response=in_progress))

    def _finish(self, event: ir.Finish) -> bytes:
        out = self._part_stop(self._index)  # a part the upstream never stopped
        if event.stop_reason == "error":
            return out + self._fail(502, None, ENDED_IN_ERROR)
        status, incomplete = completion(event.stop_reason)
        out += self._close_item(cut_off=status == "incomplete")
        self._done = True
        final = self._response(status, output=self._output, usage=event.usage, incomplete=incomplete)
        self.final_response = final
        return out + self._emit(f"response.{status}", response=final)

    def _fail(self, status: int, kind: str | None, message: str) -> bytes:
        self._done = True
        code = failure_code(status, kind)
        out = error_event(GatewayError(status, message, code=code), self._sequence)
        self._sequence += 1
        failed = self._response("failed", output=self._output, error={"code": code, "message": message})
        return out + self._emit("response.failed", response=failed)

    # -- items --------------------------------------------------------------

    def _where(self) -> dict:
        return {"item_id": self._item.id, "output_index": self._item.index}

    def _open(self, item: _Item, encoded: dict) -> bytes:
        item.index, item.id = self._added, encoded["id"]
        self._added += 1
        return self._emit("response.output_item.added", output_index=item.index, item=encoded)

    def _done_item(self, index: int, encoded: dict) -> bytes:
        self._output.append(encoded)
        return self._emit("response.output_item.done", output_index=index, item=encoded)

    def _whole_item(self, encoded: dict) -> bytes:
        """An item known complete at once (a signature carrier): added and done together."""
        index = self._added
        self._added += 1
        return (self._emit("response.output_item.added", output_index=index, item=encoded)
                + self._done_item(index, encoded))

    def _close_item(self, cut_off: bool = False) -> bytes:
        item, self._item = self._item, None
        if item is None:
            return b""
        status = "incomplete" if cut_off else "completed"
        if isinstance(item.head, ir.ToolCall):
            return self._close_call(item, status)
        if isinstance(item.head, ir.Thinking):
            encrypted = self._view.encrypted(item.thoughts) if item.thoughts else None
            out = b""
            if item.index is None:
                if encrypted is None:
                    return b""  # nothing in it to show
                out = self._open(item, reasoning_item(self._reasoning_id(item), []))
            return out + self._done_item(item.index, reasoning_item(item.id, item.content, encrypted))
        if item.index is None:
            return b""
        return self._done_item(item.index, message_item(item.id, item.content, status))

    def _close_call(self, item: _Item, status: str) -> bytes:
        call = item.head
        where = {"item_id": item.id, "output_index": item.index}
        arguments = "".join(item.arguments)
        if self._view.is_custom(call):
            text = custom_input(arguments)
            out = self._emit("response.custom_tool_call_input.delta", **where, delta=text) if text else b""
            out += self._emit("response.custom_tool_call_input.done", **where, input=text)
        else:
            out = b""
            if not arguments:  # no arguments means none to give: "{}", as a plain answer says
                arguments = "{}"
                out += self._emit("response.function_call_arguments.delta", **where, delta=arguments)
            out += self._emit("response.function_call_arguments.done", **where, arguments=arguments)
        out += self._done_item(item.index, self._view.call_item(item.id, call, arguments, status))
        carrier = self._view.signature_carrier(item_id("rs", self._id, self._added), call,
                                               "".join(item.late_signature))
        return out + (self._whole_item(carrier) if carrier else b"")

    def _reasoning_id(self, item: _Item) -> str:
        return item.head.id or item_id("rs", self._id, self._added)

    # -- IR parts -----------------------------------------------------------

    def _part_start(self, event: ir.PartStart) -> bytes:
        out = self._part_stop(self._index)  # the IR sends one part at a time; this keeps it so if one was left open
        part = event.part
        if self._item is None or not joins(self._item.last, part):
            out += self._close_item()
            self._item = _Item(part)
        self._item.last = part
        self._part, self._index = part, event.index
        self._text, self._entry_open = [], False
        self._thought = replace(part) if isinstance(part, ir.Thinking) else None
        if isinstance(part, ir.ToolCall):
            carrier = self._view.signature_carrier(item_id("rs", self._id, self._added), part, part.signature)
            if carrier:
                out += self._whole_item(carrier)
            item = self._view.call_item_id(part, self._id, self._added)
            out += self._open(self._item, self._view.call_item(item, part, "", "in_progress"))
        return out

    def _delta(self, event: ir.Delta) -> bytes:
        part = self._part
        if part is None or event.index != self._index or not event.value:
            return b""  # a delta for no open part: the IR contract has no such thing
        kind, value = event.kind, event.value
        if kind == "text" and isinstance(part, (ir.Text, ir.Refusal)):
            return self._content_delta(part, value)
        if kind == "thinking" and isinstance(part, ir.Thinking):
            return self._summary_delta(value)
        if kind == "arguments" and isinstance(part, ir.ToolCall):
            self._item.arguments.append(value)
            if self._view.is_custom(part):
                return b""  # its input goes out when the call is done
            return self._emit("response.function_call_arguments.delta", **self._where(), delta=value)
        if kind == "signature" and isinstance(part, ir.ToolCall):
            self._item.late_signature.append(value)
        elif kind in ("signature", "encrypted") and isinstance(part, ir.Thinking):
            setattr(self._thought, kind, (getattr(self._thought, kind) or "") + value)
        return b""

    def _content_delta(self, part, value: str) -> bytes:
        out = b""
        if self._item.index is None:
            out += self._open(self._item, message_item(item_id("msg", self._id, self._added), [], "in_progress"))
        at = {**self._where(), "content_index": len(self._item.content)}
        if not self._entry_open:
            self._entry_open = True
            out += self._emit("response.content_part.added", **at, part=content_entry(part, ""))
        self._text.append(value)
        if isinstance(part, ir.Refusal):
            return out + self._emit("response.refusal.delta", **at, delta=value)
        return out + self._emit("response.output_text.delta", **at, delta=value, logprobs=[])

    def _summary_delta(self, value: str) -> bytes:
        out = b""
        if self._item.index is None:
            out += self._open(self._item, reasoning_item(self._reasoning_id(self._item), []))
        at = {**self._where(), "summary_index": len(self._item.content)}
        if not self._entry_open:
            self._entry_open = True
            out += self._emit("response.reasoning_summary_part.added", **at, part=summary_entry(""))
        self._text.append(value)
        return out + self._emit("response.reasoning_summary_text.delta", **at, delta=value)

    def _part_stop(self, index) -> bytes:
        part = self._part
        if part is None or index != self._index:
            return b""
        self._part = None
        out = self._finish_entry(part, "".join(self._text)) if self._entry_open else b""
        if isinstance(part, ir.Thinking):
            self._item.thoughts.append(self._thought)
        return out

    def _finish_entry(self, part, text: str) -> bytes:
        """The done events of a part's content part or summary part, which then joins its item."""
        if isinstance(part, ir.Thinking):
            at = {**self._where(), "summary_index": len(self._item.content)}
            self._item.content.append(text)
            return (self._emit("response.reasoning_summary_text.done", **at, text=text)
                    + self._emit("response.reasoning_summary_part.done", **at, part=summary_entry(text)))
        at = {**self._where(), "content_index": len(self._item.content)}
        entry = content_entry(part, text)
        self._item.content.append(entry)
        if isinstance(part, ir.Refusal):
            done = self._emit("response.refusal.done", **at, refusal=text)
        else:
            done = self._emit("response.output_text.done", **at, text=text, logprobs=[])
        return done + self._emit("response.content_part.done", **at, part=entry)
