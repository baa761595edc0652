"""Chat Completions over the other three dialects, codec to codec, on the recorded upstream traffic.

Each recorded upstream answer is decoded by its dialect's codec and encoded
as Chat Completions, streamed and not; the official openai SDK assembles the
stream, and both must say the same thing. The multi-turn tests then send the
assistant message a Chat client received back through the gateway and check
that the upstream gets exactly what its own API gave, signatures included.
"""

import base64
import json
from types import SimpleNamespace

import pytest
from openai.types.chat import ChatCompletion

from droid2api import ir
from droid2api.dialects import BY_NAME, openai_chat

from .helpers import chat_assemble, exchanges, recorded, recorded_json, upstream_events

DIALECTS = {"anthropic": ir.Dialect.ANTHROPIC, "openai_responses": ir.Dialect.RESPONSES, "google": ir.Dialect.GEMINI}
RECORDINGS = [(provider, name) for provider in DIALECTS for name in exchanges(provider)]


def stream_as_chat(events) -> bytes:
    encoder = openai_chat.StreamEncoder("client-model", ir.Request("client-model", include_usage=True))
    return b"".join(encoder.encode(e) for e in events)


def message_summary(message, usage, finish) -> dict:
    """What a Chat client acts on, from either a streamed or a plain answer."""
    message = message if isinstance(message, dict) else message.model_dump()
    return {
        "content": message.get("content"),
        "tool_calls": [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]),
                        (c.get("extra_content") or {}).get("google"))
                       for c in message.get("tool_calls") or []],
        "reasoning_content": message.get("reasoning_content"),
        "reasoning_details": [{k: v for k, v in d.items()} for d in message.get("reasoning_details") or []],
        "finish_reason": finish,
        "usage": usage,
    }


@pytest.mark.parametrize("provider, name", RECORDINGS)
def test_a_chat_client_gets_the_same_answer_streamed_or_not(provider, name):
    events = upstream_events(provider, name)
    plain = openai_chat.encode_response(ir.accumulate(events), "client-model")
    ChatCompletion.model_validate(plain)
    completion, usage = chat_assemble(stream_as_chat(events))
    choice = completion.choices[0]
    streamed = message_summary(choice.message, usage.model_dump(exclude_none=True), choice.finish_reason)
    expected = message_summary(plain["choices"][0]["message"], plain["usage"], plain["choices"][0]["finish_reason"])
    # Anthropic streams tool input as the model wrote it; the plain answer is re-serialised JSON:
    # the arguments compare as JSON values above, which is what a client parses.
    assert streamed == expected
    assert completion.model == plain["model"] == "client-model"


def test_anthropic_thinking_and_tool_call_reach_a_chat_client():
    events = upstream_events("anthropic", "anthropic__test_anthropic_tool_with_thinking.0")
    body = openai_chat.encode_response(ir.accumulate(events), "m")
    message, choice = body["choices"][0]["message"], body["choices"][0]
    recorded_blocks = recorded_json("anthropic__test_anthropic_tool_with_thinking.0.response.json")["content"]
    thinking, text, tool = recorded_blocks
    assert message["reasoning_content"] == thinking["thinking"]
    assert message["reasoning_details"] == [{"type": "reasoning.text", "format": "anthropic-claude-v1",
                                             "text": thinking["thinking"], "signature": thinking["signature"],
                                             "index": 0}]
    assert message["content"] == text["text"]
    assert message["tool_calls"] == [{"id": tool["id"], "type": "function",
                                      "function": {"name": tool["name"], "arguments": "{}"}}]
    assert choice["finish_reason"] == "tool_calls"


def test_redacted_thinking_reaches_a_chat_client_as_encrypted_detail():
    events = upstream_events("anthropic", "anthropic__test_anthropic_model_thinking_part_redacted_stream.0")
    completion, _ = chat_assemble(stream_as_chat(events))
    details = completion.choices[0].message.model_dump()["reasoning_details"]
    redacted = [d for d in details if d["type"] == "reasoning.encrypted"]
    assert redacted and all(d["format"] == "anthropic-claude-v1" and d["data"] for d in redacted)


