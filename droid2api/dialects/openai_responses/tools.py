"""This module writes the IR's tools as Responses API tools, and names each call as the client knows its tool.

Function tools go as ``function`` tools. The IR can hold two kinds that only
Responses clients make, and a Responses body gets them back as they were sent:
a custom tool (free text input, kind "custom") goes as a ``custom`` tool with
its format, and a call of it as a ``custom_tool_call`` item whose ``input`` is
the text other upstreams received as the one string argument ``input``; tools
the client grouped under a namespace go as one ``namespace`` tool under the
client's names, and calls of them carry the namespace. ``ClientTools`` does
that naming for request.py here, and for the front's answers.
"""

from __future__ import annotations

import json

from ... import ir
from .response import NAME

WEB_SEARCH = "web_search"  # the ir.Tool name of a Responses client's web search


def custom_input_schema() -> dict:
    """The parameters a custom tool is offered with by upstreams without custom tools: one string, ``input``."""
    return {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}


def custom_input(arguments: str) -> str:
    """A custom tool call's text from its IR arguments (``{"input": ...}``); no arguments are no text, and
    arguments of another shape (a model that ignored the schema) are the text themselves."""
    if not arguments.strip():
        return ""
    try:
        value = json.loads(arguments)
    except (ValueError, RecursionError):
        return arguments
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        return value["input"]
    return "" if value == {} else arguments


class ClientTools:
    """The tools of one request by their IR name: how to name a call of each, and its output, for the client."""

    def __init__(self, request: ir.Request):
        self._by_name = {tool.name: tool for tool in request.tools}
        self._custom_calls = {part.id for message in request.messages for part in message.parts
                              if isinstance(part, ir.ToolCall) and self.kind(part.name) == "custom"}

    def kind(self, name: str) -> str:
        tool = self._by_name.get(name)
        return tool.kind if tool is not None else "function"

    def call_item(self, call_id: str, name: str, arguments: str) -> dict:
        """A ``function_call`` or ``custom_tool_call`` item calling the IR tool ``name``, in the client's names."""
        tool = self._by_name.get(name)
        client_name = (tool.client_name if tool is not None else None) or name
        if self.kind(name) == "custom":
            item = {"type": "custom_tool_call", "call_id": call_id, "name": client_name,
                    "input": custom_input(arguments)}
        else:
            item = {"type": "function_call", "call_id": call_id, "name": client_name, "arguments": arguments or "{}"}
        if tool is not None and tool.namespace:
            item["namespace"] = tool.namespace
        return item

    def output_type(self, call_id: str) -> str:
        """The type of the item that answers the call ``call_id`` (its IR id)."""
        return "custom_tool_call_output" if call_id in self._custom_calls else "function_call_output"


# -- tools ------------------------------------------------------------------------------


def encode_tools(tools: list, source: str | None, losses: list) -> list:
    """The Responses ``tools``: each tool of a namespace goes inside that namespace's one group."""
    encoded, groups = [], {}
    for i, tool in enumerate(tools):
        item = _tool(tool, source, losses, f"tools[{i}]")
        if tool.cache_control:
            losses.append(ir.Loss(f"tools[{i}].cache_control", "Responses caches prompts automatically"))
        if not tool.namespace:
            encoded.append(item)
            continue
        if tool.namespace not in groups:
            groups[tool.namespace] = {"type": "namespace", "name": tool.namespace,
                                      "description": tool.options.get("namespace_description", ""), "tools": []}
            encoded.append(groups[tool.namespace])
        groups[tool.namespace]["tools"].append(item)
    return encoded


def _tool(tool: ir.Tool, source: str | None, losses: list, where: str) -> dict:
    if tool.kind == "web_search":
        return _web_search(tool, losses, where)
    encoded = {"type": "custom" if tool.kind == "custom" else "function", "name": tool.client_name or tool.name}
    if tool.description is not None:
        encoded["description"] = tool.description
    if tool.kind == "custom":
        if tool.options.get("format"):
            encoded["format"] = tool.options["format"]
        return encoded
    encoded["parameters"] = tool.parameters or {"type": "object", "properties": {}}
    # Responses treats a missing strict as true; Chat and Messages treat it as
    # false. Only a Responses client's own "unset" may keep the Responses default.
    if tool.strict is not None:
        encoded["strict"] = tool.strict
    elif source != NAME:
        encoded["strict"] = False
    return encoded


def _web_search(tool: ir.Tool, losses: list, where: str) -> dict:
    """OpenAI's hosted web search; it filters by allowed domains only, and has no search limit."""
    encoded = {"type": "web_search"}
    for key, value in tool.options.items():
        if key == "allowed_domains":
            encoded["filters"] = {"allowed_domains": value}
        elif key == "user_location":
            encoded["user_location"] = {"type": "approximate", **value}
        elif key in ("search_context_size", "external_web_access"):
            encoded[key] = value
        else:
            losses.append(ir.Loss(f"{where}.{key}", "the Responses API's web search has no such setting; dropped"))
    return encoded


def encode_tool_choice(choice: ir.ToolChoice, tools: list):
    if choice.mode != "tool":
        return choice.mode
    tool = next((tool for tool in tools if tool.name == choice.name), None)
    if tool is not None and tool.kind == "web_search":
        # A hosted tool is named by its type; "allowed_tools" is the documented way to force one.
        return {"type": "allowed_tools", "mode": "required", "tools": [{"type": "web_search"}]}
    if tool is None:
        return {"type": "function", "name": choice.name}
    return {"type": "custom" if tool.kind == "custom" else "function", "name": tool.client_name or tool.name}
