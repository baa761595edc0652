"""This module encodes an ir.Request as an OpenAI Responses body (POST /responses) for an upstream.

The gateway keeps no state upstream (``store: false``), so every turn carries
the whole conversation; reasoning items go back with their
``encrypted_content``, which is why it is requested whenever reasoning is on.
A Responses client's own fields with no IR slot come back from
``Request.extras``; where the encoder writes the same object or list
(``text``, ``include``), the two are merged. tools.py writes the tools.
"""

from __future__ import annotations

from ... import ir
from ...errors import require_one_choice
from ...reasoning import effort_for, openai_off_effort
from ..ids import OPENAI_USER, RESPONSES_CALL_ID
from ..media import data_url, document_filename
from .response import NAME, SOURCE
from .tools import ClientTools, encode_tool_choice, encode_tools


_UNSUPPORTED = {
    "top_k": "the Responses API has no top_k",
    "seed": "the Responses API has no seed",
    "presence_penalty": "the Responses API has no presence_penalty",
    "frequency_penalty": "the Responses API has no frequency_penalty",
}


def encode_request(request: ir.Request, losses: list, route) -> dict:
    require_one_choice(request.n, "OpenAI Responses")
    body = {"model": request.model}
    system = [part.text for part in request.system if part.role != "developer"]
    if system:
        body["instructions"] = join_texts(system)
    _note_cache_control(request.system, losses, "system")
    developer = [_message("developer", [_input_text(part.text)]) for part in request.system if part.role == "developer"]
    body["input"] = developer + _conversation(request.messages, ClientTools(request), losses)
    if request.tools:
        body["tools"] = encode_tools(request.tools, request.source, losses)
    if request.tool_choice is not None:
        body["tool_choice"] = encode_tool_choice(request.tool_choice, request.tools)
    _put(body, "parallel_tool_calls", request.parallel_tool_calls)
    _put(body, "max_output_tokens", request.max_tokens)
    _put(body, "temperature", request.temperature)
    _put(body, "top_p", request.top_p)
    _put(body, "metadata", request.metadata)
    if request.user is not None:
        body["user"] = OPENAI_USER.fit(request.user, losses, "user")
    if request.response_format is not None:
        body["text"] = {"format": _text_format(request.response_format, losses)}
    reasoning = reasoning_object(request.reasoning, request.model, losses)
    if reasoning is not None:
        body["reasoning"] = reasoning
        if reasoning.get("effort") != "none":
            body["include"] = ["reasoning.encrypted_content"]
    for name, reason in _UNSUPPORTED.items():
        if getattr(request, name) is not None:
            losses.append(ir.Loss(name, reason))
    if request.stop:
        losses.append(ir.Loss("stop", "the Responses API has no stop sequences"))
    if request.stream:
        body["stream"] = True
    body["store"] = False
    for key, value in request.extras.items():
        if request.source == NAME:
            _put_extra(body, key, value)
        else:
            losses.append(ir.Loss(key, f"a {request.source} field with no Responses equivalent"))
    ask_fast_tier(body, route)
    return body


def ask_fast_tier(body: dict, route):
    """A model configured as fast asks for the priority tier, unless the client chose a tier itself
    (passthrough applies the same rule)."""
    if route.fast:
        body.setdefault("service_tier", "priority")


def _put_extra(body: dict, key: str, value):
    """A client's own field back in its body: what the encoder set wins (``store: false``), an object it
    set too gains the client's other keys (``text.verbosity``), a list the client's other entries."""
    if key not in body:
        body[key] = value
    elif isinstance(body[key], dict) and isinstance(value, dict):
        body[key] = {**value, **body[key]}
    elif isinstance(body[key], list) and isinstance(value, list):
        body[key] = body[key] + [entry for entry in value if entry not in body[key]]


def join_texts(texts: list) -> str:
    """Texts as one string, a blank line between two unless the first already ends a line."""
    joined = ""
    for text in texts:
        if joined and not joined.endswith("\n"):
            joined += "\n\n"
        joined += text
    return joined


def _put(body: dict, key: str, value):
    if value is not None:
        body[key] = value


def _note_cache_control(parts, losses: list, where: str):
    for i, part in enumerate(parts):
        if getattr(part, "cache_control", None):
            losses.append(ir.Loss(f"{where}[{i}].cache_control", "Responses caches prompts automatically"))


# -- conversation -------------------------------------------------------------


def _conversation(messages: list, tools: ClientTools, losses: list) -> list:
    items = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if message.name:
            losses.append(ir.Loss(f"{where}.name", "Responses messages carry no name"))
        _note_cache_control(message.parts, losses, f"{where}.parts")
        if message.role == "assistant":
            items += _assistant_items(message.parts, tools, losses, where)
        else:
            items += _user_items(message.parts, tools, losses, where)
    return items


def _user_items(parts: list, tools: ClientTools, losses: list, where: str) -> list:
    """Text and images become one user message per run; each tool result is its own item."""
    items, content = [], []
    for i, part in enumerate(parts):
        if isinstance(part, ir.ToolResult):
            _flush(items, "user", content)
            items.append(_tool_output(part, tools, losses, f"{where}.parts[{i}]"))
        else:
            converted = _input_content(part, losses, f"{where}.parts[{i}]")
            if converted is not None:
                content.append(converted)
    _flush(items, "user", content)
    return items


