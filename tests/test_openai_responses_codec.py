"""Tests of the OpenAI Responses upstream codec: request encoding, response and stream decoding.

Expected values come from the recorded traffic in tests/recorded (read by hand
from the raw bytes). Streams and bodies no recording covers are written after
the shapes in openai-python's types (src/openai/types/responses/), and every
one of them is validated against those types before it is used.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from openai.types.responses import Response as SDKResponse
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from droid2api import ir
from droid2api.dialects.openai_responses import StreamDecoder, decode_response, encode_request
from droid2api.errors import GatewayError
from droid2api.sse import iter_events

from .helpers import assert_stream_contract, exchanges, recorded, recorded_json

ROUTE = SimpleNamespace(factory=False, upstream_model="gpt-5", fast=False)
STREAMS = exchanges("openai_responses", "sse")
TOOL_CALL = "openai_responses__test_openai_responses_stream.0"
TEXT = "openai_responses__test_openai_responses_stream.1"
USAGE = "openai_responses__test_openai_responses_streaming_usage.0"
THINKING = "openai_responses__test_openai_responses_thinking_part_iter.0"
_EVENT = TypeAdapter(ResponseStreamEvent)


def decode_chunks(chunks) -> list:
    decoder = StreamDecoder()
    return [event for name, data in iter_events(chunks) for event in decoder.feed(name, data)] + decoder.close()


def decode_recording(name: str) -> list:
    return decode_chunks([recorded(name + ".response.sse")])


def decode_payloads(*payloads: dict, close: bool = True) -> list:
    """Decode hand-written events, each first validated against the SDK's event types."""
    decoder, events = StreamDecoder(), []
    for payload in payloads:
        _EVENT.validate_python(payload)
        events += decoder.feed(payload["type"], json.dumps(payload))
    return events + (decoder.close() if close else [])


