"""The gateway with ``redis_url``: stored Responses work the same on Redis (test_stored_responses.py's tests,
collected again here on a Redis app), /health/ready says when Redis does not answer, and with Redis down
only the requests that need state fail (503 in their own dialect) while the rest are served."""

from __future__ import annotations

import json

import pytest
import redis
import responses

from .helpers import FACTORY_ENDPOINTS, app_for, base_config
from .redis_server import free_port
# Collected again in this module, where ``http`` below is an app on Redis.
from .test_stored_responses import (anthropic_answer,  # noqa: F401
                                    test_a_stored_response_is_retrieved_listed_continued_and_deleted,
                                    test_a_streamed_response_is_stored_when_it_completes, test_store_false_keeps_nothing,
                                    test_an_item_reference_to_a_stored_item_is_resolved_and_an_unknown_one_refused)

CHAT_URL = FACTORY_ENDPOINTS["common"]
ANTHROPIC_URL = FACTORY_ENDPOINTS["anthropic"]


@pytest.fixture
def http(redis_url):
    return app_for(base_config(redis_url=redis_url)).test_client()


@pytest.fixture
def down():
    """An app whose Redis does not answer (nothing listens on its port), and that port."""
    port = free_port()
    return app_for(base_config(redis_url=f"redis://:hunter2-pass@127.0.0.1:{port}/0")).test_client(), port


@responses.activate
def test_stored_responses_live_in_redis_under_the_prefix(http, redis_url):
    responses.post(ANTHROPIC_URL, json=anthropic_answer("Paris."))
    first = http.post("/v1/responses", json={"model": "claude-test", "input": "Capital?"}).get_json()
    raw = redis.Redis.from_url(redis_url)
    assert json.loads(raw.get(f"droid2api:responses:{first['id']}"))["response"] == first
    assert raw.pttl(f"droid2api:responses:{first['id']}") > 29 * 86400 * 1000  # the default retention, 30 days
    raw.close()


def test_ready_with_redis_answering(http):
    answer = http.get("/health/ready")
    assert answer.status_code == 200 and answer.get_json()["status"] == "ready"


def test_ready_is_503_naming_the_redis_that_does_not_answer(down):
    http, port = down
    answer = http.get("/health/ready")
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["status"] == "unavailable"
    assert body["reason"].startswith(f"state store redis://127.0.0.1:{port}/0 unreachable: ")
    assert "hunter2-pass" not in answer.get_data(as_text=True)


@responses.activate
def test_with_redis_down_only_requests_that_need_state_fail(down):
    http, _ = down
    continued = http.post("/v1/responses", json={"model": "claude-test", "input": "More?",
                                                 "previous_response_id": "resp_earlier"})
    assert continued.status_code == 503
    error = continued.get_json()["error"]
    assert error["type"] == "service_unavailable" and "state store is unavailable" in error["message"]
    assert http.get("/v1/responses/resp_earlier").status_code == 503

    responses.post(CHAT_URL, json={"id": "c1", "object": "chat.completion", "created": 1, "model": "glm",
                                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."},
                                                "finish_reason": "stop"}]})
    responses.post(ANTHROPIC_URL, json=anthropic_answer("Hello."))
    responses.post(ANTHROPIC_URL, json=anthropic_answer("Paris."))
    chat = http.post("/v1/chat/completions", json={"model": "glm-test", "messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code == 200 and chat.get_json()["choices"][0]["message"]["content"] == "Hi."
    messages = http.post("/v1/messages", json={"model": "claude-test", "max_tokens": 10,
                                               "messages": [{"role": "user", "content": "hi"}]})
    assert messages.status_code == 200 and messages.get_json()["content"][0]["text"] == "Hello."
    # A Responses request that only wants to be stored is answered; storing it fails, and is logged.
    fresh = http.post("/v1/responses", json={"model": "claude-test", "input": "Capital?"})
    assert fresh.status_code == 200 and fresh.get_json()["output"][0]["content"][0]["text"] == "Paris."


def test_the_routes_report_is_503_while_redis_is_down(down):
    http, _ = down
    answer = http.get("/v1/gateway/routes")
    assert answer.status_code == 503
    assert "routing state is unavailable" in answer.get_json()["error"]["message"]
