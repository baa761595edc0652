"""This module reads a non-streamed Anthropic Messages answer into an ir.Response.

The block, stop-reason and usage readers here are shared with the stream
decoder, so a streamed and a non-streamed answer decode to the same IR.
"""

from __future__ import annotations

from ... import ir
from ...wire import dumps

SOURCE = "anthropic"  # the Thinking.source of signatures and redacted data read here

_STOP_REASONS = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "pause_turn": "pause_turn",
    "refusal": "refusal",
    # The answer was cut off by the context window rather than by max_tokens,
    # which is what every other dialect calls it.
    "model_context_window_exceeded": "max_tokens",
}


def decode_response(body: dict) -> ir.Response:
    parts = []
    for block in body.get("content") or ():
        part = decode_block(block)
        if part is not None:
            parts.append(part)
    return ir.Response(
        id=body.get("id") or "",
        model=body.get("model") or "",
        parts=parts,
        stop_reason=decode_stop_reason(body.get("stop_reason")),
        stop_sequence=body.get("stop_sequence"),
        usage=decode_usage(body.get("usage") or {}),
    )


def decode_block(block) -> object | None:
    """The IR part for one content block; None for server-tool results and block types unknown here."""
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "text":
        return ir.Text(block.get("text") or "")
    if kind == "thinking":
        return ir.Thinking(text=block.get("thinking") or "", signature=block.get("signature") or None,
                           source=SOURCE)
    if kind == "redacted_thinking":
        return ir.Thinking(redacted=block.get("data") or "", source=SOURCE)
    if kind == "tool_use":
        return ir.ToolCall(id=block.get("id") or "", name=block.get("name") or "",
                           arguments=dumps(block.get("input") or {}))
    # server_tool_use, web_search_tool_result and friends ran on Anthropic's side:
    # the client neither asked for them nor can answer them.
    return None


def decode_stop_reason(reason) -> str:
    return _STOP_REASONS.get(reason, "end_turn")


def decode_usage(usage: dict) -> ir.Usage:
    """Anthropic's disjoint counts as IR usage, where the input total includes the cached tokens."""
    fresh = usage.get("input_tokens") or 0
    cache_read = usage.get("cache_read_input_tokens") or 0
    cache_write = usage.get("cache_creation_input_tokens") or 0
    return ir.Usage(
        input_tokens=fresh + cache_read + cache_write,
        output_tokens=usage.get("output_tokens") or 0,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
