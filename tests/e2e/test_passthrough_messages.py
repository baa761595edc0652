"""POST /v1/messages and /v1/messages/count_tokens as passthrough, driven by the official anthropic SDK.

The fake upstream replays the recorded Anthropic answers; the SDK (strict validation on) must assemble
what the recording holds, and the upstream must receive the client's body with only the gateway's
policies applied, the Factory headers, and none of the client's credentials.
"""

from __future__ import annotations

import json

import pytest

from droid2api.reasoning import THINKING_BUDGETS
from tests.helpers import exchanges, recorded, recorded_json

from .checks import assert_factory_headers, assert_not_forwarded
from .client import sse_payloads
from .servers import ANTHROPIC_PATH, COUNT_TOKENS_PATH, DIRECT_ANTHROPIC_KEY, DIRECT_ANTHROPIC_PATH, SYSTEM_PROMPT

TOOL_EXCHANGES = [name for name in exchanges("anthropic", "json")
                  if any(b["type"] == "tool_use" for b in recorded_json(f"{name}.response.json")["content"])]
QUESTION = {"max_tokens": 256, "messages": [{"role": "user", "content": "What is the capital of France?"}]}


def client_body(name: str, model: str = "claude-test") -> dict:
    """The recorded request of exchange ``name``, as a client of the gateway sends it."""
    return {**recorded_json(f"{name}.request.json"), "model": model}


def forwarded(body: dict, model: str = "claude-test") -> dict:
    """What the upstream must receive: the configured system prompt first, the client's system kept after it."""
    system = body.get("system")
    if system is None:
        system = []
    elif isinstance(system, str):
        system = [{"type": "text", "text": system}]
    return {**body, "model": model, "system": [{"type": "text", "text": SYSTEM_PROMPT}, *system]}


def fold_stream(raw: bytes) -> dict:
    """The message a recorded stream describes, folded by hand from Anthropic's documented events."""
    message, partial_json = None, {}
    for event in sse_payloads(raw):
        kind = event["type"]
        if kind == "message_start":
            message = event["message"]
        elif kind == "content_block_start":
            message["content"].append(event["content_block"])
        elif kind == "content_block_delta":
            block, delta = message["content"][event["index"]], event["delta"]
            if delta["type"] == "input_json_delta":
                partial_json[event["index"]] = partial_json.get(event["index"], "") + delta["partial_json"]
            else:
                field = {"text_delta": "text", "thinking_delta": "thinking", "signature_delta": "signature"}[
                    delta["type"]]
                block[field] = block.get(field, "") + delta[field]
        elif kind == "content_block_stop" and event["index"] in partial_json:
            message["content"][event["index"]]["input"] = json.loads(partial_json[event["index"]] or "{}")
        elif kind == "message_delta":
            message.update(event["delta"])
            message["usage"].update(event["usage"])
    return message


def assembled(message) -> dict:
    """What an SDK message holds, without the fields newer SDKs add as None when the wire had no value."""
    return {key: value for key, value in message.to_dict().items() if value is not None or key != "stop_details"}


