"""The endpoints through Flask's test client: GET /, /v1/models, /health, /health/ready, and every
error case of the passthrough paths, with the upstream mocked by `responses`."""

from __future__ import annotations

import io
import json
import socket
import time

import pytest
import requests
import responses

from droid2api.dialects import anthropic

from .helpers import FACTORY_ENDPOINTS, app_for, base_config, exchanges, recorded
from .test_credentials import WORKOS_URL, make_jwt, write_auth

ANTHROPIC_URL = FACTORY_ENDPOINTS["anthropic"]
RESPONSES_URL = FACTORY_ENDPOINTS["openai"]
CHAT_URL = FACTORY_ENDPOINTS["common"]
MESSAGE = {"model": "claude-test", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
CHAT = {"model": "glm-test", "messages": [{"role": "user", "content": "hi"}]}
RESPONSE = {"model": "gpt-test", "input": "hi"}

# Each passthrough endpoint: (path, a valid body, upstream URL, the shape of its errors).
PASSTHROUGH = {
    "messages": ("/v1/messages", MESSAGE, ANTHROPIC_URL, "anthropic"),
    "chat": ("/v1/chat/completions", CHAT, CHAT_URL, "openai"),
    "responses": ("/v1/responses", RESPONSE, RESPONSES_URL, "openai"),
}


@pytest.fixture
def http():
    return app_for().test_client()


def error_of(answer, shape: str) -> tuple:
    """(type, message) of an error body, checking it has exactly its dialect's shape."""
    body = answer.get_json()
    assert answer.content_type == "application/json"
    if shape == "anthropic":
        assert set(body) == {"type", "error"} and body["type"] == "error"
        assert set(body["error"]) == {"type", "message"}
    else:
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]["type"], body["error"]["message"]


# -- meta endpoints -----------------------------------------------------------------------------

def test_index_names_the_gateway_and_its_endpoints(http):
    body = http.get("/").get_json()
    assert body["name"] == "droid2api"
    listed = set(body["endpoints"])
    assert {"POST /v1/chat/completions", "POST /v1/messages", "POST /v1/responses", "GET /v1/models"} <= listed


def test_models_are_listed_with_created_in_seconds(http):
    body = http.get("/v1/models").get_json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["claude-test", "gpt-test", "glm-test", "gemini-test", "auto"]
    now = time.time()
    for model in body["data"]:
        assert model["object"] == "model"
        assert isinstance(model["created"], int) and now - 86400 < model["created"] <= now  # seconds, not ms
    one = http.get("/v1/models/gpt-test").get_json()
    assert (one["id"], one["owned_by"]) == ("gpt-test", "openai")


def test_unknown_model_lookup_is_404(http):
    answer = http.get("/v1/models/nope")
    assert answer.status_code == 404
    assert error_of(answer, "openai")[0] == "not_found_error"
    assert answer.get_json()["error"]["code"] == "model_not_found"


def test_health_is_always_ok(tmp_path):
    http = app_for(base_config(), {"HOME": str(tmp_path)}).test_client()
    answer = http.get("/health")
    assert (answer.status_code, answer.get_json()) == (200, {"status": "ok"})


def test_ready_reports_the_credential_without_revealing_it(http):
    answer = http.get("/health/ready")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["status"] == "ready" and body["credential"]["source"] == "FACTORY_API_KEY"
    assert "fk-test-key" not in answer.get_data(as_text=True)


def test_ready_in_client_key_mode(tmp_path):
    answer = app_for(base_config(), {"HOME": str(tmp_path)}).test_client().get("/health/ready")
    assert answer.status_code == 200 and answer.get_json()["credential"]["source"] == "client"


@responses.activate
def test_not_ready_when_the_refresh_failed_and_no_token_is_usable(tmp_path):
    write_auth(tmp_path / ".factory" / "auth.json", None, "rt-1")
    responses.post(WORKOS_URL, json={"error": "invalid_grant"}, status=400)
    answer = app_for(base_config(), {"HOME": str(tmp_path)}).test_client().get("/health/ready")
    assert answer.status_code == 503
    assert answer.get_json()["status"] == "unavailable"