def payloads(name: str) -> list:
    """The JSON payloads of a recorded stream, read line by line without the SSE decoder."""
    text = recorded(name + ".response.sse").decode()
    return [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: ")]


def done_items(name: str) -> list:
    return [p["item"] for p in payloads(name) if p["type"] == "response.output_item.done"]


def completed_response(name: str) -> dict:
    return next(p["response"] for p in payloads(name) if p["type"] == "response.completed")


def user(text: str) -> ir.Message:
    return ir.Message("user", [ir.Text(text)])


def usage(input_tokens, output_tokens, cached=0, reasoning=0, written=0) -> dict:
    details = {"cached_tokens": cached, "cache_write_tokens": written}  # the latter is newer than the recordings
    return {"input_tokens": input_tokens, "input_tokens_details": details,
            "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output_tokens}


def response_body(output: list, status: str = "completed", **fields) -> dict:
    body = {"id": "resp_1", "object": "response", "created_at": 1700000000, "model": "gpt-5", "status": status,
            "output": output, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "usage": usage(10, 5), **fields}
    SDKResponse.model_validate(body)
    return body


# -- recorded streams ----------------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_every_recorded_stream_keeps_the_contract(name):
    assert_stream_contract(decode_recording(name))


def test_tool_call_stream():
    events = decode_recording(TOOL_CALL)
    assert events[0] == ir.Start("resp_67e554a155508191900ee113293c4c830794405d35281ae2", "gpt-4o-2024-08-06",
                                 1743082657)
    assert events[1] == ir.PartStart(0, ir.ToolCall("call_kL0PCQV7M2WMoVX8V8OtYSAL", "get_capital"))
    response = ir.accumulate(events)
    assert response.parts == [ir.ToolCall("call_kL0PCQV7M2WMoVX8V8OtYSAL", "get_capital", '{"country":"France"}')]
    assert response.stop_reason == "tool_use"
    assert response.usage == ir.Usage(input_tokens=255, output_tokens=16)


def test_text_stream():
    response = ir.accumulate(decode_recording(TEXT))
    assert response.parts == [ir.Text("The capital of France is Paris.")]
    assert response.stop_reason == "end_turn"
    assert response.usage == ir.Usage(input_tokens=278, output_tokens=9)


def test_reasoning_without_summary_then_tool_call():
    events = decode_recording(USAGE)
    response = ir.accumulate(events)
    thinking, call = response.parts
    assert thinking.source == ir.Dialect.RESPONSES and thinking.id == "rs_0050471a34b36ae60068c97bac4dcc819595fd0f80d6b3c405"
    assert thinking.text == ""
    # The encrypted content of output_item.done (output_item.added carries an older, shorter one).
    assert thinking.encrypted.startswith("gAAAAABoyXvxI6jwG5j6rvTG") and thinking.encrypted.endswith("o02bg-rk3VE=")
    assert len(thinking.encrypted) == 3896
    assert call == ir.ToolCall("call_CWXgs68YprAjp6t0371hiPOI", "final_result", '{"result":6666}')
    assert response.stop_reason == "tool_use"
    assert response.usage == ir.Usage(input_tokens=53, output_tokens=469, reasoning_tokens=448)


def test_reasoning_summaries_stream():
    events = decode_recording(THINKING)
    response = ir.accumulate(events)
    *thoughts, text = response.parts
    headings = ["**Providing street crossing instructions**", "**Explaining street crossing safety**",
                "**Sharing street crossing safety tips**", "**Providing safe crossing advice**"]
    assert [t.text.split("\n\n")[0] for t in thoughts] == headings
    assert [len(t.text) for t in thoughts] == [460, 517, 540, 505]
    assert thoughts[3].text.endswith(" clear and easy to understand!")
    assert {t.id for t in thoughts} == {"rs_68c42d1d0878819d8266007cd3d1402c08fbf9b1584184ff"}
    assert {t.source for t in thoughts} == {ir.Dialect.RESPONSES}
    assert [t.encrypted is None for t in thoughts] == [True, True, True, False]
    encrypted = thoughts[3].encrypted
    assert encrypted.startswith("gAAAAABoxC0m_QWpOlSt8wyP") and encrypted.endswith("tWmQ30zeXDs=")
    assert text.text.startswith("I'm not a road safety professional, but here are some genera")
    assert text.text.endswith("Stay safe!") and len(text.text) == 1251
    assert response.model == "o3-mini-2025-01-31"
    assert response.usage == ir.Usage(input_tokens=13, output_tokens=1680, reasoning_tokens=1408)
    assert response.stop_reason == "end_turn"
    # The last summary part is held open until output_item.done brings the encrypted content.
    encrypted_at = next(i for i, e in enumerate(events) if isinstance(e, ir.Delta) and e.kind == "encrypted")
    assert events[encrypted_at - 1].index == 3 and events[encrypted_at + 1] == ir.PartStop(3)
    assert ir.PartStop(3) not in events[:encrypted_at]


@pytest.mark.parametrize("name", STREAMS)
def test_any_chunking_gives_the_same_events(name):
    raw = recorded(name + ".response.sse")
    whole = decode_chunks([raw])
    for size in (1, 2, 3, 7, 64, 1000):
        assert decode_chunks([raw[i:i + size] for i in range(0, len(raw), size)]) == whole, size
    for cut in range(1, len(raw), max(1, len(raw) // 150)):
        assert decode_chunks([raw[:cut], raw[cut:]]) == whole, cut


@pytest.mark.parametrize("name", STREAMS)
def test_streamed_and_complete_answers_decode_alike(name):
    streamed = ir.accumulate(decode_recording(name))
    complete = decode_response(completed_response(name))
    # The recording re-encrypts reasoning at every serialisation (output_item.done and
    # response.completed carry different ciphertexts of the same length): compare the rest.
    for a, b in zip(streamed.parts, complete.parts):
        if isinstance(a, ir.Thinking) and a.encrypted:
            assert b.encrypted.startswith("gAAAAA") and len(b.encrypted) == len(a.encrypted)
            a.encrypted = b.encrypted = "<encrypted>"
    assert complete == streamed


# -- non-streamed responses ----------------------------------------------------


def test_decode_response_items_in_order():
    body = response_body([
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "one"},
                                                         {"type": "summary_text", "text": "two"}],
         "encrypted_content": "enc"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "q"}},
        {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "Hi", "annotations": []},
                     {"type": "refusal", "refusal": "No."}]},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": ""},
    ], usage=usage(100, 50, cached=40, reasoning=20, written=30))
    response = decode_response(body)
    assert response.parts == [
        ir.Thinking(text="one", source="openai_responses", id="rs_1"),
        ir.Thinking(text="two", encrypted="enc", source="openai_responses", id="rs_1"),
        ir.Text("Hi"), ir.Refusal("No."),
        ir.ToolCall("call_1", "f", "{}"),
    ]
    assert response.stop_reason == "tool_use" and response.created == 1700000000
    assert response.usage == ir.Usage(input_tokens=100, output_tokens=50, cache_read_tokens=40, cache_write_tokens=30,
                                      reasoning_tokens=20)


