"""Edges a production gateway must hold: odd but valid JSON, bodies too large or too deep, what a
converted upstream must not receive, what a client must not see, and what a log must not show."""

from __future__ import annotations

import json
import logging

import pytest
import responses

from droid2api.credentials import fingerprint

from .helpers import FACTORY_ENDPOINTS, app_for, base_config

DIRECT = "https://llm.example/v1"
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
MESSAGE = {"model": "claude-test", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
RESPONSES_ANSWER = {"id": "resp_1", "object": "response", "model": "gpt-5", "status": "completed", "output": [
    {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
     "content": [{"type": "output_text", "text": "ok", "annotations": []}]}],
    "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}
ANTHROPIC_ANSWER = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "stop_reason": "end_turn",
                    "content": [{"type": "text", "text": "ok"}], "usage": {"input_tokens": 1, "output_tokens": 1}}

# Every client-facing POST endpoint, with a valid body and how its errors look.
ENDPOINTS = {
    "chat-converted": ("/v1/chat/completions", CHAT, "openai"),
    "chat-passthrough": ("/v1/chat/completions", {**CHAT, "model": "glm-test"}, "openai"),
    "responses": ("/v1/responses", {"model": "gpt-test", "input": "hi"}, "openai"),
    "messages": ("/v1/messages", MESSAGE, "anthropic"),
    "count_tokens": ("/v1/messages/count_tokens", {"model": "claude-test", "messages": MESSAGE["messages"]},
                     "anthropic"),
}


def mock_every_upstream():
    responses.post(FACTORY_ENDPOINTS["openai"], json=RESPONSES_ANSWER)
    responses.post(FACTORY_ENDPOINTS["anthropic"], json=ANTHROPIC_ANSWER)
    responses.post(FACTORY_ENDPOINTS["anthropic"] + "/count_tokens", json={"input_tokens": 3})
    responses.post(FACTORY_ENDPOINTS["common"], json={
        "id": "c", "object": "chat.completion", "created": 1, "model": "glm", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]})


def error_of(answer, dialect: str) -> str:
    body = answer.get_json()
    if dialect == "anthropic":
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
        return body["error"]["message"]
    assert set(body["error"]) >= {"message", "type", "param", "code"}
    return body["error"]["message"]


# -- lone surrogates: valid JSON with no UTF-8 form -------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
@responses.activate
def test_a_lone_surrogate_reaches_the_upstream_as_the_escape_the_client_sent(name):
    mock_every_upstream()
    path, body, _ = ENDPOINTS[name]
    raw = json.dumps(body).replace('"hi"', '"hi \\ud83d x"').encode()
    answer = app_for().test_client().post(path, data=raw, content_type="application/json")
    assert answer.status_code == 200, answer.get_data()
    sent = responses.calls[0].request.body
    assert b"\\ud83d" in sent
    assert json.loads(sent)  # still valid JSON, and valid UTF-8


@responses.activate
def test_a_lone_surrogate_in_an_upstream_answer_reaches_the_client():
    responses.post(FACTORY_ENDPOINTS["anthropic"],
                   body=json.dumps(ANTHROPIC_ANSWER).replace('"ok"', '"ok \\udc00"'),
                   content_type="application/json")
    answer = app_for().test_client().post("/v1/chat/completions", json={**CHAT, "model": "claude-test"})
    assert answer.status_code == 200
    assert answer.get_json()["choices"][0]["message"]["content"] == "ok \udc00"


