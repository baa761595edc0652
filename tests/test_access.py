"""Inbound access keys: where a client may put one, the 401 in its own dialect, /health left open,
and an access key never travelling upstream."""

from __future__ import annotations

import hashlib

import json

import pytest
import responses

from droid2api import access
from droid2api.config import ClientKey

from .helpers import app_for, base_config

ACCESS_KEY = "gw-access-key"
ANTHROPIC_URL = "https://api.factory.ai/api/llm/a/v1/messages"
CHAT_URL = "https://api.factory.ai/api/llm/o/v1/chat/completions"
MESSAGE = {"model": "claude-test", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
CHAT = {"model": "glm-test", "messages": [{"role": "user", "content": "hi"}]}


def guarded_app(environ=None, **config):
    return app_for(base_config(access_keys=[ACCESS_KEY], **config), environ).test_client()


def everything_sent(call) -> str:
    request = call.request
    return json.dumps(dict(request.headers)) + request.url + (request.body or b"").decode()


@pytest.mark.parametrize("where", ["bearer", "x-api-key", "x-goog-api-key", "query"])
@responses.activate
def test_access_key_is_accepted_in_every_place_an_sdk_puts_one(where):
    responses.post(ANTHROPIC_URL, json={"type": "message"})
    headers, path = {}, "/v1/messages"
    if where == "bearer":
        headers["authorization"] = f"Bearer {ACCESS_KEY}"
    elif where == "query":
        path += f"?key={ACCESS_KEY}"
    else:
        headers[where] = ACCESS_KEY
    answer = guarded_app().post(path, json=MESSAGE, headers=headers)
    assert answer.status_code == 200
    assert ACCESS_KEY not in everything_sent(responses.calls[0])
    assert responses.calls[0].request.headers["authorization"] == "Bearer fk-test-key"


def test_access_keys_from_the_environment_are_accepted():
    app = app_for(base_config(), {"FACTORY_API_KEY": "fk", "DROID2API_ACCESS_KEYS": "one, two"}).test_client()
    assert app.get("/v1/models", headers={"x-api-key": "two"}).status_code == 200
    assert app.get("/v1/models", headers={"x-api-key": "three"}).status_code == 401


@pytest.mark.parametrize("method, path, shape", [
    ("POST", "/v1/messages", "anthropic"),
    ("POST", "/v1/messages/count_tokens", "anthropic"),
    ("POST", "/v1/chat/completions", "openai"),
    ("POST", "/v1/responses", "openai"),
    ("POST", "/v1beta/models/gemini-test:generateContent", "gemini"),
    ("GET", "/v1/models", "openai"),
    ("GET", "/", "openai"),
    ("GET", "/health/ready", "openai"),
])
@pytest.mark.parametrize("key", [None, "wrong-key"])
@responses.activate
def test_missing_or_wrong_key_is_401_in_the_requests_dialect(method, path, shape, key):
    headers = {"authorization": f"Bearer {key}"} if key else {}
    answer = guarded_app().open(path, method=method, json=MESSAGE, headers=headers)
    assert answer.status_code == 401
    body = answer.get_json()
    message = "missing or invalid access key"
    if shape == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
        assert body["error"]["message"].startswith(message)
    elif shape == "gemini":
        assert body["error"]["code"] == 401 and body["error"]["status"] == "UNAUTHENTICATED"
        assert body["error"]["message"].startswith(message)
    else:
        assert body["error"]["type"] == "authentication_error" and body["error"]["message"].startswith(message)
    assert len(responses.calls) == 0


def test_health_needs_no_key():
    assert guarded_app().get("/health").status_code == 200


def test_without_access_keys_everything_is_open():
    app = app_for().test_client()
    assert app.get("/v1/models").status_code == 200
    assert app.get("/health/ready").status_code == 200


@responses.activate
def test_the_clients_own_key_goes_upstream_but_the_access_key_never_does(tmp_path):
    responses.post(CHAT_URL, json={"choices": []})
    app = guarded_app({"HOME": str(tmp_path)})  # no server credential: clients bring their own
    answer = app.post("/v1/chat/completions", json=CHAT,
                      headers={"authorization": f"Bearer {ACCESS_KEY}", "x-api-key": "fk-client-own"})
    assert answer.status_code == 200
    assert responses.calls[0].request.headers["authorization"] == "Bearer fk-client-own"
    assert ACCESS_KEY not in everything_sent(responses.calls[0])


@responses.activate
def test_an_access_key_in_the_endpoint_authorization_header_is_not_forwarded(tmp_path):
    app = guarded_app({"HOME": str(tmp_path)})
    answer = app.post("/v1/chat/completions", json=CHAT,
                      headers={"x-api-key": ACCESS_KEY, "x-endpoint-authorization": f"Bearer {ACCESS_KEY}"})
    assert answer.status_code == 401  # the only key it has is the gateway's own: no upstream credential
    assert "FACTORY_API_KEY" in answer.get_json()["error"]["message"]
    assert len(responses.calls) == 0


@responses.activate
def test_key_query_parameter_is_not_forwarded_but_other_parameters_are():
    responses.post("https://llm.example/v1/chat/completions", json={"choices": []})
    app = guarded_app(upstreams=[{"name": "llm", "type": "common", "base_url": "https://llm.example/v1",
                                  "api_key": "sk-upstream"}],
                      models=[{"id": "glm-test", "upstream": "llm"}])
    answer = app.post(f"/v1/chat/completions?key={ACCESS_KEY}&api-version=2024-10-21", json=CHAT)
    assert answer.status_code == 200
    sent = responses.calls[0].request
    assert sent.url == "https://llm.example/v1/chat/completions?api-version=2024-10-21"
    assert sent.headers["authorization"] == "Bearer sk-upstream"
    assert ACCESS_KEY not in everything_sent(responses.calls[0])


def test_keys_are_compared_in_constant_time(monkeypatch):
    compared = []

    def spy(a, b):
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(access.hmac, "compare_digest", spy)
    guard = access.AccessGuard([ClientKey.plain("first"), ClientKey.plain("second")])
    assert guard.is_access_key("first")
    assert not guard.is_access_key("other")
    # Every configured key is compared (as SHA-256 digests: the keys are not kept), also after a match.
    first, second, other = (hashlib.sha256(k).hexdigest().encode() for k in (b"first", b"second", b"other"))
    assert compared == [(first, first), (first, second), (other, first), (other, second)]


def test_non_ascii_keys_are_rejected_not_crashed_on():
    app = guarded_app()
    answer = app.get("/v1/models", headers={"x-api-key": "ключ"})
    assert answer.status_code == 401
