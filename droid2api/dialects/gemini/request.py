"""This module encodes an IR request as a Gemini generateContent body.

The same body serves Factory's ``/api/llm/g/v1/generate`` (which also wants
``model`` at the top level) and the public ``models/{m}:generateContent`` and
``:streamGenerateContent`` calls (model and streaming are in the URL).

Tool results: Gemini's ``functionResponse.response`` must be a JSON object.
A result whose text *is* a JSON object is sent as that object, so structured
tool output reaches the model as structure (and a Gemini client's own
``response`` object survives a trip through the IR unchanged); any other text
is wrapped as ``{"result": text}``, or ``{"error": text}`` for a failed call
(``error`` is the key the API reference gives for error details).
"""

from __future__ import annotations

import json
import re

from ... import ir
from ...errors import GatewayError, require_one_choice
from ...reasoning import budget_for, effort_for_budget
from ..media import parse_data_url
from .schema import clean_schema
from .stream import SOURCE

# File URIs Gemini reads itself (Cloud Storage and the Files API); any other URL would need fetching.
_FILE_URI_PREFIXES = ("gs://", "https://generativelanguage.googleapis.com/")

# What Google documents for a function call whose thought signature is unknown (Gemini 3).
SIGNATURE_PLACEHOLDER = "skip_thought_signature_validator"

_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}

# Gemini 3 thinks in levels; the droid CLI sends these for its effort names.
_THINKING_LEVELS = {"minimal": "LOW", "low": "LOW", "medium": "MEDIUM", "high": "HIGH", "xhigh": "HIGH"}

_GENERATION_FIELDS = (  # IR request attribute -> generationConfig key
    ("max_tokens", "maxOutputTokens"),
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("top_k", "topK"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
    ("seed", "seed"),
)


def encode_request(request: ir.Request, losses: list, route) -> dict:
    require_one_choice(request.n, "Gemini")
    body = {}
    if route.factory:
        body["model"] = route.upstream_model  # Factory reads the model from the body, not the URL
    body["contents"] = _Contents(losses, signs_calls=_version(route.upstream_model)[0] >= 3).encode(request.messages)
    system = [{"text": instruction.text} for instruction in request.system if instruction.text]
    if system:
        body["systemInstruction"] = {"parts": system}
    tools = _tools(request.tools, losses)
    if tools:
        body["tools"] = tools
    if request.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _function_calling(request.tool_choice, request.tools, losses)}
    if request.parallel_tool_calls is False:
        losses.append(ir.Loss("parallel_tool_calls", "Gemini has no switch for parallel function calls"))
    config = _generation_config(request, losses, route.upstream_model)
    if config:
        body["generationConfig"] = config
    _note_unsent(request, losses)
    _extras(request, body, losses)
    return body


def thinking_config(model: str, effort: str | None, budget: int | None) -> dict | None:
    """Gemini's ``thinkingConfig`` for a reasoning effort and/or token budget; None for a model that never thinks.

    Gemini 3 and later take a ``thinkingLevel``; 2.5 takes a ``thinkingBudget``
    in tokens, up to 32768 on Pro and 24576 on Flash; 2.0 and earlier do not
    think at all (a model name without a version is assumed to). Thought
    summaries are always asked for, so clients can show them. Callers leave
    thinkingConfig out altogether when reasoning is off.
    """
    version = _version(model)
    if (0, 0) < version < (2, 5):
        return None
    config = {"includeThoughts": True}
    if version[0] >= 3:
        if effort is None and budget:
            effort = effort_for_budget(budget)
        if effort in _THINKING_LEVELS:
            config["thinkingLevel"] = _THINKING_LEVELS[effort]
        return config
    budget = budget_for(ir.Reasoning(effort=effort, budget_tokens=budget))
    if budget:
        config["thinkingBudget"] = min(budget, 32768 if "pro" in model else 24576)
    return config


def thinking_off(model: str) -> tuple:
    """(thinkingConfig that stops or least-thinks, loss or None) for a Gemini model asked not to reason.

    Gemini 2.5 Flash and Flash-Lite stop at ``thinkingBudget: 0``; 2.5 Pro
    cannot stop and goes no lower than 128 tokens; Gemini 3 always thinks, at
    ``MINIMAL`` on Flash and ``LOW`` on Pro. Earlier models never think.
    """
    major, minor = _version(model)
    if major >= 3:
        level = "MINIMAL" if "flash" in model else "LOW"
        return ({"thinkingLevel": level, "includeThoughts": False},
                f"{model} cannot turn thinking off; it thinks at its lowest level, {level}")
    if (major, minor) >= (2, 5):
        if "pro" in model:
            return ({"thinkingBudget": 128, "includeThoughts": False},
                    f"{model} cannot turn thinking off; it thinks with its smallest budget, 128 tokens")
        return {"thinkingBudget": 0}, None
    return None, None


def _version(model: str) -> tuple:
    match = re.search(r"gemini-(\d+)(?:\.(\d+))?", model or "")
    return (int(match.group(1)), int(match.group(2) or 0)) if match else (0, 0)


