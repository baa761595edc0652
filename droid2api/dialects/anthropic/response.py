"""This module reads a non-streamed Anthropic Messages answer into an ir.Response.

The stop-reason and usage readers here are shared with the stream decoder,
so a streamed and a non-streamed answer decode to the same IR. Fields are read
through ``shape``: a field of the wrong JSON type is a ShapeError naming it.
"""

from __future__ import annotations

from ... import ir
from .. import shape

NAME = SOURCE = ir.Dialect.ANTHROPIC  # this dialect; the Thinking.source of the signatures read here

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
    for where, block in shape.objects(body, "content", required=True, of="a list of blocks"):
        part = decode_block(block, where)
        if part is not None:
            parts.append(part)
    return ir.Response(
        id=shape.string(body, "id"),
        model=shape.string(body, "model"),
        parts=parts,
        stop_reason=decode_stop_reason(shape.string(body, "stop_reason", default=None)),
        stop_sequence=shape.string(body, "stop_sequence", default=None),
        usage=decode_usage(shape.obj(body, "usage")),
    )


def decode_block(block: dict, where: str) -> object | None:
    """The IR part for one complete content block; None for server-tool results and block types unknown here."""
    kind = shape.string(block, "type", where, required=True)
    if kind == "text":
        return ir.Text(shape.string(block, "text", where, required=True))
    if kind == "thinking":
        return ir.Thinking(text=shape.string(block, "thinking", where, required=True),
                           signature=shape.string(block, "signature", where) or None, source=SOURCE)
    if kind == "redacted_thinking":
        return ir.Thinking(redacted=shape.string(block, "data", where, required=True), source=SOURCE)
    if kind == "tool_use":
        return ir.ToolCall(id=shape.string(block, "id", where, required=True),
                           name=shape.string(block, "name", where, required=True),
                           arguments=shape.object_text(block, "input", where))
    # server_tool_use, web_search_tool_result and friends ran on Anthropic's side:
    # the client neither asked for them nor can answer them.
    return None


def decode_stop_reason(reason) -> str:
    return _STOP_REASONS.get(reason, "end_turn")


def decode_usage(usage: dict, where: str = "usage") -> ir.Usage:
    """Anthropic's disjoint counts as IR usage, where the input total includes the cached tokens."""
    fresh = shape.integer(usage, "input_tokens", where)
    cache_read = shape.integer(usage, "cache_read_input_tokens", where)
    cache_write = shape.integer(usage, "cache_creation_input_tokens", where)
    return ir.Usage(
        input_tokens=fresh + cache_read + cache_write,
        output_tokens=shape.integer(usage, "output_tokens", where),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
