"""Chat Completions response bodies: decoding an upstream's, encoding the client's."""

from __future__ import annotations

import time
import uuid

from ... import ir
from ...errors import GatewayError
from .. import shape
from . import reasoning

# Chat finish_reason -> IR stop reason, and back.
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "content_filter"}
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
                  "tool_use": "tool_calls", "content_filter": "content_filter", "refusal": "content_filter"}


def finish_reason(stop_reason: str | None) -> str:
    return FINISH_REASONS.get(stop_reason, "stop")


def completion_id(upstream_id: str | None) -> str:
    if not upstream_id:
        return "chatcmpl-" + uuid.uuid4().hex
    return upstream_id if upstream_id.startswith("chatcmpl") else "chatcmpl-" + upstream_id


# -- upstream answer -> IR ---------------------------------------------------


def decode_usage(usage: dict, where: str = "usage") -> ir.Usage:
    prompt = shape.obj(usage, "prompt_tokens_details", where)
    completion = shape.obj(usage, "completion_tokens_details", where)
    prompt_path, completion_path = f"{where}.prompt_tokens_details", f"{where}.completion_tokens_details"
    return ir.Usage(input_tokens=shape.integer(usage, "prompt_tokens", where),
                    output_tokens=shape.integer(usage, "completion_tokens", where),
                    cache_read_tokens=shape.integer(prompt, "cached_tokens", prompt_path),
                    cache_write_tokens=shape.integer(prompt, "cache_write_tokens", prompt_path),
                    reasoning_tokens=shape.integer(completion, "reasoning_tokens", completion_path))


def tool_call_signature(call: dict, where: str) -> str | None:
    """A Gemini thought signature riding on a tool call (``extra_content.google.thought_signature``)."""
    extra = shape.obj(call, "extra_content", where)
    google = shape.obj(extra, "google", shape.path_of(where, "extra_content"))
    return shape.string(google, "thought_signature", f"{where}.extra_content.google") or None


def content_text(message: dict, where: str) -> str:
    """A message's or delta's ``content``: a string, or (as Mistral and others send it) a list of parts
    whose text parts are joined; parts of other types carry nothing a Chat answer can hold."""
    if not isinstance(message.get("content"), list):
        return shape.string(message, "content", where)
    parts = shape.objects(message, "content", where)
    return "".join(shape.string(part, "text", path) for path, part in parts if part.get("type") == "text")


def decode_response(body: dict) -> ir.Response:
    choices = shape.objects(body, "choices", required=True, of="a list of choices")
    choice_path, choice = choices[0] if choices else ("choices[0]", {})
    message = shape.obj(choice, "message", choice_path)
    where = shape.path_of(choice_path, "message")
    parts = reasoning.thinking_parts(reasoning.upstream_details(message, where),
                                     shape.string(message, "reasoning_content", where)
                                     or shape.string(message, "reasoning", where))
    content = content_text(message, where)
    if content:
        parts.append(ir.Text(content))
    refusal = shape.string(message, "refusal", where)
    if refusal:
        parts.append(ir.Refusal(refusal))
    for path, call in shape.objects(message, "tool_calls", where):
        function = shape.obj(call, "function", path, required=True)
        function_path = shape.path_of(path, "function")
        parts.append(ir.ToolCall(shape.string(call, "id", path, required=True),
                                 shape.string(function, "name", function_path, required=True),
                                 shape.string(function, "arguments", function_path),
                                 tool_call_signature(call, path)))
    finish = shape.string(choice, "finish_reason", choice_path)
    return ir.Response(id=shape.string(body, "id") or completion_id(None), model=shape.string(body, "model"),
                       parts=parts, stop_reason=STOP_REASONS.get(finish, "end_turn"),
                       usage=decode_usage(shape.obj(body, "usage")),
                       created=shape.integer(body, "created", default=None))


# -- IR -> the client's answer -----------------------------------------------


def encode_usage(usage: ir.Usage) -> dict:
    prompt_details = {"cached_tokens": usage.cache_read_tokens}
    if usage.cache_write_tokens:
        prompt_details["cache_write_tokens"] = usage.cache_write_tokens
    return {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens, "prompt_tokens_details": prompt_details,
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens}}


def tool_call(part: ir.ToolCall, index: int | None = None) -> dict:
    call = {"id": part.id, "type": "function", "function": {"name": part.name, "arguments": part.arguments}}
    if index is not None:
        call = {"index": index, **call}
    if part.signature:
        call["extra_content"] = {"google": {"thought_signature": part.signature}}
    return call


def encode_response(response: ir.Response, model: str, request: ir.Request | None = None) -> dict:
    # ``request``: the front interface passes it (the Responses front needs it); nothing in it changes this answer.
    if response.stop_reason == "error":
        raise GatewayError(502, "the upstream ended its answer with an error")
    text = "".join(p.text for p in response.parts if isinstance(p, ir.Text))
    refusal = "".join(p.text for p in response.parts if isinstance(p, ir.Refusal))
    calls = [tool_call(p) for p in response.parts if isinstance(p, ir.ToolCall)]
    message = {"role": "assistant", "content": text or None, "refusal": refusal or None}
    if calls:
        message["tool_calls"] = calls
    thinking = "".join(p.text for p in response.parts if isinstance(p, ir.Thinking))
    if thinking:
        message["reasoning_content"] = thinking
    details = reasoning.details(response.parts)
    if details:
        message["reasoning_details"] = details
    return {
        "id": completion_id(response.id),
        "object": "chat.completion",
        "created": response.created or int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason(response.stop_reason)}],
        "usage": encode_usage(response.usage),
    }