@responses.activate
def test_ready_after_a_successful_refresh(tmp_path):
    write_auth(tmp_path / ".factory" / "auth.json", None, "rt-1")
    expires = int(time.time()) + 8 * 3600
    responses.post(WORKOS_URL, json={"access_token": make_jwt(exp=expires), "refresh_token": "rt-2"})
    answer = app_for(base_config(), {"HOME": str(tmp_path)}).test_client().get("/health/ready")
    assert answer.status_code == 200
    assert answer.get_json()["credential"]["expires_at"] == expires


# -- client errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PASSTHROUGH)
@pytest.mark.parametrize("raw, fragment", [
    (b"{not json", "not valid JSON"),
    (b"", "empty"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"model": "\xff"}', "not UTF-8"),
])
def test_unreadable_body_is_400_in_the_dialect(http, name, raw, fragment):
    path, _, _, shape = PASSTHROUGH[name]
    answer = http.post(path, data=raw, content_type="application/json")
    assert answer.status_code == 400
    kind, message = error_of(answer, shape)
    assert kind == "invalid_request_error" and fragment in message


@pytest.mark.parametrize("name", PASSTHROUGH)
@pytest.mark.parametrize("model", [None, "", 42, ["claude-test"]])
def test_missing_model_is_400(http, name, model):
    path, body, _, shape = PASSTHROUGH[name]
    answer = http.post(path, json={**body, "model": model})
    assert answer.status_code == 400
    assert error_of(answer, shape)[1] == "model is required"


@pytest.mark.parametrize("name", PASSTHROUGH)
def test_unknown_model_is_404(http, name):
    path, body, _, shape = PASSTHROUGH[name]
    answer = http.post(path, json={**body, "model": "gpt-99"})
    assert answer.status_code == 404
    kind, message = error_of(answer, shape)
    assert kind == "not_found_error" and "gpt-99" in message and "/v1/models" in message


def test_model_type_without_endpoint_is_503():
    config = base_config(endpoint=[{"name": "openai", "base_url": RESPONSES_URL}])
    answer = app_for(config).test_client().post("/v1/messages", json=MESSAGE)
    assert answer.status_code == 503
    assert "no endpoint named 'anthropic'" in error_of(answer, "anthropic")[1]


def test_wrong_method_and_unknown_path_answer_json_errors(http):
    wrong = http.get("/v1/messages")
    assert wrong.status_code == 405 and error_of(wrong, "anthropic")[0] == "invalid_request_error"
    missing = http.post("/v1/nothing", json={})
    assert missing.status_code == 404 and error_of(missing, "openai")[0] == "not_found_error"


