"""Tests of the Gemini front's request decoder (dialects/gemini/front_request.py).

The bodies are Gemini CLI's real requests (../shared/fixtures/clients/gemini-cli.json), the recorded
google-genai requests in tests/recorded/, and parts written after the Gemini API reference. Each decoded
request is checked field by field, then encoded for every upstream dialect; a Gemini body decoded and
encoded for Gemini again is what the client sent, but for the normalisation front_request.py documents.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from droid2api import ir
from droid2api.access import Incoming
from droid2api.dialects import BY_NAME, gemini
from droid2api.dialects.gemini import count_tokens_request, decode_request
from droid2api.dialects.gemini.schema import clean_schema
from droid2api.dialects.gemini.stream import tool_call_id
from droid2api.errors import GatewayError

from .helpers import RECORDED, app_for

GEMINI_CLI = json.loads((Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "clients" /
                         "gemini-cli.json").read_text())
FIRST, FOLLOW_UP = (entry["body"] for entry in GEMINI_CLI)
CLI_MODEL = "gemini-3.1-pro-preview"
RECORDED_REQUESTS = sorted(RECORDED.glob("google__*.request.json"))
USER = {"role": "user", "parts": [{"text": "hi"}]}
OUTPUT = "<untrusted_context>\nOutput: hi-from-gemini\nProcess Group PGID: 8891\n</untrusted_context>"


def route(model: str = "m"):
    return SimpleNamespace(factory=False, upstream_model=model, fast=False)


def decode(**fields) -> ir.Request:
    return decode_request({"contents": [USER], **fields}, "m", False)


def encode(request: ir.Request, dialect: str, model: str = "m") -> tuple:
    losses = []
    return BY_NAME[dialect].encode_request(request, losses, route(model)), losses


def turns(*contents) -> ir.Request:
    return decode_request({"contents": list(contents)}, "m", False)


# -- Gemini CLI -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [FIRST, FOLLOW_UP], ids=["first", "follow-up"])
def test_gemini_cli_requests_decode_field_by_field(body):
    request = decode_request(body, CLI_MODEL, True)

    assert (request.model, request.source, request.stream, request.include_usage) == \
        (CLI_MODEL, ir.Dialect.GEMINI, True, True)
    assert request.system == [ir.Instruction(body["systemInstruction"]["parts"][0]["text"])]
    declarations = body["tools"][0]["functionDeclarations"]
    assert [(t.name, t.description, t.parameters, t.kind) for t in request.tools] == \
        [(d["name"], d["description"], d["parametersJsonSchema"], "function") for d in declarations]
    assert len(request.tools) == 15
    assert (request.temperature, request.top_p, request.top_k) == (1, 0.95, 64)
    assert request.reasoning == ir.Reasoning(effort="high", summary="auto")
    assert (request.max_tokens, request.tool_choice, request.response_format, request.stop) == (None, None, None, [])
    assert request.extras == {} and request.losses == []
    assert request.messages[0] == ir.Message("user", [ir.Text(part["text"]) for part in body["contents"][0]["parts"]])


def test_gemini_cli_tool_loop_keeps_its_ids_and_its_signature():
    request = decode_request(FOLLOW_UP, CLI_MODEL, True)

    call_id = "run_shell_command_1795972719913_0"
    assert request.messages[1:] == [
        ir.Message("assistant", [ir.ToolCall(call_id, "run_shell_command", '{"command":"echo hi-from-gemini"}',
                                             signature="c2lnbmF0dXJl")]),
        ir.Message("user", [ir.ToolResult(call_id, [ir.Text(OUTPUT)], name="run_shell_command")])]


@pytest.mark.parametrize("dialect", [d for d in BY_NAME if d != ir.Dialect.GEMINI])
def test_gemini_cli_follow_up_encodes_for_every_other_upstream(dialect):
    body, losses = encode(decode_request(FOLLOW_UP, CLI_MODEL, True), dialect)

    assert json.dumps(body)  # a body the upstream can be sent
    assert "c2lnbmF0dXJl" not in json.dumps(body)  # Gemini's signature goes back to Gemini only
    assert "hi-from-gemini" in json.dumps(body)


def test_gemini_cli_follow_up_encodes_for_anthropic():
    body, losses = encode(decode_request(FOLLOW_UP, CLI_MODEL, True), ir.Dialect.ANTHROPIC)

    assert body["system"] == [{"type": "text", "text": FOLLOW_UP["systemInstruction"]["parts"][0]["text"]}]
    assert body["messages"][1:] == [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "run_shell_command_1795972719913_0",
                                           "name": "run_shell_command", "input": {"command": "echo hi-from-gemini"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "run_shell_command_1795972719913_0",
                                      "content": [{"type": "text", "text": OUTPUT}]}]}]
    assert len(body["tools"]) == 15 and body["tools"][8]["name"] == "run_shell_command"
    assert "messages[1].content[0].signature" in {loss.field for loss in losses}


# -- Gemini -> IR -> Gemini ------------------------------------------------------------------------------


def normalised(body: dict) -> dict:
    """A client's body as front_request.py's docstring says it comes back from the Gemini encoder."""
    body = copy.deepcopy(body)
    if not body.get("generationConfig"):
        body.pop("generationConfig", None)
    body.get("systemInstruction", {}).pop("role", None)
    for content in body["contents"]:
        for part in content["parts"]:
            for kind in ("functionCall", "functionResponse"):
                part.get(kind, {}).pop("id", None)
            response = part.get("functionResponse", {}).get("response")
            if response is not None and list(response) == ["output"]:
                part["functionResponse"]["response"] = {"result": response["output"]}
    for tool in body.get("tools", []):
        for declaration in tool.get("functionDeclarations", []):
            schema = declaration.pop("parametersJsonSchema", None) or declaration.pop("parameters_json_schema", None)
            if schema is not None:
                declaration["parameters"] = clean_schema(schema, [], "parameters")
            if not declaration.get("parameters", {}).get("properties"):
                declaration.pop("parameters", None)
    calling = body.get("toolConfig", {}).get("functionCallingConfig", {})
    if len(calling.get("allowedFunctionNames", ())) > 1:
        del calling["allowedFunctionNames"]
    return body


@pytest.mark.parametrize("path", RECORDED_REQUESTS, ids=lambda path: path.name.split("__")[1])
def test_recorded_sdk_requests_go_back_to_gemini_as_sent(path):
    body = json.loads(path.read_text())
    encoded, _ = encode(decode_request(body, "gemini-2.5-flash", False), ir.Dialect.GEMINI, "gemini-2.5-flash")
    assert encoded == normalised(body)


@pytest.mark.parametrize("body", [FIRST, FOLLOW_UP], ids=["first", "follow-up"])
def test_gemini_cli_requests_go_back_to_gemini_as_sent(body):
    encoded, _ = encode(decode_request(body, CLI_MODEL, True), ir.Dialect.GEMINI, CLI_MODEL)
    assert encoded == normalised(body)


@pytest.mark.parametrize("count_tokens", [False, True])
def test_a_gemini_client_of_a_gemini_upstream_is_relayed_never_decoded(monkeypatch, count_tokens):
    gateway = app_for().extensions["droid2api"]
    route = gateway.policy.route("gemini-test")

    def never(*args, **kwargs):
        raise AssertionError("a Gemini body on its way to Gemini was decoded")

    monkeypatch.setattr(gemini, "decode_request", never)
    monkeypatch.setattr(gemini, "count_tokens_request", never)
    monkeypatch.setattr(gateway, "passthrough", lambda front, *args, **kwargs: ("relayed", front))
    served = gateway.handle(gemini, route, {"contents": [USER]}, Incoming({}, None, ""), count_tokens=count_tokens)
    assert served == ("relayed", gemini)


# -- parts ---------------------------------------------------------------------------------------------------


def test_files_inline_and_by_uri():
    request = turns({"role": "user", "parts": [
        {"text": "What are these?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"inline_data": {"mime_type": "application/pdf", "data": "JVBERi0=", "display_name": "spec.pdf"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/cat.jpg"}},
        {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}]})

    assert request.messages[0].parts == [
        ir.Text("What are these?"),
        ir.Image(data="iVBORw0KGgo=", media_type="image/png"),
        ir.Document(data="JVBERi0=", media_type="application/pdf", title="spec.pdf"),
        ir.Image(url="gs://bucket/cat.jpg", media_type="image/jpeg"),
        ir.Document(url="https://generativelanguage.googleapis.com/v1beta/files/abc"),
        ir.Document(data="UklGRg==", media_type="audio/wav")]
    with pytest.raises(GatewayError) as refused:  # the upstream encoders refuse what their model cannot read
        encode(request, ir.Dialect.ANTHROPIC)
    assert refused.value.status == 400


def test_code_execution_and_unknown_part_kinds_are_losses():
    request = turns(USER, {"role": "model", "parts": [
        {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}},
        {"toolCall": {"name": "x"}},
        {"text": "It printed 1."}]})

    assert request.messages[1].parts == [ir.Text("It printed 1.")]
    assert [loss.field for loss in request.losses] == [f"contents[1].parts[{i}]" for i in range(3)]


def test_thoughts_gather_as_the_gemini_decoder_gathers_them():
    request = turns(USER, {"role": "model", "parts": [
        {"text": "First, ", "thought": True},
        {"text": "then.", "thought": True, "thoughtSignature": "c2lnLTE="},
        {"text": "The answer", "thoughtSignature": "c2lnLTI="},
        {"text": "", "thoughtSignature": "c2lnLTM="}]})

    assert request.messages[1].parts == [
        ir.Thinking("First, then.", signature="c2lnLTE=", source=ir.Dialect.GEMINI),
        ir.Thinking(signature="c2lnLTI=", source=ir.Dialect.GEMINI),
        ir.Text("The answer"),
        ir.Thinking(signature="c2lnLTM=", source=ir.Dialect.GEMINI)]
    body, _ = encode(request, ir.Dialect.GEMINI)
    assert body["contents"][1]["parts"] == [{"text": "", "thoughtSignature": "c2lnLTE="},
                                            {"text": "The answer", "thoughtSignature": "c2lnLTI="},
                                            {"text": "", "thoughtSignature": "c2lnLTM="}]


def test_a_streamed_answer_kept_chunk_by_chunk_is_one_turn():
    """google-genai's chats keep each chunk of a streamed answer as a Content of its own."""
    request = turns(USER, {"role": "model", "parts": [{"text": "Thin", "thought": True}]},
                    {"role": "model", "parts": [{"text": "king.", "thought": True}]},
                    {"role": "model", "parts": [{"text": "", "thought": True, "thoughtSignature": "c2ln"}]},
                    {"role": "model", "parts": [{"text": "The ans"}]}, {"role": "model", "parts": [{"text": "wer."}]},
                    {"role": "model", "parts": [call("get", {"k": 1})]}, {"role": "model", "parts": [call("get")]},
                    {"role": "user", "parts": [answer("get", {"v": 1})]},
                    {"role": "user", "parts": [answer("get", {})]})

    first, second = tool_call_id(2, "get", '{"k":1}'), tool_call_id(3, "get", "{}")
    assert request.messages[1:] == [
        ir.Message("assistant", [ir.Thinking("Thinking.", signature="c2ln", source=ir.Dialect.GEMINI),
                                 ir.Text("The answer."), ir.ToolCall(first, "get", '{"k":1}'),
                                 ir.ToolCall(second, "get", "{}")]),
        ir.Message("user", [ir.ToolResult(first, [ir.Text('{"v":1}')], name="get"),
                            ir.ToolResult(second, [ir.Text("{}")], name="get")])]


