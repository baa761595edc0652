"""Tests of the Gemini upstream codec: decoding recorded answers, encoding requests, schema cleaning.

Expected values are read off the recorded traffic in tests/recorded/google__* (pydantic-ai
cassettes of the public API) or follow from the Gemini API reference, never from this code.
"""

from __future__ import annotations

import copy
import hashlib
import json
from types import SimpleNamespace

import pytest

from droid2api import ir
from droid2api.dialects import gemini
from droid2api.dialects.gemini.schema import clean_schema
from droid2api.errors import GatewayError
from droid2api.sse import iter_events
from tests.helpers import assert_stream_contract, exchanges, recorded, recorded_json

PUBLIC = SimpleNamespace(factory=False, upstream_model="gemini-2.0-flash")


def events_of(chunks) -> list:
    decoder = gemini.StreamDecoder()
    events = []
    for name, data in iter_events(chunks):
        events.extend(decoder.feed(name, data))
    return events + decoder.close()


def streamed(name: str) -> ir.Response:
    return ir.accumulate(events_of([recorded(f"{name}.response.sse")]))


def sse_payloads(name: str) -> list:
    raw = recorded(f"{name}.response.sse").decode()
    return [json.loads(block[len("data: "):]) for block in raw.split("\r\n\r\n") if block.strip()]


def expected_id(index: int, name: str, arguments: str, signature: str | None = None) -> str:
    key = f"{index}:{name}:{arguments}" + (f":{signature}" if signature else "")
    return "call_" + hashlib.sha256(key.encode()).hexdigest()[:24]


# -- decoding recorded answers -------------------------------------------------


@pytest.mark.parametrize("name", exchanges("google", "sse"))
def test_recorded_streams_are_well_formed(name):
    assert_stream_contract(events_of([recorded(f"{name}.response.sse")]))


@pytest.mark.parametrize("name", exchanges("google", "json"))
def test_a_plain_answer_sent_as_a_one_event_stream_decodes_the_same(name):
    body = recorded_json(f"{name}.response.json")
    raw = b"data: " + json.dumps(body).encode() + b"\r\n\r\n"
    assert ir.accumulate(events_of([raw])) == gemini.decode_response(body)


@pytest.mark.parametrize("name", exchanges("google", "sse"))
def test_a_stream_folded_into_one_plain_answer_decodes_the_same(name):
    # What generateContent would have answered: every chunk's parts in one body, the last usage.
    payloads = sse_payloads(name)
    body = copy.deepcopy(payloads[-1])
    body["candidates"][0]["content"]["parts"] = [
        part for payload in payloads for part in payload["candidates"][0]["content"]["parts"]]
    assert gemini.decode_response(body) == streamed(name)


def test_plain_tool_call_answers():
    first = gemini.decode_response(recorded_json("google__test_google_tool_output.0.response.json"))
    assert (first.id, first.model) == ("LlteaIDvD9m7nvgPz5Sb0Aw", "gemini-2.0-flash")
    assert first.parts == [ir.ToolCall(id=expected_id(0, "get_user_country", "{}"), name="get_user_country",
                                       arguments="{}")]
    assert first.stop_reason == "tool_use"  # finishReason STOP, but the answer is a function call
    assert first.usage == ir.Usage(input_tokens=33, output_tokens=5)

    second = gemini.decode_response(recorded_json("google__test_google_tool_output.1.response.json"))
    [call] = second.parts
    assert json.loads(call.arguments) == {"city": "Mexico City", "country": "Mexico"}
    assert call.arguments == '{"city":"Mexico City","country":"Mexico"}'  # compact, as wire.dumps writes
    assert second.usage == ir.Usage(input_tokens=47, output_tokens=8)


def test_streamed_text_continues_one_part_and_takes_the_last_usage():
    response = streamed("google__test_google_model_iter_stream.2")
    assert response.parts == [ir.Text("The temperature in Paris is 30°C.\n")]
    assert response.stop_reason == "end_turn"
    # The first chunk says promptTokenCount 169, the last 79 + 12 = totalTokenCount 91: the last wins.
    assert response.usage == ir.Usage(input_tokens=79, output_tokens=12)