# -- contents -----------------------------------------------------------------


class _Contents:
    """Messages to ``contents``, remembering each tool call's name for the results that answer it."""

    def __init__(self, losses: list, *, signs_calls: bool = False):
        self.losses = losses
        self.signs_calls = signs_calls  # Gemini 3 and later: every function call needs a thought signature
        self.call_names = {}  # tool call id -> function name

    def encode(self, messages: list) -> list:
        contents = []
        for index, message in enumerate(messages):
            where = f"messages[{index}]"
            if message.name:
                self.losses.append(ir.Loss(f"{where}.name", "Gemini contents carry no participant names"))
            parts = self._parts(message.parts, where)
            if not parts:
                continue  # Gemini rejects a content without parts
            role = "model" if message.role == "assistant" else "user"
            if contents and contents[-1]["role"] == role:
                contents[-1]["parts"].extend(parts)  # Gemini wants turns to alternate
            else:
                contents.append({"role": role, "parts": parts})
        return contents

    def _parts(self, parts: list, where: str) -> list:
        out = []
        signature = None  # a google thought signature waiting for the part it belongs to
        for index, part in enumerate(parts):
            at = f"{where}.content[{index}]"
            if isinstance(part, ir.Thinking):
                if part.source == SOURCE and part.signature:
                    if signature:
                        out.append({"text": "", "thoughtSignature": signature})
                    signature = part.signature
                elif part.source != SOURCE and (part.text or part.signature or part.redacted or part.encrypted):
                    self.losses.append(ir.Loss(at, f"reasoning from {part.source or 'another model'} cannot be "
                                                   "sent to Gemini; dropped"))
                continue  # Gemini never needs its thought text back, only the signature
            encoded = self._part(part, at)
            if encoded is None:
                continue
            if signature and isinstance(part, (ir.Text, ir.Refusal, ir.ToolCall)) \
                    and "thoughtSignature" not in encoded:
                encoded["thoughtSignature"] = signature
                signature = None
            elif signature:
                out.append({"text": "", "thoughtSignature": signature})
                signature = None
            out.append(encoded)
        if signature:
            out.append({"text": "", "thoughtSignature": signature})
        return out

    def _part(self, part, at: str) -> dict | None:
        if isinstance(part, (ir.Text, ir.Refusal)):
            return {"text": part.text} if part.text else None
        if isinstance(part, ir.Image):
            return _image(part, at, self.losses)
        if isinstance(part, ir.Document):
            return _file(part.data, part.media_type, part.url, at, "document")
        if isinstance(part, ir.ToolCall):
            return self._function_call(part, at)
        if isinstance(part, ir.ToolResult):
            return self._function_response(part, at)
        self.losses.append(ir.Loss(at, f"Gemini has no part for {type(part).__name__}; dropped"))
        return None

    def _function_call(self, call: ir.ToolCall, at: str) -> dict:
        try:
            args = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError:
            args = None
        if not isinstance(args, dict):
            raise GatewayError(400, f"the arguments of tool call {call.id!r} must be a JSON object "
                                    "for Gemini models", param=at)
        self.call_names[call.id] = call.name
        # No `id`: Factory's Gemini proxy rejects it, and Gemini pairs calls and results by order.
        encoded = {"functionCall": {"name": call.name, "args": args}}
        if call.signature:
            encoded["thoughtSignature"] = call.signature
        elif self.signs_calls:
            # Gemini 3 refuses a call without its signature (one another model made, or a client dropped):
            # Google's documented placeholder lets it through, at some cost to the model's reasoning.
            encoded["thoughtSignature"] = SIGNATURE_PLACEHOLDER
            self.losses.append(ir.Loss(at, f"tool call {call.id!r} has no Gemini thought signature; "
                                           "Google's placeholder was sent in its place"))
        return encoded

    def _function_response(self, result: ir.ToolResult, at: str) -> dict:
        name = result.name or self.call_names.get(result.call_id)
        if not name:
            raise GatewayError(400, f"tool result {result.call_id!r} answers no tool call earlier in the "
                                    "conversation; Gemini needs the function's name", param=at)
        texts = []
        for part in result.content:
            if isinstance(part, ir.Text):
                texts.append(part.text)
            else:
                self.losses.append(ir.Loss(at, f"Gemini function responses hold JSON only; "
                                               f"a {type(part).__name__} in a tool result was dropped"))
        text = "".join(texts)
        value = _json_object(text)
        if result.is_error:
            response = {"error": text if value is None else value}
        else:
            response = {"result": text} if value is None else value
        return {"functionResponse": {"name": name, "response": response}}


def _json_object(text: str) -> dict | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _image(image: ir.Image, at: str, losses: list) -> dict:
    if image.detail not in (None, "auto"):
        losses.append(ir.Loss(f"{at}.detail", "Gemini has no per-image detail setting"))
    return _file(image.data, image.media_type, image.url, at, "image")