def test_a_content_whose_every_part_was_dropped_is_no_turn():
    request = turns(USER, {"role": "model", "parts": [{"executableCode": {"code": "1"}}]},
                    {"role": "user", "parts": [{"text": "again"}]})
    assert request.messages == [ir.Message("user", [ir.Text("hi"), ir.Text("again")])]


def test_thoughts_in_a_user_turn_are_dropped():
    request = turns({"role": "user", "parts": [{"text": "hmm", "thought": True}, {"text": "hi"}]})
    assert request.messages[0].parts == [ir.Text("hi")]
    assert [loss.field for loss in request.losses] == ["contents[0].parts[0]"]


def test_system_instruction_as_a_string_or_a_content():
    assert decode(systemInstruction="Be brief.").system == [ir.Instruction("Be brief.")]
    request = decode(system_instruction={"role": "user", "parts": [{"text": "A"}, {"text": "B"}]})
    assert request.system == [ir.Instruction("A"), ir.Instruction("B")]
    request = decode(systemInstruction={"parts": [{"inlineData": {"mimeType": "image/png", "data": "AA=="}}]})
    assert request.system == [] and [loss.field for loss in request.losses] == ["systemInstruction.parts[0]"]


# -- function calls and responses ---------------------------------------------------------------------------


def call(name: str, args: dict | None = None, **extra) -> dict:
    return {"functionCall": {"name": name, "args": args or {}, **extra}}