def test_decode_reasoning_text_content_and_empty_reasoning():
    body = response_body([
        {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "raw"}]},
        {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "enc"},
    ])
    assert decode_response(body).parts == [ir.Thinking(text="raw", source="openai_responses", id="rs_1"),
                                           ir.Thinking(encrypted="enc", source="openai_responses", id="rs_2")]


@pytest.mark.parametrize("status, details, stop", [
    ("incomplete", {"reason": "max_output_tokens"}, "max_tokens"),
    ("incomplete", {"reason": "content_filter"}, "content_filter"),
    ("failed", None, "error"),
])
def test_decode_response_stop_reasons(status, details, stop):
    assert decode_response(response_body([], status=status, incomplete_details=details)).stop_reason == stop


# -- hand-written streams ------------------------------------------------------


def created(**response) -> dict:
    return {"type": "response.created", "sequence_number": 0, "response": response_body([], "in_progress", **response)}


def finished(kind="response.completed", status="completed", output=(), **fields) -> dict:
    return {"type": kind, "sequence_number": 99, "response": response_body(list(output), status, **fields)}


def test_refusal_and_reasoning_text_stream():
    events = decode_payloads(
        created(),
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
         "item": {"type": "reasoning", "id": "rs_1", "summary": []}},
        {"type": "response.reasoning_text.delta", "sequence_number": 2, "item_id": "rs_1", "output_index": 0,
         "content_index": 0, "delta": "thinking..."},
        {"type": "response.output_item.done", "sequence_number": 3, "output_index": 0,
         "item": {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "enc",
                  "content": [{"type": "reasoning_text", "text": "thinking..."}]}},
        {"type": "response.content_part.added", "sequence_number": 4, "item_id": "msg_1", "output_index": 1,
         "content_index": 0, "part": {"type": "refusal", "refusal": ""}},
        {"type": "response.refusal.delta", "sequence_number": 5, "item_id": "msg_1", "output_index": 1,
         "content_index": 0, "delta": "I can't."},
        {"type": "response.content_part.done", "sequence_number": 6, "item_id": "msg_1", "output_index": 1,
         "content_index": 0, "part": {"type": "refusal", "refusal": "I can't."}},
        finished(usage=usage(30, 12, cached=16, reasoning=4)),
    )
    assert_stream_contract(events)
    response = ir.accumulate(events)
    assert response.parts == [ir.Thinking(text="thinking...", encrypted="enc", source="openai_responses", id="rs_1"),
                              ir.Refusal("I can't.")]
    assert response.usage == ir.Usage(input_tokens=30, output_tokens=12, cache_read_tokens=16, reasoning_tokens=4)


def test_content_sent_only_in_done_events_is_filled_in():
    events = decode_payloads(
        created(),
        {"type": "response.output_item.done", "sequence_number": 1, "output_index": 0,
         "item": {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                  "content": [{"type": "output_text", "text": "Hello", "annotations": []}]}},
        {"type": "response.output_item.added", "sequence_number": 2, "output_index": 1,
         "item": {"type": "function_call", "call_id": "call_1", "name": "now", "arguments": ""}},
        {"type": "response.output_item.done", "sequence_number": 3, "output_index": 1,
         "item": {"type": "function_call", "call_id": "call_1", "name": "now", "arguments": ""}},
        finished(),
    )
    assert_stream_contract(events)
    assert ir.accumulate(events).parts == [ir.Text("Hello"), ir.ToolCall("call_1", "now", "{}")]


def test_incomplete_stream_finishes_with_max_tokens():
    events = decode_payloads(created(), finished("response.incomplete", "incomplete",
                                                 incomplete_details={"reason": "max_output_tokens"}))
    assert events[-1] == ir.Finish("max_tokens", ir.Usage(input_tokens=10, output_tokens=5))