def test_gemini_thought_signature_rides_on_the_tool_call():
    events = upstream_events("google", "google__test_google_streaming_tool_call_thought_signature.0")
    completion, _ = chat_assemble(stream_as_chat(events))
    call = completion.choices[0].message.model_dump()["tool_calls"][0]
    raw = recorded("google__test_google_streaming_tool_call_thought_signature.0.response.sse").decode()
    signature = json.loads(raw.split("data: ", 2)[1].split("\r\n")[0])["candidates"][0]["content"]["parts"][0][
        "thoughtSignature"]
    assert call["extra_content"] == {"google": {"thought_signature": signature}}
    assert call["function"]["name"] == "get_country"
    assert completion.choices[0].finish_reason == "tool_calls"


def test_responses_reasoning_summary_and_usage_reach_a_chat_client():
    events = upstream_events("openai_responses", "openai_responses__test_openai_responses_thinking_part_iter.0")
    response = ir.accumulate(events)
    completion, usage = chat_assemble(stream_as_chat(events))
    message = completion.choices[0].message.model_dump()
    summaries = [d for d in message["reasoning_details"] if d["type"] == "reasoning.summary"]
    assert summaries and all(d["format"] == "openai-responses-v1" for d in summaries)
    assert "".join(d["summary"] for d in summaries) == message["reasoning_content"]
    assert usage.completion_tokens_details.reasoning_tokens == response.usage.reasoning_tokens > 0


# -- multi-turn: the client sends back what it received -------------------------------------------


def message_received(events, streamed: bool) -> dict:
    """The assistant message a Chat client holds after the answer, as the SDK gives it to be sent back."""
    if streamed:
        completion, _ = chat_assemble(stream_as_chat(events))
        return completion.choices[0].message.model_dump(exclude_none=True)
    return openai_chat.encode_response(ir.accumulate(events), "m")["choices"][0]["message"]


def next_turn(assistant_message: dict, tool_call_id: str, result: str, upstream: str, **route):
    """The next Chat request of a tool loop, encoded for the upstream dialect."""
    body = {"model": "m", "messages": [
        {"role": "user", "content": "question"},
        assistant_message,
        {"role": "tool", "tool_call_id": tool_call_id, "content": result},
    ]}
    request = openai_chat.decode_request(body)
    request.reasoning = ir.Reasoning(budget_tokens=3000)
    losses = []
    target = SimpleNamespace(factory=False, upstream_model="m", fast=False, **route)
    return BY_NAME[upstream].encode_request(request, losses, target), losses


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
def test_anthropic_tool_loop_with_thinking_sends_the_signed_block_back(streamed):
    message = message_received(upstream_events("anthropic", "anthropic__test_anthropic_tool_with_thinking.0"),
                               streamed)
    call_id = message["tool_calls"][0]["id"]
    body, losses = next_turn(message, call_id, "Mexico", ir.Dialect.ANTHROPIC)
    expected = recorded_json("anthropic__test_anthropic_tool_with_thinking.1.request.json")
    # The assistant turn the real API accepted in the recorded next request, block for block.
    assert body["messages"][1] == expected["messages"][1]
    assert body["messages"][2]["content"][0]["tool_use_id"] == call_id
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 3000}
    assert not [loss for loss in losses if "thinking" in loss.reason.lower()]


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
def test_gemini_tool_loop_sends_the_thought_signature_back(streamed):
    message = message_received(upstream_events("google", "google__test_google_streaming_tool_call_thought_signature.0"),
                               streamed)
    call_id = message["tool_calls"][0]["id"]
    body, _ = next_turn(message, call_id, "Mexico", ir.Dialect.GEMINI)
    expected = recorded_json("google__test_google_streaming_tool_call_thought_signature.1.request.json")
    model_turn, expected_turn = body["contents"][1], expected["contents"][1]
    assert model_turn["role"] == "model"
    assert model_turn["parts"][0]["functionCall"] == {"name": "get_country", "args": {}}
    # pydantic-ai re-encoded the signature as URL-safe base64 in the recording; the bytes are the same.
    assert base64.b64decode(model_turn["parts"][0]["thoughtSignature"]) == \
        base64.urlsafe_b64decode(expected_turn["parts"][0]["thoughtSignature"])
    assert body["contents"][2]["parts"][0]["functionResponse"] == {"name": "get_country",
                                                                   "response": {"result": "Mexico"}}
