"""Tests of the Anthropic Messages front's request decoder (dialects/anthropic/front_request.py).

The bodies are Claude Code's real requests (../shared/fixtures/clients/claude-code.json), the recorded
anthropic SDK requests in tests/recorded/, and blocks written after the Messages API reference. Each
decoded request is checked field by field, then encoded for every upstream dialect.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings

from droid2api import ir
from droid2api.dialects import BY_NAME
from droid2api.dialects.anthropic import decode_request
from droid2api.errors import GatewayError

from . import hypothesis_profiles  # noqa: F401  (loads the profile before any @given runs)
from .helpers import RECORDED, convert_everywhere
from .json_mutations import damaged_bodies

CLAUDE_CODE = json.loads((Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "clients" /
                          "claude-code.json").read_text())
FIRST, FOLLOW_UP = (entry["body"] for entry in CLAUDE_CODE)
RECORDED_REQUESTS = sorted(RECORDED.glob("anthropic__*.request.json"))
ROUTE = SimpleNamespace(factory=False, upstream_model="m", fast=False)
EPHEMERAL = {"type": "ephemeral"}
USER = {"role": "user", "content": "hi"}


def decode(**fields) -> ir.Request:
    return decode_request({"model": "m", "messages": [USER], **fields})


def encode(request: ir.Request, dialect: str) -> tuple:
    losses = []
    return BY_NAME[dialect].encode_request(request, losses, ROUTE), losses


# -- Claude Code --------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [FIRST, FOLLOW_UP], ids=["first", "follow-up"])
def test_claude_code_requests_decode_field_by_field(body):
    request = decode_request(body)

    assert (request.model, request.source, request.stream, request.max_tokens) == \
        ("claude-sonnet-4-5", ir.Dialect.ANTHROPIC, True, 32000)
    assert [(i.text, i.role, i.cache_control) for i in request.system] == \
        [(block["text"], "system", block.get("cache_control")) for block in body["system"]]
    assert request.system[1].cache_control == EPHEMERAL
    assert [tool.name for tool in request.tools] == [tool["name"] for tool in body["tools"]]
    assert len(request.tools) == 24 and "Bash" in [tool.name for tool in request.tools]
    assert all((t.kind, t.parameters, t.description) == ("function", raw["input_schema"], raw["description"])
               for t, raw in zip(request.tools, body["tools"]))
    assert request.reasoning == ir.Reasoning(budget_tokens=31999)
    assert request.user == body["metadata"]["user_id"] and request.metadata is None
    assert request.extras == {"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}}
    assert request.losses == [] and request.tool_choice is None and request.stop == []
    first = request.messages[0]
    assert first.role == "user"
    assert [(p.text, p.cache_control) for p in first.parts] == \
        [(b["text"], b.get("cache_control")) for b in body["messages"][0]["content"]]


def test_claude_code_tool_loop_decodes_and_goes_back_to_anthropic_as_sent():
    request = decode_request(FOLLOW_UP)

    assistant, results = request.messages[1:]
    assert assistant.parts == [
        ir.Thinking(text="Thinking about it.", signature="sig_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                    source=ir.Dialect.ANTHROPIC),
        ir.ToolCall("toolu_24fb6836c04041ebad8439a3", "Bash", '{"command":"echo hi-from-tool","description":"x"}')]
    assert results.parts == [ir.ToolResult("toolu_24fb6836c04041ebad8439a3", [ir.Text("hi-from-tool")],
                                           cache_control=EPHEMERAL)]

    body, losses = encode(request, ir.Dialect.ANTHROPIC)
    assert body["messages"][1] == FOLLOW_UP["messages"][1]
    assert body["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_24fb6836c04041ebad8439a3",
                                               "content": [{"type": "text", "text": "hi-from-tool"}],
                                               "cache_control": EPHEMERAL}]
    assert body["system"] == FOLLOW_UP["system"] and body["tools"] == FOLLOW_UP["tools"]
    assert (body["thinking"], body["metadata"], body["context_management"]) == \
        (FOLLOW_UP["thinking"], FOLLOW_UP["metadata"], FOLLOW_UP["context_management"])
    assert losses == []


def test_claude_code_follow_up_encodes_for_a_responses_upstream():
    body, losses = encode(decode_request(FOLLOW_UP), ir.Dialect.RESPONSES)

    assert body["instructions"] == "".join(block["text"] if i == 0 else "\n\n" + block["text"]
                                           for i, block in enumerate(FOLLOW_UP["system"]))
    assert body["input"][0]["role"] == "user" and len(body["input"][0]["content"]) == 4
    assert body["input"][1:] == [
        {"type": "function_call", "call_id": "toolu_24fb6836c04041ebad8439a3", "name": "Bash",
         "arguments": '{"command":"echo hi-from-tool","description":"x"}'},
        {"type": "function_call_output", "call_id": "toolu_24fb6836c04041ebad8439a3", "output": "hi-from-tool"}]
    assert [tool["name"] for tool in body["tools"]] == [tool["name"] for tool in FOLLOW_UP["tools"]]
    assert body["tools"][1]["parameters"] == FOLLOW_UP["tools"][1]["input_schema"]
    assert body["reasoning"] == {"effort": "xhigh", "summary": "auto"}
    assert (body["max_output_tokens"], body["stream"], body["store"]) == (32000, True, False)
    assert len(body["user"]) <= 64 and body["user"].startswith("user_")  # the 130-character user_id, hashed
    assert "context_management" not in body
    assert {loss.field for loss in losses} >= {"messages[1].parts[0]", "user", "context_management"}


def test_claude_code_follow_up_encodes_for_a_chat_upstream():
    body, losses = encode(decode_request(FOLLOW_UP), ir.Dialect.CHAT)

    assert [m["role"] for m in body["messages"]] == ["system"] * 3 + ["user", "assistant", "tool"]
    assert body["messages"][4] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "toolu_24fb6836c04041ebad8439a3", "type": "function",
         "function": {"name": "Bash", "arguments": '{"command":"echo hi-from-tool","description":"x"}'}}]}
    assert body["messages"][5] == {"role": "tool", "tool_call_id": "toolu_24fb6836c04041ebad8439a3",
                                   "content": "hi-from-tool"}
    assert len(body["tools"]) == 24 and body["tools"][1]["function"]["name"] == "Bash"
    assert (body["max_tokens"], body["reasoning_effort"], body["stream"]) == (32000, "xhigh", True)
    assert len(body["user"]) <= 64
    assert {loss.field for loss in losses} >= {"thinking", "user", "context_management"}


def test_claude_code_follow_up_encodes_for_a_gemini_upstream():
    body, losses = encode(decode_request(FOLLOW_UP), ir.Dialect.GEMINI)

    assert [text["text"] for text in body["systemInstruction"]["parts"]] == [b["text"] for b in FOLLOW_UP["system"]]
    assert body["contents"][1] == {"role": "model", "parts": [
        {"functionCall": {"name": "Bash", "args": {"command": "echo hi-from-tool", "description": "x"}}}]}
    assert body["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "Bash", "response": {"result": "hi-from-tool"}}}]}
    assert len(body["tools"][0]["functionDeclarations"]) == 24
    assert body["generationConfig"] == {"maxOutputTokens": 32000,
                                        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 24576}}
    assert "messages[1].content[0]" in {loss.field for loss in losses}  # Anthropic's signed thinking stays home


@pytest.mark.parametrize("path", RECORDED_REQUESTS, ids=lambda path: path.name.split("__")[1])
def test_recorded_sdk_requests_go_back_to_anthropic_unchanged(path):
    body = json.loads(path.read_text())
    encoded, _ = encode(decode_request(body), ir.Dialect.ANTHROPIC)

    for key in ("model", "max_tokens", "tools", "tool_choice", "thinking"):
        assert encoded.get(key) == body.get(key), key
    system = body.get("system")
    assert encoded.get("system") == ([{"type": "text", "text": system}] if isinstance(system, str) else system)
    for sent, original in zip(encoded["messages"], body["messages"]):
        for block in original["content"]:
            if block["type"] == "tool_result":  # sent as blocks, without the default is_error: false
                block["content"] = [{"type": "text", "text": block["content"]}]
                del block["is_error"]
        assert sent == original


# -- system, content blocks -----------------------------------------------------------------------------


def test_system_as_a_string_and_a_system_message_among_the_messages():
    request = decode_request({"model": "m", "system": "Be brief.", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "Use tools.", "cache_control": EPHEMERAL}]},
        USER, {"role": "system", "content": "Answer in French."}]})

    assert request.system == [ir.Instruction("Be brief."), ir.Instruction("Use tools.", cache_control=EPHEMERAL),
                              ir.Instruction("Answer in French.")]
    assert [m.role for m in request.messages] == ["user"]


def test_images_and_documents():
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
         "cache_control": EPHEMERAL},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "document", "title": "Report", "source": {"type": "base64", "media_type": "application/pdf",
                                                           "data": "JVBERi0="}, "citations": {"enabled": True}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}, "cache_control": EPHEMERAL,
         "citations": {"enabled": False}},
        {"type": "document", "title": "Notes", "source": {"type": "text", "media_type": "text/plain", "data": "a b"}},
        {"type": "document", "source": {"type": "content", "content": [
            {"type": "text", "text": "one"}, {"type": "image", "source": {"type": "url", "url": "https://i.example"}}]},
         "context": "from the wiki"},
        {"type": "search_result", "source": "https://example.com", "title": "Example",
         "content": [{"type": "text", "text": "found"}]},
    ]
    request = decode_request({"model": "m", "messages": [{"role": "user", "content": content}]})

    assert request.messages[0].parts == [
        ir.Image(data="iVBO", media_type="image/png", cache_control=EPHEMERAL),
        ir.Image(url="https://example.com/a.png"),
        ir.Document(data="JVBERi0=", media_type="application/pdf", title="Report"),
        ir.Document(url="https://example.com/a.pdf", cache_control=EPHEMERAL),
        ir.Text("Notes\n\na b"),
        ir.Text("one"),
        ir.Image(url="https://i.example"),
        ir.Text("Example\n\nhttps://example.com\n\nfound"),
    ]
    assert [loss.field for loss in request.losses] == ["messages[0].content[2]", "messages[0].content[5]"]


def test_tool_results_with_images_errors_and_no_content():
    request = decode_request({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "is_error": True, "content": [
            {"type": "text", "text": "failed"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}}]},
        {"type": "tool_result", "tool_use_id": "t2"},
        {"type": "text", "text": "go on"}]}]})

    assert request.messages[0].parts == [
        ir.ToolResult("t1", [ir.Text("failed"), ir.Image(data="/9j/", media_type="image/jpeg")], is_error=True),
        ir.ToolResult("t2", []),
        ir.Text("go on")]


def test_redacted_thinking_and_server_tool_blocks_in_the_history():
    request = decode_request({"model": "m", "messages": [USER, {"role": "assistant", "content": [
        {"type": "redacted_thinking", "data": "EmwKAhgB"},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [
            {"type": "web_search_result", "url": "https://a.example", "title": "A", "encrypted_content": "e"},
            {"type": "web_search_result", "url": "https://b.example", "encrypted_content": "e"}]},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_2",
         "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}},
        {"type": "code_execution_tool_result", "tool_use_id": "srvtoolu_3", "content": {}},
        {"type": "text", "text": "Found it.", "citations": [{"type": "web_search_result_location"}]}]}]})

    assert request.messages[1].parts == [
        ir.Thinking(redacted="EmwKAhgB", source=ir.Dialect.ANTHROPIC),
        ir.Text("Web search results:\n- A <https://a.example>\n- https://b.example <https://b.example>"),
        ir.Text("Found it.")]
    assert [loss.field for loss in request.losses] == [f"messages[1].content[{i}]" for i in (1, 2, 3, 4)]


# -- tools, choices, reasoning, settings ---------------------------------------------------------------


def test_custom_server_and_anthropic_only_tools():
    request = decode(tools=[
        {"name": "look", "description": "Look.", "input_schema": {"type": "object"}, "cache_control": EPHEMERAL},
        {"type": "custom", "name": "touch", "input_schema": {"type": "object"}, "strict": True},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3, "allowed_domains": ["a.example"],
         "user_location": {"type": "approximate", "city": "Paris", "country": "FR"}},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
        {"type": "computer_20250124", "name": "computer", "display_width_px": 1024, "display_height_px": 768},
        {"type": "code_execution_20250825", "name": "code_execution"}])

    assert request.tools == [
        ir.Tool("look", "Look.", {"type": "object"}, cache_control=EPHEMERAL),
        ir.Tool("touch", None, {"type": "object"}, strict=True),
        ir.Tool("web_search", kind="web_search", options={"max_uses": 3, "allowed_domains": ["a.example"],
                                                          "user_location": {"city": "Paris", "country": "FR"}})]
    assert [loss.field for loss in request.losses] == ["tools[3]", "tools[4]", "tools[5]", "tools[6]"]


@pytest.mark.parametrize("choice, expected, parallel", [
    ({"type": "auto"}, ir.ToolChoice("auto"), None),
    ({"type": "any"}, ir.ToolChoice("required"), None),
    ({"type": "none"}, ir.ToolChoice("none"), None),
    ({"type": "tool", "name": "look"}, ir.ToolChoice("tool", "look"), None),
    ({"type": "auto", "disable_parallel_tool_use": True}, ir.ToolChoice("auto"), False),
    ({"type": "any", "disable_parallel_tool_use": False}, ir.ToolChoice("required"), None),
])
def test_tool_choice(choice, expected, parallel):
    request = decode(tool_choice=choice)
    assert (request.tool_choice, request.parallel_tool_calls) == (expected, parallel)


@pytest.mark.parametrize("fields, expected", [
    ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, ir.Reasoning(budget_tokens=2048)),
    ({"thinking": {"type": "adaptive"}}, ir.Reasoning()),
    ({"thinking": {"type": "disabled"}}, ir.Reasoning(effort="none")),
    ({"output_config": {"effort": "max"}}, ir.Reasoning(effort="xhigh")),
    ({"output_config": {"effort": "low"}, "thinking": {"type": "adaptive"}}, ir.Reasoning(effort="low")),
    ({"output_config": {"effort": "high"}, "thinking": {"type": "enabled", "budget_tokens": 5000}},
     ir.Reasoning(effort="high", budget_tokens=5000)),
    ({"output_config": {"effort": "high"}, "thinking": {"type": "disabled"}}, ir.Reasoning(effort="none")),
    ({}, None),
])
def test_thinking_and_effort(fields, expected):
    assert decode(**fields).reasoning == expected


def test_sampling_output_format_metadata_and_extras():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    extras = {"container": "container_1", "mcp_servers": [{"type": "url", "url": "https://mcp.example", "name": "x"}],
              "service_tier": "auto", "context_management": {"edits": []}, "something_new": {"x": 1}}
    request = decode(temperature=0.2, top_p=0.9, top_k=40, stop_sequences=["END"], max_tokens=100,
                     metadata={"user_id": "u1"}, output_config={"format": {"type": "json_schema", "schema": schema}},
                     **extras)

    assert (request.temperature, request.top_p, request.top_k, request.stop, request.max_tokens) == \
        (0.2, 0.9, 40, ["END"], 100)
    assert (request.user, request.stream, request.response_format) == \
        ("u1", False, ir.ResponseFormat("json_schema", schema))
    assert request.extras == extras
    assert decode(output_format={"type": "json_schema", "schema": schema}).response_format == \
        ir.ResponseFormat("json_schema", schema)

    anthropic, _ = encode(request, ir.Dialect.ANTHROPIC)
    assert {key: anthropic[key] for key in extras} == extras
    for dialect in (ir.Dialect.RESPONSES, ir.Dialect.CHAT, ir.Dialect.GEMINI):
        body, losses = encode(request, dialect)
        assert not set(extras) & set(body), dialect
        assert set(extras) <= {loss.field for loss in losses}, dialect


# -- bad input: a 400 naming the field ----------------------------------------------------------------


def message(role, *blocks):
    return {"model": "m", "messages": [{"role": role, "content": list(blocks)}]}


BAD = [
    ({"model": "m"}, "messages"),
    ({"model": 1, "messages": [USER]}, "model"),
    ({"model": "m", "messages": "hi"}, "messages"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": [{"role": ["user"], "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    (message("user", {"type": {}}), "messages[0].content[0].type"),
    (message("user", {"type": "text"}), "messages[0].content[0].text"),
    (message("user", "hi"), "messages[0].content[0]"),
    ({"model": "m", "messages": [USER, {"role": "assistant", "content": "a"}, {"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": 3}}]}]},
     "messages[2].content[0].source.data"),
    (message("user", {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": ""}}),
     "messages[0].content[0].source.data"),
    (message("user", {"type": "image", "source": {"type": "file", "file_id": "f"}}), "messages[0].content[0].source.type"),
    (message("assistant", {"type": "tool_use", "id": "t", "name": "x", "input": "{}"}), "messages[0].content[0].input"),
    (message("assistant", {"type": "tool_use", "id": 5, "name": "x"}), "messages[0].content[0].id"),
    (message("user", {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image", "source": {"type": "url"}}]}),
     "messages[0].content[0].content[0].source.url"),
    (message("assistant", {"type": "thinking", "thinking": 1, "signature": "s"}), "messages[0].content[0].thinking"),
    (message("user", {"type": "thinking", "thinking": "x"}), "messages[0].content[0].type"),
    ({"model": "m", "messages": [USER], "system": 5}, "system"),
    ({"model": "m", "messages": [USER], "system": [{"type": "text", "text": "a", "cache_control": "x"}]},
     "system[0].cache_control"),
    ({"model": "m", "messages": [USER], "max_tokens": "10"}, "max_tokens"),
    ({"model": "m", "messages": [USER], "temperature": 3}, "temperature"),
    ({"model": "m", "messages": [USER], "stop_sequences": [1]}, "stop_sequences[0]"),
    ({"model": "m", "messages": [USER], "tools": [{"name": "x"}]}, "tools[0].input_schema"),
    ({"model": "m", "messages": [USER], "tools": [{"type": 3, "name": "x"}]}, "tools[0].type"),
    ({"model": "m", "messages": [USER], "tools": ["x"]}, "tools[0]"),
    ({"model": "m", "messages": [USER], "tools": [{"type": "web_search_20250305", "allowed_domains": "a.example"}]},
     "tools[0].allowed_domains"),
    ({"model": "m", "messages": [USER], "tool_choice": {"type": "tool"}}, "tool_choice.name"),
    ({"model": "m", "messages": [USER], "tool_choice": "auto"}, "tool_choice"),
    ({"model": "m", "messages": [USER], "thinking": {"type": "enabled", "budget_tokens": 1.5}}, "thinking.budget_tokens"),
    ({"model": "m", "messages": [USER], "thinking": {"type": "on"}}, "thinking.type"),
    ({"model": "m", "messages": [USER], "output_config": {"effort": "ultra"}}, "output_config.effort"),
    ({"model": "m", "messages": [USER], "metadata": {"user_id": 5}}, "metadata.user_id"),
]


@pytest.mark.parametrize("body, param", BAD, ids=[param for _, param in BAD])
def test_bad_input_is_a_400_naming_the_field(body, param):
    with pytest.raises(GatewayError) as caught:
        decode_request(body)
    assert (caught.value.status, caught.value.param) == (400, param)
    assert param in caught.value.message


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=damaged_bodies([FIRST, FOLLOW_UP, *(json.loads(p.read_text()) for p in RECORDED_REQUESTS)], ["m"]))
def test_no_damaged_body_raises_anything_but_a_400(raw):
    convert_everywhere(decode_request, raw)