def test_truncated_stream_ends_in_an_error():
    raw = recorded(TEXT + ".response.sse")
    events = decode_chunks([raw[:len(raw) // 2]])
    assert isinstance(events[0], ir.Start)
    assert events[-1].status == 502 and isinstance(events[-1], ir.StreamError)
    assert not any(isinstance(e, ir.Finish) for e in events)


def test_failed_response_is_a_stream_error():
    failed = finished("response.failed", "failed", error={"code": "rate_limit_exceeded", "message": "Slow down."})
    events = decode_payloads(created(), failed, finished())
    assert events[-1] == ir.StreamError(429, "rate_limit_exceeded", "Slow down.")
    assert sum(isinstance(e, (ir.StreamError, ir.Finish)) for e in events) == 1


@pytest.mark.parametrize("code, status", [
    ("rate_limit_exceeded", 429), ("server_error", 502), ("invalid_prompt", 400),
    ("invalid_request_error", 400), ("image_too_large", 400), ("something_new", 502), (None, 502),
])
def test_error_event_status(code, status):
    error = {"type": "error", "code": code, "message": "boom", "param": None, "sequence_number": 1}
    events = decode_payloads(created(), error)
    assert events[-1].status == status and events[-1].message == "boom"
    assert len(events) == 2  # Start, then the error; close() adds nothing after it


def test_malformed_event_is_a_stream_error():
    decoder = StreamDecoder()
    error = decoder.feed("response.output_text.delta", '{"type": "response.output_text.delta", "del')
    assert len(error) == 1 and error[0].status == 502
    assert decoder.feed("response.completed", json.dumps(finished())) == [] and decoder.close() == []


def test_event_of_the_wrong_shape_is_a_stream_error():
    decoder = StreamDecoder()
    decoder.feed("response.created", json.dumps(created()))
    error = decoder.feed("response.output_item.added", '{"type": "response.output_item.added", "item": "oops"}')
    assert [type(e) for e in error] == [ir.StreamError] and error[0].status == 502


def test_events_without_an_ir_meaning_are_ignored():
    annotation = {"type": "url_citation", "url": "https://example.com", "title": "Example", "start_index": 0,
                  "end_index": 4}
    events = decode_payloads(created(), {"type": "response.output_text.annotation.added", "sequence_number": 1,
                                         "item_id": "m", "output_index": 0, "content_index": 0,
                                         "annotation_index": 0, "annotation": annotation}, close=False)
    decoder = StreamDecoder()
    assert decoder.feed("response.brand_new", '{"type": "response.brand_new", "x": 1}') == []
    assert [type(e) for e in events] == [ir.Start]


# -- request encoding ----------------------------------------------------------

CAPITAL_TOOL = ir.Tool("get_capital", "", {"additionalProperties": False, "properties": {"country": {"type": "string"}},
                                           "required": ["country"], "type": "object"}, strict=True)


def spelled_out(body: dict) -> dict:
    """A recorded body with the API's shorthands written out the way the encoder writes them.

    The Responses API documents an input message without "type" as a message and
    string content as one input_text part; "instructions": "" gives no instructions.
    """
    body = dict(body)
    if body.get("instructions") == "":
        del body["instructions"]
    items = []
    for item in body["input"]:
        if "role" in item and "type" not in item:
            item = {"type": "message", **item}
            if isinstance(item["content"], str):
                item["content"] = [{"type": "input_text", "text": item["content"]}]
        items.append(item)
    body["input"] = items
    return body


def assert_encodes_like(name: str, request: ir.Request, **expected_differences):
    """The encoded body equals the recorded one on every key, but for the listed ones and store."""
    losses = []
    body = encode_request(request, losses, ROUTE)
    want = spelled_out(recorded_json(name + ".request.json"))
    assert set(body) == set(want) | {"store"} and body["store"] is False
    for key, value in expected_differences.items():
        assert body.pop(key) == value
        del want[key]
    del body["store"]
    assert body == want
    assert losses == []


def test_encode_recorded_tool_conversation():
    first = ir.Request(model="gpt-4o", messages=[user("What is the capital of France?")], tools=[CAPITAL_TOOL],
                       tool_choice=ir.ToolChoice("auto"), stream=True)
    assert_encodes_like(TOOL_CALL, first)
    call = ir.ToolCall("fc_67e554a1de488191af0831d35cbe082e0794405d35281ae2", "get_capital", '{"country":"France"}')
    second = ir.Request(model="gpt-4o", tools=[CAPITAL_TOOL], tool_choice=ir.ToolChoice("auto"), stream=True,
                        messages=[user("What is the capital of France?"), ir.Message("assistant", [call]),
                                  ir.Message("user", [ir.ToolResult(call.id, [ir.Text("Paris")])])])
    assert_encodes_like(TEXT, second)


def test_encode_recorded_reasoning_requests():
    tool = ir.Tool("final_result", "The final response which ends this conversation",
                   {"additionalProperties": False, "properties": {"result": {"type": "integer"}},
                    "required": ["result"], "type": "object"}, strict=True)
    request = ir.Request(model="gpt-5", messages=[user("Calculate 100 * 200 / 3")], tools=[tool],
                         tool_choice=ir.ToolChoice("required"), reasoning=ir.Reasoning(effort="low"), stream=True,
                         source="openai_responses", extras={"previous_response_id": None, "service_tier": "flex"})
    # The recording asked for no summary (null); the IR has no way to say so and the
    # encoder asks for "auto" so that a client converted from another dialect sees reasoning.
    assert_encodes_like(USAGE, request, reasoning={"effort": "low", "summary": "auto"})
    request = ir.Request(model="o3-mini", messages=[user("How do I cross the street?")], stream=True,
                         reasoning=ir.Reasoning(effort="high", summary="detailed"))
    assert_encodes_like(THINKING, request)


def test_decoded_reasoning_goes_back_as_the_items_it_came_from():
    for name in (THINKING, USAGE):
        answer = ir.accumulate(decode_recording(name))
        request = ir.Request(model="gpt-5", messages=[user("q"), ir.Message("assistant", answer.parts), user("more")])
        losses = []
        sent = encode_request(request, losses, ROUTE)["input"][1:-1]
        items = done_items(name)
        reasoning = {key: items[0][key] for key in ("type", "id", "summary", "encrypted_content")}
        assert sent[0] == reasoning and losses == []
        if name == THINKING:
            assert sent[1] == {"type": "message", "role": "assistant",
                               "content": [{"type": "output_text", "text": items[1]["content"][0]["text"]}]}
        else:
            assert sent[1] == {key: items[1][key] for key in ("type", "call_id", "name", "arguments")}


def encode(losses=None, **fields) -> dict:
    fields.setdefault("messages", [user("hi")])
    return encode_request(ir.Request(model="gpt-5", **fields), [] if losses is None else losses, ROUTE)


def test_reasoning_parts_regroup_by_item_id():
    parts = [ir.Thinking("a", source="openai_responses", id="rs_1"), ir.Thinking("b", encrypted="e1", source="openai_responses", id="rs_1"),
             ir.Thinking("", encrypted="e2", source="openai_responses", id="rs_2"), ir.Text("x"),
             ir.Thinking("c", encrypted="e3", source="openai_responses", id="rs_2")]
    items = encode(messages=[ir.Message("assistant", parts)])["input"]
    summary = [{"type": "summary_text", "text": "a"}, {"type": "summary_text", "text": "b"}]
    assert items == [
        {"type": "reasoning", "id": "rs_1", "summary": summary, "encrypted_content": "e1"},
        {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "e2"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "x"}]},
        {"type": "reasoning", "id": "rs_2", "summary": [{"type": "summary_text", "text": "c"}],
         "encrypted_content": "e3"},
    ]


def test_thinking_the_upstream_cannot_take_is_dropped_with_a_loss():
    losses = []
    parts = [ir.Thinking("mine", signature="sig", source="anthropic"),
             ir.Thinking("no blob", source="openai_responses", id="rs_9"), ir.Refusal("No."),
             ir.ToolCall("c1", "f", "", signature="g")]
    items = encode(losses, messages=[ir.Message("assistant", parts)])["input"]
    assert items == [{"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
                     {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}]
    assert [loss.field for loss in losses] == ["messages[0].parts[0]", "messages[0].parts[3].signature", "messages[0]"]


def test_tool_outputs_and_images():
    losses = []
    png = ir.Image(data="iVBORw0KGgo=", media_type="image/png", detail="low")
    message = ir.Message("user", [ir.ToolResult("c1", [ir.Text("line one"), ir.Text("line two")], is_error=True),
                                  ir.ToolResult("c2", [ir.Text("see:"), png]), ir.ToolResult("c3", []),
                                  ir.Text("and"), ir.Image(url="https://example.com/a.jpg")])
    items = encode(losses, messages=[message])["input"]
    assert items == [
        {"type": "function_call_output", "call_id": "c1", "output": "line one\n\nline two"},
        {"type": "function_call_output", "call_id": "c2", "output": [
            {"type": "input_text", "text": "see:"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}]},
        {"type": "function_call_output", "call_id": "c3", "output": ""},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "and"},
            {"type": "input_image", "image_url": "https://example.com/a.jpg"}]},
    ]
    assert [loss.field for loss in losses] == ["messages[0].parts[0].is_error"]


