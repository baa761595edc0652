"""An upstream that stops answering: 504 before the response begins, the dialect's error event after.

These run on a gateway of their own whose read timeout is short, so a silent upstream costs the
tests half a second rather than the default ten minutes.
"""

from __future__ import annotations

import json

import pytest

from tests.fake_upstream import sse_chunks
from tests.helpers import recorded, recorded_json

from .checks import anthropic_error, openai_error
from .client import last_event, post
from .servers import ANTHROPIC_PATH, RESPONSES_PATH

CASES = [
    ("/v1/messages", "claude-test", ANTHROPIC_PATH, "anthropic__test_anthropic_model_thinking_part_stream.0"),
    ("/v1/responses", "gpt-test", RESPONSES_PATH, "openai_responses__test_openai_responses_streaming_usage.0"),
]
IDS = ["messages", "responses"]
ERROR_SHAPES = {"/v1/messages": anthropic_error, "/v1/responses": openai_error}


@pytest.fixture(scope="module")
def impatient(start_server):
    return start_server(read_timeout=0.5, first_byte_timeout=0.5, idle_timeout=0.5)


@pytest.mark.parametrize("endpoint, model, path, name", CASES, ids=IDS)
def test_upstream_that_never_answers_is_a_gateway_timeout(impatient, upstream, endpoint, model, path, name):
    upstream.reply(path, [b"{}"], hold_at=0)  # holds before even the status line

    exchange = post(impatient.url + endpoint, {**recorded_json(f"{name}.request.json"), "model": model})

    assert exchange.status == 504
    ERROR_SHAPES[endpoint](exchange.json())


@pytest.mark.parametrize("endpoint, model, path, name", CASES, ids=IDS)
def test_upstream_that_goes_silent_mid_stream_ends_with_an_error_event(impatient, upstream, endpoint, model, path,
                                                                      name):
    raw = recorded(f"{name}.response.sse")
    upstream.reply_sse(path, raw, hold_at=1)

    received = post(impatient.url + endpoint, {**recorded_json(f"{name}.request.json"), "model": model}).read()

    sent = sse_chunks(raw)[0]
    assert received.startswith(sent)
    event, payload = last_event(received[len(sent):])
    assert event == "error" and payload["type"] == "error"  # both dialects' error events say so
    assert "timed out" in json.dumps(payload)
