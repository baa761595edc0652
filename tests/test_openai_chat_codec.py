"""The Chat Completions codec: request decode/encode, response decode/encode, stream decode/encode."""

import json

import openai
import pytest

from droid2api import ir
from droid2api.dialects import openai_chat as chat
from droid2api.errors import GatewayError
from droid2api.sse import SSEDecoder

from .helpers import assert_stream_contract, chat_assemble, exchanges, recorded, recorded_json, sse_events


def decode_stream(raw: bytes, pieces=None) -> list:
    """IR events of a recorded Chat stream, fed in ``pieces`` (the whole body by default)."""
    sse, decoder, events = SSEDecoder(), chat.StreamDecoder(), []
    for piece in pieces or [raw]:
        for name, data in sse.feed(piece):
            events += decoder.feed(name, data)
    for name, data in sse.close():
        events += decoder.feed(name, data)
    return events + decoder.close()


def encode_stream(events, include_usage=True, model="m") -> bytes:
    encoder = chat.StreamEncoder(model, ir.Request(model, include_usage=include_usage))
    return b"".join(encoder.encode(e) for e in events)


# -- request decode ------------------------------------------------------------------------------


def test_decode_request_maps_every_message_kind():
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "rules"},
            {"role": "developer", "content": [{"type": "text", "text": "dev", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
            ]},
            {"role": "assistant", "content": "calling", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"},
                 "extra_content": {"google": {"thought_signature": "SIG"}}},
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "one"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "two"}]},
            {"role": "user", "content": "thanks"},
        ],
    }
    request = chat.decode_request(body)
    assert request.system == [ir.Instruction("rules"), ir.Instruction("dev", "developer", {"type": "ephemeral"})]
    user, assistant, results, thanks = request.messages
    assert user.parts == [ir.Text("look"), ir.Image(url="https://x.test/a.png", detail="high"),
                          ir.Image(data="QUJD", media_type="image/jpeg")]
    assert assistant.parts == [ir.Text("calling"), ir.ToolCall("c1", "f", '{"a":1}'),
                               ir.ToolCall("c2", "g", "{}", signature="SIG")]
    # Consecutive tool messages answer one assistant turn: one user message in the IR.
    assert results == ir.Message("user", [ir.ToolResult("c1", [ir.Text("one")]), ir.ToolResult("c2", [ir.Text("two")])])
    assert thanks == ir.Message("user", [ir.Text("thanks")])


def test_decode_request_scalar_fields_and_extras():
    request = chat.decode_request({
        "model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True,
        "stream_options": {"include_usage": True}, "max_completion_tokens": 99, "max_tokens": 5,
        "temperature": 0.5, "top_p": 0.9, "stop": "END", "seed": 7, "n": 1, "user": "u1",
        "tool_choice": {"type": "function", "function": {"name": "f"}}, "parallel_tool_calls": False,
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"},
                                                                   "strict": True}},
        "logit_bias": {"42": 1}, "service_tier": "flex",
    })
    assert (request.stream, request.include_usage, request.max_tokens) == (True, True, 99)
    assert (request.temperature, request.top_p, request.stop, request.seed, request.user) == (0.5, 0.9, ["END"], 7, "u1")
    assert request.tool_choice == ir.ToolChoice("tool", "f")
    assert request.parallel_tool_calls is False
    assert request.response_format == ir.ResponseFormat("json_schema", {"type": "object"}, "r", None, True)
    assert request.extras == {"logit_bias": {"42": 1}, "service_tier": "flex"}
    assert request.source == "openai_chat"


@pytest.mark.parametrize("fields, expected", [
    ({"reasoning_effort": "high"}, ir.Reasoning(effort="high")),
    ({"reasoning_effort": "none"}, ir.Reasoning(effort="none")),
    ({"reasoning": {"effort": "low"}}, ir.Reasoning(effort="low")),
    ({"reasoning": {"max_tokens": 2000}}, ir.Reasoning(budget_tokens=2000)),
    ({"reasoning": {"enabled": False}}, ir.Reasoning(effort="none")),
    ({"thinking": {"type": "enabled", "budget_tokens": 5000}}, ir.Reasoning(budget_tokens=5000)),
    ({}, None),
])
def test_decode_request_reasoning_spellings(fields, expected):
    request = chat.decode_request({"model": "m", "messages": [{"role": "user", "content": "x"}], **fields})
    assert request.reasoning == expected


