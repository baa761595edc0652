"""Tests of the OpenAI Responses front's request decoder (dialects/openai_responses/front_request.py).

The bodies are Codex's real requests (../shared/fixtures/clients/codex.json), the recorded openai SDK
requests in tests/recorded/, and items written after the Responses API reference. Each decoded request
is checked field by field, then encoded for every upstream dialect; a Responses body comes back from
the IR as it was sent, but for the normalisations front_request.py documents. Tools are tested in
test_responses_front_tools.py, carried reasoning in test_responses_front_carried.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings

from droid2api import ir
from droid2api.dialects import BY_NAME
from droid2api.dialects.openai_responses import decode_request
from droid2api.errors import GatewayError

from . import hypothesis_profiles  # noqa: F401  (loads the profile before any @given runs)
from .helpers import RECORDED, convert_everywhere
from .json_mutations import damaged_bodies

CODEX = json.loads((Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "clients" / "codex.json").read_text())
FIRST, FOLLOW_UP = (entry["body"] for entry in CODEX)
RECORDED_REQUESTS = sorted(RECORDED.glob("openai_responses__*.request.json"))
ROUTE = SimpleNamespace(factory=False, upstream_model="m", fast=False)
USER = {"role": "user", "content": "hi"}
CALL_ID = "call_a2bb9d3f11194943b8055296"


def decode(**fields) -> ir.Request:
    return decode_request({"model": "m", "input": [USER], **fields})


def encode(request: ir.Request, dialect: str) -> tuple:
    losses = []
    return BY_NAME[dialect].encode_request(request, losses, ROUTE), losses


def texts(message: dict) -> list:
    """The texts of a Responses message's content, a string or parts."""
    content = message["content"]
    return [content] if isinstance(content, str) else [part["text"] for part in content]


# -- Codex ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [FIRST, FOLLOW_UP], ids=["first", "follow-up"])
def test_codex_requests_decode_field_by_field(body):
    request = decode_request(body)

    assert (request.model, request.source, request.stream, request.include_usage) == \
        ("gpt-5.4", ir.Dialect.RESPONSES, True, True)
    developer = [item for item in body["input"] if item.get("role") == "developer"]
    assert len(developer) == 2 and "instructions" not in body
    assert request.system == [ir.Instruction(text, role="developer") for item in developer for text in texts(item)]
    assert request.messages[0] == ir.Message("user", [ir.Text(text) for item in body["input"][2:4]
                                                      for text in texts(item)])
    assert (request.tool_choice, request.parallel_tool_calls, request.reasoning) == \
        (ir.ToolChoice("auto"), True, ir.Reasoning(summary="auto"))
    assert request.extras == {"include": ["reasoning.encrypted_content"], "store": False,
                              "prompt_cache_key": body["prompt_cache_key"], "client_metadata": body["client_metadata"]}
    assert (request.max_tokens, request.temperature, request.user, request.response_format, request.losses) == \
        (None, None, None, None, [])


def test_codex_tools_by_kind_with_the_namespace_flattened():
    request = decode_request(FIRST)
    raw = FIRST["tools"]
    namespace = next(tool for tool in raw if tool["type"] == "namespace")

    assert [(t.name, t.kind) for t in request.tools[:4]] == [(tool["name"], "function") for tool in raw[:4]]
    assert all((t.description, t.parameters, t.strict) == (r["description"], r["parameters"], False)
               for t, r in zip(request.tools, raw[:4]))
    grouped = request.tools[4:9]
    assert [(t.name, t.namespace, t.client_name) for t in grouped] == \
        [(f"multi_agent_v1__{inner['name']}", "multi_agent_v1", inner["name"]) for inner in namespace["tools"]]
    assert all(t.options == {"namespace_description": namespace["description"]} and t.kind == "function"
               for t in grouped)
    assert grouped[3].parameters == namespace["tools"][3]["parameters"]
    assert [t.name for t in request.tools[9:12]] == ["get_goal", "create_goal", "update_goal"]
    assert request.tools[12] == ir.Tool("web_search", kind="web_search")  # external_web_access: true, the default
    assert len(request.tools) == 13


def test_codex_tool_loop_decodes_as_a_call_and_its_result():
    request = decode_request(FOLLOW_UP)
    call, output = FOLLOW_UP["input"][4:]

    assert [m.role for m in request.messages] == ["user", "assistant", "user"]
    assert request.messages[1].parts == [ir.ToolCall(CALL_ID, "exec_command", call["arguments"])]
    assert request.messages[2].parts == [ir.ToolResult(CALL_ID, [ir.Text(output["output"])])]


