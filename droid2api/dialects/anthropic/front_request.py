"""This module reads an Anthropic Messages request body (POST /v1/messages) into an ir.Request.

It accepts what Claude Code and the anthropic SDKs send: ``system`` as a
string or text blocks, a system message among ``messages``, content as a
string or blocks (text, image, document, tool_use, tool_result, thinking,
redacted_thinking), custom and server tools, ``thinking`` and
``output_config``. Every bad field is a 400 naming it
(``messages[2].content[0].source.data``), never a 500.

What only Anthropic can use is dropped here with an ir.Loss in
``Request.losses``: its own server tools (bash, text editor, computer, code
execution, web fetch) and their blocks in the history. A web search is the
exception, since every dialect has one: the tool becomes an ir.Tool of kind
``web_search``, and its results in the history become text naming the pages
found (their text is encrypted for Anthropic alone). Top-level fields with no
IR slot (``context_management``, ``container``, ``mcp_servers``,
``service_tier``, anything new) are kept in ``Request.extras``, which only the
Anthropic encoder sends back.

Thinking blocks whose signature carries another dialect's reasoning (see
carried.py) go back to that dialect's fields, and a Gemini function call's
signature goes back onto its call.
"""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from ... import ir
from ...validation import StringOrParts, Tagged, count, load_or_400, number_between
from ..decoding import CallSignature, attach_call_signatures, kept
from .front_schema import (EFFORTS, MESSAGES, THINKING, TOOL_CHOICE, Metadata, OutputConfig, OutputFormat, TextBlock,
                           ToolField, instructions)
from .response import NAME


class MessagesRequest(Schema):
    class Meta:
        unknown = INCLUDE  # unknown top-level fields become extras

    model = fields.String(required=True)
    messages = fields.List(Tagged(MESSAGES, tag="role"), required=True,
                           validate=validate.Length(min=1, error="must hold at least one message"))
    system = StringOrParts(Tagged({"text": TextBlock()}), allow_none=True)
    max_tokens = count()
    stream = fields.Boolean(allow_none=True)
    temperature = number_between(0, 1)
    top_p = number_between(0, 1)
    top_k = count()
    stop_sequences = fields.List(fields.String(), allow_none=True)
    tools = fields.List(ToolField(), allow_none=True)
    tool_choice = Tagged(TOOL_CHOICE, allow_none=True)
    thinking = Tagged(THINKING, allow_none=True)
    output_config = fields.Nested(OutputConfig, allow_none=True)
    output_format = fields.Nested(OutputFormat, allow_none=True)  # the structured-outputs beta's first spelling
    metadata = fields.Nested(Metadata, allow_none=True)


# One instance serves every request: building a schema deep-copies its fields; loading keeps no state on it.
MESSAGES_REQUEST = MessagesRequest()
KNOWN = set(MESSAGES_REQUEST.fields)


def decode_request(body: dict) -> ir.Request:
    data = load_or_400(MESSAGES_REQUEST, body)
    request = ir.Request(model=data["model"], source=NAME)
    if data.get("system") is not None:
        request.system = instructions(data["system"])
    for i, entry in enumerate(data["messages"]):
        if isinstance(entry, list):
            request.system.extend(entry)  # a system message
        else:
            entry.parts = settle(entry.parts, f"messages[{i}].content", request.losses)
            request.messages.append(entry)
    request.tools = settle(data.get("tools") or [], "tools", request.losses)
    if data.get("tool_choice") is not None:
        request.tool_choice, no_parallel = data["tool_choice"]
        if no_parallel:
            request.parallel_tool_calls = False
    output = data.get("output_config") or {}
    request.reasoning = reasoning(data.get("thinking"), output.get("effort"))
    request.response_format = output.get("format") or data.get("output_format")
    request.max_tokens = data.get("max_tokens")
    request.temperature, request.top_p, request.top_k = data.get("temperature"), data.get("top_p"), data.get("top_k")
    request.stop = data.get("stop_sequences") or []
    request.stream = bool(data.get("stream"))
    request.include_usage = request.stream  # Anthropic streams always report usage
    request.user = (data.get("metadata") or {}).get("user_id")
    request.extras = {key: value for key, value in data.items() if key not in KNOWN}
    return request


def settle(items: list, where: str, losses: list) -> list:
    """The loaded blocks (or tools) at ``where`` as IR parts: what the IR cannot hold is recorded in
    ``losses`` at its path, lists from one block are spliced in, and Gemini call signatures go onto their
    calls. Tool results are settled inside too."""
    parts, signatures = [], []
    for j, item in enumerate(items):
        at = f"{where}[{j}]"
        item = kept(item, at, losses)
        if isinstance(item, CallSignature):
            signatures.append((at, item))
            continue
        for part in item if isinstance(item, list) else [item] if item is not None else []:
            if isinstance(part, ir.ToolResult):
                part.content = settle(part.content, f"{at}.content", losses)
            parts.append(part)
    attach_call_signatures(parts, signatures, losses)
    return parts


def reasoning(thinking: ir.Reasoning | None, effort: str | None) -> ir.Reasoning | None:
    """``thinking`` (budget, adaptive or off) with ``output_config.effort``; None when neither is given."""
    if thinking is not None and thinking.effort == "none":
        return thinking
    if effort is None:
        return thinking
    thinking = thinking or ir.Reasoning()
    thinking.effort = EFFORTS[effort]
    return thinking