def test_instructions_and_developer_messages():
    system = [ir.Instruction("Be brief."), ir.Instruction("Rules:\n"), ir.Instruction("Obey.", role="developer"),
              ir.Instruction("Be kind.")]
    body = encode(system=system)
    assert body["instructions"] == "Be brief.\n\nRules:\nBe kind."
    assert body["input"][0] == {"type": "message", "role": "developer",
                                "content": [{"type": "input_text", "text": "Obey."}]}
    assert "instructions" not in encode()


def test_options():
    losses = []
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = encode(losses, tools=[ir.Tool("f", parameters=schema), ir.Tool("g", "G", strict=True)],
                  tool_choice=ir.ToolChoice("tool", "g"), parallel_tool_calls=False, max_tokens=300,
                  temperature=0.2, top_p=0.9, metadata={"k": "v"}, user="u1",
                  response_format=ir.ResponseFormat("json_schema", schema, "answer", "The answer", True))
    assert body["tools"] == [
        # Responses defaults strict to true; the Chat and Anthropic default is false.
        {"type": "function", "name": "f", "parameters": schema, "strict": False},
        {"type": "function", "name": "g", "description": "G", "parameters": {"type": "object", "properties": {}},
         "strict": True}]
    assert body["tool_choice"] == {"type": "function", "name": "g"}
    assert (body["parallel_tool_calls"], body["max_output_tokens"], body["temperature"], body["top_p"]) == (
        False, 300, 0.2, 0.9)
    assert body["metadata"] == {"k": "v"} and body["user"] == "u1"
    assert body["text"] == {"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True,
                                       "description": "The answer"}}
    assert "stream" not in body and "reasoning" not in body and "include" not in body
    assert losses == []
    assert encode(response_format=ir.ResponseFormat("json_object"))["text"] == {"format": {"type": "json_object"}}
    assert encode(tool_choice=ir.ToolChoice("none"))["tool_choice"] == "none"


