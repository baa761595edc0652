"""This module writes IR stream events as a Gemini streamGenerateContent answer, for a Gemini client.

Gemini streams a sequence of whole GenerateContentResponse objects, each
holding the next parts of the answer; the last one has the finishReason and
the usage. Two framings carry them: with ``?alt=sse`` each is one SSE event,
``data: <json>`` ended by ``\\r\\n\\r\\n`` as Google sends it (google-genai
always asks for this one); without it, the answer is one JSON array, ``[``,
the objects separated by ``,\\r\\n``, then ``]``, which a client may parse
whole. ``StreamEncoder(..., sse=False)`` writes the array.

How the IR fits (front_response.py says which parts a client is shown):

* A text or thought delta is a chunk with that text, sent as it comes.
* A function call is one chunk with the whole call, once it stops: Gemini
  never sends a part of a call, so that one call's argument fragments are
  collected (and a call whose arguments are not a JSON object is left out,
  the last chunk saying ``MALFORMED_FUNCTION_CALL``).
* Opaque data is known when its part stops: a thought's signature goes out
  then, in a last chunk of that thought with empty text, the way Gemini sends
  a signature after the text it signs; a call's, on the call.
* The last chunk carries the finishReason and the usage, and an empty text
  part (every chunk has a part; see front_response.py).
* A failure is one last element in Google's error shape,
  ``{"error": {"code", "message", "status"}}``, which google-genai raises as
  an APIError; in the array it is the last element and the array is closed,
  so the body stays valid JSON. Nothing follows it.
* There is no keep-alive: anything but a chunk would be read as one.
"""

from __future__ import annotations

from dataclasses import replace

from ... import ir
from ...errors import GatewayError
from ...wire import dump_bytes
from ..encoding import EventEncoder
from .errors import error_body
from .front_response import (call_part, finish_message, finish_reason, generate_content_response, response_id,
                             shows_thoughts, thought_part, thought_signature)

SSE_CONTENT_TYPE = "text/event-stream"
ARRAY_CONTENT_TYPE = "application/json"
# The opaque deltas, and the parts that hold them until they stop.
_OPAQUE = {"signature": (ir.Thinking, ir.ToolCall), "encrypted": (ir.Thinking,)}


class StreamEncoder(EventEncoder):
    """IR events -> Gemini stream chunks (bytes), for one response, in one of the two framings.

    The state is explicit so that nothing follows the last chunk or the
    error, and the array, once opened, is always closed by either.
    """

    def __init__(self, model: str, request: ir.Request | None, sse: bool = True):
        self.model = model  # the name the client asked for
        self.sse = sse
        self.content_type = SSE_CONTENT_TYPE if sse else ARRAY_CONTENT_TYPE
        self._show_thoughts = shows_thoughts(request)
        self._id = None
        self._framed = 0  # chunks written so far: the array's first opens it
        self._done = False
        # The IR part being streamed (a copy of its PartStart's, its opaque data added as it comes) and its index.
        self._part = self._index = None
        self._arguments = []  # a call's argument fragments
        self._malformed = []  # names of calls left out: their arguments are not a JSON object

    def on_start(self, event: ir.Start) -> bytes:
        self._id = self._id or response_id(event.id)
        return b""

    def on_part_start(self, event: ir.PartStart) -> bytes:
        return self._part_start(event)

    def on_delta(self, event: ir.Delta) -> bytes:
        return self._delta(event)

    def on_part_stop(self, event: ir.PartStop) -> bytes:
        return self._part_stop(event.index)

    def on_finish(self, event: ir.Finish) -> bytes:
        return self._finish(event)

    def on_error(self, event: ir.StreamError) -> bytes:
        return self._error(event.status, event.message)

    # -- framing ------------------------------------------------------------

    def _frame(self, payload: dict) -> bytes:
        data = dump_bytes(payload)
        if self.sse:
            return b"data: " + data + b"\r\n\r\n"
        opener = b"[" if self._framed == 0 else b",\r\n"
        self._framed += 1
        return opener + data

    def _last(self, payload: dict) -> bytes:
        self._done = True
        return self._frame(payload) + (b"" if self.sse else b"]")

    def _chunk(self, part: dict) -> bytes:
        return self._frame(generate_content_response([part], self.model, self._response_id()))

    def _response_id(self) -> str:
        if self._id is None:  # a stream without a Start still names its answer, the same in every chunk
            self._id = response_id(None)
        return self._id

    # -- the end ------------------------------------------------------------

    def _finish(self, event: ir.Finish) -> bytes:
        out = self._part_stop(self._index)  # a part the upstream never stopped
        last = generate_content_response([], self.model, self._response_id(),
                                         finish_reason(event.stop_reason, self._malformed), event.usage,
                                         finish_message(self._malformed))
        return out + self._last(last)

    def _error(self, status: int, message: str) -> bytes:
        return self._last(error_body(GatewayError(status, message)))

    # -- IR parts -----------------------------------------------------------

    def _part_start(self, event: ir.PartStart) -> bytes:
        out = self._part_stop(self._index)  # the IR sends one part at a time; this keeps it so if one was left open
        self._part, self._index = replace(event.part), event.index
        self._arguments = []
        return out

    def _delta(self, event: ir.Delta) -> bytes:
        part = self._part
        if part is None or event.index != self._index or not event.value:
            return b""  # a delta for no open part: the IR contract has no such thing
        kind, value = event.kind, event.value
        if kind == "text" and isinstance(part, (ir.Text, ir.Refusal)):
            return self._chunk({"text": value})
        if kind == "thinking" and isinstance(part, ir.Thinking):
            return self._chunk(thought_part(value, None)) if self._show_thoughts else b""
        if kind == "arguments" and isinstance(part, ir.ToolCall):
            self._arguments.append(value)
        elif isinstance(part, _OPAQUE.get(kind, ())):  # sent when the part stops
            setattr(part, kind, (getattr(part, kind) or "") + value)
        return b""

    def _part_stop(self, index) -> bytes:
        part = self._part
        if part is None or index != self._index:
            return b""
        self._part = None
        if isinstance(part, ir.ToolCall):
            encoded = call_part(part, "".join(self._arguments), part.signature)
            if encoded is None:
                self._malformed.append(part.name)
                return b""
            return self._chunk(encoded)
        if isinstance(part, ir.Thinking):
            # Its text has gone out already (or is not shown): what is left is its opaque data.
            opaque = thought_signature(part)
            return self._chunk(thought_part("", opaque)) if opaque else b""
        return b""
