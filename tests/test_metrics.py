"""GET /metrics in one process (Flask's test client): exact counts after a few requests, tokens by kind from
recorded answers, fallbacks and upstream errors, open streams, bounded labels, and who may scrape."""

from __future__ import annotations

import os
import re

import pytest
import responses
from prometheus_client.parser import text_string_to_metric_families

from droid2api import ir
from droid2api.record import RequestRecord
from droid2api.server import metrics_directory

from .helpers import FACTORY_ENDPOINTS, app_for, base_config, recorded, recorded_json, upstream_events

MESSAGE = {"model": "claude-test", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
CHAT = {"model": "claude-test", "messages": [{"role": "user", "content": "hi"}]}
ANSWER = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "stop_reason": "end_turn",
          "stop_sequence": None, "content": [{"type": "text", "text": "hello"}],
          "usage": {"input_tokens": 11, "output_tokens": 7, "cache_read_input_tokens": 5,
                    "cache_creation_input_tokens": 3}}
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
INVALID = {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too large"}}
REMOTE = {"REMOTE_ADDR": "203.0.113.7"}


def scrape(http, environ=None, headers=None) -> dict:
    """Every sample of GET /metrics: {(name, ((label, value), ...)): value}."""
    answer = http.get("/metrics", environ_base=environ or {}, headers=headers or {})
    assert answer.status_code == 200, answer.get_data()
    assert answer.content_type.startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def series(found: dict, name: str, *labels: str) -> dict:
    """The samples of ``name``, keyed by the values of ``labels``."""
    picked = {}
    for (sample_name, sample_labels), value in found.items():
        if sample_name == name:
            values = dict(sample_labels)
            picked[tuple(values[label] for label in labels)] = value
    return picked


def call(http, method: str, path: str, **kwargs) -> int:
    """Send a request and close its answer, as a WSGI server does (the record is finished then)."""
    with http.open(path, method=method, **kwargs) as answer:
        answer.get_data()
        return answer.status_code


@responses.activate
def test_requests_and_durations_are_counted_by_front_model_upstream_and_status():
    responses.post(FACTORY_ENDPOINTS["anthropic"], json=ANSWER)
    http = app_for(base_config(model_redirects={"claude-old": "claude-test"})).test_client()
    assert call(http, "POST", "/v1/messages", json=MESSAGE) == 200  # passthrough
    assert call(http, "POST", "/v1/chat/completions", json=CHAT) == 200  # converted
    assert call(http, "POST", "/v1/messages", json={**MESSAGE, "model": "claude-old"}) == 200  # a redirect
    assert call(http, "POST", "/v1/messages", json={**MESSAGE, "model": "no-such-model"}) == 404
    assert call(http, "GET", "/health") == 200

    found = scrape(http)
    assert series(found, "droid2api_requests_total", "front", "model", "upstream", "status") == {
        ("anthropic", "claude-test", "factory-anthropic", "200"): 2.0,
        ("openai_chat", "claude-test", "factory-anthropic", "200"): 1.0,
        ("anthropic", "other", "-", "404"): 1.0,  # a name nobody configured is never a label value
        ("-", "-", "-", "200"): 1.0,
    }
    assert series(found, "droid2api_request_duration_seconds_count", "front", "model") == {
        ("anthropic", "claude-test"): 2.0, ("openai_chat", "claude-test"): 1.0, ("anthropic", "other"): 1.0,
        ("-", "-"): 1.0}
    assert series(found, "droid2api_time_to_first_byte_seconds_count", "front", "model") == {}  # no stream
    assert series(found, "droid2api_upstream_attempts_total", "front", "requested_model") == {
        ("anthropic", "claude-test"): 2.0, ("openai_chat", "claude-test"): 1.0}
    assert series(found, "droid2api_upstream_errors_total", "front", "requested_model") == {}
    assert series(found, "droid2api_tokens_total", "model", "client", "kind") == {
        ("claude-test", "-", "input"): 3 * 19.0,  # Anthropic's input_tokens plus the cached ones
        ("claude-test", "-", "output"): 3 * 7.0,
        ("claude-test", "-", "cache_read"): 3 * 5.0,
        ("claude-test", "-", "cache_write"): 3 * 3.0,
    }
    assert series(found, "droid2api_breaker_state", "route") == {
        ("factory-anthropic/claude-test",): 0.0, ("factory-openai/gpt-test",): 0.0,
        ("factory-common/glm-test",): 0.0, ("factory-google/gemini-test",): 0.0}


def expected_tokens(provider: str, name: str) -> dict:
    finish = [e for e in upstream_events(provider, name) if isinstance(e, ir.Finish)][-1]
    probe = RequestRecord("x", "POST", "/")
    probe.add_usage(finish.usage)
    return probe.tokens


THINKING_RESPONSES = "openai_responses__test_openai_responses_thinking_part_iter.0"
THINKING_GEMINI = "google__test_google_model_thinking_part_iter.0"
# (recorded answer, its provider, the path a client sends, its body, the model): relayed and converted
RECORDED = [
    (THINKING_RESPONSES, "openai_responses", "/v1/responses",
     {**recorded_json(f"{THINKING_RESPONSES}.request.json"), "model": "gpt-test", "stream": True}, "gpt-test"),
    ("openai_responses__test_openai_responses_streaming_usage.0", "openai_responses", "/v1/messages",
     {**MESSAGE, "model": "gpt-test", "stream": True}, "gpt-test"),
    (THINKING_GEMINI, "google", "/v1beta/models/gemini-test:streamGenerateContent?alt=sse",
     {k: v for k, v in recorded_json(f"{THINKING_GEMINI}.request.json").items() if k != "model"}, "gemini-test"),
    ("anthropic__test_anthropic_tool_with_thinking.0", "anthropic", "/v1/chat/completions", CHAT, "claude-test"),
]
ENDPOINTS = {"openai_responses": "openai", "google": "google", "anthropic": "anthropic"}


def test_tokens_by_model_client_and_kind_add_up_to_what_the_upstreams_reported():
    http = app_for(base_config(access_keys=[{"name": "alice", "key": "sk-alice"}])).test_client()
    expected = {}
    with responses.RequestsMock() as mock:
        for name, provider, path, body, model in RECORDED:
            streamed = body.get("stream") is True or "stream" in path
            raw = recorded(f"{name}.response.{'sse' if streamed else 'json'}")
            mock.add(responses.POST, re.compile(re.escape(FACTORY_ENDPOINTS[ENDPOINTS[provider]]) + ".*"), body=raw,
                     content_type="text/event-stream" if streamed else "application/json")
            assert call(http, "POST", path, json=body, headers={"x-api-key": "sk-alice"}) == 200
            for kind, count in expected_tokens(provider, name).items():
                expected[model, "alice", kind] = expected.get((model, "alice", kind), 0) + count
    found = scrape(http)
    assert series(found, "droid2api_tokens_total", "model", "client", "kind") == expected
    assert expected["gpt-test", "alice", "reasoning"] > 0 and expected["gemini-test", "alice", "reasoning"] > 0
    assert "sk-alice" not in repr(found)


@responses.activate
def test_fallbacks_retries_and_upstream_errors():
    upstreams = [{"name": "a", "type": "anthropic", "base_url": "https://a.test", "api_key": "k"},
                 {"name": "b", "type": "anthropic", "base_url": "https://b.test", "api_key": "k"}]
    models = [{"id": "primary", "upstream": "a", "fallbacks": ["backup"]},
              {"id": "lonely", "upstream": "a", "upstream_model": "lonely", "fallbacks": []},
              {"id": "backup", "upstream": "b"}]
    http = app_for(base_config(upstreams=upstreams, models=models, breaker_failures=100)).test_client()
    responses.post("https://a.test/v1/messages", json=OVERLOADED, status=529)  # every call to a fails
    responses.post("https://b.test/v1/messages", json=ANSWER)

    assert call(http, "POST", "/v1/messages", json={**MESSAGE, "model": "primary"}) == 200  # b answers
    assert call(http, "POST", "/v1/messages", json={**MESSAGE, "model": "lonely"}) == 529  # nobody does
    responses.replace(responses.POST, "https://a.test/v1/messages", json=INVALID, status=400)
    assert call(http, "POST", "/v1/messages", json={**MESSAGE, "model": "lonely"}) == 400  # the client's error

    found = scrape(http)
    assert series(found, "droid2api_requests_total", "model", "upstream", "status") == {
        ("backup", "b", "200"): 1.0, ("lonely", "a", "529"): 1.0, ("lonely", "a", "400"): 1.0}
    routing = ("front", "requested_model")
    assert series(found, "droid2api_upstream_attempts_total", *routing) == {
        ("anthropic", "primary"): 2.0, ("anthropic", "lonely"): 2.0}
    assert series(found, "droid2api_upstream_retries_total", *routing) == {("anthropic", "primary"): 1.0}
    assert series(found, "droid2api_upstream_errors_total", *routing) == {
        ("anthropic", "primary"): 1.0, ("anthropic", "lonely"): 1.0}  # a 400 is an answer, not an outage
    assert series(found, "droid2api_fallbacks_total", "requested_model", "model") == {("primary", "backup"): 1.0}
    assert series(found, "droid2api_tokens_total", "model", "kind")[("backup", "output")] == 7.0


@responses.activate
def test_a_stream_is_open_until_the_server_closes_it():
    stream = (b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":4,"
              b"\"output_tokens\":1}}}\n\n" + b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
    responses.post(FACTORY_ENDPOINTS["anthropic"], body=stream, content_type="text/event-stream")
    http = app_for().test_client()
    answer = http.post("/v1/messages", json={**MESSAGE, "stream": True}, buffered=False)
    assert answer.status_code == 200
    open_streams = series(scrape(http), "droid2api_open_streams", "front")
    assert open_streams == {("anthropic",): 1.0}
    assert b"".join(answer.response) == stream
    answer.close()
    found = scrape(http)
    assert series(found, "droid2api_open_streams", "front") == {("anthropic",): 0.0}
    assert series(found, "droid2api_time_to_first_byte_seconds_count", "front", "model") == {
        ("anthropic", "claude-test"): 1.0}
    assert series(found, "droid2api_tokens_total", "kind") == {("input",): 4.0, ("output",): 1.0}


@pytest.mark.parametrize("environ, headers, status", [
    ({"REMOTE_ADDR": "127.0.0.1"}, {}, 200),
    ({"REMOTE_ADDR": "::1"}, {}, 200),
    ({"REMOTE_ADDR": "::ffff:127.0.0.1"}, {}, 200),
    (REMOTE, {}, 401),
    (REMOTE, {"authorization": "Bearer wrong"}, 401),
    (REMOTE, {"authorization": "Bearer sk-ops"}, 200),
    (REMOTE, {"x-api-key": "sk-ops"}, 200),
    # Behind nginx every client arrives from loopback; the headers it adds (deploy/nginx.conf) unmask it.
    ({"REMOTE_ADDR": "127.0.0.1"}, {"x-forwarded-for": "203.0.113.7"}, 401),
    ({"REMOTE_ADDR": "127.0.0.1"}, {"x-real-ip": "203.0.113.7"}, 401),
    ({"REMOTE_ADDR": "127.0.0.1"}, {"forwarded": "for=203.0.113.7"}, 401),
    ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}, {"x-api-key": "sk-ops"}, 200),
])
def test_without_a_key_only_loopback_may_scrape(environ, headers, status):
    http = app_for(base_config(access_keys=[{"name": "ops", "key": "sk-ops"}])).test_client()
    assert http.get("/metrics", environ_base=environ, headers=headers).status_code == status


