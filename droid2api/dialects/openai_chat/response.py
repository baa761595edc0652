"""Chat Completions response bodies: decoding an upstream's, encoding the client's."""

from __future__ import annotations

import time
import uuid

from ... import ir
from ...errors import GatewayError
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


def decode_usage(usage: dict | None) -> ir.Usage:
    if not isinstance(usage, dict):
        return ir.Usage()
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    return ir.Usage(input_tokens=usage.get("prompt_tokens") or 0, output_tokens=usage.get("completion_tokens") or 0,
                    cache_read_tokens=prompt.get("cached_tokens") or 0,
                    cache_write_tokens=prompt.get("cache_write_tokens") or 0,
                    reasoning_tokens=completion.get("reasoning_tokens") or 0)


def tool_call_signature(call: dict) -> str | None:
    google = (call.get("extra_content") or {}).get("google") or {}
    return google.get("thought_signature") if isinstance(google, dict) else None


def decode_response(body: dict) -> ir.Response:
    choices = body.get("choices") or [{}]
    choice = choices[0] or {}
    message = choice.get("message") or {}
    parts = reasoning.thinking_parts(message.get("reasoning_details"),
                                     message.get("reasoning_content") or message.get("reasoning"))
    if message.get("content"):
        parts.append(ir.Text(message["content"]))
    if message.get("refusal"):
        parts.append(ir.Refusal(message["refusal"]))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        parts.append(ir.ToolCall(call.get("id") or "", function.get("name") or "", function.get("arguments") or "",
                                 tool_call_signature(call)))
    return ir.Response(id=body.get("id") or completion_id(None), model=body.get("model") or "", parts=parts,
                       stop_reason=STOP_REASONS.get(choice.get("finish_reason"), "end_turn"),
                       usage=decode_usage(body.get("usage")), created=body.get("created"))


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


def encode_response(response: ir.Response, model: str) -> dict:
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
