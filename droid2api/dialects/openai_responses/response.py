"""This module decodes a non-streamed Responses API answer into an ir.Response.

Its item-level helpers (output item -> IR parts, stop reason, usage) are also
what the stream decoder uses at ``response.output_item.done`` and
``response.completed``, so a streamed and a non-streamed answer decode alike.
"""

from __future__ import annotations

from ... import ir
from .. import shape

NAME = SOURCE = ir.Dialect.RESPONSES  # this dialect; the Thinking.source of its reasoning items


def decode_response(body: dict) -> ir.Response:
    parts = [part for where, item in shape.objects(body, "output", required=True, of="a list of output items")
             for _, part in output_parts(item, where)]
    called_tool = any(isinstance(part, ir.ToolCall) for part in parts)
    return ir.Response(id=shape.string(body, "id"), model=shape.string(body, "model"), parts=parts,
                       stop_reason=stop_reason(body, called_tool), usage=usage_from(shape.obj(body, "usage")),
                       created=shape.integer(body, "created_at", default=None))


def output_parts(item: dict, where: str = "item") -> list:
    """The IR parts of one complete output item, each with its slot inside the item.

    A slot is ``("content", i)``, ``("summary", i)`` or ``("call", 0)``; the
    stream decoder keys its open parts by (output_index, *slot). Item types
    with no IR part (web search calls, ...) give nothing.
    """
    kind = shape.string(item, "type", where, required=True)
    if kind == "message":
        parts = [(("content", i), content_part(c, f"{where}.content[{i}]"))
                 for i, c in enumerate(shape.array(item, "content", where))]
        return [(slot, part) for slot, part in parts if part is not None]
    if kind == "function_call":
        # A call without arguments means "{}" (IR convention), streamed or not.
        call = ir.ToolCall(id=shape.string(item, "call_id", where, required=True),
                           name=shape.string(item, "name", where, required=True),
                           arguments=shape.string(item, "arguments", where) or "{}")
        return [(("call", 0), call)]
    if kind == "reasoning":
        thoughts = reasoning_thoughts(item, where) or [
            (("summary", 0), ir.Thinking(source=SOURCE, id=shape.string(item, "id", where, default=None)))]
        thoughts[-1][1].encrypted = shape.string(item, "encrypted_content", where) or None
        return thoughts
    return []


def reasoning_thoughts(item: dict, where: str = "item") -> list:
    """One Thinking part per summary part, then one per reasoning_text content part.

    OpenAI's own models fill ``summary``; open-weight models served through
    the Responses API put their raw reasoning in ``content`` instead.
    """
    item_id = shape.string(item, "id", where, default=None)
    thoughts = []
    for field, kind in (("summary", "summary_text"), ("content", "reasoning_text")):
        for i, (path, entry) in enumerate(shape.objects(item, field, where)):
            if shape.string(entry, "type", path) == kind:
                text = shape.string(entry, "text", path, required=True)
                thoughts.append(((field, i), ir.Thinking(text=text, source=SOURCE, id=item_id)))
    return thoughts


def content_part(content, where: str = "part"):
    """A message content part (output_text / refusal) as an IR part, or None for other kinds."""
    content = shape.as_object(content, where)
    kind = shape.string(content, "type", where, required=True)
    if kind == "output_text":
        return ir.Text(shape.string(content, "text", where, required=True))
    if kind == "refusal":
        return ir.Refusal(shape.string(content, "refusal", where, required=True))
    return None


def stop_reason(response: dict, called_tool: bool, where: str = "") -> str:
    status = shape.string(response, "status", where)
    if status == "incomplete":
        reason = shape.string(shape.obj(response, "incomplete_details", where),
                              "reason", shape.path_of(where, "incomplete_details"))
        # The API documents two reasons; any other cut-off is still a truncated answer.
        return "content_filter" if reason == "content_filter" else "max_tokens"
    if status in ("failed", "cancelled"):
        return "error"
    return "tool_use" if called_tool else "end_turn"


def usage_from(usage: dict, where: str = "usage") -> ir.Usage:
    """Responses counts like the IR does: input includes cached (read and written), output includes reasoning."""
    input_details = shape.obj(usage, "input_tokens_details", where)
    output_details = shape.obj(usage, "output_tokens_details", where)
    inputs, outputs = f"{where}.input_tokens_details", f"{where}.output_tokens_details"
    return ir.Usage(input_tokens=shape.integer(usage, "input_tokens", where),
                    output_tokens=shape.integer(usage, "output_tokens", where),
                    cache_read_tokens=shape.integer(input_details, "cached_tokens", inputs),
                    cache_write_tokens=shape.integer(input_details, "cache_write_tokens", inputs),
                    reasoning_tokens=shape.integer(output_details, "reasoning_tokens", outputs))