def test_thoughts_become_one_thinking_part_signed_by_the_first_answer_chunk():
    name = "google__test_google_model_thinking_part_iter.0"
    parts = [p for payload in sse_payloads(name) for p in payload["candidates"][0]["content"]["parts"]]
    thoughts = "".join(p["text"] for p in parts if p.get("thought"))
    answer = "".join(p["text"] for p in parts if not p.get("thought"))
    [signature] = [p["thoughtSignature"] for p in parts if "thoughtSignature" in p]
    assert thoughts.startswith("**Clarifying User Goals**") and "**Crafting Safe Instructions**" in thoughts

    response = streamed(name)
    assert response.parts == [ir.Thinking(text=thoughts, signature=signature, source="gemini"), ir.Text(answer)]
    assert response.parts[1].text.startswith("This is a great question!")
    # usageMetadata: prompt 34, candidates 469, thoughts 787, total 1290 = 34 + 469 + 787.
    assert response.usage == ir.Usage(input_tokens=34, output_tokens=469 + 787, reasoning_tokens=787)
    assert (response.stop_reason, response.model) == ("end_turn", "gemini-2.5-pro")


def test_signature_on_a_function_call_stays_on_the_call():
    response = streamed("google__test_google_streaming_tool_call_thought_signature.0")
    [call] = response.parts  # the closing {"text": ""} chunk adds no part
    assert call.name == "get_country" and call.arguments == "{}"
    assert call.id == expected_id(0, "get_country", "{}", call.signature)  # unique to this answer
    assert call.signature.startswith("EpwICpkIAXLI2nxlU6gsWZaZHRYkX1orzuM8vSUFwaAt1JRxEC2hJzPAcAu3PWaKz7X+PIy")
    assert response.stop_reason == "tool_use"
    # prompt 29, candidates 10, thoughts 202, total 241.
    assert response.usage == ir.Usage(input_tokens=29, output_tokens=212, reasoning_tokens=202)


def test_function_call_id_from_newer_apis_is_kept():
    body = {"candidates": [{"content": {"parts": [{"functionCall": {"id": "fc_1", "name": "f", "args": {"a": 1}}}]},
                            "finishReason": "STOP"}]}
    [call] = gemini.decode_response(body).parts
    assert (call.id, call.arguments) == ("fc_1", '{"a":1}')


@pytest.mark.parametrize("name", exchanges("google", "sse"))
def test_stream_decoding_does_not_depend_on_where_reads_split(name):
    raw = recorded(f"{name}.response.sse")
    whole = events_of([raw])
    assert events_of([raw[i:i + 1] for i in range(len(raw))]) == whole
    for split in range(1, len(raw)):
        assert events_of([raw[:split], raw[split:]]) == whole, split


# -- decoding: parts, stop reasons, failures ---------------------------------------


def chunk(*parts, finish=None, **extra) -> str:
    candidate = {"content": {"role": "model", "parts": list(parts)}}
    if finish:
        candidate["finishReason"] = finish
    return json.dumps({"candidates": [candidate], "responseId": "r1", "modelVersion": "m", **extra})


def decode_chunks(*chunks) -> list:
    decoder = gemini.StreamDecoder()
    events = [event for data in chunks for event in decoder.feed(None, data)]
    return events + decoder.close()


def test_signature_on_text_without_thoughts_opens_an_empty_thinking_part():
    events = decode_chunks(chunk({"text": "Hi", "thoughtSignature": "sig"}), chunk({"text": "!"}, finish="STOP"))
    assert_stream_contract(events)
    assert ir.accumulate(events).parts == [ir.Thinking(signature="sig", source="gemini"), ir.Text("Hi!")]


def test_kind_changes_close_parts():
    events = decode_chunks(chunk({"text": "a", "thought": True}), chunk({"text": "b"}),
                           chunk({"text": "c", "thought": True}, {"functionCall": {"name": "f"}}, {"text": "d"},
                                 finish="STOP"))
    assert_stream_contract(events)
    assert ir.accumulate(events).parts == [
        ir.Thinking("a", source="gemini"), ir.Text("b"), ir.Thinking("c", source="gemini"),
        ir.ToolCall(id=expected_id(3, "f", "{}"), name="f", arguments="{}"), ir.Text("d")]