def _assistant_items(parts: list, tools: ClientTools, losses: list, where: str) -> list:
    """Output items in order: message (text, refusals), function_call (or custom_tool_call), reasoning."""
    items, content = [], []
    for i, part in enumerate(parts):
        at = f"{where}.parts[{i}]"
        if isinstance(part, ir.Text):
            content.append({"type": "output_text", "text": part.text})
        elif isinstance(part, ir.Refusal):
            content.append({"type": "refusal", "refusal": part.text})
        elif isinstance(part, ir.ToolCall):
            _flush(items, "assistant", content)
            if part.signature:
                losses.append(ir.Loss(f"{at}.signature", "a Gemini thought signature goes back to Gemini only"))
            items.append(tools.call_item(RESPONSES_CALL_ID.fit(part.id, losses, f"{at}.id"), part.name,
                                         part.arguments))
        elif isinstance(part, ir.Thinking):
            _flush(items, "assistant", content)
            _add_reasoning(items, part, losses, at)
        else:
            losses.append(ir.Loss(at, f"an assistant message cannot hold {type(part).__name__}"))
    _flush(items, "assistant", content)
    return [item for item in items if _keep_reasoning(item, losses, where)]


def _add_reasoning(items: list, part: ir.Thinking, losses: list, where: str):
    """Thinking parts with the same item id, one after another, are one reasoning item again."""
    if part.source != SOURCE:
        if part.text or part.signature or part.redacted or part.encrypted:
            losses.append(ir.Loss(where, f"thinking from {part.source or 'another dialect'} cannot be sent "
                                         "to the Responses API"))
        return
    previous = items[-1] if items else None
    if previous and previous["type"] == "reasoning" and part.id is not None and previous.get("id") == part.id:
        item = previous
    else:
        item = {"type": "reasoning", "summary": []}
        if part.id is not None:
            item["id"] = part.id
        items.append(item)
    if part.text:
        item["summary"].append({"type": "summary_text", "text": part.text})
    if part.encrypted:
        item["encrypted_content"] = part.encrypted


def _keep_reasoning(item: dict, losses: list, where: str) -> bool:
    # With store=false the upstream cannot look a reasoning item up by id: one
    # without its encrypted_content would be rejected ("Item ... not found").
    if item["type"] != "reasoning" or "encrypted_content" in item:
        return True
    losses.append(ir.Loss(where, f"reasoning item {item.get('id')} has no encrypted_content to send back"))
    return False


def _flush(items: list, role: str, content: list):
    if content:
        items.append(_message(role, list(content)))
        content.clear()


def _message(role: str, content: list) -> dict:
    return {"type": "message", "role": role, "content": content}


def _input_text(text: str) -> dict:
    return {"type": "input_text", "text": text}


def _input_content(part, losses: list, where: str) -> dict | None:
    """A user message's or tool output's content part; None (and a Loss) for what it cannot hold."""
    if isinstance(part, ir.Text):
        return _input_text(part.text)
    if isinstance(part, ir.Document):
        return _input_file(part, losses, where)
    if not isinstance(part, ir.Image):
        losses.append(ir.Loss(where, f"Responses input content cannot hold {type(part).__name__}"))
        return None
    if part.url:
        image = {"type": "input_image", "image_url": part.url}
    elif part.data and part.media_type:
        image = {"type": "input_image", "image_url": data_url(part.media_type, part.data)}
    else:
        losses.append(ir.Loss(where, "an image needs a URL, or base64 data with its media type"))
        return None
    if part.detail:
        image["detail"] = part.detail
    return image


def _input_file(document: ir.Document, losses: list, where: str) -> dict | None:
    if document.data:
        return {"type": "input_file", "filename": document_filename(document),
                "file_data": data_url(document.media_type, document.data)}
    if document.url:
        return {"type": "input_file", "file_url": document.url}
    losses.append(ir.Loss(where, "a document with neither data nor URL; dropped"))
    return None


def _tool_output(part: ir.ToolResult, tools: ClientTools, losses: list, where: str) -> dict:
    if part.is_error:
        losses.append(ir.Loss(f"{where}.is_error", "function_call_output has no error flag"))
    if all(isinstance(content, ir.Text) for content in part.content):
        output = join_texts([content.text for content in part.content])
    else:
        converted = [_input_content(content, losses, f"{where}.content[{i}]") for i, content in enumerate(part.content)]
        output = [content for content in converted if content is not None]
    return {"type": tools.output_type(part.call_id), "call_id": RESPONSES_CALL_ID.fit(part.call_id, losses, where),
            "output": output}


# -- options ------------------------------------------------------------------


def _text_format(response_format: ir.ResponseFormat, losses: list) -> dict:
    if response_format.type == "json_object":
        return {"type": "json_object"}
    if response_format.type != "json_schema":
        return {"type": "text"}
    name = response_format.name
    if not name:
        name = "response"
        losses.append(ir.Loss("response_format.name", "Responses requires a schema name; sent 'response'"))
    encoded = {"type": "json_schema", "name": name, "schema": response_format.schema or {}}
    if response_format.strict is not None:
        encoded["strict"] = response_format.strict
    if response_format.description is not None:
        encoded["description"] = response_format.description
    return encoded


def reasoning_object(reasoning: ir.Reasoning | None, model: str, losses: list) -> dict | None:
    """The ``reasoning`` object for an ir.Reasoning; passthrough writes a model's level with it too."""
    if reasoning is None:
        return None
    if reasoning.effort == "none":
        return off_reasoning(model, losses)
    effort = effort_for(reasoning)  # None: reasoning on at the model's default effort
    encoded = {"effort": effort} if effort else {}
    encoded["summary"] = reasoning.summary or "auto"
    return encoded


def off_reasoning(model: str, losses: list) -> dict | None:
    """The ``reasoning`` object that turns reasoning off, or as low as ``model`` goes (noting the loss)."""
    effort, loss = openai_off_effort(model)
    if loss:
        losses.append(ir.Loss("reasoning", loss))
    return {"effort": effort} if effort else None
