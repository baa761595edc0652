"""A gateway with access keys (DROID2API_ACCESS_KEYS): no key, no service; the key itself never travels upstream.

Each SDK puts the key where it always does (anthropic: x-api-key, openai: Authorization: Bearer);
a raw client tries ``?key=`` as well.
"""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.helpers import recorded, recorded_json

from .checks import anthropic_error, assert_not_forwarded, openai_error
from .client import get, post, sse_payloads
from .servers import ANTHROPIC_PATH, DIRECT_ANTHROPIC_PATH, FACTORY_KEY, RESPONSES_PATH, SDK_OPTIONS

ACCESS_KEY = "gw-e2e-access-key"
OTHER_ACCESS_KEY = "gw-e2e-second-key"
MESSAGE = recorded("anthropic__test_multiple_parallel_tool_calls.1.response.json")
QUESTION = {"max_tokens": 256, "messages": [{"role": "user", "content": "What is the capital of France?"}]}
RESPONSE = sse_payloads(recorded("openai_responses__test_openai_responses_stream.1.response.sse"))[-1]["response"]


@pytest.fixture(scope="module")
def guarded(start_server):
    return start_server(env={"DROID2API_ACCESS_KEYS": f"{ACCESS_KEY}, {OTHER_ACCESS_KEY}"})


@pytest.mark.parametrize("endpoint, check_shape", [
    ("/v1/messages", anthropic_error),
    ("/v1/messages/count_tokens", anthropic_error),
    ("/v1/responses", openai_error),
    ("/v1/chat/completions", openai_error),
])
@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer not-an-access-key"}, {"x-api-key": "nope"}],
                         ids=["no key", "wrong bearer", "wrong x-api-key"])
def test_requests_without_an_access_key_are_refused_in_the_dialect(guarded, upstream, endpoint, check_shape, headers):
    exchange = post(guarded.url + endpoint, {"model": "claude-test", **QUESTION}, headers)

    assert exchange.status == 401
    assert check_shape(exchange.json()) == "authentication_error"
    assert upstream.requests() == []


def test_health_needs_no_key(guarded):
    exchange = get(guarded.url + "/health")
    assert exchange.status == 200
    exchange.read()


def test_anthropic_sdk_key_in_x_api_key_is_not_forwarded(guarded, upstream):
    upstream.reply_json(ANTHROPIC_PATH, MESSAGE)
    with anthropic.Anthropic(base_url=guarded.url, **{**SDK_OPTIONS, "api_key": ACCESS_KEY}) as client:
        message = client.messages.create(model="claude-test", **QUESTION)

    assert message.to_dict() == recorded_json("anthropic__test_multiple_parallel_tool_calls.1.response.json")
    received = upstream.only_request(ANTHROPIC_PATH)
    assert received.headers["authorization"] == f"Bearer {FACTORY_KEY}"
    assert_not_forwarded(ACCESS_KEY, received)


def test_openai_sdk_key_in_authorization_is_not_forwarded(guarded, upstream):
    upstream.reply_json(RESPONSES_PATH, RESPONSE)
    options = {**SDK_OPTIONS, "api_key": OTHER_ACCESS_KEY, "_strict_response_validation": False}
    with openai.OpenAI(base_url=guarded.url + "/v1", **options) as client:
        response = client.responses.create(model="gpt-test", input="What is the capital of France?")

    assert response.output_text == "The capital of France is Paris."
    received = upstream.only_request(RESPONSES_PATH)
    assert received.headers["authorization"] == f"Bearer {FACTORY_KEY}"
    assert_not_forwarded(OTHER_ACCESS_KEY, received)


@pytest.mark.parametrize("model, path", [("claude-test", ANTHROPIC_PATH), ("claude-direct", DIRECT_ANTHROPIC_PATH)])
def test_key_in_the_query_is_not_forwarded(guarded, upstream, model, path):
    upstream.reply_json(path, MESSAGE)

    exchange = post(f"{guarded.url}/v1/messages?beta=true&key={ACCESS_KEY}", {"model": model, **QUESTION})

    assert exchange.status == 200
    assert exchange.read() == MESSAGE
    received = upstream.only_request(path)
    assert_not_forwarded(ACCESS_KEY, received)
    if path == DIRECT_ANTHROPIC_PATH:  # the rest of the query still goes to a non-Factory upstream
        assert received.query == "beta=true"
