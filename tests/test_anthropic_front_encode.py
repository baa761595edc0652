"""The Anthropic Messages front's answers, streamed and not, as the official anthropic SDK reads them.

Every recorded upstream answer (all four dialects: the other three are what
the front converts, Anthropic's own checks X -> IR -> X) is decoded to IR
events, encoded as an Anthropic stream and as a plain Message. The stream's
events are validated strictly against the SDK's types and Anthropic's grammar
and folded by the SDK's own MessageStream; the result must be the Message the
plain answer gives, signatures, tool inputs and usage included. The split
checks then follow the opaque data a client must send back (Responses
encrypted reasoning, Gemini thought signatures) through carried.py.
"""

import json

import anthropic
import pytest
from anthropic.types import Message, ModelInfo

from droid2api import ir
from droid2api.config import ModelConfig
from droid2api.dialects import anthropic as front
from droid2api.dialects import carried
from droid2api.errors import GatewayError
from droid2api.wire import dumps

from .helpers import (PROVIDER_DIALECTS, anthropic_assemble, anthropic_events, exchanges, recorded, recorded_json,
                      sse_events, strictly, upstream_events)

RECORDINGS = [(provider, name) for provider in PROVIDER_DIALECTS for name in exchanges(provider)]


def stream_as_anthropic(events) -> bytes:
    encoder = front.StreamEncoder("client-model", ir.Request("client-model", stream=True))
    return b"".join(encoder.encode(event) for event in events)


def plain_message(events) -> Message:
    """The non-streamed answer for the same events, validated as the SDK's Message."""
    return strictly(Message, dumps(front.encode_response(ir.accumulate(events), "client-model")))


def dumped(message) -> dict:
    return message.model_dump(mode="json", exclude_none=True)


def answer(*parts, stop="end_turn", usage=None, upstream_id="resp_1") -> list:
    """The IR events of a complete answer made of ``parts``."""
    return list(ir.response_events(ir.Response(upstream_id, "upstream-model", list(parts), stop,
                                               usage=usage or ir.Usage(10, 5))))


@pytest.mark.parametrize("provider, name", RECORDINGS)
def test_an_anthropic_client_gets_the_same_message_streamed_or_not(provider, name):
    events = upstream_events(provider, name)
    streamed = anthropic_assemble(stream_as_anthropic(events))
    plain = plain_message(events)
    assert dumped(streamed) == dumped(plain)
    assert plain.model == "client-model" and plain.id.startswith("msg_")
    assert plain.stop_reason is not None


@pytest.mark.parametrize("name", exchanges("anthropic"))
def test_an_anthropic_answer_comes_back_as_anthropic_sent_it(name):
    """X -> IR -> X: everything but the usage details the IR has no slot for (cache TTLs, service tier)."""
    events = upstream_events("anthropic", name)
    try:
        original = recorded_json(f"{name}.response.json")
    except FileNotFoundError:
        original = anthropic_assemble(recorded(f"{name}.response.sse")).model_dump(mode="json", exclude_none=True)
    for extra in ("cache_creation", "inference_geo", "service_tier"):
        original["usage"].pop(extra, None)
    encoded = front.encode_response(ir.accumulate(events), original["model"])
    assert dumped(Message.model_validate(encoded)) == dumped(Message.model_validate(original))


def test_responses_encrypted_reasoning_survives_in_the_thinking_signatures():
    name = "openai_responses__test_openai_responses_thinking_part_iter.0"
    message = anthropic_assemble(stream_as_anthropic(upstream_events("openai_responses", name)))
    items = [json.loads(data)["item"] for _, data in sse_events(recorded(f"{name}.response.sse"))
             if '"response.output_item.done"' in data]
    reasoning = [item for item in items if item["type"] == "reasoning"]
    assert reasoning and all(item["encrypted_content"] for item in reasoning)
    carried_back = [carried.thinking_from(block.thinking, block.signature)
                    for block in message.content if block.type == "thinking"]
    with_data = [(part.id, part.encrypted) for part in carried_back if part.encrypted]
    assert with_data == [(item["id"], item["encrypted_content"]) for item in reasoning]
    assert {part.source for part in carried_back if part.encrypted} == {ir.Dialect.RESPONSES}
    summaries = "".join(s["text"] for item in reasoning for s in item["summary"])
    assert "".join(part.text for part in carried_back) == summaries