@pytest.mark.parametrize("body, param", [
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m"}, "messages"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": "hi"}, "messages"),
    ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "user"}]}, "messages[0].content"),
    ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
     "messages[0].content[0].type"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "messages[0].content[0].image_url.url"),
    ({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}]}]}, "messages[0].content[0].image_url.url"),
    ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "1", "function": {}}]}]},
     "messages[0].tool_calls[0].function.name"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 3}, "temperature"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 0}, "n"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": [1]}, "stop"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "always"}, "tool_choice"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "web_search"}]},
     "tools[0].type"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "max"}, "reasoning_effort"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema"}},
     "response_format.json_schema"),
    # Discriminators and nested objects of the wrong type (each was a TypeError, or silently used).
    ({"model": "m", "messages": [{"role": ["user"], "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": {}}]}]}, "messages[0].content[0].type"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": []}},
     "response_format.type"),
    ({"model": "m", "messages": [{"role": "assistant", "content": "x", "reasoning_details": [
        {"type": "reasoning.text", "format": ["anthropic-claude-v1"], "text": "t"}]}]},
     "messages[0].reasoning_details[0].format"),
    ({"model": "m", "messages": [{"role": "assistant", "content": "x", "reasoning_details": [
        {"type": "reasoning.text", "text": {"t": 1}}]}]}, "messages[0].reasoning_details[0].text"),
    ({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "1", "function": {"name": "f"}, "extra_content": {"google": {"thought_signature": 7}}}]}]},
     "messages[0].tool_calls[0].extra_content.google.thought_signature"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning": {"max_tokens": "many"}},
     "reasoning.max_tokens"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "thinking": {"type": "enabled",
                                                                                  "budget_tokens": -1}},
     "thinking.budget_tokens"),
])
def test_decode_request_rejects_bad_input_naming_the_field(body, param):
    with pytest.raises(GatewayError) as caught:
        chat.decode_request(body)
    assert caught.value.status == 400
    assert caught.value.param == param
    assert param in caught.value.message


# -- request encode: Chat -> IR -> Chat is stable ---------------------------------------------------


@pytest.mark.parametrize("name", ["openai__test_run_stream_sync_streams_real_model.0",
                                  "openai__test_run_stream_sync_streams_real_model.1"])
def test_recorded_requests_survive_a_round_trip(name):
    body = recorded_json(f"{name}.request.json")
    losses = []
    assert chat.encode_request(chat.decode_request(body), losses) == body
    assert losses == []


def test_round_trip_keeps_images_system_roles_and_sampling():
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "developer", "content": "d"},
            {"role": "user", "content": [{"type": "text", "text": "t"},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]},
            {"role": "assistant", "content": "a", "refusal": "no"},
        ],
        "max_tokens": 10, "temperature": 1.0, "top_p": 0.5, "presence_penalty": 0.1, "frequency_penalty": 0.2,
        "seed": 1, "n": 2, "stop": ["x"], "reasoning_effort": "low", "user": "u", "metadata": {"k": "v"},
        "response_format": {"type": "json_object"}, "logprobs": True,
    }
    losses = []
    assert chat.encode_request(chat.decode_request(body), losses) == body
    assert losses == []


def test_encode_request_records_what_chat_cannot_carry():
    request = ir.Request("m", [ir.Message("assistant", [ir.Thinking("hmm", signature="s", source="anthropic"),
                                                        ir.Text("hi")])],
                         top_k=5, source="anthropic", extras={"service_tier": "auto"})
    losses = []
    body = chat.encode_request(request, losses)
    assert body["messages"] == [{"role": "assistant", "content": "hi"}]
    assert {loss.field for loss in losses} == {"thinking", "top_k", "service_tier"}


# -- thinking round trip through reasoning_details ----------------------------------------------------

THINKING_CASES = {
    "anthropic signed": [ir.Thinking("step one", signature="sig-a", source="anthropic")],
    "anthropic redacted": [ir.Thinking(redacted="opaque", source="anthropic")],
    "responses summaries + encrypted": [ir.Thinking("s1", source="openai_responses", id="rs_1"),
                                        ir.Thinking("s2", encrypted="enc", source="openai_responses", id="rs_1")],
    "responses encrypted only": [ir.Thinking(encrypted="enc", source="openai_responses", id="rs_2")],
    "gemini thought + signature": [ir.Thinking("ponder", signature="gsig", source="gemini")],
}


@pytest.mark.parametrize("case", THINKING_CASES)
@pytest.mark.parametrize("streamed", [False, True], ids=["response", "stream"])
def test_thinking_comes_back_unchanged_when_the_client_returns_the_message(case, streamed):
    parts = THINKING_CASES[case] + [ir.Text("answer"), ir.ToolCall("c1", "f", "{}", signature="tsig")]
    response = ir.Response("id", "m", parts, "tool_use")
    if streamed:
        completion, _ = chat_assemble(encode_stream(ir.response_events(response)))
        message = completion.choices[0].message.model_dump(exclude_none=True)
    else:
        message = chat.encode_response(response, "m")["choices"][0]["message"]
    # The client appends the message it got to its next request, as the SDKs make easy.
    request = chat.decode_request({"model": "m", "messages": [{"role": "user", "content": "q"}, message]})
    assert request.messages[1].parts == parts


