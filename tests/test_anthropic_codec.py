"""Tests of the Anthropic Messages upstream codec: request encoding, response and stream decoding.

Expected values come from the recorded traffic in tests/recorded (read by hand)
or, for shapes no recording covers, from the event and block shapes in
Anthropic's Messages API documentation.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from droid2api import ir
from droid2api.dialects.anthropic import StreamDecoder, apply_policies, decode_response, encode_request
from droid2api.errors import GatewayError
from droid2api.sse import SSEDecoder

from .helpers import assert_stream_contract, exchanges, recorded, recorded_json

ROUTE = SimpleNamespace(factory=True, upstream_model="claude-sonnet-4-0")
THINKING_STREAM = "anthropic__test_anthropic_model_thinking_part_stream.0.response.sse"
REDACTED_STREAM = "anthropic__test_anthropic_model_thinking_part_redacted_stream.0.response.sse"


def decode_chunks(chunks) -> list:
    sse, decoder, events = SSEDecoder(), StreamDecoder(), []
    for chunk in chunks:
        for name, data in sse.feed(chunk):
            events += decoder.feed(name, data)
    for name, data in sse.close():
        events += decoder.feed(name, data)
    return events + decoder.close()


def decode_events(*sse_events: tuple) -> list:
    """Decode (event name, payload object) pairs written after the documented stream shapes."""
    raw = b"".join(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode() for name, payload in sse_events)
    return decode_chunks([raw])


def data_payloads(name: str) -> list:
    """The JSON payloads of a recorded stream, read line by line without the SSE decoder."""
    return [json.loads(line[6:]) for line in recorded(name).decode().split("\n") if line.startswith("data: ")]


# -- non-streamed responses ----------------------------------------------------


def test_decode_tool_output_responses():
    first = decode_response(recorded_json("anthropic__test_anthropic_tool_output.0.response.json"))
    assert first.id == "msg_012TXW181edhmR5JCsQRsBKx" and first.model == "claude-sonnet-4-5-20250929"
    assert first.parts == [ir.ToolCall("toolu_01X9wcHKKAZD9tBC711xipPa", "get_user_country", "{}")]
    assert first.stop_reason == "tool_use" and first.stop_sequence is None
    assert first.usage == ir.Usage(input_tokens=445, output_tokens=23)

    second = decode_response(recorded_json("anthropic__test_anthropic_tool_output.1.response.json"))
    assert second.parts == [ir.ToolCall("toolu_01LZABsgreMefH2Go8D5PQbW", "final_result",
                                        '{"city":"Mexico City","country":"Mexico"}')]
    assert second.usage.input_tokens == 497 and second.usage.output_tokens == 56


def test_decode_thinking_text_and_tool_call():
    response = decode_response(recorded_json("anthropic__test_anthropic_tool_with_thinking.0.response.json"))
    thinking, text, call = response.parts
    assert thinking.source == "anthropic"
    assert thinking.text.startswith('The user is asking about the largest city in "the user country".')
    assert thinking.text.endswith("Let me call the get_user_country function first.")
    assert thinking.signature.startswith("EqEECkYICxgCKkAo3UA4WwDbB8ih") and thinking.signature.endswith("JwYAQ==")
    assert len(thinking.signature) == 736
    assert text == ir.Text("I'll help you find the largest city in your country. "
                           "First, let me determine which country you're from.")
    assert call == ir.ToolCall("toolu_01YGzqpRE16Vricda3Aqcejo", "get_user_country", "{}")
    assert response.stop_reason == "tool_use"
    assert response.usage == ir.Usage(input_tokens=398, output_tokens=155)

    answer = decode_response(recorded_json("anthropic__test_anthropic_tool_with_thinking.1.response.json"))
    assert [type(part) for part in answer.parts] == [ir.Text]
    assert "**Mexico City** (Ciudad de México)" in answer.parts[0].text  # \u00e9 in the file
    assert answer.stop_reason == "end_turn" and answer.usage.total_tokens == 566 + 126


def test_decode_parallel_tool_calls():
    response = decode_response(recorded_json("anthropic__test_multiple_parallel_tool_calls.0.response.json"))
    assert isinstance(response.parts[0], ir.Text)
    calls = response.parts[1:]
    assert [call.id for call in calls] == ["toolu_0167cfEnoQaPviGdVXA95zcu", "toolu_01EEe2V5HD1Ac4rKiUR4HD2T",
                                           "toolu_01XFyAjstT3966qvRynZyVPo", "toolu_013mnQZbgtK2oe3Mo3XKJsx3"]
    assert {call.name for call in calls} == {"retrieve_entity_info"}
    assert [call.arguments for call in calls] == ['{"name":"Alice"}', '{"name":"Bob"}',
                                                  '{"name":"Charlie"}', '{"name":"Daisy"}']
    assert response.usage == ir.Usage(input_tokens=423, output_tokens=202)


@pytest.mark.parametrize("name", exchanges("anthropic", "json"))
def test_every_recorded_response_decodes_block_for_block(name):
    body = recorded_json(f"{name}.response.json")
    response = decode_response(body)
    assert len(response.parts) == len(body["content"])
    assert response.stop_reason == body["stop_reason"]
    assert response.usage.output_tokens == body["usage"]["output_tokens"]


def test_usage_adds_cached_tokens_to_input():
    body = recorded_json("anthropic__test_anthropic_tool_output.0.response.json")
    body["usage"].update(input_tokens=12, cache_read_input_tokens=1000, cache_creation_input_tokens=300)
    assert decode_response(body).usage == ir.Usage(input_tokens=1312, output_tokens=23,
                                                   cache_read_tokens=1000, cache_write_tokens=300)


@pytest.mark.parametrize("upstream, expected", [
    ("end_turn", "end_turn"), ("max_tokens", "max_tokens"), ("stop_sequence", "stop_sequence"),
    ("tool_use", "tool_use"), ("pause_turn", "pause_turn"), ("refusal", "refusal"),
    ("model_context_window_exceeded", "max_tokens"), ("something_new", "end_turn"),
])
def test_stop_reasons(upstream, expected):
    body = {"id": "msg_1", "model": "m", "content": [], "stop_reason": upstream,
            "stop_sequence": "###" if upstream == "stop_sequence" else None, "usage": {}}
    response = decode_response(body)
    assert response.stop_reason == expected
    assert response.stop_sequence == ("###" if upstream == "stop_sequence" else None)


def test_server_tool_blocks_and_redacted_thinking():
    body = recorded_json("anthropic__test_anthropic_tool_output.0.response.json")
    body["content"] = [
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
        {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "x"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": []},
        {"type": "text", "text": "Found it.", "citations": [{"type": "web_search_result_location"}]},
    ]
    assert decode_response(body).parts == [ir.Thinking(redacted="EmwKAhgBEgy3va3pzix", source="anthropic"),
                                           ir.Text("Found it.")]


# -- streams -------------------------------------------------------------------


@pytest.mark.parametrize("name", exchanges("anthropic", "sse"))
def test_stream_is_the_same_however_the_bytes_are_split(name):
    raw = recorded(f"{name}.response.sse")
    whole = decode_chunks([raw])
    assert isinstance(whole[0], ir.Start) and isinstance(whole[-1], ir.Finish)
    assert decode_chunks([raw[i:i + 1] for i in range(len(raw))]) == whole
    # The stream decoder sees only SSE (event, data) pairs, so it runs once per
    # distinct pair sequence; every split point still goes through both decoders.
    by_pairs = {}
    for split in range(len(raw) + 1):
        sse = SSEDecoder()
        pairs = tuple(sse.feed(raw[:split]) + sse.feed(raw[split:]) + sse.close())
        if pairs not in by_pairs:
            decoder = StreamDecoder()
            by_pairs[pairs] = [event for pair in pairs for event in decoder.feed(*pair)] + decoder.close()
        assert by_pairs[pairs] == whole, f"split at byte {split}"


def test_thinking_stream():
    events = decode_chunks([recorded(THINKING_STREAM)])
    assert_stream_contract(events)
    response = ir.accumulate(events)
    payloads = data_payloads(THINKING_STREAM)
    deltas = [p["delta"] for p in payloads if p["type"] == "content_block_delta"]
    thinking, text = response.parts
    assert thinking.source == "anthropic" and thinking.redacted is None
    assert thinking.text == "".join(d["thinking"] for d in deltas if d["type"] == "thinking_delta")
    assert thinking.text.startswith("This is a straightforward question about pedestrian safety.")
    assert thinking.text.endswith("could help prevent accidents.")
    assert thinking.signature == re.search(rb'"signature":"(Ev[^"]+)"', recorded(THINKING_STREAM)).group(1).decode()
    assert thinking.signature.endswith("jfQYAQ==")
    assert text.text.startswith("Here are the basic steps for safely crossing the street:\n\n**At intersections")
    assert text.text.endswith("Always prioritize safety over speed when crossing streets.")
    assert response.id == "msg_01ALwQ87pTS7hH1PjSdC9wJD" and response.model == "claude-sonnet-4-20250514"
    assert response.stop_reason == "end_turn"
    # message_start said output_tokens 1; message_delta's 282 is the running total, not an increment.
    assert response.usage == ir.Usage(input_tokens=43, output_tokens=282)


def test_redacted_thinking_stream():
    events = decode_chunks([recorded(REDACTED_STREAM)])
    assert_stream_contract(events)
    response = ir.accumulate(events)
    starts = [p["content_block"] for p in data_payloads(REDACTED_STREAM) if p["type"] == "content_block_start"]
    first, second, text = response.parts
    assert first == ir.Thinking(redacted=starts[0]["data"], source="anthropic")
    assert first.redacted.startswith("EqkECkYIBxgCKkA8AZ4noDfV5") and first.redacted.endswith("ewJ/hgB")
    assert second.redacted.startswith("EtgBCkYIBxgCKkDQfGkwzflE") and second.redacted.endswith("RYdZ1J0GAE=")
    assert text.text.startswith("I notice that you've sent what appears to be some kind of test string")
    assert text.text.endswith("How can I assist you today with a legitimate task or question?")
    assert response.usage == ir.Usage(input_tokens=92, output_tokens=189)


def message_start(usage=None):
    return ("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": usage or {"input_tokens": 10, "output_tokens": 1}}})


def block_start(index, block):
    return ("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


def block_delta(index, delta):
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def block_stop(index):
    return ("content_block_stop", {"type": "content_block_stop", "index": index})


def message_end(stop_reason="tool_use", usage=None):
    return [("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                               "usage": usage or {"output_tokens": 89}}),
            ("message_stop", {"type": "message_stop"})]


def test_tool_stream_arguments_and_call_without_input():
    events = decode_events(
        message_start(),
        block_start(0, {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {}}),
        block_delta(0, {"type": "input_json_delta", "partial_json": ""}),
        block_delta(0, {"type": "input_json_delta", "partial_json": '{"location": "San Fra'}),
        block_delta(0, {"type": "input_json_delta", "partial_json": 'ncisco, CA"}'}),
        block_stop(0),
        block_start(1, {"type": "tool_use", "id": "toolu_B", "name": "get_time", "input": {}}),
        block_stop(1),
        *message_end(),
    )
    assert_stream_contract(events)
    assert events[-3:-1] == [ir.Delta(1, "arguments", "{}"), ir.PartStop(1)]
    response = ir.accumulate(events)
    assert response.parts == [ir.ToolCall("toolu_A", "get_weather", '{"location": "San Francisco, CA"}'),
                              ir.ToolCall("toolu_B", "get_time", "{}")]
    assert response.stop_reason == "tool_use"
    assert response.usage == ir.Usage(input_tokens=10, output_tokens=89)


def test_server_tool_blocks_are_skipped_with_dense_indices():
    events = decode_events(
        message_start(),
        block_start(0, {"type": "text", "text": ""}),
        block_delta(0, {"type": "text_delta", "text": "Let me search."}),
        block_stop(0),
        block_start(1, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
        block_delta(1, {"type": "input_json_delta", "partial_json": '{"query": "weather"}'}),
        block_stop(1),
        block_start(2, {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}),
        block_stop(2),
        block_start(3, {"type": "text", "text": ""}),
        block_delta(3, {"type": "citations_delta", "citation": {"type": "web_search_result_location"}}),
        block_delta(3, {"type": "text_delta", "text": "Sunny."}),
        block_stop(3),
        ("ping", {"type": "ping"}),
        *message_end("end_turn"),
    )
    assert_stream_contract(events)
    assert ir.accumulate(events).parts == [ir.Text("Let me search."), ir.Text("Sunny.")]


def test_message_delta_usage_replaces_the_start_estimate():
    events = decode_events(
        message_start({"input_tokens": 5, "cache_read_input_tokens": 0, "output_tokens": 1}),
        block_start(0, {"type": "text", "text": ""}),
        block_delta(0, {"type": "text_delta", "text": "Hi"}),
        block_stop(0),
        *message_end("stop_sequence", {"input_tokens": 7, "cache_read_input_tokens": 2000,
                                       "cache_creation_input_tokens": 30, "output_tokens": 4}),
    )
    assert events[-1] == ir.Finish("stop_sequence", ir.Usage(input_tokens=2037, output_tokens=4,
                                                             cache_read_tokens=2000, cache_write_tokens=30))


def test_truncated_stream_ends_in_one_error():
    raw = recorded(THINKING_STREAM)
    cut = raw.index(b"event: message_stop")
    for end in (cut, raw.index(b"event: message_delta"), len(raw) // 2, 30):
        events = decode_chunks([raw[:end]])
        assert isinstance(events[-1], ir.StreamError) and events[-1].status == 502
        assert not any(isinstance(event, (ir.Finish, ir.StreamError)) for event in events[:-1])
        with pytest.raises(ValueError):
            ir.accumulate(events)


@pytest.mark.parametrize("kind, status", [
    ("overloaded_error", 503), ("rate_limit_error", 429), ("invalid_request_error", 400),
    ("authentication_error", 401), ("permission_error", 403), ("not_found_error", 404), ("api_error", 502),
])
def test_error_event_mid_stream(kind, status):
    raw = recorded(THINKING_STREAM)
    middle = raw.index(b"event: content_block_start", raw.index(b"event: content_block_stop"))  # block 2
    error = f'event: error\ndata: {{"type": "error", "error": {{"type": "{kind}", "message": "Boom"}}}}\n\n'
    events = decode_chunks([raw[:middle], error.encode(), raw[middle:]])
    assert events[-1] == ir.StreamError(status, kind, "Boom")
    assert not any(isinstance(event, (ir.Finish, ir.StreamError)) for event in events[:-1])
    assert isinstance(events[-2], ir.PartStop)  # the thinking block closed before the error


def test_malformed_or_out_of_order_events_fail_with_502():
    broken = decode_chunks([b"event: message_start\ndata: {not json\n\n"])
    assert len(broken) == 1 and broken[0].status == 502
    early = decode_events(block_start(0, {"type": "text", "text": ""}))
    assert len(early) == 1 and early[0].status == 502


# -- request encoding: the recorded conversations, rebuilt in IR ---------------


def as_encoded(body: dict) -> dict:
    """A recorded body in the spelling the encoder uses where the API takes two with one meaning:
    system and tool_result content as a string or as text blocks, is_error false or absent,
    stream false or absent."""
    body = json.loads(json.dumps(body))
    if isinstance(body.get("system"), str):
        body["system"] = [{"type": "text", "text": body["system"]}]
    for message in body["messages"]:
        for block in message["content"]:
            if block["type"] == "tool_result":
                if isinstance(block.get("content"), str):
                    block["content"] = [{"type": "text", "text": block["content"]}]
                if block.get("is_error") is False:
                    del block["is_error"]
    if body.get("stream") is False:
        del body["stream"]
    return body


def encode(request: ir.Request) -> tuple:
    losses = []
    return encode_request(request, losses, ROUTE), losses


def tool_from(recorded_tool: dict) -> ir.Tool:
    return ir.Tool(recorded_tool["name"], recorded_tool["description"], recorded_tool["input_schema"])


def user(*parts) -> ir.Message:
    return ir.Message("user", list(parts))


def assistant(*parts) -> ir.Message:
    return ir.Message("assistant", list(parts))


def largest_city_loop(call_id: str, *assistant_parts) -> list:
    """The recorded "largest city" conversation, up to the tool result its second request ends with."""
    return [user(ir.Text("What is the largest city in the user country?")),
            assistant(*assistant_parts),
            user(ir.ToolResult(call_id, [ir.Text("Mexico")]))]


def assert_encodes_as_recorded(request: ir.Request, name: str):
    body, losses = encode(request)
    assert body == as_encoded(recorded_json(name))
    assert losses == []


def test_encode_recorded_tool_loop_with_thinking():
    name = "anthropic__test_anthropic_tool_with_thinking.1.request.json"
    previous = decode_response(recorded_json("anthropic__test_anthropic_tool_with_thinking.0.response.json"))
    request = ir.Request(model="claude-sonnet-4-0", max_tokens=4096, reasoning=ir.Reasoning(budget_tokens=3000),
                         tools=[tool_from(recorded_json(name)["tools"][0])], tool_choice=ir.ToolChoice("auto"),
                         messages=largest_city_loop("toolu_01YGzqpRE16Vricda3Aqcejo", *previous.parts))
    assert_encodes_as_recorded(request, name)


def test_encode_recorded_forced_tool_output():
    name = "anthropic__test_anthropic_tool_output.1.request.json"
    call = ir.ToolCall("toolu_01X9wcHKKAZD9tBC711xipPa", "get_user_country", "{}")
    request = ir.Request(model="claude-sonnet-4-5", max_tokens=4096, tool_choice=ir.ToolChoice("required"),
                         tools=[tool_from(tool) for tool in recorded_json(name)["tools"]],
                         messages=largest_city_loop(call.id, call))
    assert_encodes_as_recorded(request, name)


def test_encode_recorded_parallel_tool_results():
    name = "anthropic__test_multiple_parallel_tool_calls.1.request.json"
    sent = recorded_json(name)
    calls = decode_response(recorded_json("anthropic__test_multiple_parallel_tool_calls.0.response.json")).parts
    answers = ["alice is bob's wife", "bob is alice's husband", "charlie is alice's son",
               "daisy is bob's daughter and charlie's younger sister"]
    request = ir.Request(
        model="claude-haiku-4-5", system=[ir.Instruction(sent["system"])],
        tools=[tool_from(sent["tools"][0])], tool_choice=ir.ToolChoice("auto"),
        messages=[ir.Message("user", [ir.Text("Alice, Bob, Charlie and Daisy are a family. Who is the youngest?")]),
                  ir.Message("assistant", calls),
                  # As the Chat decoder delivers consecutive tool messages: one user message each.
                  *[ir.Message("user", [ir.ToolResult(call.id, [ir.Text(answer)])])
                    for call, answer in zip(calls[1:], answers)]])
    assert_encodes_as_recorded(request, name)  # max_tokens 4096 is also the default


# -- request encoding: the rules one by one ------------------------------------


def loss_fields(losses) -> list:
    return [loss.field for loss in losses]


def test_minimal_request_defaults():
    body, losses = encode(ir.Request(model="claude-x", messages=[user(ir.Text("Hi"))]))
    assert body == {"model": "claude-x", "max_tokens": 4096,
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}
    assert losses == []
    streamed, _ = encode(ir.Request(model="claude-x", max_tokens=50, stream=True, messages=[user(ir.Text("Hi"))]))
    assert streamed["stream"] is True and streamed["max_tokens"] == 50


def test_everything_expressible_loses_nothing():
    cache = {"type": "ephemeral"}
    request = ir.Request(
        model="claude-x", max_tokens=1000, temperature=0.2, top_p=0.9, top_k=40, stop=["END"], user="u-1",
        system=[ir.Instruction("Be brief.", cache_control=cache), ir.Instruction("Use metric.", role="developer")],
        tools=[ir.Tool("lookup", "Look a word up", {"type": "object", "properties": {"w": {"type": "string"}}},
                       cache_control=cache), ir.Tool("now")],
        tool_choice=ir.ToolChoice("tool", "lookup"),
        messages=[
            user(ir.Text("What is this?", cache_control=cache), ir.Image(url="https://example.com/a.png"),
                 ir.Image(data="iVBORw0KGgo=", media_type="image/png", detail="auto")),
            assistant(ir.Thinking("hmm", signature="sig-1", source="anthropic"),
                      ir.Thinking(redacted="opaque", source="anthropic"),
                      ir.ToolCall("toolu_1", "lookup", '{"w": "png"}')),
            user(ir.ToolResult("toolu_1", [ir.Text("an image format"), ir.Image(url="https://example.com/b.png")],
                               is_error=True, cache_control=cache)),
        ])
    body, losses = encode(request)
    assert losses == []
    assert body == {
        "model": "claude-x", "max_tokens": 1000, "temperature": 0.2, "top_p": 0.9, "top_k": 40,
        "stop_sequences": ["END"], "metadata": {"user_id": "u-1"},
        "system": [{"type": "text", "text": "Be brief.", "cache_control": cache},
                   {"type": "text", "text": "Use metric."}],
        "tools": [{"name": "lookup", "description": "Look a word up",
                   "input_schema": {"type": "object", "properties": {"w": {"type": "string"}}},
                   "cache_control": cache},
                  {"name": "now", "input_schema": {"type": "object", "properties": {}}}],
        "tool_choice": {"type": "tool", "name": "lookup"},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?", "cache_control": cache},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig-1"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"w": "png"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True, "cache_control": cache,
                 "content": [{"type": "text", "text": "an image format"},
                             {"type": "image", "source": {"type": "url", "url": "https://example.com/b.png"}}]}]},
        ],
    }


def test_consecutive_messages_merge_with_tool_results_first():
    request = ir.Request(model="claude-x", messages=[
        user(ir.Text("Weather in Paris and Rome?")),
        assistant(ir.Text("Checking.")),
        assistant(ir.ToolCall("t1", "weather", '{"city":"Paris"}'), ir.ToolCall("t2", "weather", '{"city":"Rome"}')),
        user(ir.ToolResult("t1", [ir.Text("sunny")])),
        user(ir.Text("Also, be quick."), ir.ToolResult("t2", [ir.Text("rain")])),
        assistant(ir.Text("")),  # nothing to send: the turn is left out
        user(ir.Text("Thanks")),
    ])
    turns = encode(request)[0]["messages"]
    assert [turn["role"] for turn in turns] == ["user", "assistant", "user"]
    assert [block["type"] for block in turns[1]["content"]] == ["text", "tool_use", "tool_use"]
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "sunny"}]},
        {"type": "tool_result", "tool_use_id": "t2", "content": [{"type": "text", "text": "rain"}]},
        {"type": "text", "text": "Also, be quick."},
        {"type": "text", "text": "Thanks"},
    ]


@pytest.mark.parametrize("choice, parallel, expected", [
    (ir.ToolChoice("auto"), None, {"type": "auto"}),
    (ir.ToolChoice("none"), None, {"type": "none"}),
    (ir.ToolChoice("required"), None, {"type": "any"}),
    (ir.ToolChoice("tool", "lookup"), None, {"type": "tool", "name": "lookup"}),
    (None, True, None),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    (ir.ToolChoice("required"), False, {"type": "any", "disable_parallel_tool_use": True}),
    (ir.ToolChoice("tool", "lookup"), False, {"type": "tool", "name": "lookup", "disable_parallel_tool_use": True}),
    (ir.ToolChoice("none"), False, {"type": "none"}),
])
def test_tool_choice(choice, parallel, expected):
    body, losses = encode(ir.Request(model="claude-x", tools=[ir.Tool("lookup")], tool_choice=choice,
                                     parallel_tool_calls=parallel, messages=[user(ir.Text("Hi"))]))
    assert body.get("tool_choice") == expected
    assert losses == []


def test_thinking_budget_raises_max_tokens_and_drops_sampling():
    request = ir.Request(model="claude-x", max_tokens=1000, temperature=0.5, top_k=5, top_p=0.99,
                         reasoning=ir.Reasoning(effort="high"), messages=[user(ir.Text("Hi"))])
    body, losses = encode(request)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    assert body["max_tokens"] == 24576 + 4096
    assert "temperature" not in body and "top_k" not in body and body["top_p"] == 0.99
    assert loss_fields(losses) == ["max_tokens", "temperature", "top_k"]


def test_thinking_keeps_what_already_fits():
    request = ir.Request(model="claude-x", max_tokens=32000, temperature=1, reasoning=ir.Reasoning(budget_tokens=2000),
                         messages=[user(ir.Text("Hi"))])
    body, losses = encode(request)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert body["max_tokens"] == 32000 and body["temperature"] == 1
    assert losses == []
    # Without a max_tokens from client or config the default is raised silently: nobody asked for 4096.
    body, losses = encode(ir.Request(model="claude-x", reasoning=ir.Reasoning(effort="medium"),
                                     messages=[user(ir.Text("Hi"))]))
    assert body["max_tokens"] == 12288 + 4096 and losses == []


def test_thinking_off_and_tiny_budgets():
    body, losses = encode(ir.Request(model="claude-x", reasoning=ir.Reasoning(effort="none"),
                                     messages=[user(ir.Text("Hi"))]))
    assert "thinking" not in body and losses == []
    body, losses = encode(ir.Request(model="claude-x", reasoning=ir.Reasoning(budget_tokens=100),
                                     messages=[user(ir.Text("Hi"))]))
    assert body["thinking"]["budget_tokens"] == 1024 and loss_fields(losses) == ["reasoning.budget_tokens"]


@pytest.mark.parametrize("choice", [ir.ToolChoice("required"), ir.ToolChoice("tool", "lookup")])
def test_forced_tool_turns_thinking_off(choice):
    body, losses = encode(ir.Request(model="claude-x", max_tokens=1000, temperature=0.3,
                                     reasoning=ir.Reasoning(effort="low"), tools=[ir.Tool("lookup")],
                                     tool_choice=choice, messages=[user(ir.Text("Hi"))]))
    assert "thinking" not in body
    assert body["max_tokens"] == 1000 and body["temperature"] == 0.3 and body["tool_choice"]["type"] != "auto"
    assert loss_fields(losses) == ["reasoning"]


def test_tool_loop_without_anthropic_thinking_turns_thinking_off():
    history = [user(ir.Text("Weather?")),
               assistant(ir.Thinking("I should call it", source="openai_responses", id="rs_1"),
                         ir.ToolCall("call_1", "weather", "{}")),
               user(ir.ToolResult("call_1", [ir.Text("sunny")]))]
    body, losses = encode(ir.Request(model="claude-x", reasoning=ir.Reasoning(effort="low"), messages=history))
    assert "thinking" not in body
    assert loss_fields(losses) == ["messages[1].content[0]", "reasoning"]
    # A new user question after the loop needs no thinking from the earlier turns.
    body, _ = encode(ir.Request(model="claude-x", reasoning=ir.Reasoning(effort="low"),
                                messages=[*history, assistant(ir.Text("Sunny.")), user(ir.Text("Thanks"))]))
    assert body["thinking"]["budget_tokens"] == 4096


@pytest.mark.parametrize("thinking, reason", [
    (ir.Thinking("plan", source="openai_responses", encrypted="gAAA", id="rs_1"), "openai_responses-made"),
    (ir.Thinking("plan", signature="CiQB", source="gemini"), "gemini-made"),
    (ir.Thinking("plan"), "unknown-made"),
    (ir.Thinking("plan", source="anthropic"), "unsigned"),
])
def test_foreign_or_unsigned_thinking_is_dropped(thinking, reason):
    body, losses = encode(ir.Request(model="claude-x", messages=[
        user(ir.Text("Hi")), assistant(thinking, ir.Text("Hello")), user(ir.Text("Bye"))]))
    assert body["messages"][1]["content"] == [{"type": "text", "text": "Hello"}]
    assert loss_fields(losses) == ["messages[1].content[0]"] and reason in losses[0].reason


def test_n_above_one_is_a_400():
    with pytest.raises(GatewayError) as caught:
        encode(ir.Request(model="claude-x", n=2, messages=[user(ir.Text("Hi"))]))
    assert caught.value.status == 400 and caught.value.param == "n"
    assert encode(ir.Request(model="claude-x", n=1, messages=[user(ir.Text("Hi"))]))[1] == []


@pytest.mark.parametrize("arguments", ['["a"]', "not json", '"text"'])
def test_tool_arguments_must_be_an_object(arguments):
    with pytest.raises(GatewayError) as caught:
        encode(ir.Request(model="claude-x", messages=[user(ir.Text("Hi")),
                                                      assistant(ir.ToolCall("t1", "f", arguments))]))
    assert caught.value.status == 400 and "messages[1]" in caught.value.message and "t1" in caught.value.message


def test_empty_tool_arguments_mean_no_parameters():
    body, _ = encode(ir.Request(model="claude-x", messages=[user(ir.Text("Hi")), assistant(ir.ToolCall("t1", "f"))]))
    assert body["messages"][1]["content"] == [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]


def test_what_anthropic_cannot_express_is_recorded_as_lost():
    request = ir.Request(
        model="claude-x", temperature=1.5, seed=7, presence_penalty=0.5, frequency_penalty=0,
        metadata={"session": "s1"}, tools=[ir.Tool("f", strict=True)],
        source="openai_chat", extras={"logprobs": True},
        messages=[ir.Message("user", [ir.Image(url="https://example.com/a.png", detail="high")], name="alice"),
                  assistant(ir.Refusal("I can't help with that."), ir.ToolCall("t1", "f", "{}", signature="sig"))])
    body, losses = encode(request)
    assert loss_fields(losses) == [
        "messages[0].name", "messages[0].content[0].detail", "messages[1].content[0]",
        "messages[1].content[1].signature", "tools[0].strict", "temperature", "seed", "presence_penalty",
        "metadata.session", "logprobs"]
    assert body["temperature"] == 1 and "metadata" not in body and "logprobs" not in body
    assert body["messages"][1]["content"][0] == {"type": "text", "text": "I can't help with that."}


def test_anthropic_extras_and_metadata_user_id_go_back():
    request = ir.Request(model="claude-x", source="anthropic", metadata={"user_id": "abc"},
                         extras={"service_tier": "auto", "model": "ignored"}, messages=[user(ir.Text("Hi"))])
    body, losses = encode(request)
    assert body["service_tier"] == "auto" and body["model"] == "claude-x"
    assert body["metadata"] == {"user_id": "abc"} and losses == []


def test_response_format_is_asked_for_in_the_system_prompt():
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    body, losses = encode(ir.Request(model="claude-x", system=[ir.Instruction("Be brief.")],
                                     response_format=ir.ResponseFormat("json_schema", schema=schema, name="City"),
                                     messages=[user(ir.Text("Largest city of Mexico?"))]))
    assert body["system"][0] == {"type": "text", "text": "Be brief."}
    instruction = body["system"][1]["text"]
    assert "JSON" in instruction and instruction.endswith(json.dumps(schema, separators=(",", ":")))
    assert loss_fields(losses) == ["response_format"]

    body, losses = encode(ir.Request(model="claude-x", response_format=ir.ResponseFormat("json_object"),
                                     messages=[user(ir.Text("Hi"))]))
    assert len(body["system"]) == 1 and "JSON object" in body["system"][0]["text"]
    body, losses = encode(ir.Request(model="claude-x", response_format=ir.ResponseFormat("text"),
                                     messages=[user(ir.Text("Hi"))]))
    assert "system" not in body and losses == []


def test_passthrough_keeps_its_thinking_rules():
    route = SimpleNamespace(upstream_model="claude-y", model=SimpleNamespace(reasoning="low"))
    body = apply_policies({"model": "a", "max_tokens": 100, "temperature": 0.2, "top_k": 3, "messages": []},
                          route, "")
    assert body == {"model": "claude-y", "max_tokens": 4096 + 4096, "messages": [],
                    "thinking": {"type": "enabled", "budget_tokens": 4096}}
    counted = apply_policies({"model": "a", "messages": []}, route, "", count_tokens=True)
    assert counted == {"model": "claude-y", "messages": [], "thinking": {"type": "enabled", "budget_tokens": 4096}}