def test_codex_follow_up_encodes_for_an_anthropic_upstream():
    body, losses = encode(decode_request(FOLLOW_UP), ir.Dialect.ANTHROPIC)

    assert [block["text"] for block in body["system"]] == [text for item in FOLLOW_UP["input"][:2] for text in texts(item)]
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant", "user"]
    assert len(body["messages"][0]["content"]) == 2
    assert body["messages"][1]["content"] == [{"type": "tool_use", "id": CALL_ID, "name": "exec_command",
                                               "input": {"cmd": "echo hi-from-codex"}}]
    assert body["messages"][2]["content"][0]["tool_use_id"] == CALL_ID
    assert [tool["name"] for tool in body["tools"]][4:9] == [f"multi_agent_v1__{name}" for name in
                                                             ("close_agent", "resume_agent", "send_input",
                                                              "spawn_agent", "wait_agent")]
    assert body["tools"][-1] == {"type": "web_search_20250305", "name": "web_search"}
    assert (body["stream"], body["tool_choice"]) == (True, {"type": "auto"})
    assert {loss.field for loss in losses} == {"include", "store", "prompt_cache_key", "client_metadata"}


def test_codex_follow_up_encodes_for_a_chat_upstream():
    body, losses = encode(decode_request(FOLLOW_UP), ir.Dialect.CHAT)

    assert [m["role"] for m in body["messages"]] == ["developer"] * 3 + ["user", "assistant", "tool"]
    assert body["messages"][4]["tool_calls"] == [{"id": CALL_ID, "type": "function", "function": {
        "name": "exec_command", "arguments": FOLLOW_UP["input"][4]["arguments"]}}]
    assert body["messages"][5] == {"role": "tool", "tool_call_id": CALL_ID, "content": FOLLOW_UP["input"][5]["output"]}
    assert len(body["tools"]) == 12 and body["tools"][7]["function"]["name"] == "multi_agent_v1__spawn_agent"
    assert "tools[12]" in {loss.field for loss in losses}  # Chat has no web search


def test_codex_follow_up_encodes_for_a_gemini_upstream():
    body, _ = encode(decode_request(FOLLOW_UP), ir.Dialect.GEMINI)

    assert len(body["systemInstruction"]["parts"]) == 3
    assert body["contents"][1] == {"role": "model", "parts": [
        {"functionCall": {"name": "exec_command", "args": {"cmd": "echo hi-from-codex"}}}]}
    assert body["contents"][2]["parts"][0]["functionResponse"]["name"] == "exec_command"
    assert len(body["tools"][0]["functionDeclarations"]) == 12 and len(body["tools"]) == 1  # no search beside functions


# -- Responses -> IR -> Responses ---------------------------------------------------------------------


def normalised(body: dict) -> dict:
    """``body`` as the Responses encoder writes it back, by the rules front_request.py documents."""
    expected = {key: value for key, value in body.items() if value is not None and key != "instructions"}
    items = [{"role": "user", "content": body["input"]}] if isinstance(body["input"], str) else body["input"]
    developer, turns = [], []
    for item in items:
        item = {key: value for key, value in item.items() if key not in ("id", "status")}
        kind = item.setdefault("type", "message")
        if kind == "message" and item["role"] == "developer":
            developer += [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": text}]}
                          for text in texts(item)]
            continue
        if kind == "message":
            part_type = "output_text" if item["role"] == "assistant" else "input_text"
            item["content"] = [{"type": part_type, "text": text} for text in texts(item)]
            if turns and turns[-1].get("role") == item["role"]:
                turns[-1]["content"] += item["content"]
                continue
        turns.append(item)
    expected["input"] = developer + turns
    if body.get("instructions"):
        expected["instructions"] = body["instructions"]
    if "reasoning" in expected:
        expected["reasoning"] = {"summary": "auto", **{k: v for k, v in body["reasoning"].items() if v is not None}}
    expected["tools"] = [{key: value for key, value in tool.items() if (key, value) != ("external_web_access", True)}
                         for tool in body.get("tools", [])] or None
    expected["store"] = False
    return {key: value for key, value in expected.items() if value is not None}


@pytest.mark.parametrize("body", [FIRST, FOLLOW_UP, *(json.loads(p.read_text()) for p in RECORDED_REQUESTS)],
                         ids=["codex-first", "codex-follow-up", *(p.name.split("__")[1] for p in RECORDED_REQUESTS)])
