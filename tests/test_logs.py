"""Logs: one access line per request (method, path, model, upstream, status, duration, bytes), and
dev mode's headers and bodies with every credential redacted."""

from __future__ import annotations

import logging
import re

import pytest
import responses

from droid2api.credentials import fingerprint
from droid2api.logs import redact_headers, redact_text

from .helpers import FACTORY_ENDPOINTS, app_for, base_config

ACCESS_LINE = re.compile(r"^(?P<method>[A-Z]+) (?P<path>\S+) model=(?P<model>\S+) upstream=(?P<upstream>\S+) "
                         r"status=(?P<status>\d+|-) (?P<ms>\d+\.\d)ms (?P<bytes>\d+)B"
                         r"(?: client=(?P<client>\S+))?(?: tokens=(?P<tokens>\d+/\d+))? id=(?P<id>\S+)$")
MESSAGE = {"model": "claude-test", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def access_lines(caplog) -> list:
    lines = []
    for record in caplog.records:
        if record.name == "droid2api.access":
            match = ACCESS_LINE.match(record.getMessage())
            assert match, record.getMessage()
            lines.append(match.groupdict())
    return lines


def request(http, method: str, path: str, **kwargs):
    """Send a request and finish it as a WSGI server does (close the body), returning (status, bytes)."""
    with http.open(path, method=method, **kwargs) as answer:
        return answer.status_code, answer.get_data()


@pytest.fixture
def access_log(caplog):
    caplog.set_level(logging.INFO, logger="droid2api.access")
    return caplog


@responses.activate
def test_one_line_per_request_with_model_upstream_status_and_bytes(access_log):
    responses.post(FACTORY_ENDPOINTS["anthropic"], json={"type": "message", "content": []})
    http = app_for(base_config(model_redirects={"claude-old": "claude-test"})).test_client()
    status, body = request(http, "POST", "/v1/messages", json={**MESSAGE, "model": "claude-old"})
    health_status, health = request(http, "GET", "/health")
    lines = access_lines(access_log)
    assert len(lines) == 2
    assert {k: lines[0][k] for k in ("method", "path", "model", "upstream", "status", "bytes")} == {
        "method": "POST", "path": "/v1/messages", "model": "claude-test", "upstream": "factory-anthropic",
        "status": str(status), "bytes": str(len(body))}
    assert (lines[1]["path"], lines[1]["model"], lines[1]["status"], lines[1]["bytes"]) == (
        "/health", "-", str(health_status), str(len(health)))


@responses.activate
def test_streamed_answers_are_logged_once_with_all_their_bytes(access_log):
    stream = (b"event: message_start\ndata: {}\n\n" * 50) + b"event: message_stop\ndata: {}\n\n"
    responses.post(FACTORY_ENDPOINTS["anthropic"], body=stream, content_type="text/event-stream")
    http = app_for().test_client()
    status, body = request(http, "POST", "/v1/messages", json={**MESSAGE, "stream": True})
    assert (status, body) == (200, stream)
    [line] = access_lines(access_log)
    assert (line["status"], line["bytes"]) == ("200", str(len(stream)))


def test_errors_are_logged_with_their_status_and_no_query_string(access_log):
    http = app_for(base_config(access_keys=["secret-key"])).test_client()
    request(http, "POST", "/v1/chat/completions?key=wrong-key", json={"model": "x"})
    request(http, "POST", "/v1/chat/completions?key=secret-key", json={"model": "nope"})
    lines = access_lines(access_log)
    assert [(line["path"], line["model"], line["status"]) for line in lines] == [
        ("/v1/chat/completions", "-", "401"), ("/v1/chat/completions", "nope", "404")]  # what was asked for
    assert "secret-key" not in access_log.text and "wrong-key" not in access_log.text


@responses.activate
def test_dev_mode_logs_headers_and_bodies_with_credentials_redacted(caplog):
    caplog.set_level(logging.DEBUG)
    responses.post(FACTORY_ENDPOINTS["anthropic"], json={"type": "message", "id": "msg_dev"})
    http = app_for(base_config(dev_mode=True), {"FACTORY_API_KEY": "fk-dev-secret"}).test_client()
    request(http, "POST", "/v1/messages", json={**MESSAGE, "metadata": {"user_id": "u-7"}},
            headers={"x-api-key": "client-secret"})
    dev = "\n".join(r.getMessage() for r in caplog.records if r.name == "droid2api.dev")
    assert "POST https://api.factory.ai/api/llm/a/v1/messages" in dev
    assert f"authorization: Bearer <{fingerprint('fk-dev-secret')}>" in dev
    assert re.search(r'"user_id": ?"u-7"', dev)  # the body the upstream received (as the client wrote it)
    assert '"id": "msg_dev"' in dev  # the body it answered
    assert "fk-dev-secret" not in caplog.text and "client-secret" not in caplog.text


@responses.activate
def test_without_dev_mode_no_headers_or_bodies_are_logged(caplog):
    caplog.set_level(logging.DEBUG)
    responses.post(FACTORY_ENDPOINTS["anthropic"], json={"type": "message"})
    request(app_for().test_client(), "POST", "/v1/messages", json=MESSAGE)
    assert [r for r in caplog.records if r.name == "droid2api.dev"] == []


def test_redaction_of_headers_and_bodies():
    headers = redact_headers({"Authorization": "Bearer abc123", "x-api-key": "k1", "X-Goog-Api-Key": "g1",
                              "Proxy-Authorization": "Basic dTpw", "cookie": "sid=9", "content-type": "a/b"})
    assert headers == {"Authorization": f"Bearer <{fingerprint('abc123')}>", "x-api-key": f"<{fingerprint('k1')}>",
                       "X-Goog-Api-Key": f"<{fingerprint('g1')}>",
                       "Proxy-Authorization": f"Basic <{fingerprint('dTpw')}>",
                       "cookie": f"<{fingerprint('sid=9')}>", "content-type": "a/b"}
    text = redact_text('POST https://g.example/v1?alt=sse&key=AIza1 {"access_token": "at1", "refresh_token":"rt1",'
                       '"nested": {"api_key": "sk1"}, "password": "pa\\"ss9", "text": "access_token"}')
    for secret in ("AIza1", "at1", "rt1", "sk1", "ss9"):
        assert secret not in text
    assert '"text": "access_token"' in text


@responses.activate
def test_dev_mode_names_what_a_conversion_could_not_carry(caplog):
    caplog.set_level(logging.DEBUG)
    responses.post(FACTORY_ENDPOINTS["anthropic"], json={
        "type": "message", "id": "msg_1", "model": "claude", "role": "assistant", "stop_reason": "end_turn",
        "content": [{"type": "text", "text": "hi"}], "usage": {"input_tokens": 1, "output_tokens": 1}})
    http = app_for(base_config(dev_mode=True)).test_client()
    answer = http.post("/v1/chat/completions", json={"model": "claude-test", "seed": 7,
                                                     "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200
    assert "conversion to anthropic loses seed" in caplog.text


# -- request ids, tokens and the JSON format -----------------------------------------------------------

ANSWER = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [],
          "stop_reason": "end_turn", "stop_sequence": None,
          "usage": {"input_tokens": 11, "output_tokens": 7, "cache_read_input_tokens": 5}}


@responses.activate
def test_the_request_id_is_the_clients_or_a_new_one_echoed_and_logged(access_log):
    responses.post(FACTORY_ENDPOINTS["anthropic"], json=ANSWER)
    http = app_for().test_client()
    with http.open("/v1/messages", method="POST", json=MESSAGE, headers={"X-Request-Id": "trace-42"}) as given:
        pass
    with http.open("/v1/messages", method="POST", json=MESSAGE, headers={"X-Request-Id": "bad id\x01"}) as made:
        pass
    assert given.headers["X-Request-Id"] == "trace-42"
    assert made.headers["X-Request-Id"].startswith("req_") and len(made.headers["X-Request-Id"]) > 20
    ids = [line["id"] for line in access_lines(access_log)]
    assert ids == ["trace-42", made.headers["X-Request-Id"]]


@responses.activate
def test_the_line_names_the_client_key_and_the_tokens_the_upstream_reported(access_log):
    responses.post(FACTORY_ENDPOINTS["anthropic"], json=ANSWER)
    http = app_for(base_config(access_keys=[{"name": "alice", "key": "sk-alice"}])).test_client()
    request(http, "POST", "/v1/messages", json=MESSAGE, headers={"x-api-key": "sk-alice"})
    [line] = access_lines(access_log)
    assert (line["client"], line["tokens"]) == ("alice", "16/7")  # input counts the cached tokens too
    assert "sk-alice" not in access_log.text


def test_json_lines_carry_the_whole_record():
    import json as jsonlib

    from droid2api.logs import JsonFormatter
    from droid2api.record import RequestRecord

    record = RequestRecord("req_1", "POST", "/v1/messages", client="alice", front="anthropic", model="m",
                           upstream="u", status=200, tokens={"input": 3, "output": 2}, ttfb_ms=1.5,
                           duration_ms=9.0, bytes_out=120)
    line = logging.LogRecord("droid2api.access", logging.INFO, __file__, 1, "request %s", ("req_1",), None)
    line.request = record.as_dict()
    entry = jsonlib.loads(JsonFormatter().format(line))
    assert {k: entry[k] for k in ("request_id", "client", "front", "model", "upstream", "status", "tokens",
                                  "ttfb_ms", "duration_ms", "level")} == {
        "request_id": "req_1", "client": "alice", "front": "anthropic", "model": "m", "upstream": "u",
        "status": 200, "tokens": {"input": 3, "output": 2}, "ttfb_ms": 1.5, "duration_ms": 9.0, "level": "info"}
    other = logging.LogRecord("droid2api.routing", logging.WARNING, __file__, 1, "breaker %s", ("open",), None)
    assert jsonlib.loads(JsonFormatter().format(other))["message"] == "breaker open"