def test_a_gemini_thought_signature_rides_in_a_thinking_block_before_its_tool_use():
    name = "google__test_google_streaming_tool_call_thought_signature.0"
    message = anthropic_assemble(stream_as_anthropic(upstream_events("google", name)))
    raw = recorded(f"{name}.response.sse")
    signature = json.loads(sse_events(raw)[0][1])["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    carrier, call = message.content[-2:]
    assert carrier.type == "thinking" and carrier.thinking == ""
    assert call.type == "tool_use" and call.name == "get_country" and call.input == {}
    assert carried.call_signature(carrier.signature) == (call.id, signature)
    assert message.stop_reason == "tool_use"


def test_usage_is_disjoint_and_final_counts_arrive_with_message_delta():
    usage = ir.Usage(input_tokens=100, output_tokens=50, cache_read_tokens=30, cache_write_tokens=20,
                     reasoning_tokens=10)
    events = answer(ir.Text("hi"), usage=usage)
    raw = stream_as_anthropic(events)
    start = anthropic_events(raw)[0]["message"]["usage"]
    assert start == {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                     "output_tokens": 0}  # the IR knows no counts before the end
    expected = {"input_tokens": 50, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 30,
                "output_tokens": 50, "output_tokens_details": {"thinking_tokens": 10}}
    assert front.encode_response(ir.accumulate(events), "m")["usage"] == expected
    assert anthropic_assemble(raw).usage.model_dump(exclude_none=True) == expected


def test_thinking_blocks_carry_what_each_dialect_needs():
    events = answer(ir.Thinking(text="anthropic's", signature="EqSig==", source=ir.Dialect.ANTHROPIC),
                    ir.Thinking(redacted="opaque-data", source=ir.Dialect.ANTHROPIC),
                    ir.Thinking(text="plain reasoning"),  # a Chat upstream's reasoning_content: nothing to sign
                    ir.Thinking(source=ir.Dialect.GEMINI),  # nothing in it at all: no block
                    ir.Thinking(signature="gemini-sig", source=ir.Dialect.GEMINI),
                    ir.Text("answer"))
    message = anthropic_assemble(stream_as_anthropic(events))
    assert dumped(message) == dumped(plain_message(events))
    blocks = [block.model_dump(exclude_none=True) for block in message.content]
    assert blocks[:3] == [{"type": "thinking", "thinking": "anthropic's", "signature": "EqSig=="},
                          {"type": "redacted_thinking", "data": "opaque-data"},
                          {"type": "thinking", "thinking": "plain reasoning", "signature": ""}]
    assert blocks[3]["thinking"] == ""
    assert carried.thinking_from("", blocks[3]["signature"]) == ir.Thinking(signature="gemini-sig",
                                                                            source=ir.Dialect.GEMINI)
    assert blocks[4] == {"type": "text", "text": "answer"}


def test_a_signature_is_sent_once_just_before_its_block_stops():
    events = answer(ir.Thinking(text="plan", encrypted="enc", source=ir.Dialect.RESPONSES, id="rs_1"))
    names = [(p["type"], p.get("delta", {}).get("type")) for p in anthropic_events(stream_as_anthropic(events))]
    assert names[1:5] == [("content_block_start", None), ("content_block_delta", "thinking_delta"),
                          ("content_block_delta", "signature_delta"), ("content_block_stop", None)]


@pytest.mark.parametrize("upstream_reason, expected", [
    ("end_turn", "end_turn"), ("max_tokens", "max_tokens"), ("stop_sequence", "stop_sequence"),
    ("tool_use", "tool_use"), ("pause_turn", "pause_turn"), ("refusal", "refusal"),
    ("content_filter", "refusal"), (None, "end_turn")])
def test_stop_reasons(upstream_reason, expected):
    events = answer(ir.Text("x"), stop=upstream_reason)
    assert front.encode_response(ir.accumulate(events), "m")["stop_reason"] == expected
    assert anthropic_assemble(stream_as_anthropic(events)).stop_reason == expected


def test_a_refusal_is_text_and_stops_as_a_refusal():
    events = answer(ir.Refusal("I can't help with that."))
    message = anthropic_assemble(stream_as_anthropic(events))
    assert dumped(message) == dumped(plain_message(events))
    assert [block.text for block in message.content] == ["I can't help with that."]
    assert message.stop_reason == "refusal"


def test_a_stop_sequence_is_named():
    events = list(ir.response_events(ir.Response("r", "m", [ir.Text("x")], "stop_sequence", "END")))
    assert anthropic_assemble(stream_as_anthropic(events)).stop_sequence == "END"
    assert front.encode_response(ir.accumulate(events), "m")["stop_sequence"] == "END"


# -- tool arguments ---------------------------------------------------------


def test_tool_input_is_the_parsed_arguments_and_empty_arguments_are_an_empty_object():
    events = answer(ir.ToolCall("call_1", "search", '{"q": "x", "n": [1, 2]}'), ir.ToolCall("call_2", "now"),
                    stop="tool_use")
    message = anthropic_assemble(stream_as_anthropic(events))
    assert dumped(message) == dumped(plain_message(events))
    assert [(block.id, block.input) for block in message.content] == [("call_1", {"q": "x", "n": [1, 2]}),
                                                                      ("call_2", {})]


@pytest.mark.parametrize("arguments", ['{"q": "unterminated', "[1, 2]", "not json"])
def test_arguments_that_are_not_an_object_fail_the_answer(arguments):
    events = answer(ir.Text("calling"), ir.ToolCall("call_1", "search", arguments), stop="tool_use")
    with pytest.raises(GatewayError) as caught:
        front.encode_response(ir.accumulate(events), "m")
    assert caught.value.status == 502 and "'search'" in caught.value.message
    raw = stream_as_anthropic(events)
    last = anthropic_events(raw)[-1]
    assert last["type"] == "error" and "'search'" in last["error"]["message"]


def test_arguments_cut_off_by_max_tokens_leave_an_incomplete_call():
    events = answer(ir.ToolCall("call_1", "write", '{"path": "a.txt", "text": "hel'), stop="max_tokens")
    assert front.encode_response(ir.accumulate(events), "m")["content"][0]["input"] == {}
    # In a stream the fragments went out as they came; the SDK keeps what it can parse of them.
    message = anthropic_assemble(stream_as_anthropic(events))
    assert message.stop_reason == "max_tokens" and message.content[0].input["path"] == "a.txt"


# -- failures and keep-alives -----------------------------------------------


def test_a_stream_error_is_an_error_event_and_nothing_follows():
    encoder = front.StreamEncoder("m", ir.Request("m"))
    raw = b"".join(encoder.encode(event) for event in answer(ir.Text("partial answer"))[:3])
    raw += encoder.encode(ir.StreamError(429, "rate_limit_error", "slow down"))
    assert encoder.encode(ir.PartStop(0)) == encoder.encode(ir.Finish("end_turn")) == encoder.ping() == b""
    payloads = anthropic_events(raw)
    assert [p["type"] for p in payloads] == ["message_start", "content_block_start", "content_block_delta",
                                             "error"]
    assert payloads[-1] == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    with pytest.raises(anthropic.APIStatusError) as caught:
        anthropic_assemble(raw)
    assert caught.value.body == payloads[-1]


def test_an_error_before_anything_else_is_the_whole_stream():
    encoder = front.StreamEncoder("m", ir.Request("m"))
    raw = encoder.encode(ir.StreamError(503, "overloaded_error", "busy"))
    assert sse_events(raw) == [("error", dumps({"type": "error", "error": {"type": "overloaded_error",
                                                                           "message": "busy"}}))]


def test_an_answer_that_ended_in_error_is_not_ended_cleanly():
    events = answer(ir.Text("x"), stop="error")
    with pytest.raises(GatewayError) as caught:
        front.encode_response(ir.accumulate(events), "m")
    assert caught.value.status == 502
    assert anthropic_events(stream_as_anthropic(events))[-1]["error"]["type"] == "api_error"


def test_pings_keep_the_stream_alive_and_never_break_its_order():
    encoder = front.StreamEncoder("m", ir.Request("m"))
    events = answer(ir.Text("hello"), ir.ToolCall("call_1", "f", '{"a": 1}'), stop="tool_use")
    raw = encoder.ping()  # the upstream is silent before its first event: message_start goes first
    for event in events:
        raw += encoder.encode(event) + encoder.ping()
    assert encoder.ping() == b""  # after message_stop
    assert front.StreamEncoder("m", ir.Request("m")).ping().endswith(b'event: ping\ndata: {"type": "ping"}\n\n')
    payloads = anthropic_events(raw)
    assert [p["type"] for p in payloads][:2] == ["message_start", "ping"]
    assert dumped(anthropic_assemble(raw)).items() >= {"content": dumped(plain_message(events))["content"],
                                                       "stop_reason": "tool_use"}.items()


def test_a_stream_without_start_or_part_stops_still_keeps_the_grammar():
    encoder = front.StreamEncoder("m", ir.Request("m"))
    raw = b"".join(encoder.encode(event) for event in [
        ir.PartStart(0, ir.Text("")), ir.Delta(0, "text", "a"),
        ir.PartStart(1, ir.ToolCall("call_1", "f")), ir.Delta(1, "arguments", "{}"),
        ir.Finish("tool_use", ir.Usage(3, 4))])
    message = anthropic_assemble(raw)
    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.usage.input_tokens == 3 and message.usage.output_tokens == 4


# -- models -----------------------------------------------------------------


def test_the_model_list_is_anthropics_page_of_model_infos():
    models = [ModelConfig(id="claude-test", type="anthropic", name="Claude Test"),
              ModelConfig(id="gpt-test", type="openai")]
    page = front.model_list(models, 1_700_000_000)
    entries = [strictly(ModelInfo, dumps(entry)) for entry in page["data"]]
    assert [(e.id, e.display_name) for e in entries] == [("claude-test", "Claude Test"), ("gpt-test", "gpt-test")]
    assert entries[0].created_at.isoformat() == "2023-11-14T22:13:20+00:00"
    assert page["has_more"] is False and (page["first_id"], page["last_id"]) == ("claude-test", "gpt-test")
    assert front.model_entry(models[0], 1_700_000_000) == page["data"][0]
    assert front.model_list([], 0) == {"data": [], "has_more": False, "first_id": None, "last_id": None}