def test_responses_bodies_come_back_as_sent_but_for_the_documented_normalisation(body):
    request = decode_request(body)
    encoded, losses = encode(request, ir.Dialect.RESPONSES)

    assert encoded == normalised(body)
    assert losses == []


# -- input items ------------------------------------------------------------------------------------


def test_a_string_input_and_instructions():
    request = decode_request({"model": "m", "input": "Hello", "instructions": "Be brief."})
    assert request.system == [ir.Instruction("Be brief.")]
    assert request.messages == [ir.Message("user", [ir.Text("Hello")])]
    assert decode_request({"model": "m", "input": "x", "instructions": ""}).system == []


def test_messages_of_every_role_and_content_part():
    request = decode_request({"model": "m", "input": [
        {"role": "system", "content": "Be kind."},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Look:"},
            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "high"},
            {"type": "input_image", "image_url": "data:image/jpeg;base64,/9j/"},
            {"type": "input_file", "filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
            {"type": "input_file", "filename": "notes.txt", "file_data": "aGk="},
            {"type": "input_file", "file_url": "https://example.com/a.pdf"}]},
        {"role": "developer", "content": [{"type": "input_text", "text": "Use tools."}]},
        {"role": "user", "content": "And?"},
        {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed", "content": [
            {"type": "output_text", "text": "Sure.", "annotations": []}, {"type": "refusal", "refusal": "Not that."}]},
        {"role": "assistant", "content": "More."}]})

    assert request.system == [ir.Instruction("Be kind."), ir.Instruction("Use tools.", role="developer")]
    assert request.messages == [
        ir.Message("user", [ir.Text("Look:"), ir.Image(url="https://example.com/a.png", detail="high"),
                            ir.Image(data="/9j/", media_type="image/jpeg"),
                            ir.Document(data="JVBERi0=", title="report.pdf"),
                            ir.Document(data="aGk=", media_type="text/plain", title="notes.txt"),
                            ir.Document(url="https://example.com/a.pdf"), ir.Text("And?")]),
        ir.Message("assistant", [ir.Text("Sure."), ir.Refusal("Not that."), ir.Text("More.")])]
    assert request.losses == []


def test_custom_tool_calls_and_outputs_with_content_lists():
    request = decode(input=[
        USER,
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAB"},
        {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "function_call", "call_id": "c2", "name": "wait_agent", "namespace": "multi_agent_v1",
         "arguments": "{}"},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": "Done."},
        {"type": "function_call_output", "call_id": "c2", "output": [
            {"type": "input_text", "text": "seen"}, {"type": "input_image", "image_url": "https://i.example"}]}])

    assert request.messages[1:] == [
        ir.Message("assistant", [
            ir.Thinking(encrypted="gAAAAB", source=ir.Dialect.RESPONSES, id="rs_1"),
            ir.ToolCall("c1", "apply_patch", '{"input":"*** Begin Patch"}'),
            ir.ToolCall("c2", "multi_agent_v1__wait_agent", "{}")]),
        ir.Message("user", [ir.ToolResult("c1", [ir.Text("Done.")]),
                            ir.ToolResult("c2", [ir.Text("seen"), ir.Image(url="https://i.example")])])]


def test_reasoning_items_become_one_thinking_part_per_summary():
    request = decode(input=[USER, {"type": "reasoning", "id": "rs_2", "encrypted_content": "gAAAAB", "summary": [
        {"type": "summary_text", "text": "First."}, {"type": "summary_text", "text": "Then."}]}])

    assert request.messages[1].parts == [ir.Thinking("First.", source=ir.Dialect.RESPONSES, id="rs_2"),
                                         ir.Thinking("Then.", encrypted="gAAAAB", source=ir.Dialect.RESPONSES, id="rs_2")]
    body, losses = encode(request, ir.Dialect.RESPONSES)
    assert body["input"][1] == {"type": "reasoning", "id": "rs_2", "encrypted_content": "gAAAAB", "summary": [
        {"type": "summary_text", "text": "First."}, {"type": "summary_text", "text": "Then."}]}
    assert losses == []