def _file(data: str | None, media_type: str | None, url: str | None, at: str, what: str) -> dict:
    """An image or document inline (``inlineData``), or by a URI Gemini reads itself (``fileData``)."""
    if data is not None:
        if not media_type:
            raise GatewayError(400, f"an inline {what} needs its media type, as in data:image/png;base64,...",
                               param=at)
        return {"inlineData": {"mimeType": media_type, "data": data}}
    url = url or ""
    if url.startswith("data:"):
        inline = parse_data_url(url)
        if inline is None:
            raise GatewayError(400, f"an {what} data: URL must look like data:image/png;base64,...", param=at)
        return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    if url.startswith(_FILE_URI_PREFIXES):
        file_data = {"fileUri": url}
        if media_type:
            file_data["mimeType"] = media_type
        return {"fileData": file_data}
    raise GatewayError(400, f"the {what} at {url[:100]!r} is a URL, and the gateway does not fetch {what} URLs; "
                            f"send the {what} inline (base64 data, or a data: URL)", param=at)


# -- tools and configuration ---------------------------------------------------


def _tools(tools: list, losses: list) -> list:
    declarations, search = [], []
    for index, tool in enumerate(tools):
        if tool.kind == "web_search":
            search = [{"googleSearch": {}}]  # one is enough; Gemini searches as often as it needs
            losses.extend(ir.Loss(f"tools[{index}].{key}", "Gemini's Google Search has no such setting; dropped")
                          for key in tool.options)
            continue
        declaration = {"name": tool.name}
        if tool.description is not None:
            declaration["description"] = tool.description
        parameters = clean_schema(tool.parameters, losses, f"tools[{index}].parameters",
                                  owner=f"the parameters schema of tool {tool.name!r}")
        if parameters.get("properties") or parameters.get("anyOf"):
            declaration["parameters"] = parameters  # a function without parameters leaves them out
        if tool.strict:
            losses.append(ir.Loss(f"tools[{index}].strict", "Gemini has no strict mode for function arguments"))
        declarations.append(declaration)
    if declarations and search:
        # Gemini refuses Google Search beside function declarations (2.x outright, 3 unless a server-side
        # tool flag is set): the client's functions are what an agent cannot do without.
        losses.append(ir.Loss("tools", "Gemini cannot search the web while function tools are offered; "
                                       "Google Search left out"))
        search = []
    return ([{"functionDeclarations": declarations}] if declarations else []) + search


def _function_calling(choice: ir.ToolChoice, tools: list, losses: list) -> dict:
    if choice.mode == "tool" and any(tool.kind == "web_search" and tool.name == choice.name for tool in tools):
        losses.append(ir.Loss("tool_choice", "Gemini cannot be made to search; the model decides"))
        return {"mode": "AUTO"}
    config = {"mode": _TOOL_MODES.get(choice.mode, "AUTO")}
    if choice.mode == "tool" and choice.name:
        config["allowedFunctionNames"] = [choice.name]
    return config


def _generation_config(request: ir.Request, losses: list, model: str) -> dict:
    config = {}
    for attribute, key in _GENERATION_FIELDS:
        value = getattr(request, attribute)
        if value is not None:
            config[key] = value
    if request.stop:
        config["stopSequences"] = list(request.stop)
    response_format = request.response_format
    if response_format is not None and response_format.type in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        if response_format.type == "json_schema" and response_format.schema:
            config["responseSchema"] = clean_schema(response_format.schema, losses, "response_format.schema",
                                                    owner="the response_format schema")
    thinking = thinking_for(request.reasoning, model, losses)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def thinking_for(reasoning: ir.Reasoning | None, model: str, losses: list) -> dict | None:
    """The ``thinkingConfig`` for an ir.Reasoning (None: leave it out); passthrough writes a model's level
    with it too."""
    if reasoning is None:
        return None
    if reasoning.effort == "none":
        off, loss = thinking_off(model)
        if loss:
            losses.append(ir.Loss("reasoning", loss))
        return off
    thinking = thinking_config(model, reasoning.effort, reasoning.budget_tokens)
    if thinking is None:
        losses.append(ir.Loss("reasoning", f"{model} does not think; reasoning settings left out"))
    return thinking


def _note_unsent(request: ir.Request, losses: list):
    if request.user is not None:
        losses.append(ir.Loss("user", "Gemini has no end-user field"))
    if request.metadata:
        losses.append(ir.Loss("metadata", "Gemini has no request metadata"))
    marked = [*request.system, *request.tools,
              *(part for message in request.messages for part in message.parts)]
    if any(getattr(item, "cache_control", None) for item in marked):
        losses.append(ir.Loss("cache_control", "Gemini caches prompts implicitly; cache breakpoints were dropped"))


def _extras(request: ir.Request, body: dict, losses: list):
    """Re-emit a Gemini client's fields the IR has no slot for; from any other dialect they are lost."""
    for key, value in request.extras.items():
        if request.source != SOURCE:
            losses.append(ir.Loss(key, f"a {request.source} field with no Gemini equivalent"))
        elif isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**value, **body[key]}  # e.g. generationConfig keys the IR does not model
        else:
            body.setdefault(key, value)
