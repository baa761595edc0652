"""This module echoes a client's request settings in the Response objects the Responses front sends back.

A Responses API answer repeats the settings it ran with (tools, tool_choice,
sampling, reasoning, text format...), and the openai SDKs require several of
them. They are written from the ir.Request, in the client's own terms: a
flattened tool name is shown as the name (and namespace) the client gave it.

What is not echoed, on purpose: ``instructions``: by then the request's
system parts include the operator's system prompt, which is not the client's
to read.
"""

from __future__ import annotations

from ... import ir

_TRUNCATION = ("auto", "disabled")
_FROM_EXTRAS = ("previous_response_id", "prompt_cache_key", "max_tool_calls")  # as the request decoder kept them


def echoed_settings(request: ir.Request | None) -> dict:
    """The Response object's fields that repeat the request; the API's defaults when there is no request."""
    request = request or ir.Request(model="")
    reasoning = request.reasoning or ir.Reasoning()
    truncation = request.extras.get("truncation")
    text = {"format": _text_format(request.response_format)}
    verbosity = (request.extras.get("text") or {}).get("verbosity")
    if verbosity is not None:
        text["verbosity"] = verbosity
    return {
        **{key: request.extras.get(key) for key in _FROM_EXTRAS},
        "instructions": None,
        "max_output_tokens": request.max_tokens,
        "metadata": request.metadata or {},
        "parallel_tool_calls": request.parallel_tool_calls is not False,  # the API's default is true
        "reasoning": {"effort": reasoning.effort, "summary": reasoning.summary},
        "temperature": request.temperature,
        "text": text,
        "tool_choice": _tool_choice(request.tool_choice, request.tools),
        "tools": _tools(request.tools),
        "top_p": request.top_p,
        "truncation": truncation if truncation in _TRUNCATION else "disabled",
    }


def client_name(tool: ir.Tool) -> str:
    """The name the client calls ``tool`` by (the IR's ``name`` may be a flattened, upstream-safe one)."""
    return tool.client_name or tool.name


def _text_format(response_format: ir.ResponseFormat | None) -> dict:
    if response_format is None or response_format.type not in ("json_object", "json_schema"):
        return {"type": "text"}
    if response_format.type == "json_object":
        return {"type": "json_object"}
    encoded = {"type": "json_schema", "name": response_format.name or "response",
               "schema": response_format.schema or {}}
    if response_format.description is not None:
        encoded["description"] = response_format.description
    if response_format.strict is not None:
        encoded["strict"] = response_format.strict
    return encoded


def _tool_choice(choice: ir.ToolChoice | None, tools: list):
    if choice is None:
        return "auto"
    if choice.mode != "tool":
        return choice.mode
    tool = next((tool for tool in tools if tool.name == choice.name), None)
    if tool is None:
        return {"type": "function", "name": choice.name}
    if tool.kind == "web_search":  # a hosted tool is forced the way the Responses API documents it
        return {"type": "allowed_tools", "mode": "required", "tools": [{"type": "web_search"}]}
    return {"type": "custom" if tool.kind == "custom" else "function", "name": client_name(tool)}


def _tools(tools: list) -> list:
    """The tools as the client declared them: namespaced ones inside their namespace, in first-seen order."""
    echoed, namespaces = [], {}
    for tool in tools:
        entry = _tool(tool)
        if tool.namespace is None or tool.kind == "web_search":
            echoed.append(entry)
        elif tool.namespace in namespaces:
            namespaces[tool.namespace]["tools"].append(entry)
        else:
            description = tool.options.get("namespace_description") or ""  # the request decoder keeps it there
            namespaces[tool.namespace] = {"type": "namespace", "name": tool.namespace, "description": description,
                                          "tools": [entry]}
            echoed.append(namespaces[tool.namespace])
    return echoed


def _tool(tool: ir.Tool) -> dict:
    if tool.kind == "web_search":
        return _web_search(tool.options)
    if tool.kind == "custom":
        entry = {"type": "custom", "name": client_name(tool)}
        if tool.options.get("format") is not None:
            entry["format"] = tool.options["format"]
    else:
        entry = {"type": "function", "name": client_name(tool), "parameters": tool.parameters or None,
                 "strict": tool.strict}
    if tool.description is not None:
        entry["description"] = tool.description
    return entry


def _web_search(options: dict) -> dict:
    entry = {"type": "web_search"}
    if options.get("allowed_domains"):
        entry["filters"] = {"allowed_domains": options["allowed_domains"]}
    if options.get("user_location"):
        entry["user_location"] = {"type": "approximate", **options["user_location"]}
    if options.get("search_context_size"):
        entry["search_context_size"] = options["search_context_size"]
    if options.get("external_web_access") is False:
        entry["external_web_access"] = False
    return entry
