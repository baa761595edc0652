"""Chat Completions streams: decoding an upstream's chunks into IR events, encoding IR events as chunks.

The encoder writes one chunk per IR delta the moment it arrives: ``role`` on
the first chunk only, a tool call's id, type and name on its first chunk and
then only argument fragments under its ``index``, ``finish_reason`` on the
last content chunk, then a usage chunk with ``choices: []`` when the client
asked for it, then ``data: [DONE]``. A failure becomes a final
``data: {"error": ...}`` chunk, which the openai SDKs raise as APIError —
never a quiet end.
"""

from __future__ import annotations

import time

from ... import ir
from ...errors import openai_type
from ...sse import encode_event
from ...wire import dump_bytes, loads_or_none
from .. import shape
from ..encoding import EventEncoder
from . import reasoning
from .response import (STOP_REASONS, completion_id, content_text, decode_usage, encode_usage, finish_reason,
                       tool_call, tool_call_signature)

DONE = b"data: [DONE]\n\n"


class StreamEncoder(EventEncoder):
    """IR events -> Chat Completions chunks (bytes), for one response."""

    def __init__(self, model: str, request: ir.Request):
        self.model = model  # the name the client asked for
        self.include_usage = request.include_usage
        self._head = None  # id, object, created, model: the same on every chunk
        self._prefix = None  # the chunk JSON up to the delta, fixed once the stream has started
        self._parts = {}  # IR index -> the part as it started
        self._tools = {}  # IR index -> tool_calls index
        self._details = {}  # IR index -> reasoning_details index, once its first entry is written
        self._next_detail = 0
        self._done = False

    # PartStop: Chat has no marker for the end of a part, so the base class sends nothing for it.
    def on_start(self, event: ir.Start) -> bytes:
        return self._start(event)

    def on_part_start(self, event: ir.PartStart) -> bytes:
        return self._part_start(event)

    def on_delta(self, event: ir.Delta) -> bytes:
        return self._delta(event)

    def on_finish(self, event: ir.Finish) -> bytes:
        return self._finish(event)

    def on_error(self, event: ir.StreamError) -> bytes:
        return self._error(event)

    def _start(self, event: ir.Start) -> bytes:
        self._head = {"id": completion_id(event.id), "object": "chat.completion.chunk",
                      "created": event.created or int(time.time()), "model": self.model}
        self._prefix = dump_bytes(self._head)[:-1] + b',"choices":[{"index":0,"delta":'
        return self._chunk({"role": "assistant", "content": None})

    def _chunk(self, delta: dict, finish: str | None = None) -> bytes:
        finish_json = b"null" if finish is None else b'"' + finish.encode() + b'"'
        return encode_event(b"".join((self._prefix, dump_bytes(delta), b',"logprobs":null,"finish_reason":',
                                      finish_json, b"}]}")))

    def _part_start(self, event: ir.PartStart) -> bytes:
        part = event.part
        self._parts[event.index] = part
        if isinstance(part, ir.ToolCall):
            index = self._tools[event.index] = len(self._tools)
            call = tool_call(part, index)
            return self._chunk({"tool_calls": [call]})
        if isinstance(part, ir.Thinking) and part.redacted is not None:
            entry = {**self._detail_entry(event.index, part), "data": part.redacted}
            return self._chunk({"reasoning_details": [entry]})
        return b""

    def _take_detail(self) -> int:
        index = self._next_detail
        self._next_detail += 1
        return index

    def _delta(self, event: ir.Delta) -> bytes:
        kind = event.kind
        if kind == "text":
            part = self._parts.get(event.index)
            key = "refusal" if isinstance(part, ir.Refusal) else "content"
            return self._chunk({key: event.value})
        if kind == "arguments":
            index = self._tools[event.index]
            return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": event.value}}]})
        part = self._parts.get(event.index)
        if isinstance(part, ir.ToolCall):  # a Gemini signature that arrived after the call started
            extra = {"google": {"thought_signature": event.value}}
            return self._chunk({"tool_calls": [{"index": self._tools[event.index], "extra_content": extra}]})
        if kind == "encrypted":
            entry = {**reasoning.encrypted_entry(part, event.value), "index": self._take_detail()}
            return self._chunk({"reasoning_details": [entry]})
        entry = self._detail_entry(event.index, part)
        if kind == "thinking":
            entry[reasoning.text_key(part)] = event.value
            return self._chunk({"reasoning_content": event.value, "reasoning_details": [entry]})
        entry["signature"] = event.value
        return self._chunk({"reasoning_details": [entry]})

    def _detail_entry(self, index: int, part: ir.Thinking) -> dict:
        """The reasoning_details fragment for a thinking part; type, format and id only on the first.

        Entries are numbered when first written, as reasoning.details() numbers
        them, so a streamed and a plain answer carry the same entries.
        """
        if index in self._details:
            return {"index": self._details[index]}
        self._details[index] = self._take_detail()
        return {"index": self._details[index], **reasoning.head(part)}

    def _finish(self, event: ir.Finish) -> bytes:
        if event.stop_reason == "error":
            return self._error(ir.StreamError(502, "upstream_error", "the upstream ended its answer with an error"))
        self._done = True
        out = self._chunk({}, finish_reason(event.stop_reason))
        if self.include_usage:
            out += encode_event(dump_bytes({**self._head, "choices": [], "usage": encode_usage(event.usage)}))
        return out + DONE

    def _error(self, event: ir.StreamError) -> bytes:
        self._done = True
        error = {"message": event.message, "type": openai_type(event.status), "param": None,
                 "code": event.type if event.type not in (None, "error") else None}
        return encode_event(dump_bytes({"error": error}))