@pytest.mark.parametrize("reasoning, expected", [
    (ir.Reasoning(effort="none"), {"effort": "minimal"}),  # gpt-5 goes no lower; tests/test_reasoning_off.py
    (ir.Reasoning(effort="minimal"), {"effort": "minimal", "summary": "auto"}),
    (ir.Reasoning(effort="xhigh", summary="concise"), {"effort": "xhigh", "summary": "concise"}),
    (ir.Reasoning(budget_tokens=10000), {"effort": "medium", "summary": "auto"}),
])
def test_reasoning_effort(reasoning, expected):
    body = encode(reasoning=reasoning)
    assert body.get("reasoning") == expected
    assert body.get("include") == (["reasoning.encrypted_content"] if expected else None)


def test_what_the_target_cannot_express_is_recorded():
    losses = []
    body = encode(losses, stop=["END"], seed=1, top_k=5, presence_penalty=0.1, frequency_penalty=0.2,
                  source="openai_chat", extras={"logprobs": True},
                  messages=[ir.Message("user", [ir.Text("hi", cache_control={"type": "ephemeral"}),
                                                ir.Image(data="iVBORw0KGgo=")], name="bob")])
    assert {loss.field for loss in losses} == {"stop", "seed", "top_k", "presence_penalty", "frequency_penalty",
                                               "logprobs", "messages[0].name", "messages[0].parts[0].cache_control",
                                               "messages[0].parts[1]"}
    assert body["input"] == [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    assert not {"stop", "seed", "top_k", "logprobs", "presence_penalty"} & set(body)


def test_more_than_one_choice_is_refused():
    with pytest.raises(GatewayError) as caught:
        encode(n=2)
    assert caught.value.status == 400 and caught.value.param == "n"
    assert "n" not in encode(n=1)


def test_a_fast_model_asks_for_priority_service():
    body = encode_request(ir.Request("gpt-5"), [], SimpleNamespace(
        factory=True, upstream_model="gpt-5", fast=True))
    assert body["service_tier"] == "priority"
    assert "service_tier" not in encode_request(ir.Request("gpt-5"), [], ROUTE)
