"""Errors on the passthrough endpoints: each in the client's dialect, with a status that means what it says.

The client's own mistakes never reach the upstream; the upstream's error answers are relayed as they
are; a stream that breaks off or ends early closes with the dialect's error event, never cleanly.
Error bodies are the shapes Anthropic and OpenAI document.
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from tests.fake_upstream import sse_chunks
from tests.helpers import recorded, recorded_json

from .checks import anthropic_error, openai_error
from .client import last_event, post, sse_payloads
from .servers import ANTHROPIC_PATH, RESPONSES_PATH, reset_routing

MESSAGES_STREAM = "anthropic__test_anthropic_model_thinking_part_stream.0"
RESPONSES_STREAM = "openai_responses__test_openai_responses_streaming_usage.0"
QUESTION = {"max_tokens": 256, "messages": [{"role": "user", "content": "What is the capital of France?"}]}

ANTHROPIC_ERRORS = {
    400: {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}},
    429: {"type": "error", "error": {"type": "rate_limit_error",
                                     "message": "Number of request tokens has exceeded your per-minute rate limit"}},
    529: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
}
OPENAI_ERRORS = {
    400: {"error": {"message": "Unsupported parameter: 'temperature'", "type": "invalid_request_error",
                    "param": "temperature", "code": "unsupported_parameter"}},
    429: {"error": {"message": "Rate limit reached for requests", "type": "requests", "param": None,
                    "code": "rate_limit_exceeded"}},
}
ENDPOINTS = {  # endpoint: (a model it serves, a model of another dialect, the error shape)
    "/v1/messages": ("claude-test", "gpt-test", anthropic_error),
    "/v1/messages/count_tokens": ("claude-test", "glm-test", anthropic_error),
    "/v1/responses": ("gpt-test", "claude-test", openai_error),
}


def only_event(raw: bytes) -> tuple:
    """The name and payload of the one event ``raw`` holds."""
    assert raw.count(b"\n\n") == 1 and raw.endswith(b"\n\n"), f"expected one event, got {raw!r}"
    return last_event(raw)


# -- the client's mistakes ----------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("body, status, problem", [
    (b'{"model": "claude-test", "messages": [', 400, "not valid JSON"),
    (b'{"model": "claude-\xff"}', 400, "not UTF-8"),
    (b'["not", "an", "object"]', 400, "must be a JSON object"),
    (b"", 400, "empty"),
    (b'{"messages": []}', 400, "model is required"),
    (b'{"model": "no-such-model", "messages": []}', 404, "not configured"),
])
def test_bad_requests_are_answered_in_the_dialect_and_never_forwarded(gateway, upstream, endpoint, body, status,
                                                                      problem):
    check_shape = ENDPOINTS[endpoint][2]

    exchange = post(gateway.url + endpoint, body)

    assert exchange.status == status
    reply = exchange.json()
    assert check_shape(reply) == ("not_found_error" if status == 404 else "invalid_request_error")
    assert problem in json.dumps(reply)
    assert upstream.requests() == []


# -- the upstream's error answers ----------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("endpoint, path, errors", [
    ("/v1/messages", ANTHROPIC_PATH, ANTHROPIC_ERRORS),
    ("/v1/responses", RESPONSES_PATH, OPENAI_ERRORS),
], ids=["messages", "responses"])
def test_upstream_error_answers_are_relayed_unchanged(gateway, upstream, endpoint, path, errors, stream):
    model = ENDPOINTS[endpoint][0]
    for status, body in errors.items():
        raw = json.dumps(body, indent=2).encode()  # relayed as sent, whitespace and all
        upstream.reply_json(path, raw, status=status, headers={"retry-after": "7"} if status == 429 else None)

        exchange = post(gateway.url + endpoint, {"model": model, "stream": stream, **QUESTION})
        reset_routing(gateway)  # the 429 rests the key for this model; the next status needs it awake

        assert exchange.status == status
        assert exchange.headers["content-type"] == "application/json"
        if status == 429:
            assert exchange.headers["retry-after"] == "7"
        assert exchange.read() == raw


def test_sdks_see_the_upstream_rate_limit(anthropic_client, openai_client, upstream):
    upstream.reply_json(ANTHROPIC_PATH, ANTHROPIC_ERRORS[429], status=429, headers={"retry-after": "7"})
    upstream.reply_json(RESPONSES_PATH, OPENAI_ERRORS[429], status=429, headers={"retry-after": "7"})

    with pytest.raises(anthropic.RateLimitError) as anthropic_raised:
        anthropic_client.messages.create(model="claude-test", **QUESTION)
    with pytest.raises(openai.RateLimitError) as openai_raised:
        openai_client.responses.create(model="gpt-test", input="What is the capital of France?")

    assert anthropic_raised.value.body == ANTHROPIC_ERRORS[429]
    assert anthropic_raised.value.response.headers["retry-after"] == "7"
    assert openai_raised.value.code == "rate_limit_exceeded"
    assert openai_raised.value.response.headers["retry-after"] == "7"


def test_overloaded_anthropic_upstream_reaches_the_sdk_as_overloaded(anthropic_client, upstream):
    upstream.reply_json(ANTHROPIC_PATH, ANTHROPIC_ERRORS[529], status=529)

    with pytest.raises(anthropic.OverloadedError) as raised:
        anthropic_client.messages.create(model="claude-test", **QUESTION)

    assert raised.value.body == ANTHROPIC_ERRORS[529]


@pytest.mark.parametrize("endpoint, path", [("/v1/messages", ANTHROPIC_PATH), ("/v1/responses", RESPONSES_PATH)])
def test_non_json_upstream_error_is_put_in_the_dialect_shape(gateway, upstream, endpoint, path):
    model, _, check_shape = ENDPOINTS[endpoint]
    upstream.reply(path, [b"<html><body>502 Bad Gateway</body></html>"], status=502, content_type="text/html")

    exchange = post(gateway.url + endpoint, {"model": model, **QUESTION})

    assert exchange.status == 502
    reply = exchange.json()
    check_shape(reply)
    assert "502 Bad Gateway" in json.dumps(reply)


@pytest.mark.parametrize("endpoint, model", [("/v1/messages", "claude-dead"), ("/v1/responses", "gpt-dead")])
@pytest.mark.parametrize("stream", [False, True])
def test_unreachable_upstream_is_a_bad_gateway(gateway, endpoint, model, stream):
    check_shape = ENDPOINTS[endpoint][2]

    exchange = post(gateway.url + endpoint, {"model": model, "stream": stream, **QUESTION})

    assert exchange.status == 502
    reply = exchange.json()
    check_shape(reply)
    assert "connection refused" in json.dumps(reply)


# -- streams that break off -----------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["dropped", "polite"])
def test_messages_stream_that_stops_early_ends_with_an_error_event(gateway, anthropic_client, upstream, ending):
    raw = recorded(f"{MESSAGES_STREAM}.response.sse")
    chunks = sse_chunks(raw)
    sent = chunks[:5] if ending == "dropped" else chunks[:-1]  # "polite": all but message_stop, then a clean end
    body = {**recorded_json(f"{MESSAGES_STREAM}.request.json"), "model": "claude-test"}
    for _ in range(2):
        upstream.reply(ANTHROPIC_PATH, sent if ending == "polite" else chunks, content_type="text/event-stream",
                       drop_after=5 if ending == "dropped" else None)

    received = post(gateway.url + "/v1/messages", body).read()
    with pytest.raises(anthropic.APIStatusError) as raised:
        with anthropic_client.messages.stream(**{k: v for k, v in body.items() if k != "stream"}) as stream:
            stream.get_final_message()

    assert received.startswith(b"".join(sent))
    name, error = only_event(received[len(b"".join(sent)):])
    assert name == "error" and anthropic_error(error) == "api_error"
    assert anthropic_error(raised.value.body) == "api_error"


@pytest.mark.parametrize("ending", ["dropped", "polite"])
def test_responses_stream_that_stops_early_ends_with_an_error_event(gateway, openai_client, upstream, ending):
    raw = recorded(f"{RESPONSES_STREAM}.response.sse")
    chunks = sse_chunks(raw)
    sent = chunks[:5] if ending == "dropped" else chunks[:-1]  # "polite": all but response.completed
    body = {**recorded_json(f"{RESPONSES_STREAM}.request.json"), "model": "gpt-test"}
    for _ in range(2):
        upstream.reply(RESPONSES_PATH, sent if ending == "polite" else chunks, content_type="text/event-stream",
                       drop_after=5 if ending == "dropped" else None)

    received = post(gateway.url + "/v1/responses", body).read()
    stream = openai_client.responses.stream(**{k: v for k, v in body.items() if k != "stream"})
    with stream as events, pytest.raises(RuntimeError, match="response.completed"):
        seen = list(events)
        events.get_final_response()

    assert received.startswith(b"".join(sent))
    name, error = only_event(received[len(b"".join(sent)):])
    last_number = sse_payloads(b"".join(sent))[-1]["sequence_number"]
    assert name == "error" and error["type"] == "error" and error["message"]
    assert error["sequence_number"] == last_number + 1
    assert seen[-1].type == "error" and seen[-1].message == error["message"]