class StreamDecoder:
    """Chat Completions chunks from an upstream -> IR events."""

    def __init__(self):
        self._started = False
        self._next = 0
        self._open = None  # (kind, IR index) of the one open part; a tool call's kind is ("tool", its index)
        self._tools = {}  # upstream tool_calls index -> IR index
        self._has_arguments = set()  # IR indices of tool calls that have had argument text
        self._stop = None
        self._usage = ir.Usage()
        self._finished = False

    def feed(self, event, data: str) -> list:
        if self._finished:
            return []
        if data.strip() == "[DONE]":
            return self._finish()
        chunk = loads_or_none(data)
        if not isinstance(chunk, dict):
            return self._fail(502, f"the upstream sent a chunk that is not a JSON object: {data[:200]!r}")
        if chunk.get("error"):
            # Already a failure: a field of the wrong type falls back rather than hiding the error behind another.
            error = chunk["error"] if isinstance(chunk["error"], dict) else {}
            message = error.get("message")
            return self._fail(_status(error), message if isinstance(message, str) and message
                              else "the upstream stream failed")
        out = []
        try:
            if not self._started:
                out.append(ir.Start(shape.string(chunk, "id") or completion_id(None), shape.string(chunk, "model"),
                                    shape.integer(chunk, "created", default=None)))
                self._started = True
            usage = shape.obj(chunk, "usage")
            if usage:
                self._usage = decode_usage(usage)
            for where, choice in shape.objects(chunk, "choices", of="a list of choices"):
                if shape.integer(choice, "index", where) == 0:
                    self._choice(choice, where, out)
        except shape.ShapeError as e:
            return out + self._fail(502, shape.event_failure(None, e))
        return out

    def close(self) -> list:
        if self._finished:
            return []
        if self._stop is not None:  # some servers omit [DONE]; a finish_reason is enough
            return self._finish()
        return self._fail(502, "the upstream stream ended before its final chunk")

    def _choice(self, choice: dict, where: str, out: list):
        delta = shape.obj(choice, "delta", where)
        delta_path = shape.path_of(where, "delta")
        thinking = shape.string(delta, "reasoning_content", delta_path) or shape.string(delta, "reasoning", delta_path)
        if thinking:
            out.extend(self._text("thinking", thinking, ir.Thinking))
        content = content_text(delta, delta_path)
        if content:
            out.extend(self._text("text", content, ir.Text))
        refusal = shape.string(delta, "refusal", delta_path)
        if refusal:
            out.extend(self._text("refusal", refusal, ir.Refusal))
        for path, call in shape.objects(delta, "tool_calls", delta_path):
            out.extend(self._tool_call(call, path))
        finish = shape.string(choice, "finish_reason", where)
        if finish:
            self._stop = STOP_REASONS.get(finish, "end_turn")
            out.extend(self._close_open())

    def _text(self, kind: str, value: str, cls) -> list:
        out = []
        if self._open is None or self._open[0] != kind:
            out.extend(self._start_part(kind, cls(text="")))
        out.append(ir.Delta(self._open[1], "thinking" if kind == "thinking" else "text", value))
        return out

    def _tool_call(self, call: dict, where: str) -> list:
        """Tool calls stream one after another, by ``index``: a new index ends the call before it."""
        out = []
        key = shape.integer(call, "index", where, default=len(self._tools))
        function = shape.obj(call, "function", where)
        function_path = shape.path_of(where, "function")
        arguments = shape.string(function, "arguments", function_path)
        if key not in self._tools:
            part = ir.ToolCall(shape.string(call, "id", where), shape.string(function, "name", function_path),
                               signature=tool_call_signature(call, where))
            out.extend(self._start_part(("tool", key), part))
            self._tools[key] = self._open[1]
        if arguments:
            # A fragment for a call that has already ended (no server does this today) is still passed
            # on: losing arguments would be worse than a part that reopens.
            self._has_arguments.add(self._tools[key])
            out.append(ir.Delta(self._tools[key], "arguments", arguments))
        return out

    def _start_part(self, kind, part) -> list:
        out = self._close_open()
        self._open = (kind, self._next)
        self._next += 1
        out.append(ir.PartStart(self._open[1], part))
        return out

    def _close_open(self) -> list:
        if self._open is None:
            return []
        kind, index = self._open
        self._open = None
        out = []
        if isinstance(kind, tuple) and index not in self._has_arguments:
            out.append(ir.Delta(index, "arguments", "{}"))  # a call without arguments takes none
        out.append(ir.PartStop(index))
        return out

    def _finish(self) -> list:
        out = [] if self._started else [ir.Start(completion_id(None), "")]
        out.extend(self._close_open())
        self._finished = True
        out.append(ir.Finish(self._stop or "end_turn", self._usage))
        return out

    def _fail(self, status: int, message: str) -> list:
        self._finished = True
        return [ir.StreamError(status, "upstream_error", message)]


def _status(error: dict) -> int:
    code = error.get("code") or error.get("type")
    code = code if isinstance(code, str) else ""
    if "rate_limit" in code:
        return 429
    if "invalid" in code:
        return 400
    return 502