# -- responses -----------------------------------------------------------------------------------


def test_encode_response_shape_and_usage():
    response = ir.Response("msg_1", "upstream-model", [ir.Text("Hello"), ir.Text(" there")], "max_tokens",
                           usage=ir.Usage(100, 20, cache_read_tokens=60, cache_write_tokens=10, reasoning_tokens=5),
                           created=1700000000)
    body = chat.encode_response(response, "client-model")
    assert body == {
        "id": "chatcmpl-msg_1", "object": "chat.completion", "created": 1700000000, "model": "client-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there", "refusal": None},
                     "logprobs": None, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                  "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 10},
                  "completion_tokens_details": {"reasoning_tokens": 5}},
    }
    openai.types.chat.ChatCompletion.model_validate(body)


@pytest.mark.parametrize("stop, finish", [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
                                          ("tool_use", "tool_calls"), ("content_filter", "content_filter"),
                                          ("refusal", "content_filter"), ("pause_turn", "stop")])
def test_finish_reasons(stop, finish):
    response = ir.Response("i", "m", [ir.Text("x")], stop)
    assert chat.encode_response(response, "m")["choices"][0]["finish_reason"] == finish
    completion, _ = chat_assemble(encode_stream(ir.response_events(response)))
    assert completion.choices[0].finish_reason == finish


def test_decode_response_of_an_openai_compatible_server():
    body = {"id": "x1", "model": "glm", "created": 5, "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": "ok", "reasoning_content": "think",
                        "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                      "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 1}}}
    response = chat.decode_response(body)
    assert response.parts == [ir.Thinking("think"), ir.Text("ok"), ir.ToolCall("t1", "f", "{}")]
    assert (response.id, response.model, response.stop_reason, response.created) == ("x1", "glm", "tool_use", 5)
    assert response.usage == ir.Usage(9, 3, cache_read_tokens=4, reasoning_tokens=1)


# -- streams -------------------------------------------------------------------------------------


def test_recorded_tool_call_stream_decodes():
    events = decode_stream(recorded("openai__test_run_stream_sync_streams_real_model.0.response.sse"))
    assert_stream_contract(events)
    response = ir.accumulate(events)
    assert response.parts == [ir.ToolCall("call_ZR5UUuTt3pf61kjwAJIYdVMj", "get_capital", '{"country":"UK"}')]
    assert response.stop_reason == "tool_use"
    assert response.usage == ir.Usage(53, 15)
    assert response.id == "chatcmpl-Dx0XpqH8w09uBXwq1zFGYdETjtnEl"


def test_recorded_text_stream_decodes():
    events = decode_stream(recorded("openai__test_run_stream_sync_streams_real_model.1.response.sse"))
    response = ir.accumulate(events)
    assert response.parts == [ir.Text("The capital of the UK is London.")]
    assert (response.stop_reason, response.usage) == ("end_turn", ir.Usage(78, 9))


@pytest.mark.parametrize("name", exchanges("openai", "sse"))
def test_recorded_streams_decode_the_same_however_the_bytes_arrive(name):
    raw = recorded(f"{name}.response.sse")
    whole = decode_stream(raw)
    assert decode_stream(raw, [raw[i:i + 1] for i in range(len(raw))]) == whole
    for cut in range(0, len(raw), 7):
        assert decode_stream(raw, [raw[:cut], raw[cut:]]) == whole


@pytest.mark.parametrize("name", exchanges("openai", "sse"))
def test_recorded_streams_reencoded_assemble_to_what_the_original_did(name):
    raw = recorded(f"{name}.response.sse")
    original, original_usage = chat_assemble(raw)
    ours, our_usage = chat_assemble(encode_stream(decode_stream(raw)))
    for mine, theirs in zip(ours.choices, original.choices, strict=True):
        assert mine.message.content == theirs.message.content
        assert mine.finish_reason == theirs.finish_reason
        assert [(c.id, c.function.name, c.function.arguments) for c in mine.message.tool_calls or []] == \
               [(c.id, c.function.name, c.function.arguments) for c in theirs.message.tool_calls or []]
    assert (our_usage.prompt_tokens, our_usage.completion_tokens, our_usage.total_tokens) == \
           (original_usage.prompt_tokens, original_usage.completion_tokens, original_usage.total_tokens)