@pytest.mark.parametrize("model", ["gemini-test", "gpt-test", "claude-test"])
@responses.activate
def test_a_lone_surrogate_in_a_tool_call_id_is_remembered_and_relayed_not_a_500(model):
    """Tool call ids are store keys (reasoning memory): one cut mid-emoji must not break the state store."""
    mock_every_upstream()
    responses.post(FACTORY_ENDPOINTS["google"], json={"candidates": [
        {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}]})
    cut = "call_\ud83d"
    body = {"model": model, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": cut, "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": cut, "content": "done"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}
    answer = app_for().test_client().post("/v1/chat/completions", data=json.dumps(body),
                                           content_type="application/json")
    assert answer.status_code == 200, answer.get_data()


# -- nesting past the recursion limit -----------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("depth", [900, 5000, 200_000])
@responses.activate
def test_deeply_nested_json_is_a_400_in_the_endpoints_dialect(name, depth):
    mock_every_upstream()
    path, body, dialect = ENDPOINTS[name]
    nested = "[" * depth + "]" * depth
    raw = json.dumps(body)[:-1] + ',"metadata":{"x":' + nested + "}}"
    answer = app_for().test_client().post(path, data=raw.encode(), content_type="application/json")
    if answer.status_code == 200:  # shallow enough to parse and relay: fine, as long as nothing broke
        return
    assert answer.status_code == 400, answer.get_data()
    message = error_of(answer, dialect)
    if depth > 1000:  # past Python's recursion limit: the parser itself gives up
        assert "too deeply" in message


# -- body size ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
def test_a_body_over_max_body_mb_is_a_413_in_the_endpoints_dialect(name):
    path, body, dialect = ENDPOINTS[name]
    app = app_for(base_config(max_body_mb=0.01))  # about 10 KB
    raw = json.dumps({**body, "metadata": {"x": "a" * 20000}}).encode()
    answer = app.test_client().post(path, data=raw, content_type="application/json")
    assert answer.status_code == 413
    assert "max_body_mb" in error_of(answer, dialect)
    if dialect == "anthropic":
        assert answer.get_json()["error"]["type"] == "request_too_large"


def test_the_default_body_limit_is_32_mb():
    assert app_for().config["MAX_CONTENT_LENGTH"] == 32 * 1024 * 1024


# -- Responses instructions -----------------------------------------------------------------------------


@pytest.mark.parametrize("instructions", [["be brief"], 5, {"text": "x"}, True])
def test_non_string_instructions_with_a_system_prompt_is_a_400(instructions):
    app = app_for(base_config(system_prompt="You are Droid."))
    answer = app.test_client().post("/v1/responses", json={"model": "gpt-test", "input": "hi",
                                                           "instructions": instructions})
    assert answer.status_code == 400
    assert answer.get_json()["error"]["param"] == "instructions"
    assert "must be a string" in answer.get_json()["error"]["message"]


# -- query strings ----------------------------------------------------------------------------------------


@responses.activate
def test_the_clients_query_string_reaches_only_a_passthrough_upstream():
    config = base_config(upstreams=[
        {"name": "resp", "type": "openai", "base_url": DIRECT, "api_key": "sk-up"},
        {"name": "gem", "type": "google", "base_url": "https://gem.example/v1beta", "api_key": "AIza-up"}],
        models=[{"id": "gpt", "upstream": "resp"}, {"id": "gem", "upstream": "gem", "upstream_model": "gemini-2.5-flash"}])
    responses.post(DIRECT + "/responses", json=RESPONSES_ANSWER)
    responses.post("https://gem.example/v1beta/models/gemini-2.5-flash:generateContent", json={
        "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}]})
    client = app_for(config).test_client()
    client.post("/v1/responses?beta=true&key=sk-client", json={"model": "gpt", "input": "hi"})
    client.post("/v1/chat/completions?alt=json&beta=true", json={**CHAT, "model": "gem"})
    client.post("/v1/chat/completions?alt=json", json={**CHAT, "model": "gpt"})
    urls = [call.request.url for call in responses.calls]
    assert urls[0] == DIRECT + "/responses?beta=true"  # passthrough: kept, minus the key
    assert urls[1] == "https://gem.example/v1beta/models/gemini-2.5-flash:generateContent"
    assert urls[2] == DIRECT + "/responses"


# -- headers a client must not see ---------------------------------------------------------------------------


@pytest.mark.parametrize("path, body, url", [
    ("/v1/messages", MESSAGE, FACTORY_ENDPOINTS["anthropic"]),
    ("/v1/chat/completions", {**CHAT, "model": "claude-test"}, FACTORY_ENDPOINTS["anthropic"]),
    ("/v1/responses", {"model": "gpt-test", "input": "hi"}, FACTORY_ENDPOINTS["openai"]),
])
@responses.activate
def test_operator_account_ids_are_not_relayed(path, body, url):
    answer_body = ANTHROPIC_ANSWER if "messages" in url else RESPONSES_ANSWER
    responses.post(url, json=answer_body, headers={
        "anthropic-organization-id": "org-operator", "openai-organization": "org-operator",
        "openai-project": "proj_operator", "x-request-id": "req_1", "openai-processing-ms": "12"})
    answer = app_for().test_client().post(path, json=body)
    assert answer.status_code == 200
    names = {name.lower() for name in answer.headers.keys()}
    assert not names & {"anthropic-organization-id", "openai-organization", "openai-project"}
    assert answer.headers["x-request-id"] == "req_1"
    assert "org-operator" not in str(answer.headers)


# -- dev-mode logs ------------------------------------------------------------------------------------------


@responses.activate
def test_dev_mode_never_logs_a_custom_auth_header_or_configured_header_values(caplog):
    caplog.set_level(logging.DEBUG, logger="droid2api")
    config = base_config(dev_mode=True, upstreams=[{
        "name": "azure", "type": "openai", "base_url": DIRECT, "api_key": "azure-secret-key-123",
        "auth_header": "api-key", "auth_prefix": "",
        "headers": {"X-Portkey-Api-Key": "pk-secret-456", "OpenAI-Organization": "org-secret-789"}}],
        models=[{"id": "gpt", "upstream": "azure"}])
    responses.post(DIRECT + "/responses", json=RESPONSES_ANSWER)
    app_for(config).test_client().post("/v1/responses", json={"model": "gpt", "input": "hi"})
    sent = responses.calls[0].request.headers
    assert sent["api-key"] == "azure-secret-key-123"  # the upstream still gets them
    assert sent["x-portkey-api-key"] == "pk-secret-456"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "-> azure POST" in logged  # the dump is there ...
    for secret in ("azure-secret-key-123", "pk-secret-456", "org-secret-789"):
        assert secret not in logged  # ... without the secrets
    assert fingerprint("azure-secret-key-123") in logged


# -- numbers JSON cannot carry back out ------------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "1" * 5000])
@responses.activate
def test_a_number_that_cannot_go_back_out_as_json_is_a_400(name, number):
    # Python reads NaN, Infinity and 1e400 (as inf) but would write them upstream as non-JSON words;
    # an integer past Python's digit limit is a ValueError of its own.
    mock_every_upstream()
    path, body, dialect = ENDPOINTS[name]
    raw = json.dumps(body)[:-1] + ',"temperature":' + number + "}"
    answer = app_for().test_client().post(path, data=raw.encode(), content_type="application/json")
    assert answer.status_code == 400
    assert "number" in error_of(answer, dialect)
    assert not responses.calls


# -- keep-alives on silent streams ------------------------------------------------------------------------


def test_heartbeats_fill_the_silences_and_keep_every_event_in_order():
    import time

    from droid2api.relay import with_heartbeats

    def slow():
        yield "a"
        time.sleep(0.25)
        yield "b"
        yield "c"

    got = list(with_heartbeats(slow(), 0.05))
    assert [e for e in got if e is not None] == ["a", "b", "c"]
    assert got[0] == "a" and None in got[1:got.index("b")]


def test_heartbeats_raise_the_readers_error_where_the_consumer_reads():
    from droid2api.errors import GatewayError
    from droid2api.relay import with_heartbeats

    def broken():
        yield "a"
        raise GatewayError(502, "upstream broke off")

    events = with_heartbeats(broken(), 5)
    assert next(events) == "a"
    with pytest.raises(GatewayError, match="broke off"):
        next(events)


def test_closing_a_heartbeat_stream_stops_its_reader():
    import threading
    import time

    from droid2api.relay import with_heartbeats

    produced = []

    def endless():
        for i in range(10_000):
            produced.append(i)
            yield i

    events = with_heartbeats(endless(), 0.05)
    assert next(events) == 0
    events.close()
    time.sleep(0.3)
    assert len(produced) < 100  # the reader waited on the small queue, then stopped
    assert not any(t.name == "droid2api-stream-reader" and t.is_alive() for t in threading.enumerate())
