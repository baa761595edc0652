"""This module decodes a non-streamed Responses API answer into an ir.Response.

Its item-level helpers (output item -> IR parts, stop reason, usage) are also
what the stream decoder uses at ``response.output_item.done`` and
``response.completed``, so a streamed and a non-streamed answer decode alike.
"""

from __future__ import annotations

from ... import ir

SOURCE = "openai"  # Thinking.source of parts carrying Responses reasoning items


def decode_response(body: dict) -> ir.Response:
    parts = [part for item in body.get("output") or [] for _, part in output_parts(item)]
    called_tool = any(isinstance(part, ir.ToolCall) for part in parts)
    return ir.Response(id=body.get("id") or "", model=body.get("model") or "", parts=parts,
                       stop_reason=stop_reason(body, called_tool), usage=usage_from(body.get("usage")),
                       created=body.get("created_at"))


def output_parts(item: dict) -> list:
    """The IR parts of one complete output item, each with its slot inside the item.

    A slot is ``("content", i)``, ``("summary", i)`` or ``("call", 0)``; the
    stream decoder keys its open parts by (output_index, *slot). Item types
    with no IR part (web search calls, ...) give nothing.
    """
    kind = item.get("type")
    if kind == "message":
        parts = [(("content", i), content_part(c)) for i, c in enumerate(item.get("content") or [])]
        return [(slot, part) for slot, part in parts if part is not None]
    if kind == "function_call":
        # A call without arguments means "{}" (IR convention), streamed or not.
        call = ir.ToolCall(id=item.get("call_id") or "", name=item.get("name") or "",
                           arguments=item.get("arguments") or "{}")
        return [(("call", 0), call)]
    if kind == "reasoning":
        thoughts = reasoning_thoughts(item) or [(("summary", 0), ir.Thinking(source=SOURCE, id=item.get("id")))]
        thoughts[-1][1].encrypted = item.get("encrypted_content") or None
        return thoughts
    return []


def reasoning_thoughts(item: dict) -> list:
    """One Thinking part per summary part, then one per reasoning_text content part.

    OpenAI's own models fill ``summary``; open-weight models served through
    the Responses API put their raw reasoning in ``content`` instead.
    """
    item_id = item.get("id")
    thoughts = [(("summary", i), ir.Thinking(text=s.get("text") or "", source=SOURCE, id=item_id))
                for i, s in enumerate(item.get("summary") or []) if s.get("type") == "summary_text"]
    thoughts += [(("content", i), ir.Thinking(text=c.get("text") or "", source=SOURCE, id=item_id))
                 for i, c in enumerate(item.get("content") or []) if c.get("type") == "reasoning_text"]
    return thoughts


def content_part(content: dict):
    """A message content part (output_text / refusal) as an IR part, or None for other kinds."""
    kind = content.get("type")
    if kind == "output_text":
        return ir.Text(content.get("text") or "")
    if kind == "refusal":
        return ir.Refusal(content.get("refusal") or "")
    return None


def stop_reason(response: dict, called_tool: bool) -> str:
    status = response.get("status")
    if status == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        # The API documents two reasons; any other cut-off is still a truncated answer.
        return "content_filter" if reason == "content_filter" else "max_tokens"
    if status in ("failed", "cancelled"):
        return "error"
    return "tool_use" if called_tool else "end_turn"


def usage_from(usage: dict | None) -> ir.Usage:
    """Responses counts like the IR does: input includes cached (read and written), output includes reasoning."""
    usage = usage or {}
    input_details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    return ir.Usage(input_tokens=usage.get("input_tokens") or 0,
                    output_tokens=usage.get("output_tokens") or 0,
                    cache_read_tokens=input_details.get("cached_tokens") or 0,
                    cache_write_tokens=input_details.get("cache_write_tokens") or 0,
                    reasoning_tokens=output_details.get("reasoning_tokens") or 0)
