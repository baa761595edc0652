"""A stream that opens with a retryable error event (200, then Anthropic's overloaded_error) is a failed
attempt: the fallback answers, and the client never sees the error."""

from __future__ import annotations

import json

import responses

from .helpers import app_for, base_config, sse_events

PRIMARY = "https://primary.test/v1/messages"
FALLBACK = "https://fallback.test/v1/messages"
OVERLOADED = (b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n')
INVALID = (b'event: error\ndata: {"type":"error","error":{"type":"invalid_request_error","message":"bad"}}\n\n')
ANSWER = b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in [
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": None,
        "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 0}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "from the fallback"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                       "usage": {"output_tokens": 3}}),
    ("message_stop", {"type": "message_stop"}),
])


def app():
    config = base_config(
        upstreams=[{"name": "primary", "type": "anthropic", "base_url": "https://primary.test", "api_key": "k1"},
                   {"name": "fallback", "type": "anthropic", "base_url": "https://fallback.test", "api_key": "k2"}],
        models=[{"id": "main", "upstream": "primary", "fallbacks": ["spare"]},
                {"id": "spare", "upstream": "fallback"}])
    return app_for(config).test_client()


def ask(http):
    return http.post("/v1/messages", json={"model": "main", "max_tokens": 10, "stream": True,
                                           "messages": [{"role": "user", "content": "hi"}]})


@responses.activate
def test_an_opening_overloaded_event_falls_back():
    responses.post(PRIMARY, body=OVERLOADED, content_type="text/event-stream")
    responses.post(FALLBACK, body=ANSWER, content_type="text/event-stream")
    answer = ask(app())
    raw = answer.get_data()
    assert answer.status_code == 200 and answer.headers["x-gateway-model"] == "spare"
    assert b"overloaded_error" not in raw and b"from the fallback" in raw
    start = json.loads(sse_events(raw)[0][1])
    assert start["message"]["gateway_notice"]["trigger_status"] == 503


@responses.activate
def test_with_nowhere_to_fall_back_the_client_gets_the_error_in_its_own_shape():
    responses.post(PRIMARY, body=OVERLOADED, content_type="text/event-stream")
    responses.post(FALLBACK, body=OVERLOADED, content_type="text/event-stream")
    answer = ask(app())
    assert answer.status_code == 503
    assert answer.get_json() == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


@responses.activate
def test_an_opening_client_error_event_is_relayed_as_it_came():
    responses.post(PRIMARY, body=INVALID, content_type="text/event-stream")
    answer = ask(app())
    assert answer.status_code == 200 and answer.get_data() == INVALID
    assert len(responses.calls) == 1
