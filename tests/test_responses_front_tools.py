"""What a Responses client's own kinds of tools become: decoded, chosen, and sent to every upstream.

A custom tool is offered to the other dialects as a function of one string, ``input``, and goes back to
a Responses upstream as the custom tool it was, with its calls and outputs; a namespaced tool keeps one
upstream-safe name everywhere but the Responses API, which gets the namespace back. Web search keeps its
settings; the tools only OpenAI runs are dropped with a loss.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from droid2api import ir
from droid2api.dialects import BY_NAME
from droid2api.dialects.openai_responses import decode_request

ROUTE = SimpleNamespace(factory=False, upstream_model="m", fast=False)
USER = {"role": "user", "content": "Fix the bug."}
GRAMMAR = {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}
PATCH = "*** Begin Patch\n*** End Patch"
TOOLS = [
    {"type": "custom", "name": "apply_patch", "description": "Edit files.", "format": GRAMMAR},
    {"type": "namespace", "name": "docs", "description": "The docs server.", "tools": [
        {"type": "function", "name": "search", "description": "Search.", "strict": False,
         "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}]},
]
HISTORY = [
    USER,
    {"type": "custom_tool_call", "call_id": "call_1", "name": "apply_patch", "input": PATCH},
    {"type": "function_call", "call_id": "call_2", "name": "search", "namespace": "docs", "arguments": '{"q":"x"}'},
    {"type": "custom_tool_call_output", "call_id": "call_1", "output": "Applied."},
    {"type": "function_call_output", "call_id": "call_2", "output": "Found."},
]
CUSTOM_PARAMETERS = {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}


def encode(request: ir.Request, dialect: str) -> tuple:
    losses = []
    return BY_NAME[dialect].encode_request(request, losses, ROUTE), losses


def tool_request(**fields) -> ir.Request:
    return decode_request({"model": "m", "input": HISTORY, "tools": TOOLS, **fields})


def decode(**fields) -> ir.Request:
    return decode_request({"model": "m", "input": [USER], **fields})


# -- decoding -------------------------------------------------------------------------------------------


def test_custom_namespace_web_search_and_hosted_tools():
    request = decode(tools=[
        {"type": "custom", "name": "apply_patch", "description": "Edit files.", "format": GRAMMAR},
        {"type": "namespace", "name": "mcp.docs", "description": "Docs.", "tools": [
            {"type": "custom", "name": "query"}, {"type": "function", "name": "fetch", "parameters": {"type": "object"}}]},
        {"type": "web_search_preview", "search_context_size": "low", "user_location": {
            "type": "approximate", "city": "Paris", "country": "FR", "region": None}},
        {"type": "web_search", "filters": {"allowed_domains": ["a.example"]}, "external_web_access": False},
        {"type": "file_search", "vector_store_ids": ["vs_1"]}, {"type": "code_interpreter", "container": "auto"},
        {"type": "image_generation"}, {"type": "mcp", "server_label": "x"}, {"type": "local_shell"}])

    docs_query, docs_fetch = request.tools[1:3]
    assert request.tools[0] == ir.Tool("apply_patch", "Edit files.", CUSTOM_PARAMETERS, kind="custom",
                                       options={"format": GRAMMAR})
    assert (docs_query.kind, docs_query.client_name, docs_query.namespace) == ("custom", "query", "mcp.docs")
    assert docs_query.name.startswith("mcp_docs__query_") and len(docs_query.name) == 24  # a '.' is no name letter
    assert docs_fetch.options == {"namespace_description": "Docs."} and docs_fetch.parameters == {"type": "object"}
    assert request.tools[3:] == [
        ir.Tool("web_search", kind="web_search", options={"user_location": {"city": "Paris", "country": "FR"},
                                                          "search_context_size": "low"}),
        ir.Tool("web_search", kind="web_search", options={"allowed_domains": ["a.example"],
                                                          "external_web_access": False})]
    assert [loss.field for loss in request.losses] == [f"tools[{i}]" for i in range(4, 9)]


@pytest.mark.parametrize("choice, expected, lost", [
    ("auto", ir.ToolChoice("auto"), False),
    ("none", ir.ToolChoice("none"), False),
    ("required", ir.ToolChoice("required"), False),
    ({"type": "function", "name": "look"}, ir.ToolChoice("tool", "look"), False),
    ({"type": "custom", "name": "apply_patch"}, ir.ToolChoice("tool", "apply_patch"), False),
    ({"type": "function", "name": "fetch"}, ir.ToolChoice("tool", "docs__fetch"), False),  # by the client's name
    ({"type": "web_search_preview"}, ir.ToolChoice("tool", "web_search"), False),
    ({"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "look"}]},
     ir.ToolChoice("tool", "look"), False),
    ({"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "look"}]},
     ir.ToolChoice("auto"), True),
    ({"type": "allowed_tools", "mode": "required", "tools": [{"type": ["function"]}]}, ir.ToolChoice("required"), True),
    ({"type": "file_search"}, None, True),
])
def test_tool_choice(choice, expected, lost):
    request = decode(tool_choice=choice, tools=[
        {"type": "function", "name": "look"}, {"type": "custom", "name": "apply_patch"},
        {"type": "namespace", "name": "docs", "description": "", "tools": [{"type": "function", "name": "fetch"}]},
        {"type": "web_search"}])
    assert request.tool_choice == expected
    assert [loss.field for loss in request.losses] == (["tool_choice"] if lost else [])


# -- at every upstream ------------------------------------------------------------------------------------


def test_custom_and_namespaced_tools_go_back_to_a_responses_upstream_as_sent():
    body, losses = encode(tool_request(tool_choice={"type": "custom", "name": "apply_patch"}), ir.Dialect.RESPONSES)

    assert body["tools"] == TOOLS
    assert body["input"][1:] == [
        {"type": "custom_tool_call", "call_id": "call_1", "name": "apply_patch", "input": PATCH},
        {"type": "function_call", "call_id": "call_2", "name": "search", "arguments": '{"q":"x"}', "namespace": "docs"},
        {"type": "custom_tool_call_output", "call_id": "call_1", "output": "Applied."},
        {"type": "function_call_output", "call_id": "call_2", "output": "Found."}]
    assert body["tool_choice"] == {"type": "custom", "name": "apply_patch"}
    assert losses == []


def test_an_anthropic_upstream_gets_functions_of_one_string_and_flat_names():
    body, losses = encode(tool_request(tool_choice={"type": "function", "name": "search"}), ir.Dialect.ANTHROPIC)

    assert body["tools"] == [
        {"name": "apply_patch", "description": "Edit files.", "input_schema": CUSTOM_PARAMETERS},
        {"name": "docs__search", "description": "Search.", "input_schema": TOOLS[1]["tools"][0]["parameters"]}]
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "apply_patch", "input": {"input": PATCH}},
        {"type": "tool_use", "id": "call_2", "name": "docs__search", "input": {"q": "x"}}]
    assert [block["tool_use_id"] for block in body["messages"][2]["content"]] == ["call_1", "call_2"]
    assert body["tool_choice"] == {"type": "tool", "name": "docs__search"}
    assert losses == []


def test_a_chat_upstream_gets_functions_of_one_string_and_flat_names():
    body, losses = encode(tool_request(), ir.Dialect.CHAT)

    assert [tool["function"]["name"] for tool in body["tools"]] == ["apply_patch", "docs__search"]
    assert body["tools"][0]["function"]["parameters"] == CUSTOM_PARAMETERS
    assert [call["function"] for call in body["messages"][1]["tool_calls"]] == [
        {"name": "apply_patch", "arguments": json.dumps({"input": PATCH}, separators=(",", ":"))},
        {"name": "docs__search", "arguments": '{"q":"x"}'}]
    assert [m["role"] for m in body["messages"][2:]] == ["tool", "tool"]
    assert losses == []


def test_a_gemini_upstream_gets_functions_of_one_string_and_flat_names():
    body, _ = encode(tool_request(), ir.Dialect.GEMINI)

    declarations = body["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in declarations] == ["apply_patch", "docs__search"]
    assert declarations[0]["parameters"] == {"type": "OBJECT", "properties": {"input": {"type": "STRING"}},
                                             "required": ["input"]}
    assert [part["functionCall"] for part in body["contents"][1]["parts"]] == [
        {"name": "apply_patch", "args": {"input": PATCH}}, {"name": "docs__search", "args": {"q": "x"}}]
    assert [part["functionResponse"]["name"] for part in body["contents"][2]["parts"]] == \
        ["apply_patch", "docs__search"]