@pytest.mark.parametrize("reason, stop", [
    ("STOP", "end_turn"), ("MAX_TOKENS", "max_tokens"), ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"),
    ("BLOCKLIST", "content_filter"), ("IMAGE_SAFETY", "content_filter"), ("MALFORMED_FUNCTION_CALL", "error"),
    ("OTHER", "end_turn"), ("LANGUAGE", "end_turn"),
])
def test_finish_reasons(reason, stop):
    assert ir.accumulate(decode_chunks(chunk({"text": "x"}, finish=reason))).stop_reason == stop


def test_a_blocked_prompt_is_a_content_filter_finish():
    blocked = json.dumps({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 7}})
    response = ir.accumulate(decode_chunks(blocked))
    assert (response.parts, response.stop_reason, response.usage.input_tokens) == ([], "content_filter", 7)


def test_usage_counts_tool_use_prompt_and_cache():
    usage = {"promptTokenCount": 100, "toolUsePromptTokenCount": 20, "cachedContentTokenCount": 60,
             "candidatesTokenCount": 5, "thoughtsTokenCount": 7}
    response = ir.accumulate(decode_chunks(chunk({"text": "x"}, finish="STOP", usageMetadata=usage)))
    assert response.usage == ir.Usage(input_tokens=120, output_tokens=12, cache_read_tokens=60, reasoning_tokens=7)


def test_a_stream_without_finish_reason_is_an_error():
    events = decode_chunks(chunk({"text": "cut"}))
    assert isinstance(events[-1], ir.StreamError) and events[-1].status == 502
    assert not any(isinstance(e, ir.Finish) for e in events)


def test_error_payload_and_malformed_json_end_the_stream():
    decoder = gemini.StreamDecoder()
    decoder.feed(None, chunk({"text": "a"}))
    error = {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}
    assert decoder.feed(None, json.dumps(error)) == [ir.StreamError(429, "RESOURCE_EXHAUSTED", "Resource exhausted")]
    assert decoder.feed(None, chunk({"text": "b"}, finish="STOP")) == [] and decoder.close() == []
    [failure] = gemini.StreamDecoder().feed(None, '{"candidates": [')
    assert failure.status == 502
    [overloaded] = gemini.StreamDecoder().feed(None, '{"error": {"code": 503, "message": "busy"}}')
    assert overloaded.status == 503


def test_an_empty_stream_is_an_error():
    [failure] = gemini.StreamDecoder().close()
    assert isinstance(failure, ir.StreamError) and failure.status == 502


# -- encoding: the recorded requests, rebuilt from IR ------------------------------


def without_ids(contents: list) -> list:
    """Recorded contents minus the pydantic-ai `id`s inside functionCall / functionResponse.

    The encoder never sends them: Factory's Gemini proxy rejects them, and Gemini pairs calls
    with results by order and name.
    """
    contents = copy.deepcopy(contents)
    for content in contents:
        for part in content["parts"]:
            for key in ("functionCall", "functionResponse"):
                part.get(key, {}).pop("id", None)
    return contents


def user(*parts) -> ir.Message:
    return ir.Message("user", list(parts))


def assistant(*parts) -> ir.Message:
    return ir.Message("assistant", list(parts))


def encode(request: ir.Request, route=PUBLIC) -> tuple[dict, list]:
    losses = []
    return gemini.encode_request(request, losses, route), losses


def test_encode_recorded_tool_output_conversation():
    recorded_body = recorded_json("google__test_google_tool_output.1.request.json")
    call_id = "pyd_ai_3fa5644dae1d4aad997ae39c70006fbd"
    request = ir.Request(
        model="gemini-2.0-flash",
        messages=[user(ir.Text("What is the largest city in the user country?")),
                  assistant(ir.ToolCall(call_id, "get_user_country", "{}")),
                  # pydantic-ai sent the tool's return as {"return_value": ...}: JSON object text goes as is.
                  user(ir.ToolResult(call_id, [ir.Text('{"return_value": "Mexico"}')]))],
        tools=[ir.Tool("get_user_country", "", {"type": "object", "properties": {}}),
               ir.Tool("final_result", "The final response which ends this conversation",
                       {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
                        "required": ["city", "country"]})],
        tool_choice=ir.ToolChoice("required"))
    body, losses = encode(request)
    assert body["contents"] == without_ids(recorded_body["contents"])
    recorded_tools = recorded_body["tools"][0]["functionDeclarations"]
    # A function without parameters leaves `parameters` out instead of sending an empty OBJECT.
    assert body["tools"][0]["functionDeclarations"] == [
        {"name": "get_user_country", "description": ""}, recorded_tools[1]]
    # pydantic-ai lists every tool in allowedFunctionNames, which means the same as plain ANY.
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert "model" not in body and "generationConfig" not in body and losses == []