def test_items_of_tools_only_openai_runs_are_dropped_with_a_loss():
    request = decode(input=[
        USER,
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "x"}},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Found."}]},
        {"type": "compaction", "encrypted_content": "gAAAAB"},
        {"type": "local_shell_call", "id": "ls_1", "call_id": "c", "status": "completed", "action": {}}])

    assert request.messages == [ir.Message("user", [ir.Text("hi")]), ir.Message("assistant", [ir.Text("Found.")])]
    assert [loss.field for loss in request.losses] == ["input[1]", "input[3]", "input[4]"]


# -- settings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reasoning, expected", [
    ({"effort": "high", "summary": "detailed"}, ir.Reasoning(effort="high", summary="detailed")),
    ({"effort": "none"}, ir.Reasoning(effort="none")),
    ({"effort": "max"}, ir.Reasoning(effort="xhigh")),
    ({"effort": "minimal", "generate_summary": "concise"}, ir.Reasoning(effort="minimal", summary="concise")),
    ({"summary": None}, None),
    (None, None),
])
def test_reasoning(reasoning, expected):
    assert decode(reasoning=reasoning).reasoning == expected


def test_settings_output_format_and_extras():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    extras = {"include": ["reasoning.encrypted_content", "web_search_call.action.sources"], "store": True,
              "previous_response_id": "resp_1", "background": False, "prompt_cache_key": "k",
              "client_metadata": {"a": "b"}, "service_tier": "flex", "truncation": "auto", "max_tool_calls": 3,
              "conversation": "conv_1", "something_new": {"x": 1}}
    request = decode(max_output_tokens=100, temperature=1.5, top_p=0.9, metadata={"k": "v"}, user="u1",
                     safety_identifier="s1", parallel_tool_calls=False, stream=False, previous_item=None,
                     text={"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True},
                           "verbosity": "low"}, reasoning={"effort": "low"}, **extras)

    assert (request.max_tokens, request.temperature, request.top_p, request.metadata, request.user) == \
        (100, 1.5, 0.9, {"k": "v"}, "u1")
    assert (request.parallel_tool_calls, request.stream, request.include_usage) == (False, False, False)
    assert request.response_format == ir.ResponseFormat("json_schema", schema, "answer", strict=True)
    assert request.extras == {**extras, "text": {"verbosity": "low"}, "safety_identifier": "s1"}
    assert decode(safety_identifier="s1").user == "s1" and decode(safety_identifier="s1").extras == {}
    assert decode(text={"format": {"type": "json_object"}}).response_format == ir.ResponseFormat("json_object")

    body, _ = encode(request, ir.Dialect.RESPONSES)
    assert body["text"] == {"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True},
                            "verbosity": "low"}
    assert body["include"] == extras["include"] and body["store"] is False  # the gateway stores nothing upstream
    assert {key: body[key] for key in extras if key not in ("include", "store")} == \
        {key: value for key, value in extras.items() if key not in ("include", "store")}
    for dialect in (ir.Dialect.ANTHROPIC, ir.Dialect.CHAT, ir.Dialect.GEMINI):
        body, losses = encode(request, dialect)
        assert not set(extras) & set(body), dialect
        assert set(extras) | {"text", "safety_identifier"} <= {loss.field for loss in losses}, dialect


# -- bad input: a 400 naming the field ----------------------------------------------------------------


def item(**fields) -> dict:
    return {"model": "m", "input": [USER, fields]}


def content(*parts) -> dict:
    return {"model": "m", "input": [{"role": "user", "content": list(parts)}]}