def answer(name: str, response: dict, **extra) -> dict:
    return {"functionResponse": {"name": name, "response": response, **extra}}


def test_a_call_without_an_id_gets_the_id_the_gemini_upstream_decoder_gave_it():
    request = turns(USER, {"role": "model", "parts": [{"text": "Looking.", "thought": True}, {"text": "On it."},
                                                      call("look", {"x": 1})]},
                    {"role": "user", "parts": [answer("look", {"seen": True})]})

    expected = tool_call_id(2, "look", '{"x":1}')
    assert request.messages[1].parts[2] == ir.ToolCall(expected, "look", '{"x":1}')
    assert request.messages[2].parts == [ir.ToolResult(expected, [ir.Text('{"seen":true}')], name="look")]


def test_responses_without_ids_answer_calls_of_their_name_in_order():
    request = turns(USER, {"role": "model", "parts": [call("get", {"k": "a"}), call("get", {"k": "b"}),
                                                      call("put")]},
                    {"role": "user", "parts": [answer("put", {}), answer("get", {"v": 1}), answer("get", {"v": 2})]})

    calls = [part.id for part in request.messages[1].parts]
    assert [part.call_id for part in request.messages[2].parts] == [calls[2], calls[0], calls[1]]


def test_the_same_call_in_two_turns_gets_two_ids():
    request = turns(USER, {"role": "model", "parts": [call("now")]}, {"role": "user", "parts": [answer("now", {})]},
                    {"role": "model", "parts": [call("now")]}, {"role": "user", "parts": [answer("now", {})]})

    first, second = request.messages[1].parts[0].id, request.messages[3].parts[0].id
    assert first != second
    assert (request.messages[2].parts[0].call_id, request.messages[4].parts[0].call_id) == (first, second)


