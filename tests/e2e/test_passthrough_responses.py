"""POST /v1/responses as passthrough, driven by the official openai SDK.

The fake upstream replays the recorded Responses streams; the SDK (strict validation on) must yield
every recorded event and assemble the recorded final response, and the upstream must receive the
client's body with only the gateway's policies applied and the Factory headers.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers import exchanges, recorded, recorded_json

from .checks import assert_factory_headers, assert_not_forwarded
from .client import Exchange, sse_payloads
from .servers import DIRECT_OPENAI_KEY, DIRECT_RESPONSES_PATH, RESPONSES_PATH, SYSTEM_PROMPT

STREAMS = exchanges("openai_responses", "sse")
QUESTION = {"input": "What is the capital of France?"}
ANSWER = "openai_responses__test_openai_responses_stream.1"  # a short plain-text answer


def client_body(name: str, model: str = "gpt-test") -> dict:
    """The recorded request of exchange ``name``, as a client of the gateway sends it."""
    return {**recorded_json(f"{name}.request.json"), "model": model}


def forwarded(body: dict, model: str = "gpt-test") -> dict:
    """What the upstream must receive: the configured system prompt ahead of the client's instructions."""
    return {**body, "model": model, "instructions": SYSTEM_PROMPT + (body.get("instructions") or "")}


def completed(name: str) -> dict:
    """The final response object a recorded stream ends with (what a non-streamed call returns)."""
    final = sse_payloads(recorded(f"{name}.response.sse"))[-1]
    assert final["type"] == "response.completed"
    return final["response"]


@pytest.mark.parametrize("name", STREAMS)
def test_create_stream_yields_each_recorded_event(openai_client, upstream, name):
    raw = recorded(f"{name}.response.sse")
    upstream.reply_sse(RESPONSES_PATH, raw)
    body = client_body(name)

    events = [event.to_dict() for event in openai_client.responses.create(**body)]

    assert events == sse_payloads(raw)
    assert upstream.only_request(RESPONSES_PATH).json() == forwarded(body)


@pytest.mark.parametrize("name", STREAMS)
def test_stream_helper_assembles_each_recorded_response(openai_client, upstream, name):
    upstream.reply_sse(RESPONSES_PATH, recorded(f"{name}.response.sse"))
    body = {k: v for k, v in client_body(name).items() if k != "stream"}

    with openai_client.responses.stream(**body) as stream:
        final = stream.get_final_response()

    expected = completed(name)
    assert final.id == expected["id"]
    assert final.usage.to_dict() == expected["usage"]
    assert [unparsed(item.to_dict()) for item in final.output] == expected["output"]


def unparsed(item: dict) -> dict:
    """An output item from the SDK's stream helper without what the helper adds: ``parsed`` text and arguments."""
    if item.get("parsed_arguments") is not None:
        assert item["parsed_arguments"] == json.loads(item["arguments"])
    item = {k: v for k, v in item.items() if k != "parsed_arguments"}
    if item["type"] == "message":
        item["content"] = [{k: v for k, v in part.items() if k != "parsed"} for part in item["content"]]
    return item


def test_create_returns_the_response(openai_client, upstream):
    upstream.reply_json(RESPONSES_PATH, completed(ANSWER))

    response = openai_client.responses.create(model="gpt-test", **QUESTION)

    assert response.to_dict() == completed(ANSWER)
    assert response.output_text == "The capital of France is Paris."
    assert upstream.only_request(RESPONSES_PATH).json() == forwarded({"model": "gpt-test", **QUESTION})


def test_first_event_reaches_the_sdk_while_the_upstream_holds_the_rest(openai_client, upstream):
    raw = recorded(f"{ANSWER}.response.sse")
    held = upstream.reply_sse(RESPONSES_PATH, raw, hold_at=1)

    with openai_client.responses.stream(model="gpt-test", **QUESTION) as stream:
        first = next(iter(stream))
        assert first.type == "response.created"
        assert held.state == "holding"
        held.release()
        final = stream.get_final_response()

    assert final.output_text == "The capital of France is Paris."


def test_client_instructions_follow_the_system_prompt(openai_client, upstream):
    upstream.reply_json(RESPONSES_PATH, completed(ANSWER))

    openai_client.responses.create(model="gpt-test", instructions="Answer in French.", **QUESTION)

    assert upstream.only_request(RESPONSES_PATH).json()["instructions"] == SYSTEM_PROMPT + "Answer in French."


def test_factory_upstream_gets_factory_headers_and_never_the_client_key(openai_client, upstream):
    upstream.reply_json(RESPONSES_PATH, completed(ANSWER))

    openai_client.responses.create(model="gpt-test", **QUESTION)

    received = upstream.only_request(RESPONSES_PATH)
    assert_factory_headers(received, "openai")


def test_reasoning_level_overrides_the_client(openai_client, upstream):
    upstream.reply_json(RESPONSES_PATH, completed(ANSWER))

    openai_client.responses.create(model="gpt-high", reasoning={"effort": "low"}, **QUESTION)

    assert upstream.only_request(RESPONSES_PATH).json()["reasoning"] == {"effort": "high", "summary": "auto"}


def test_model_redirect(openai_client, upstream):
    upstream.reply_json(RESPONSES_PATH, completed(ANSWER))

    response = openai_client.responses.create(model="gpt-alias", **QUESTION)

    assert upstream.only_request(RESPONSES_PATH).json()["model"] == "gpt-test"
    assert response.model == completed(ANSWER)["model"]  # the upstream's answer, unchanged


def test_direct_upstream_gets_its_own_key_and_model_name(openai_client, upstream):
    upstream.reply_json(DIRECT_RESPONSES_PATH, completed(ANSWER))

    openai_client.responses.create(model="gpt-direct", **QUESTION)

    received = upstream.only_request(DIRECT_RESPONSES_PATH)
    assert received.json() == forwarded({"model": "gpt-direct", **QUESTION}, model="gpt-5")
    assert received.headers["authorization"] == f"Bearer {DIRECT_OPENAI_KEY}"
    assert_not_forwarded("sk-client-key", received)


def test_a_websocket_upgrade_is_answered_426_by_the_real_server(gateway):
    # Codex tries a WebSocket first; under gunicorn the upgrade headers reach werkzeug's routing as they are.
    exchange = Exchange(gateway.url + "/v1/responses", "GET", None,
                        {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                         "Sec-WebSocket-Key": "x3JJHMbDL1EzLkh9GBhXDw=="}, None, 15.0)
    assert exchange.status == 426
    assert "HTTP only" in exchange.json()["error"]["message"]