BAD = [
    ({"input": "hi"}, "model"),
    ({"model": 1, "input": "hi"}, "model"),
    ({"model": "m", "input": 5}, "input"),
    ({"model": "m", "input": ["hi"]}, "input[0]"),
    ({"model": "m", "input": [{"role": ["user"], "content": "x"}]}, "input[0].role"),
    ({"model": "m", "input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
    ({"model": "m", "input": [{"type": 3, "role": "user", "content": "x"}]}, "input[0].type"),
    ({"model": "m", "input": [{"type": "mystery"}]}, "input[0].type"),
    ({"model": "m", "input": [{"role": "user", "content": 5}]}, "input[0].content"),
    (content({"type": "input_text"}), "input[0].content[0].text"),
    (content({"type": "output_text", "text": "x"}), "input[0].content[0].type"),
    (content({"type": "input_image", "file_id": "file-1"}), "input[0].content[0].file_id"),
    (content({"type": "input_image", "detail": "auto"}), "input[0].content[0].image_url"),
    (content({"type": "input_image", "image_url": "data:image/png,abc"}), "input[0].content[0].image_url"),
    (content({"type": "input_image", "image_url": ""}), "input[0].content[0].image_url"),
    (content({"type": "input_file", "file_id": "file-1"}), "input[0].content[0].file_id"),
    (content({"type": "input_file", "filename": "a.pdf"}), "input[0].content[0].file_data"),
    (content({"type": "input_file", "file_data": "data:;base64"}), "input[0].content[0].file_data"),
    ({"model": "m", "input": [{"role": "developer", "content": [
        {"type": "input_image", "image_url": "https://i.example"}]}]}, "input[0].content[0].type"),
    (item(type="item_reference", id="msg_1"), "input[1]"),
    (item(id="msg_1"), "input[1]"),
    (item(type="function_call", call_id="c", name="x", arguments={}), "input[1].arguments"),
    (item(type="function_call", name="x", arguments="{}"), "input[1].call_id"),
    (item(type="function_call", call_id="c", name="", arguments="{}"), "input[1].name"),
    (item(type="custom_tool_call", call_id="c", name="x"), "input[1].input"),
    (item(type="function_call_output", call_id="c", output=3), "input[1].output"),
    (item(type="function_call_output", call_id="c", output=[{"type": "input_image", "file_id": "f"}]),
     "input[1].output[0].file_id"),
    (item(type="reasoning", id="rs", summary=[{"type": "summary_text"}]), "input[1].summary[0].text"),
    (item(type="reasoning", id="rs", summary=[], encrypted_content=5), "input[1].encrypted_content"),
    ({"model": "m", "input": "x", "instructions": ["a"]}, "instructions"),
    ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
    ({"model": "m", "input": "x", "tools": [{"name": "x"}]}, "tools[0].type"),
    ({"model": "m", "input": "x", "tools": ["x"]}, "tools[0]"),
    ({"model": "m", "input": "x", "tools": [{"type": "function", "name": "x", "parameters": "{}"}]},
     "tools[0].parameters"),
    ({"model": "m", "input": "x", "tools": [{"type": "namespace", "name": "n", "tools": [{"type": "web_search"}]}]},
     "tools[0].tools[0].type"),
    ({"model": "m", "input": "x", "tools": [{"type": "web_search", "filters": {"allowed_domains": "a.example"}}]},
     "tools[0].filters.allowed_domains"),
    ({"model": "m", "input": "x", "tool_choice": "any"}, "tool_choice"),
    ({"model": "m", "input": "x", "tool_choice": {"type": "function"}}, "tool_choice.name"),
    ({"model": "m", "input": "x", "tool_choice": {"type": "allowed_tools", "mode": "none", "tools": []}},
     "tool_choice.mode"),
    ({"model": "m", "input": "x", "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [
        {"type": "function"}]}}, "tool_choice.tools[0].name"),
    ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"model": "m", "input": "x", "temperature": 3}, "temperature"),
    ({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name"),
    ({"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ({"model": "m", "input": "x", "reasoning": {"effort": "ultra"}}, "reasoning.effort"),
    ({"model": "m", "input": "x", "include": "reasoning.encrypted_content"}, "include"),
    ({"model": "m", "input": "x", "store": "maybe"}, "store"),
    ({"model": "m", "input": "x", "previous_response_id": 5}, "previous_response_id"),
    ({"model": "m", "input": "x", "metadata": {"k": 1}}, "metadata.k"),
    ({"model": "m", "input": "x", "truncation": "sometimes"}, "truncation"),
]


@pytest.mark.parametrize("body, param", BAD, ids=[param for _, param in BAD])
def test_bad_input_is_a_400_naming_the_field(body, param):
    with pytest.raises(GatewayError) as caught:
        decode_request(body)
    assert (caught.value.status, caught.value.param) == (400, param)
    assert param in caught.value.message


def test_what_the_gateway_cannot_serve_says_why():
    with pytest.raises(GatewayError) as caught:
        decode_request(content({"type": "input_file", "file_id": "file-1"}))
    assert "no files API" in caught.value.message
    with pytest.raises(GatewayError) as caught:
        decode_request(item(type="item_reference", id="msg_1"))
    assert "does not keep" in caught.value.message and "previous_response_id" in caught.value.message


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=damaged_bodies([FIRST, FOLLOW_UP, *(json.loads(p.read_text()) for p in RECORDED_REQUESTS)], ["m"]))
def test_no_damaged_body_raises_anything_but_a_400(raw):
    convert_everywhere(decode_request, raw)