def test_encode_recorded_thought_signature_conversation():
    recorded_body = recorded_json("google__test_google_streaming_tool_call_thought_signature.1.request.json")
    recorded_call = recorded_body["contents"][1]["parts"][0]
    # The earlier answer carried this signature in standard base64; the client resent it URL-safe.
    # Gemini accepts both, so the gateway passes on whatever it is given.
    answer = streamed("google__test_google_streaming_tool_call_thought_signature.0")
    assert answer.parts[0].signature.replace("+", "-").replace("/", "_") == recorded_call["thoughtSignature"]

    call_id = recorded_call["functionCall"]["id"]
    request = ir.Request(
        model="gemini-3-pro-preview",
        messages=[user(ir.Text("What is the capital of the user country? Call the tool")),
                  assistant(ir.ToolCall(call_id, "get_country", "{}", signature=recorded_call["thoughtSignature"])),
                  user(ir.ToolResult(call_id, [ir.Text('{"return_value": "Mexico"}')]))],
        # The SDK sent this schema as raw JSON Schema (parameters_json_schema); the encoder sends
        # Gemini's `parameters` subset, where an object without properties is no parameters at all.
        tools=[ir.Tool("get_country", "", {"additionalProperties": False, "properties": {}, "type": "object"})],
        source="gemini", extras={"generationConfig": {"responseModalities": ["TEXT"]}})
    body, losses = encode(request)
    assert body["contents"] == without_ids(recorded_body["contents"])
    assert body["generationConfig"] == recorded_body["generationConfig"]  # re-emitted from extras
    assert body["tools"] == [{"functionDeclarations": [{"name": "get_country", "description": ""}]}]
    assert [loss.field for loss in losses] == ["tools[0].parameters"]  # additionalProperties


def test_encode_recorded_two_round_conversation_with_system_and_thinking():
    recorded_body = recorded_json("google__test_google_model_iter_stream.2.request.json")
    declarations = recorded_body["tools"][0]["functionDeclarations"]
    messages = []
    for content in recorded_body["contents"]:
        for part in content["parts"]:
            if "text" in part:
                messages.append(user(ir.Text(part["text"])))
            elif "functionCall" in part:
                call = part["functionCall"]
                messages.append(assistant(ir.ToolCall(call["id"], call["name"], json.dumps(call["args"]))))
            else:
                result = part["functionResponse"]
                messages.append(user(ir.ToolResult(result["id"], [ir.Text(json.dumps(result["response"]))])))
    tools = [ir.Tool(d["name"], d["description"], {
        "type": "object", "required": d["parameters"]["required"],
        "properties": {key: {"type": "string", "description": value["description"]}
                       for key, value in d["parameters"]["properties"].items()}}) for d in declarations]
    request = ir.Request(model="gemini-2.0-flash", messages=messages, tools=tools,
                         system=[ir.Instruction("You are a helpful chatbot.")])
    body, losses = encode(request)
    assert body["contents"] == without_ids(recorded_body["contents"])
    # The SDK also sent role "user" on systemInstruction; the API ignores a role there.
    assert body["systemInstruction"] == {"parts": recorded_body["systemInstruction"]["parts"]}
    assert body["tools"] == recorded_body["tools"] and losses == []

    thinking = recorded_json("google__test_google_model_thinking_part_iter.0.request.json")
    body, _ = encode(ir.Request(model="gemini-2.5-pro", reasoning=ir.Reasoning(),
                                messages=[user(ir.Text("How do I cross the street?"))]),
                     SimpleNamespace(factory=False, upstream_model="gemini-2.5-pro"))
    assert body["generationConfig"] == thinking["generationConfig"]  # {"thinkingConfig": {"includeThoughts": true}}


# -- encoding: contents ------------------------------------------------------------


