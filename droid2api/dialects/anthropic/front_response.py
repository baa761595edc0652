"""This module writes an ir.Response as the Anthropic Message a client of /v1/messages reads, and the model list.

The block builders, stop reasons and usage here are shared with the stream
encoder (front_stream.py), so a streamed answer accumulates, in Anthropic's
own SDK, to exactly the Message a non-streamed call returns.

Choices an Anthropic client forces on us:

* Opaque reasoning of other dialects rides in thinking signatures
  (carried.py); a Gemini thought signature on a function call gets a thinking
  block of its own, with empty text, just before the tool_use block.
* A thinking part with no text and nothing opaque is left out: an empty
  unsigned block tells the client nothing and cannot be sent back.
* ``tool_use.input`` must be an object. Arguments the upstream left empty are
  ``{}``. Arguments that are not a JSON object mean the upstream broke its
  side, and running a tool on arguments the model did not give would be
  worse than failing, so the answer is a 502 (a stream ends in an error
  event) — unless the answer was cut off by max_tokens, which is how a model
  leaves a call half written: then the call gets ``{}`` and the stop reason
  tells the client the call is incomplete. (A stream has already sent the
  fragments; Anthropic's SDKs keep what of them they can parse.)
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from ... import ir
from ...errors import GatewayError
from ...wire import arguments_object
from .. import carried

# IR stop reason -> Anthropic's; anything else (None, newer words) ends the turn.
STOP_REASONS = {"end_turn": "end_turn", "max_tokens": "max_tokens", "stop_sequence": "stop_sequence",
                "tool_use": "tool_use", "pause_turn": "pause_turn", "refusal": "refusal",
                "content_filter": "refusal"}
ENDED_IN_ERROR = "the upstream ended its answer with an error"


def message_id(upstream_id: str | None) -> str:
    """The upstream's id as an Anthropic message id (kept inside it, so logs can be matched up)."""
    if not upstream_id:
        return "msg_" + uuid.uuid4().hex
    return upstream_id if upstream_id.startswith("msg_") else "msg_" + upstream_id


def stop_reason(reason: str | None, refused: bool) -> str:
    """Anthropic's stop reason (never for "error", which the callers fail on); an answer that refused (a Refusal
    part) says so even if the upstream said stop."""
    mapped = STOP_REASONS.get(reason, "end_turn")
    return "refusal" if refused and mapped == "end_turn" else mapped


def encode_usage(usage: ir.Usage) -> dict:
    """Anthropic's disjoint counts: input_tokens is only what no cache served or stored."""
    fresh = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
    counts = {"input_tokens": max(fresh, 0),  # an upstream whose cache counts exceed its total: no negative count
              "cache_creation_input_tokens": usage.cache_write_tokens,
              "cache_read_input_tokens": usage.cache_read_tokens,
              "output_tokens": usage.output_tokens}  # includes reasoning, in both vocabularies
    if usage.reasoning_tokens:
        counts["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return counts


# -- blocks -----------------------------------------------------------------


def empty_thinking_block() -> dict:
    """A thinking block as it starts; its text and signature follow."""
    return {"type": "thinking", "thinking": "", "signature": ""}


def tool_use_block(call: ir.ToolCall, tool_input: dict) -> dict:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": tool_input}


def call_signature(call: ir.ToolCall, signature: str) -> str:
    """The signature of the thinking block that carries a function call's Gemini thought signature."""
    return carried.wrap(ir.Dialect.GEMINI, signature=signature, call_id=call.id)



def unreadable_arguments(names) -> GatewayError:
    listed = ", ".join(repr(name) for name in names)
    return GatewayError(502, f"the upstream sent arguments for tool call {listed} that are not a JSON object")


def thinking_block(part: ir.Thinking) -> dict | None:
    """A thinking or redacted_thinking block; None when the part holds nothing a client can use."""
    if part.redacted is not None:  # only Anthropic redacts thinking
        return {"type": "redacted_thinking", "data": part.redacted}
    signature = carried.wrap_thinking(part)
    if not part.text and signature is None:
        return None
    return {"type": "thinking", "thinking": part.text, "signature": signature or ""}


def _blocks(part, broken: list) -> list:
    """The blocks for one IR part; the name of a tool call whose arguments cannot be read goes in ``broken``."""
    if isinstance(part, ir.Thinking):
        block = thinking_block(part)
        return [block] if block else []
    if isinstance(part, ir.ToolCall):
        blocks = []
        if part.signature:
            blocks.append({**empty_thinking_block(), "signature": call_signature(part, part.signature)})
        arguments = arguments_object(part.arguments)
        if arguments is None:
            broken.append(part.name)
            arguments = {}
        return blocks + [tool_use_block(part, arguments)]
    if isinstance(part, (ir.Text, ir.Refusal)) and part.text:  # Anthropic refuses empty text blocks sent back
        return [{"type": "text", "text": part.text}]
    return []


def encode_response(response: ir.Response, model: str, request: ir.Request | None = None) -> dict:
    # ``request``: the front interface passes it (the Responses front needs it); nothing in it changes this answer.
    if response.stop_reason == "error":
        raise GatewayError(502, ENDED_IN_ERROR)
    refused = any(isinstance(part, ir.Refusal) and part.text for part in response.parts)
    stop = stop_reason(response.stop_reason, refused)
    content, broken = [], []
    for part in response.parts:
        content.extend(_blocks(part, broken))
    if broken and stop != "max_tokens":
        raise unreadable_arguments(broken)
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": model,  # the name the client asked for, not the upstream's
        "content": content,
        "stop_reason": stop,
        "stop_sequence": response.stop_sequence,
        "usage": encode_usage(response.usage),
    }


# -- models -----------------------------------------------------------------


def model_entry(model, created: int) -> dict:
    """One configured model as Anthropic's ModelInfo (GET /v1/models/{id})."""
    # ``created`` is when the gateway started serving it; the release date is the upstream's to know.
    since = datetime.fromtimestamp(created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    # lifecycle: a field the anthropic SDK's ModelInfo requires; a configured model is in service.
    return {"type": "model", "id": model.id, "display_name": model.name or model.id, "created_at": since,
            "lifecycle": "active"}


def model_list(models, created: int) -> dict:
    """The configured models as Anthropic's list page: all of them, on one page."""
    data = [model_entry(model, created) for model in models]
    return {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}