def test_unexpected_failure_is_500_in_the_dialect_without_details(http, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(anthropic, "apply_policies", broken)
    answer = http.post("/v1/messages", json=MESSAGE)
    assert answer.status_code == 500
    kind, message = error_of(answer, "anthropic")
    assert kind == "api_error" and "secret internals" not in message


# -- upstream failures --------------------------------------------------------------------------

@pytest.mark.parametrize("name", PASSTHROUGH)
@pytest.mark.parametrize("failure, status, fragment", [
    (requests.ConnectionError("Connection refused"), 502, "cannot reach upstream"),
    (requests.exceptions.ProxyError("Cannot connect to proxy"), 502, "cannot reach upstream"),
    (requests.ConnectTimeout("timed out"), 504, "did not accept a connection within 10s (connect_timeout)"),
    (requests.ReadTimeout("timed out"), 504, "did not answer within"),
])
@responses.activate
def test_unreachable_or_silent_upstream(http, name, failure, status, fragment):
    path, body, url, shape = PASSTHROUGH[name]
    responses.post(url, body=failure)
    answer = http.post(path, json=body)
    assert answer.status_code == status
    assert fragment in error_of(answer, shape)[1]


@responses.activate
def test_upstream_json_errors_are_relayed_byte_for_byte_with_their_headers(http):
    raw = b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down","future_field":1}}'
    responses.post(ANTHROPIC_URL, body=raw, status=429, content_type="application/json",
                   headers={"retry-after": "7", "request-id": "req_1", "x-internal": "no"})
    answer = http.post("/v1/messages", json=MESSAGE)
    assert (answer.status_code, answer.get_data()) == (429, raw)
    assert answer.headers["retry-after"] == "7" and answer.headers["request-id"] == "req_1"
    assert "x-internal" not in answer.headers


@pytest.mark.parametrize("name", PASSTHROUGH)
@pytest.mark.parametrize("status, expected", [(502, 502), (529, 503), (403, 403)])
@responses.activate
def test_non_json_upstream_errors_are_wrapped_in_the_dialect(http, name, status, expected):
    path, body, url, shape = PASSTHROUGH[name]
    responses.post(url, body="<html><body>Bad Gateway</body></html>", status=status, content_type="text/html",
                   headers={"retry-after": "3"})
    answer = http.post(path, json=body)
    assert answer.status_code == expected
    message = error_of(answer, shape)[1]
    assert f"answered {status}" in message and "Bad Gateway" in message
    assert answer.headers["retry-after"] == "3"


@pytest.mark.parametrize("name", PASSTHROUGH)
@responses.activate
def test_json_upstream_errors_of_another_shape_are_rendered_in_the_dialect(http, name):
    # Factory answers some errors as {"detail": ...}, which no dialect's SDK reads as an error.
    path, body, url, shape = PASSTHROUGH[name]
    responses.post(url, json={"detail": "Forbidden", "status": 403}, status=403)
    answer = http.post(path, json=body)
    assert answer.status_code == 403
    assert error_of(answer, shape) == ("permission_error", "Forbidden")


@responses.activate
def test_stream_request_answered_with_an_error_is_relayed_as_json(http):
    raw = b'{"error":{"message":"bad tool schema","type":"invalid_request_error","param":"tools","code":null}}'
    responses.post(CHAT_URL, body=raw, status=400, content_type="application/json")
    answer = http.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert (answer.status_code, answer.get_data()) == (400, raw)


# -- streams that break off ---------------------------------------------------------------------

class BreakingBody(io.RawIOBase):
    """An upstream body that delivers ``chunks`` and then fails the way a socket does."""

    def __init__(self, chunks: list, failure: Exception | None):
        self.chunks = list(chunks)
        self.failure = failure

    def readable(self):
        return True

    def readinto(self, buffer):
        if not self.chunks:
            if self.failure is not None:
                raise self.failure
            return 0
        chunk = self.chunks.pop(0)
        buffer[:len(chunk)] = chunk
        return len(chunk)


def streaming_upstream(url: str, chunks: list, failure: Exception | None):
    responses.post(url, body=io.BufferedReader(BreakingBody(chunks, failure)), content_type="text/event-stream")


ANTHROPIC_START = (b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1"}}\n\n'
                   b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                   b'"delta":{"type":"text_delta","text":"Hel"}}\n\n')
RESPONSES_START = (b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n'
                   b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
                   b'"sequence_number":1,"delta":"Hel"}\n\n')
CHAT_START = b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'


def events_after(raw: bytes, prefix: bytes) -> list:
    assert raw.startswith(prefix)  # everything the upstream sent, untouched
    rest = raw[len(prefix):].decode()
    return [block for block in rest.split("\n\n") if block]


@pytest.mark.parametrize("failure, status_type", [
    (ConnectionResetError(104, "Connection reset by peer"), "api_error"),
    (socket.timeout("timed out"), "timeout_error"),
    (None, "api_error"),  # a clean close before message_stop is still a broken stream
])
@responses.activate
def test_broken_anthropic_stream_ends_with_an_error_event(http, failure, status_type):
    streaming_upstream(ANTHROPIC_URL, [ANTHROPIC_START], failure)
    answer = http.post("/v1/messages", json={**MESSAGE, "stream": True})
    assert answer.status_code == 200
    [event] = events_after(answer.get_data(), ANTHROPIC_START)
    name, data = event.split("\n")
    assert name == "event: error"
    payload = json.loads(data.removeprefix("data: "))
    assert payload["type"] == "error" and payload["error"]["type"] == status_type


@responses.activate
def test_broken_responses_stream_ends_with_a_numbered_error_event(http):
    streaming_upstream(RESPONSES_URL, [RESPONSES_START], ConnectionResetError(104, "reset"))
    answer = http.post("/v1/responses", json={**RESPONSE, "stream": True})
    [event] = events_after(answer.get_data(), RESPONSES_START)
    name, data = event.split("\n")
    payload = json.loads(data.removeprefix("data: "))
    assert name == "event: error"
    assert payload["type"] == "error" and payload["sequence_number"] == 2 and "broke off" in payload["message"]


@responses.activate
def test_broken_chat_stream_ends_with_an_error_payload(http):
    streaming_upstream(CHAT_URL, [CHAT_START], None)
    answer = http.post("/v1/chat/completions", json={**CHAT, "stream": True})
    [event] = events_after(answer.get_data(), CHAT_START)
    payload = json.loads(event.removeprefix("data: "))
    assert payload["error"]["type"] == "upstream_error" and "before the final event" in payload["error"]["message"]


@responses.activate
def test_complete_stream_is_relayed_untouched_with_stream_headers(http):
    done = ANTHROPIC_START + b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    streaming_upstream(ANTHROPIC_URL, [done[:50], done[50:]], None)
    answer = http.post("/v1/messages", json={**MESSAGE, "stream": True})
    assert answer.get_data() == done
    assert answer.headers["cache-control"] == "no-cache" and answer.headers["x-accel-buffering"] == "no"
    assert answer.content_type.startswith("text/event-stream")


@pytest.mark.parametrize("name, prefix, text_event", [
    ("messages", ANTHROPIC_START,
     b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
     b'"text":"on message_stop (event: message_stop) or event: error, stop\\nevent: message_stop"}}\n\n'),
    ("responses", RESPONSES_START,
     b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":2,'
     b'"delta":"wait for response.completed, \\"type\\":\\"response.completed\\"\\nevent: error"}\n\n'),
    ("chat", CHAT_START,
     b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":'
     b'"the stream ends with [DONE]\\ndata: [DONE]"}}]}\n\n'),
])
@responses.activate
def test_a_stream_that_only_mentions_its_end_marker_is_still_cut_short(http, name, prefix, text_event):
    path, body, url, _ = PASSTHROUGH[name]
    streaming_upstream(url, [prefix, text_event], None)  # closed cleanly, but before the final event
    answer = http.post(path, json={**body, "stream": True})
    [error] = events_after(answer.get_data(), prefix + text_event)
    assert "error" in error


@pytest.mark.parametrize("name, provider", [("messages", "anthropic"), ("responses", "openai_responses"),
                                            ("chat", "openai")])
@responses.activate
def test_recorded_streams_are_relayed_byte_for_byte_without_an_error_event(http, name, provider):
    path, body, url, _ = PASSTHROUGH[name]
    for exchange in exchanges(provider, "sse"):
        raw = recorded(f"{exchange}.response.sse")
        responses.reset()
        pieces = [raw[i:i + 7] for i in range(0, len(raw), 7)]  # markers split across reads too
        streaming_upstream(url, pieces, None)
        answer = http.post(path, json={**body, "stream": True})
        assert answer.get_data() == raw, exchange


def test_a_websocket_upgrade_on_responses_is_426_so_codex_falls_back_to_http(http):
    answer = http.get("/v1/responses", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "x3JJHMbDL1EzLkh9GBhXDw=="})
    assert answer.status_code == 426
    assert answer.get_json()["error"]["message"].startswith("this gateway serves the Responses API over HTTP")
    assert http.get("/v1/responses").status_code == 405