def test_thought_signatures_ride_on_the_next_part():
    signed = ir.Thinking("thought text is never resent", signature="s1", source="gemini")
    body, losses = encode(ir.Request(model="m", messages=[
        user(ir.Text("q")),
        assistant(signed, ir.Text("answer"), ir.ToolCall("c1", "f", '{"x": 1}')),
        user(ir.ToolResult("c1", [ir.Text("ok")])),
        assistant(ir.Thinking(signature="s2", source="gemini"), ir.ToolCall("c2", "f", "{}", signature="own")),
        user(ir.ToolResult("c2", [ir.Text("ok")])),
        assistant(ir.Text("done"), ir.Thinking(signature="s3", source="gemini")),
        assistant(ir.Thinking("from claude", signature="abc", source="anthropic"), ir.Text("more")),
    ]))
    assert [content["parts"] for content in body["contents"][1::2]] == [
        [{"text": "answer", "thoughtSignature": "s1"}, {"functionCall": {"name": "f", "args": {"x": 1}}}],
        [{"text": "", "thoughtSignature": "s2"},
         {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "own"}],
        # Consecutive model messages merge: Gemini wants user and model turns to alternate.
        [{"text": "done"}, {"text": "", "thoughtSignature": "s3"}, {"text": "more"}],
    ]
    assert [loss.field for loss in losses] == ["messages[6].content[0]"]


def test_tool_results_find_their_function_name_and_group():
    body, _ = encode(ir.Request(model="m", messages=[
        assistant(ir.ToolCall("a", "first", "{}"), ir.ToolCall("b", "second", "{}")),
        user(ir.ToolResult("a", [ir.Text("1")]), ir.ToolResult("b", [ir.Text("boom")], is_error=True)),
        user(ir.ToolResult("z", [ir.Text('{"k": [1]}')], name="named_by_client"), ir.Text("and then?")),
    ]))
    assert body["contents"][1] == {"role": "user", "parts": [
        {"functionResponse": {"name": "first", "response": {"result": "1"}}},
        {"functionResponse": {"name": "second", "response": {"error": "boom"}}},
        {"functionResponse": {"name": "named_by_client", "response": {"k": [1]}}},
        {"text": "and then?"}]}
    with pytest.raises(GatewayError) as caught:
        encode(ir.Request(model="m", messages=[user(ir.ToolResult("nobody", [ir.Text("x")]))]))
    assert caught.value.status == 400 and caught.value.param == "messages[0].content[0]"


def test_images():
    body, losses = encode(ir.Request(model="m", messages=[user(
        ir.Image(data="iVBORw0", media_type="image/png"),
        ir.Image(url="data:image/jpeg;base64,/9j/4AA"),
        ir.Image(url="gs://bucket/cat.png", media_type="image/png"),
        ir.Image(url="https://generativelanguage.googleapis.com/v1beta/files/abc"),
        ir.ToolResult("c", [ir.Text("see"), ir.Image(data="iVBORw0", media_type="image/png")], name="f"))]))
    assert body["contents"][0]["parts"][:4] == [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0"}},
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AA"}},
        {"fileData": {"fileUri": "gs://bucket/cat.png", "mimeType": "image/png"}},
        {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}}]
    assert [loss.field for loss in losses] == ["messages[0].content[4]"]  # the image in the tool result
    with pytest.raises(GatewayError) as caught:
        encode(ir.Request(model="m", messages=[user(ir.Text("look")), user(ir.Image(url="https://x.test/a.png"))]))
    assert caught.value.status == 400 and caught.value.param == "messages[1].content[0]"
    assert "does not fetch image URLs" in caught.value.message and "data: URL" in caught.value.message


def test_bad_input_is_a_400():
    for request in (ir.Request(model="m", n=2),
                    ir.Request(model="m", messages=[assistant(ir.ToolCall("c", "f", "[1, 2]"))]),
                    ir.Request(model="m", messages=[assistant(ir.ToolCall("c", "f", "{not json"))])):
        with pytest.raises(GatewayError) as caught:
            encode(request)
        assert caught.value.status == 400


# -- encoding: configuration -------------------------------------------------------


