"""This module writes an ir.Request as the body of an Anthropic /v1/messages call.

Everything Anthropic cannot express is dropped or coerced here, with an
ir.Loss saying what and why; input Anthropic cannot accept at all is a 400.
"""

from __future__ import annotations

import base64
import binascii
import json

from ... import ir
from ...errors import GatewayError, require_one_choice
from ...wire import dumps
from ..ids import ANTHROPIC_CALL_ID
from .thinking import write_thinking
from .response import SOURCE

WEB_SEARCH_TYPE = "web_search_20250305"  # the web search server tool version every Claude model with search takes
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; used when neither client nor config set one

_TOOL_CHOICE_TYPES = {"auto": "auto", "none": "none", "required": "any", "tool": "tool"}


def encode_request(request: ir.Request, losses: list, route) -> dict:
    require_one_choice(request.n, "Anthropic Messages")
    body = {"model": request.model, "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS}
    system = encode_system(request, losses)
    if system:
        body["system"] = system
    body["messages"] = encode_messages(request.messages, losses)
    if request.tools:
        body["tools"] = [encode_tool(tool, i, losses) for i, tool in enumerate(request.tools)]
    tool_choice = encode_tool_choice(request)
    if tool_choice:
        body["tool_choice"] = tool_choice
    encode_sampling(request, body, losses)
    encode_metadata(request, body, losses)
    encode_thinking(request, body, losses)
    encode_extras(request, body, losses)
    if request.stream:
        body["stream"] = True
    return body


# -- system -------------------------------------------------------------------


def encode_system(request: ir.Request, losses: list) -> list:
    """System and developer instructions as text blocks (Anthropic has one system slot for both)."""
    blocks = [text_block(instruction.text, instruction.cache_control)
              for instruction in request.system if instruction.text.strip()]
    json_instruction = response_format_instruction(request.response_format, losses)
    if json_instruction:
        blocks.append(text_block(json_instruction))
    return blocks


def response_format_instruction(response_format: ir.ResponseFormat | None, losses: list) -> str | None:
    """Anthropic on Factory has no structured-output field, so JSON output is asked for in words."""
    if response_format is None or response_format.type == "text":
        return None
    losses.append(ir.Loss("response_format", "Anthropic has no structured output field; "
                                             "the model is asked for JSON in the system prompt"))
    instruction = ("Answer with a single JSON object and nothing else: "
                   "no text before or after it, no Markdown code fence.")
    if response_format.type == "json_schema" and response_format.schema:
        instruction += " The object must conform to this JSON Schema: " + dumps(response_format.schema)
    return instruction


# -- messages -----------------------------------------------------------------


def encode_messages(messages: list, losses: list) -> list:
    """IR messages as alternating turns: consecutive messages of one role become one turn."""
    turns = []
    for i, message in enumerate(messages):
        if message.name:
            losses.append(ir.Loss(f"messages[{i}].name", "Anthropic messages have no author name; dropped"))
        blocks = [block for j, part in enumerate(message.parts)
                  if (block := encode_part(part, f"messages[{i}].content[{j}]", losses)) is not None]
        if not blocks:
            continue  # Anthropic rejects empty turns; an empty message says nothing anyway
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": message.role, "content": blocks})
    for turn in turns:
        if turn["role"] == "user":
            # Tool results must open the turn that answers a tool_use turn.
            turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    return turns


def encode_part(part, where: str, losses: list) -> dict | None:
    """One IR part as a content block, or None when it has nothing Anthropic can take."""
    if isinstance(part, ir.Text):
        # Anthropic rejects text blocks that are empty or only whitespace; they carry nothing anyway.
        return text_block(part.text, part.cache_control) if part.text.strip() else None
    if isinstance(part, ir.Refusal):
        losses.append(ir.Loss(where, "Anthropic has no refusal content; sent as text"))
        return text_block(part.text) if part.text else None
    if isinstance(part, ir.Image):
        return image_block(part, where, losses)
    if isinstance(part, ir.Document):
        return document_block(part, where, losses)
    if isinstance(part, ir.ToolCall):
        return tool_use_block(part, where, losses)
    if isinstance(part, ir.ToolResult):
        return tool_result_block(part, where, losses)
    if isinstance(part, ir.Thinking):
        return thinking_block(part, where, losses)
    losses.append(ir.Loss(where, f"Anthropic has no {type(part).__name__} content; dropped"))
    return None


def text_block(text: str, cache_control: dict | None = None) -> dict:
    block = {"type": "text", "text": text}
    if cache_control:
        block["cache_control"] = cache_control
    return block


def image_block(image: ir.Image, where: str, losses: list) -> dict | None:
    if image.data:
        source = {"type": "base64", "media_type": image.media_type, "data": image.data}
    elif image.url:
        source = {"type": "url", "url": image.url}
    else:
        losses.append(ir.Loss(where, "an image with neither data nor URL; dropped"))
        return None
    if image.detail not in (None, "auto"):
        losses.append(ir.Loss(f"{where}.detail", "Anthropic has no image detail setting; dropped"))
    block = {"type": "image", "source": source}
    if image.cache_control:
        block["cache_control"] = image.cache_control
    return block


def document_block(document: ir.Document, where: str, losses: list) -> dict | None:
    """A PDF inline or by URL; a text document inline as text, the one other kind Anthropic reads."""
    if document.url:
        source = {"type": "url", "url": document.url}
    elif document.data and document.media_type.startswith("text/"):
        source = {"type": "text", "media_type": "text/plain", "data": _base64_text(document.data, where)}
    elif document.data and document.media_type == "application/pdf":
        source = {"type": "base64", "media_type": document.media_type, "data": document.data}
    elif document.data:
        raise GatewayError(400, f"a {document.media_type} document cannot be sent to an Anthropic model, which "
                                "reads PDF and plain-text documents", param=where)
    else:
        losses.append(ir.Loss(where, "a document with neither data nor URL; dropped"))
        return None
    block = {"type": "document", "source": source}
    if document.title:
        block["title"] = document.title
    if document.cache_control:
        block["cache_control"] = document.cache_control
    return block


def _base64_text(data: str, where: str) -> str:
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise GatewayError(400, "a text document's data must be UTF-8 text in base64", param=where) from None


def tool_use_block(call: ir.ToolCall, where: str, losses: list) -> dict:
    try:
        arguments = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        message = where.partition(".")[0]
        raise GatewayError(400, f"{message}: the arguments of tool call {call.id!r} ({call.name}) are not "
                                f"a JSON object; Anthropic needs tool input as an object", param=where)
    if call.signature:
        losses.append(ir.Loss(f"{where}.signature", "Anthropic has no use for a Gemini thought signature; dropped"))
    return {"type": "tool_use", "id": ANTHROPIC_CALL_ID.fit(call.id, losses, f"{where}.id"), "name": call.name,
            "input": arguments}


def tool_result_block(result: ir.ToolResult, where: str, losses: list) -> dict:
    call_id = ANTHROPIC_CALL_ID.fit(result.call_id, losses, f"{where}.tool_use_id")
    block = {"type": "tool_result", "tool_use_id": call_id}
    content = [encoded for k, part in enumerate(result.content)
               if (encoded := encode_part(part, f"{where}.content[{k}]", losses)) is not None]
    if content:
        block["content"] = content
    if result.is_error:
        block["is_error"] = True
    if result.cache_control:
        block["cache_control"] = result.cache_control
    return block


def thinking_block(thinking: ir.Thinking, where: str, losses: list) -> dict | None:
    """Anthropic takes back only its own signed or redacted thinking; anything else is dropped."""
    if thinking.source == SOURCE and thinking.redacted:
        return {"type": "redacted_thinking", "data": thinking.redacted}
    if thinking.source == SOURCE and thinking.signature:
        return {"type": "thinking", "thinking": thinking.text, "signature": thinking.signature}
    origin = "unsigned" if thinking.source == SOURCE else f"{thinking.source or 'unknown'}-made"
    losses.append(ir.Loss(where, f"Anthropic rejects {origin} thinking without its signature; dropped"))
    return None


# -- tools ----------------------------------------------------------------------


def encode_tool(tool: ir.Tool, i: int, losses: list) -> dict:
    if tool.kind == "web_search":
        return web_search_tool(tool, i, losses)
    encoded = {"name": tool.name}
    if tool.description is not None:
        encoded["description"] = tool.description
    encoded["input_schema"] = tool.parameters or {"type": "object", "properties": {}}
    if tool.strict:
        losses.append(ir.Loss(f"tools[{i}].strict", "Anthropic tools have no strict schema mode; dropped"))
    if tool.cache_control:
        encoded["cache_control"] = tool.cache_control
    return encoded


def web_search_tool(tool: ir.Tool, i: int, losses: list) -> dict:
    """Anthropic's own web search, which it runs and cites itself (the name must be ``web_search``)."""
    encoded = {"type": WEB_SEARCH_TYPE, "name": "web_search"}
    for key, value in tool.options.items():
        if key in ("max_uses", "allowed_domains", "blocked_domains"):
            encoded[key] = value
        elif key == "user_location":
            encoded[key] = {"type": "approximate", **value}
        else:
            losses.append(ir.Loss(f"tools[{i}].{key}", "Anthropic's web search has no such setting; dropped"))
    if tool.cache_control:
        encoded["cache_control"] = tool.cache_control
    return encoded


def encode_tool_choice(request: ir.Request) -> dict | None:
    choice = None
    if request.tool_choice is not None:
        choice = {"type": _TOOL_CHOICE_TYPES[request.tool_choice.mode]}
        if request.tool_choice.mode == "tool":
            choice["name"] = request.tool_choice.name
    if request.parallel_tool_calls is False and (choice is None or choice["type"] != "none"):
        choice = choice or {"type": "auto"}
        choice["disable_parallel_tool_use"] = True
    return choice


def forces_tool(request: ir.Request) -> bool:
    return request.tool_choice is not None and request.tool_choice.mode in ("required", "tool")


# -- sampling, metadata, thinking, extras -------------------------------------


def encode_sampling(request: ir.Request, body: dict, losses: list):
    if request.temperature is not None:
        body["temperature"] = request.temperature
        if request.temperature > 1:
            body["temperature"] = 1
            losses.append(ir.Loss("temperature", f"Anthropic's temperature goes up to 1; "
                                                 f"{request.temperature} sent as 1"))
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.top_k is not None:
        body["top_k"] = request.top_k
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.seed is not None:
        losses.append(ir.Loss("seed", "Anthropic has no seed; dropped"))
    for name in ("presence_penalty", "frequency_penalty"):
        if getattr(request, name):  # a penalty of 0 changes nothing, so dropping it loses nothing
            losses.append(ir.Loss(name, f"Anthropic has no {name}; dropped"))


def encode_metadata(request: ir.Request, body: dict, losses: list):
    """Anthropic's metadata takes only user_id: the request's user, or a user_id metadata entry."""
    user_id = request.user
    for key, value in (request.metadata or {}).items():
        if key == "user_id" and user_id is None and isinstance(value, str):
            user_id = value
        else:
            losses.append(ir.Loss(f"metadata.{key}", "Anthropic metadata takes only user_id; dropped"))
    if user_id:
        body["metadata"] = {"user_id": user_id}


def encode_thinking(request: ir.Request, body: dict, losses: list):
    if request.reasoning is not None:
        write_thinking(body, request.reasoning, losses, max_tokens_asked=request.max_tokens is not None)


def encode_extras(request: ir.Request, body: dict, losses: list):
    """Fields of an Anthropic client with no IR slot go back as they came; other dialects' are lost."""
    for key, value in request.extras.items():
        if request.source != SOURCE:
            losses.append(ir.Loss(key, f"{request.source} field with no Anthropic equivalent; dropped"))
        elif key not in body:
            body[key] = value
