"""Encoding an ir.Request as a Chat Completions body, for upstreams that speak Chat Completions."""

from __future__ import annotations

from ... import ir
from ...errors import GatewayError
from ...reasoning import effort_for, openai_off_effort
from .schema import NAME

_SAMPLING = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "user", "metadata")


def encode_request(request: ir.Request, losses: list, route=None) -> dict:
    body = {"model": request.model, "messages": _messages(request, losses)}
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # the gateway needs usage to report it
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    for name in _SAMPLING:
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.n is not None:
        body["n"] = request.n
    if request.stop:
        body["stop"] = request.stop
    if request.top_k is not None:
        losses.append(ir.Loss("top_k", "Chat Completions has no top_k"))
    if request.tools:
        body["tools"] = [_tool(tool) for tool in request.tools]
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = {"type": "function", "function": {"name": choice.name}} if choice.mode == "tool" \
            else choice.mode
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.response_format is not None:
        body["response_format"] = _response_format(request.response_format)
    if request.reasoning is not None and request.reasoning.effort == "none":
        effort, loss = openai_off_effort(request.model)
        if loss:
            losses.append(ir.Loss("reasoning", loss))
    else:
        effort = effort_for(request.reasoning)
    if effort:
        body["reasoning_effort"] = effort
    if request.source == NAME:
        body.update(request.extras)
    else:
        losses.extend(ir.Loss(key, f"no Chat Completions field for {request.source}'s {key}") for key in request.extras)
    return body


def _tool(tool: ir.Tool) -> dict:
    function = {"name": tool.name, "parameters": tool.parameters or {"type": "object", "properties": {}}}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _response_format(fmt: ir.ResponseFormat) -> dict:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    spec = {"name": fmt.name or "response", "schema": fmt.schema or {}}
    if fmt.description:
        spec["description"] = fmt.description
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}


def _messages(request: ir.Request, losses: list) -> list:
    messages = [{"role": s.role, "content": s.text} for s in request.system]
    for message in request.messages:
        if message.role == "assistant":
            messages.append(_assistant(message, losses))
            continue
        # Tool results become tool messages; they answer the assistant turn, so they come first.
        rest = []
        for part in message.parts:
            if isinstance(part, ir.ToolResult):
                messages.append({"role": "tool", "tool_call_id": part.call_id, "content": _content(part.content)})
            else:
                rest.append(part)
        if rest:
            user = {"role": "user", "content": _content(rest)}
            if message.name:
                user["name"] = message.name
            messages.append(user)
    return messages


def _assistant(message: ir.Message, losses: list) -> dict:
    text, refusal, calls = [], [], []
    for part in message.parts:
        if isinstance(part, ir.Text):
            text.append(part.text)
        elif isinstance(part, ir.Refusal):
            refusal.append(part.text)
        elif isinstance(part, ir.ToolCall):
            calls.append({"id": part.id, "type": "function",
                          "function": {"name": part.name, "arguments": part.arguments or "{}"}})
        elif isinstance(part, ir.Thinking):
            losses.append(ir.Loss("thinking", "Chat Completions upstreams take no thinking in history"))
    result = {"role": "assistant", "content": "".join(text) if text else None}
    if refusal:
        result["refusal"] = "".join(refusal)
    if calls:
        result["tool_calls"] = calls
    if message.name:
        result["name"] = message.name
    return result


def _content(parts: list):
    """A plain string when the parts are all text (what every server accepts), else content parts."""
    if all(isinstance(p, ir.Text) and p.cache_control is None for p in parts):
        return "".join(p.text for p in parts)
    return [_part(p) for p in parts]


def _part(part) -> dict:
    if isinstance(part, ir.Text):
        entry = {"type": "text", "text": part.text}
    elif isinstance(part, ir.Image):
        url = part.url or f"data:{part.media_type or 'image/png'};base64,{part.data}"
        entry = {"type": "image_url", "image_url": {"url": url}}
        if part.detail:
            entry["image_url"]["detail"] = part.detail
    else:
        raise GatewayError(400, f"a {type(part).__name__} part cannot be sent to a Chat Completions upstream")
    if part.cache_control:
        entry["cache_control"] = part.cache_control
    return entry