def test_generation_config_tool_choice_and_factory_model():
    request = ir.Request(
        model="gemini-2.5-flash", max_tokens=100, temperature=0.5, top_p=0.9, top_k=40, stop=["END"],
        presence_penalty=0.1, frequency_penalty=0.2, seed=7, tool_choice=ir.ToolChoice("tool", "f"),
        response_format=ir.ResponseFormat("json_schema", schema={"type": "object", "properties": {
            "n": {"type": "integer"}}, "additionalProperties": False}))
    factory = SimpleNamespace(factory=True, upstream_model="gemini-2.5-flash")
    body, losses = encode(request, factory)
    assert body["model"] == "gemini-2.5-flash"  # Factory reads it from the body
    assert body["generationConfig"] == {
        "maxOutputTokens": 100, "temperature": 0.5, "topP": 0.9, "topK": 40, "stopSequences": ["END"],
        "presencePenalty": 0.1, "frequencyPenalty": 0.2, "seed": 7, "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}}}
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}
    assert [loss.field for loss in losses] == ["response_format.schema"]
    for mode, expected in (("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")):
        body, _ = encode(ir.Request(model="m", tool_choice=ir.ToolChoice(mode)))
        assert body["toolConfig"] == {"functionCallingConfig": {"mode": expected}}


@pytest.mark.parametrize("model, reasoning, expected", [
    ("gemini-3-pro-preview", ir.Reasoning("minimal"), {"includeThoughts": True, "thinkingLevel": "LOW"}),
    ("gemini-3-pro-preview", ir.Reasoning("low"), {"includeThoughts": True, "thinkingLevel": "LOW"}),
    ("gemini-3-flash", ir.Reasoning("medium"), {"includeThoughts": True, "thinkingLevel": "MEDIUM"}),
    ("gemini-3-pro-preview", ir.Reasoning("xhigh"), {"includeThoughts": True, "thinkingLevel": "HIGH"}),
    ("gemini-4-ultra", ir.Reasoning("high"), {"includeThoughts": True, "thinkingLevel": "HIGH"}),
    ("gemini-3-pro-preview", ir.Reasoning(budget_tokens=2000), {"includeThoughts": True, "thinkingLevel": "LOW"}),
    ("gemini-2.5-pro", ir.Reasoning("high"), {"includeThoughts": True, "thinkingBudget": 24576}),
    ("gemini-2.5-flash", ir.Reasoning("low", budget_tokens=5000), {"includeThoughts": True, "thinkingBudget": 5000}),
    # 2.5 budgets are capped at the model's maximum; 2.0 never thinks.
    ("gemini-2.5-pro", ir.Reasoning(budget_tokens=40000), {"includeThoughts": True, "thinkingBudget": 32768}),
    ("gemini-2.5-flash", ir.Reasoning(budget_tokens=40000), {"includeThoughts": True, "thinkingBudget": 24576}),
    ("gemini-2.0-flash", ir.Reasoning("high"), None),
    ("gemini-2.5-pro", ir.Reasoning("none"), {"includeThoughts": False, "thinkingBudget": 128}),
    ("gemini-3-pro-preview", None, None),
])
def test_thinking_config_per_model_family(model, reasoning, expected):
    body, _ = encode(ir.Request(model=model, reasoning=reasoning), SimpleNamespace(factory=False, upstream_model=model))
    assert body.get("generationConfig", {}).get("thinkingConfig") == expected