def as_stream(message: dict) -> bytes:
    """A non-streamed recorded message as the event stream Anthropic documents for it, deltas in two halves."""
    def event(payload):
        return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()

    def halves(text):
        return [text[:len(text) // 2], text[len(text) // 2:]]

    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**message["usage"], "output_tokens": 1}}
    out = [event({"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "tool_use":
            opening = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": part} for part in halves(json.dumps(block["input"]))]
        elif block["type"] == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": part} for part in halves(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            opening = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": part} for part in halves(block["text"])]
        out.append(event({"type": "content_block_start", "index": index, "content_block": opening}))
        out += [event({"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
        out.append(event({"type": "content_block_stop", "index": index}))
    out.append(event({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"],
                                                         "stop_sequence": message["stop_sequence"]},
                      "usage": {"output_tokens": message["usage"]["output_tokens"]}}))
    out.append(event({"type": "message_stop"}))
    return b"".join(out)


@pytest.mark.parametrize("name", exchanges("anthropic", "json"))
def test_create_returns_each_recorded_message(anthropic_client, upstream, name):
    upstream.reply_json(ANTHROPIC_PATH, recorded(f"{name}.response.json"))
    body = client_body(name)

    message = anthropic_client.messages.create(**body)

    assert message.to_dict() == recorded_json(f"{name}.response.json")
    assert upstream.only_request(ANTHROPIC_PATH).json() == forwarded(body)


@pytest.mark.parametrize("name", exchanges("anthropic", "sse"))
def test_stream_helper_assembles_each_recorded_stream(anthropic_client, upstream, name):
    raw = recorded(f"{name}.response.sse")
    upstream.reply_sse(ANTHROPIC_PATH, raw)
    body = {k: v for k, v in client_body(name).items() if k != "stream"}

    with anthropic_client.messages.stream(**body) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    expected = fold_stream(raw)
    assert assembled(final) == expected
    assert text == "".join(b["text"] for b in expected["content"] if b["type"] == "text")
    assert {b["type"] for b in expected["content"]} & {"thinking", "redacted_thinking"}  # what these recordings cover
    assert upstream.only_request(ANTHROPIC_PATH).json() == forwarded({**body, "stream": True})


@pytest.mark.parametrize("name", TOOL_EXCHANGES)
def test_stream_helper_assembles_tool_use(anthropic_client, upstream, name):
    message = recorded_json(f"{name}.response.json")
    upstream.reply_sse(ANTHROPIC_PATH, as_stream(message))
    body = {k: v for k, v in client_body(name).items() if k != "stream"}

    with anthropic_client.messages.stream(**body) as stream:
        final = stream.get_final_message()

    assert assembled(final) == message


def test_raw_stream_events_match_the_recording(anthropic_client, upstream):
    raw = recorded("anthropic__test_anthropic_model_thinking_part_redacted_stream.0.response.sse")
    upstream.reply_sse(ANTHROPIC_PATH, raw)
    body = client_body("anthropic__test_anthropic_model_thinking_part_redacted_stream.0")

    events = [event.to_dict() for event in anthropic_client.messages.create(**body)]

    assert events == [e for e in sse_payloads(raw) if e["type"] != "ping"]  # the SDK skips pings


def test_first_event_reaches_the_sdk_while_the_upstream_holds_the_rest(anthropic_client, upstream):
    raw = recorded("anthropic__test_anthropic_model_thinking_part_stream.0.response.sse")
    held = upstream.reply_sse(ANTHROPIC_PATH, raw, hold_at=1)
    body = {k: v for k, v in client_body("anthropic__test_anthropic_model_thinking_part_stream.0").items()
            if k != "stream"}

    with anthropic_client.messages.stream(**body) as stream:
        first = next(iter(stream))
        assert first.type == "message_start"
        assert held.state == "holding"
        held.release()
        final = stream.get_final_message()

    assert assembled(final) == fold_stream(raw)


def test_count_tokens(anthropic_client, upstream):
    upstream.reply_json(COUNT_TOKENS_PATH, {"input_tokens": 2095})
    body = {"model": "claude-test", "system": "Answer in French.",
            "messages": [{"role": "user", "content": "What is the capital of France?"}]}

    count = anthropic_client.messages.count_tokens(**body)

    assert count.input_tokens == 2095
    assert upstream.only_request(COUNT_TOKENS_PATH).json() == forwarded(body)


def test_factory_upstream_gets_factory_headers_and_never_the_client_key(anthropic_client, upstream):
    upstream.reply_json(ANTHROPIC_PATH, recorded("anthropic__test_multiple_parallel_tool_calls.1.response.json"))

    anthropic_client.messages.create(model="claude-test", **QUESTION)

    received = upstream.only_request(ANTHROPIC_PATH)
    assert_factory_headers(received, "anthropic")
    assert received.headers["anthropic-version"]


def test_reasoning_level_forces_thinking(anthropic_client, upstream):
    upstream.reply_json(ANTHROPIC_PATH, recorded("anthropic__test_anthropic_tool_with_thinking.1.response.json"))

    anthropic_client.messages.create(model="claude-high", extra_body={"temperature": 0.2}, **QUESTION)

    received = upstream.only_request(ANTHROPIC_PATH)
    sent = received.json()
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": THINKING_BUDGETS["high"]}
    assert sent["max_tokens"] > sent["thinking"]["budget_tokens"]  # Anthropic rejects anything else
    assert "temperature" not in sent  # Anthropic rejects a temperature other than 1 with thinking
    assert "interleaved-thinking-2025-05-14" in received.headers["anthropic-beta"]


def test_model_redirect(anthropic_client, upstream):
    answer = recorded("anthropic__test_multiple_parallel_tool_calls.1.response.json")
    upstream.reply_json(ANTHROPIC_PATH, answer)

    message = anthropic_client.messages.create(model="claude-alias", **QUESTION)

    assert upstream.only_request(ANTHROPIC_PATH).json()["model"] == "claude-test"
    assert message.to_dict() == json.loads(answer)  # the upstream's answer, its model name included


def test_direct_upstream_gets_its_own_key_and_model_name(anthropic_client, upstream):
    upstream.reply_json(DIRECT_ANTHROPIC_PATH, recorded("anthropic__test_multiple_parallel_tool_calls.1.response.json"))

    anthropic_client.messages.create(model="claude-direct", **QUESTION)

    received = upstream.only_request(DIRECT_ANTHROPIC_PATH)
    assert received.json() == forwarded({"model": "claude-direct", **QUESTION}, model="claude-sonnet-4-5")
    assert received.headers["x-api-key"] == DIRECT_ANTHROPIC_KEY
    assert_not_forwarded("sk-client-key", received)


@pytest.mark.parametrize("model, path, query", [
    ("claude-test", ANTHROPIC_PATH, ""),  # Factory's URL is used as configured
    ("claude-direct", DIRECT_ANTHROPIC_PATH, "beta=true"),
])
def test_beta_query_is_accepted(anthropic_client, upstream, model, path, query):
    answer = recorded("anthropic__test_multiple_parallel_tool_calls.1.response.json")
    upstream.reply_json(path, answer)

    # Claude Code posts to /v1/messages?beta=true
    message = anthropic_client.messages.create(model=model, extra_query={"beta": "true"}, **QUESTION)

    assert message.content[0].text == json.loads(answer)["content"][0]["text"]
    assert upstream.only_request(path).query == query