def test_stream_encoder_chunk_discipline():
    events = [ir.Start("r1", "m"), ir.PartStart(0, ir.Text("")), ir.Delta(0, "text", "a"), ir.Delta(0, "text", "b"),
              ir.PartStop(0), ir.PartStart(1, ir.ToolCall("c1", "f")), ir.Delta(1, "arguments", '{"x"'),
              ir.Delta(1, "arguments", ":1}"), ir.PartStop(1), ir.PartStart(2, ir.ToolCall("c2", "g")),
              ir.Delta(2, "arguments", "{}"), ir.PartStop(2), ir.Finish("tool_use", ir.Usage(3, 4))]
    payloads = [json.loads(data) for _, data in sse_events(encode_stream(events))[:-1]]
    deltas = [p["choices"][0]["delta"] for p in payloads if p["choices"]]
    assert [("role" in d) for d in deltas] == [True] + [False] * (len(deltas) - 1)
    calls = [c for d in deltas for c in d.get("tool_calls", [])]
    assert [(c["index"], "id" in c, "name" in c["function"]) for c in calls] == \
           [(0, True, True), (0, False, False), (0, False, False), (1, True, True), (1, False, False)]
    finishes = [p["choices"][0]["finish_reason"] for p in payloads if p["choices"]]
    assert finishes == [None] * (len(finishes) - 1) + ["tool_calls"]
    assert payloads[-1]["choices"] == [] and payloads[-1]["usage"]["total_tokens"] == 7
    assert len({(p["id"], p["created"], p["model"]) for p in payloads}) == 1


def test_stream_without_include_usage_has_no_usage_chunk():
    events = list(ir.response_events(ir.Response("r", "m", [ir.Text("x")], "end_turn", usage=ir.Usage(1, 1))))
    payloads = [json.loads(d) for _, d in sse_events(encode_stream(events, include_usage=False))[:-1]]
    assert all(p["choices"] for p in payloads)


def test_stream_error_is_the_last_chunk_and_the_sdk_raises():
    events = [ir.Start("r", "m"), ir.PartStart(0, ir.Text("")), ir.Delta(0, "text", "partial"),
              ir.StreamError(503, "overloaded_error", "upstream overloaded"), ir.Delta(0, "text", "ignored"),
              ir.Finish("end_turn")]
    raw = encode_stream(events)
    assert b"[DONE]" not in raw and b"ignored" not in raw
    assert json.loads(sse_events(raw)[-1][1])["error"]["message"] == "upstream overloaded"
    with pytest.raises(AssertionError):  # no [DONE]: a client must not take this for a complete answer
        chat_assemble(raw)


def test_stop_reason_error_becomes_an_error_not_an_answer():
    response = ir.Response("r", "m", [], "error")
    with pytest.raises(GatewayError) as caught:
        chat.encode_response(response, "m")
    assert caught.value.status == 502
    raw = encode_stream(ir.response_events(response))
    assert b'"error"' in raw and b"[DONE]" not in raw


def test_stream_decoder_failures():
    assert decode_stream(b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n')[-1] == \
        ir.StreamError(502, "upstream_error", "the upstream stream ended before its final chunk")
    assert isinstance(decode_stream(b"data: not json\n\n")[-1], ir.StreamError)
    error = decode_stream(b'data: {"error":{"message":"slow down","code":"rate_limit_exceeded"}}\n\n')
    assert error == [ir.StreamError(429, "upstream_error", "slow down")]


def test_stream_decoder_accepts_a_finish_without_done_and_reasoning_content():
    raw = (b'data: {"id":"a","model":"k","choices":[{"index":0,"delta":{"reasoning_content":"hm"}}]}\n\n'
           b'data: {"id":"a","model":"k","choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n'
           b'data: {"id":"a","model":"k","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t",'
           b'"function":{"name":"f"}}]}}]}\n\n'
           b'data: {"id":"a","model":"k","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],'
           b'"usage":{"prompt_tokens":2,"completion_tokens":3}}\n\n')
    events = decode_stream(raw)
    assert_stream_contract(events)
    response = ir.accumulate(events)
    assert response.parts == [ir.Thinking("hm"), ir.Text("ok"), ir.ToolCall("t", "f", "{}")]
    assert response.usage == ir.Usage(2, 3)


def test_parallel_tool_calls_stream_one_part_after_the_other():
    def chunk(delta, finish=None):
        return ("data: " + json.dumps({"id": "c", "model": "k", "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n").encode()

    raw = b"".join([
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [{"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x":1}'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": ""}}]}),
        chunk({}, "tool_calls"), b"data: [DONE]\n\n"])
    events = decode_stream(raw)
    assert_stream_contract(events)
    assert ir.accumulate(events).parts == [ir.ToolCall("a", "f", '{"x":1}'), ir.ToolCall("b", "g", "{}")]