def test_passthrough_forced_reasoning_uses_the_same_thinking_config():
    route = SimpleNamespace(factory=True, upstream_model="gemini-3-pro-preview",
                            model=SimpleNamespace(reasoning="medium"))
    body = gemini.apply_policies({"contents": [], "generationConfig": {"temperature": 1}}, route, "")
    assert body == {"contents": [], "model": "gemini-3-pro-preview", "generationConfig": {
        "temperature": 1, "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "MEDIUM"}}}


def test_what_gemini_cannot_take_is_recorded_as_losses():
    request = ir.Request(
        model="m", user="u1", metadata={"k": "v"}, parallel_tool_calls=False,
        tools=[ir.Tool("f", None, {"type": "object", "properties": {"a": {"type": "string"}}}, strict=True)],
        messages=[user(ir.Text("hi", cache_control={"type": "ephemeral"}))],
        source="openai_chat", extras={"logprobs": True})
    body, losses = encode(request)
    assert sorted(loss.field for loss in losses) == sorted(
        ["user", "metadata", "parallel_tool_calls", "tools[0].strict", "cache_control", "logprobs"])
    assert "logprobs" not in body and "user" not in body
    _, losses = encode(ir.Request(model="m", parallel_tool_calls=True, messages=[user(ir.Text("hi"))]))
    assert losses == []


# -- schema cleaning ---------------------------------------------------------------


def clean(schema) -> tuple[dict, list]:
    losses = []
    return clean_schema(schema, losses, "tools[0].parameters"), losses


def test_schema_refs_nullables_and_constants():
    cleaned, losses = clean({
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
        "$defs": {"Unit": {"type": "string", "enum": ["c", "f"], "description": "unit"}},
        "properties": {
            "unit": {"$ref": "#/$defs/Unit"},
            "city": {"type": ["string", "null"], "format": "uri", "minLength": 1},
            "days": {"anyOf": [{"type": "integer", "minimum": 1, "exclusiveMaximum": 15}, {"type": "null"}],
                     "description": "how many"},
            "mode": {"const": "fast"},
            "level": {"type": "integer", "enum": [1, 2]},
            "tags": {"type": "array", "items": {"type": "string", "format": "date-time"}, "maxItems": 3},
            "either": {"oneOf": [{"type": "string"}, {"type": "number"}]},
        },
        "required": ["unit", "ghost"]})
    assert cleaned == {"type": "OBJECT", "required": ["unit"], "properties": {
        "unit": {"type": "STRING", "enum": ["c", "f"], "description": "unit"},
        "city": {"type": "STRING", "minLength": 1, "nullable": True},
        "days": {"type": "INTEGER", "minimum": 1, "description": "how many", "nullable": True},
        "mode": {"type": "STRING", "enum": ["fast"]},
        "level": {"type": "INTEGER", "enum": ["1", "2"]},
        "tags": {"type": "ARRAY", "maxItems": 3, "items": {"type": "STRING", "format": "date-time"}},
        "either": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]},
    }}
    [loss] = losses  # one Loss per schema, naming each keyword
    for word in ("additionalProperties", "exclusiveMaximum", "format 'uri'", "oneOf"):
        assert word in loss.reason
    assert "$schema" not in loss.reason and "$defs" not in loss.reason


def test_schema_recursion_all_of_and_multiple_types():
    cleaned, _ = clean({"$ref": "#/definitions/Node", "definitions": {"Node": {
        "type": "object", "properties": {"value": {"type": ["integer", "string"], "minLength": 2},
                                          "next": {"$ref": "#/definitions/Node"}}}}})
    # `next` points back at the Node being inlined: the subset cannot say that, so it is any OBJECT.
    assert cleaned == {"type": "OBJECT", "properties": {
        "value": {"anyOf": [{"type": "INTEGER"}, {"type": "STRING", "minLength": 2}]},
        "next": {"type": "OBJECT"}}}
    cleaned, _ = clean({"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                                  {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]})
    assert cleaned == {"type": "OBJECT", "properties": {"a": {"type": "STRING"}, "b": {"type": "BOOLEAN"}},
                       "required": ["a", "b"]}


def test_schema_array_without_items_gets_string_items():
    # Gemini answers "parameters.properties[tags].items: missing field" for a bare array.
    losses = []
    cleaned = clean_schema({"type": "object", "properties": {"tags": {"type": "array"}}}, losses, "tools[0]")
    assert cleaned["properties"]["tags"] == {"type": "ARRAY", "items": {"type": "STRING"}}
    assert losses and "array without items" in losses[0].reason


@pytest.mark.parametrize("model, placeholder", [("gemini-3-pro-preview", True), ("gemini-2.5-flash", False)])
def test_a_gemini_3_call_without_its_signature_gets_googles_placeholder(model, placeholder):
    # Gemini 3 refuses a function call without a thought signature: one another model made has none.
    request = ir.Request(model=model, messages=[
        ir.Message("user", [ir.Text("weather?")]),
        ir.Message("assistant", [ir.ToolCall("toolu_01", "weather", "{}")]),
        ir.Message("user", [ir.ToolResult("toolu_01", [ir.Text("sunny")])]),
    ])
    body, losses = encode(request, SimpleNamespace(factory=False, upstream_model=model))
    [call] = [part for content in body["contents"] for part in content["parts"] if "functionCall" in part]
    assert (call.get("thoughtSignature") == gemini.request.SIGNATURE_PLACEHOLDER) is placeholder
    assert any("placeholder" in loss.reason for loss in losses) is placeholder