@pytest.mark.parametrize("response, text, is_error", [
    ({"output": "done"}, "done", False),
    ({"result": "done"}, "done", False),
    ({"error": "no such file"}, "no such file", True),
    ({"error": {"code": 2}}, '{"code":2}', True),
    ({"output": "a", "exit": 1}, '{"output":"a","exit":1}', False),
    ({}, "{}", False),
])
def test_function_responses(response, text, is_error):
    request = turns(USER, {"role": "model", "parts": [call("run", id="c1")]},
                    {"role": "user", "parts": [answer("run", response, id="c1")]})
    assert request.messages[2].parts == [ir.ToolResult("c1", [ir.Text(text)], is_error, name="run")]


def test_a_function_response_with_files():
    request = turns(USER, {"role": "model", "parts": [call("shot", id="c1")]},
                    {"role": "user", "parts": [answer("shot", {"output": "taken"}, id="c1", parts=[
                        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}])]})
    assert request.messages[2].parts[0].content == [ir.Text("taken"),
                                                    ir.Image(data="iVBORw0KGgo=", media_type="image/png")]


def test_a_function_response_answering_no_call_is_a_400():
    with pytest.raises(GatewayError) as caught:
        turns(USER, {"role": "user", "parts": [answer("ghost", {})]})
    assert (caught.value.status, caught.value.param) == (400, "contents[1].parts[0].functionResponse")


# -- countTokens -------------------------------------------------------------------------------------------


def test_count_tokens_takes_contents_alone_or_a_whole_request():
    alone = count_tokens_request({"contents": [USER]}, "m")
    assert (alone.model, alone.messages, alone.system, alone.stream) == ("m", [ir.Message("user", [ir.Text("hi")])],
                                                                          [], False)
    whole = count_tokens_request({"generateContentRequest": {"model": "models/m", "contents": [USER],
                                                             "systemInstruction": "Be brief."}}, "m")
    assert whole.system == [ir.Instruction("Be brief.")] and whole.messages == alone.messages


@pytest.mark.parametrize("body, param", [
    ({}, "contents"),
    ({"contents": [USER], "generateContentRequest": {"contents": [USER]}}, "contents"),
    ({"generateContentRequest": {"contents": [{"parts": [{"text": 1}]}]}},
     "generateContentRequest.contents[0].parts[0].text"),
    ({"generateContentRequest": {"contents": [{"parts": [answer("x", {})]}]}},
     "generateContentRequest.contents[0].parts[0].functionResponse"),
])
def test_bad_count_tokens_bodies_are_a_400_naming_the_field(body, param):
    with pytest.raises(GatewayError) as caught:
        count_tokens_request(body, "m")
    assert (caught.value.status, caught.value.param) == (400, param)
