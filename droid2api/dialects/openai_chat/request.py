"""Encoding an ir.Request as a Chat Completions body, for upstreams that speak Chat Completions."""

from __future__ import annotations

from ... import ir
from ...errors import GatewayError
from ...reasoning import effort_for, openai_off_effort
from ..ids import CHAT_CALL_ID, OPENAI_USER
from ..media import data_url, document_filename
from .schema import NAME

_SAMPLING = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "metadata")


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
    if request.user is not None:
        body["user"] = OPENAI_USER.fit(request.user, losses, "user")
    if request.n is not None:
        body["n"] = request.n
    if request.stop:
        body["stop"] = request.stop
    if request.top_k is not None:
        losses.append(ir.Loss("top_k", "Chat Completions has no top_k"))
    _tools(request, body, losses)
    if request.response_format is not None:
        body["response_format"] = _response_format(request.response_format)
    effort = reasoning_effort(request.reasoning, request.model, losses)
    if effort:
        body["reasoning_effort"] = effort
    if request.source == NAME:
        body.update(request.extras)
    else:
        losses.extend(ir.Loss(key, f"no Chat Completions field for {request.source}'s {key}") for key in request.extras)
    return body


def _tools(request: ir.Request, body: dict, losses: list):
    """Function tools and the choice among them; Chat Completions has no web search tool. A custom tool
    (free text) is offered as a function of its one string parameter, as the IR holds it."""
    functions, dropped = [], set()
    for i, tool in enumerate(request.tools):
        if tool.kind in ("function", "custom"):
            functions.append(_tool(tool))
        else:
            dropped.add(tool.name)
            losses.append(ir.Loss(f"tools[{i}]", f"Chat Completions has no {tool.kind} tool; dropped"))
    if functions:
        body["tools"] = functions
    elif dropped:
        # Every tool was dropped, and a tool choice or parallel_tool_calls without tools is refused.
        if request.tool_choice is not None or request.parallel_tool_calls is not None:
            losses.append(ir.Loss("tool_choice", "no tool left to choose from; dropped"))
        return
    choice = request.tool_choice
    if choice is not None and choice.mode == "tool" and choice.name in dropped:
        losses.append(ir.Loss("tool_choice", f"the tool {choice.name!r} was dropped; the model may choose"))
        body["tool_choice"] = "auto"
    elif choice is not None and choice.mode == "tool":
        body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    elif choice is not None:
        body["tool_choice"] = choice.mode
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls


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
    for i, message in enumerate(request.messages):
        where = f"messages[{i}]"
        if message.role == "assistant":
            messages.append(_assistant(message, losses, where))
            continue
        # Tool results become tool messages; they answer the assistant turn, so they come first. A tool
        # message holds text only, so a result's images and files go to the user message after them.
        rest, paths = [], []
        for j, part in enumerate(message.parts):
            at = f"{where}.content[{j}]"
            if isinstance(part, ir.ToolResult):
                texts = [(k, p) for k, p in enumerate(part.content) if isinstance(p, ir.Text)]
                media = [(k, p) for k, p in enumerate(part.content) if not isinstance(p, ir.Text)]
                call_id = CHAT_CALL_ID.fit(part.call_id, losses, at)
                messages.append({"role": "tool", "tool_call_id": call_id,
                                 "content": _content([p for _, p in texts], [f"{at}.content[{k}]" for k, _ in texts],
                                                     losses)})
                if media:
                    rest.append(ir.Text(f"(attached to the result of tool call {call_id})"))
                    paths.append(at)
                    rest += [p for _, p in media]
                    paths += [f"{at}.content[{k}]" for k, _ in media]
            else:
                rest.append(part)
                paths.append(at)
        if rest:
            user = {"role": "user", "content": _content(rest, paths, losses)}
            if message.name:
                user["name"] = message.name
            messages.append(user)
    return messages


def _assistant(message: ir.Message, losses: list, where: str) -> dict:
    text, refusal, calls = [], [], []
    for j, part in enumerate(message.parts):
        if isinstance(part, ir.Text):
            text.append(part.text)
        elif isinstance(part, ir.Refusal):
            refusal.append(part.text)
        elif isinstance(part, ir.ToolCall):
            calls.append({"id": CHAT_CALL_ID.fit(part.id, losses, f"{where}.content[{j}].id"), "type": "function",
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


def _content(parts: list, paths: list, losses: list):
    """A plain string when the parts are all text (what every server accepts; separate blocks, such as
    Claude Code's reminders, stay apart by a blank line), else content parts (``paths`` name each part
    in the request, for an error about it)."""
    marked = [path for part, path in zip(parts, paths) if getattr(part, "cache_control", None)]
    if marked:
        # Chat Completions has no cache breakpoints (OpenAI caches prompts by itself); an unknown key in
        # a content part is an error on strict servers.
        losses.append(ir.Loss(marked[0], "Chat Completions has no cache_control; dropped"))
    if all(isinstance(p, ir.Text) for p in parts):
        return "\n\n".join(p.text for p in parts)
    return [_part(part, path) for part, path in zip(parts, paths)]


def _part(part, where: str) -> dict:
    if isinstance(part, ir.Text):
        entry = {"type": "text", "text": part.text}
    elif isinstance(part, ir.Image):
        url = part.url or data_url(part.media_type or "image/png", part.data)
        entry = {"type": "image_url", "image_url": {"url": url}}
        if part.detail:
            entry["image_url"]["detail"] = part.detail
    elif isinstance(part, ir.Document):
        entry = _file(part, where)
    else:
        raise GatewayError(400, f"a {type(part).__name__} part cannot be sent to a Chat Completions upstream",
                           param=where)
    return entry


def _file(document: ir.Document, where: str) -> dict:
    """A document inline, as Chat's file part takes it; Chat has no file part for a URL."""
    if not document.data:
        raise GatewayError(400, f"the document at {(document.url or '')[:100]!r} is a URL, and Chat Completions "
                                "takes files inline only (the gateway does not fetch URLs); send it as base64 data",
                           param=where)
    return {"type": "file", "file": {"filename": document_filename(document),
                                     "file_data": data_url(document.media_type, document.data)}}


def reasoning_effort(reasoning: ir.Reasoning | None, model: str, losses: list) -> str | None:
    """The ``reasoning_effort`` for an ir.Reasoning (None: leave it out); passthrough writes a model's level
    with it too. No reasoning is the lowest effort the model family takes (see reasoning.openai_off_effort)."""
    if reasoning is not None and reasoning.effort == "none":
        effort, loss = openai_off_effort(model)
        if loss:
            losses.append(ir.Loss("reasoning", loss))
        return effort
    return effort_for(reasoning)