def test_with_no_access_key_configured_a_remote_scrape_is_refused_unless_metrics_are_public():
    http = app_for().test_client()
    refused = http.get("/metrics", environ_base=REMOTE)
    assert refused.status_code == 403 and "metrics_public" in refused.get_data(as_text=True)
    assert http.get("/metrics").status_code == 200  # loopback
    public = app_for(base_config(metrics_public=True, access_keys=["sk-ops"])).test_client()
    assert public.get("/metrics", environ_base=REMOTE).status_code == 200
    assert public.get("/v1/models", environ_base=REMOTE).status_code == 401  # only /metrics is public


def test_the_scrape_speaks_openmetrics_to_who_asks():
    http = app_for().test_client()
    answer = http.get("/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert answer.content_type.startswith("application/openmetrics-text")
    assert answer.get_data(as_text=True).endswith("# EOF\n")


def test_the_master_empties_the_metrics_directory_at_start(tmp_path):
    environ = {}
    path = metrics_directory(str(tmp_path / "data"), environ)
    assert path == str(tmp_path / "data" / "prometheus") == environ["PROMETHEUS_MULTIPROC_DIR"]
    (tmp_path / "data" / "prometheus" / "counter_123.db").write_bytes(b"old")
    (tmp_path / "data" / "prometheus" / "notes.txt").write_text("mine")
    own = tmp_path / "own"
    environ = {"PROMETHEUS_MULTIPROC_DIR": str(own)}
    assert metrics_directory(str(tmp_path / "data"), environ) == str(own) and own.is_dir()
    metrics_directory(str(tmp_path / "data"), {})
    assert sorted(os.listdir(path)) == ["notes.txt"]  # prometheus_client's files only
