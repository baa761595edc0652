"""Named access keys' limits (droid2api/limits.py): the model allow-list (403), rpm, tpm and daily_tokens (429
with Retry-After), each answered in the client's dialect; plain keys and no keys at all have no limits."""

from __future__ import annotations

import pytest
import responses

from droid2api.limits import Limits, may_use
from droid2api.store import MemoryStore, StoreError

from .helpers import FACTORY_ENDPOINTS, app_for, base_config, recorded

# One recorded Anthropic answer serves every front (converted for all but Messages): 445 input, 23 output tokens.
ANSWER = recorded("anthropic__test_anthropic_tool_output.0.response.json")
ANSWER_TOKENS = 445 + 23
MINUTE_START = 1_800_000_000 - 1_800_000_000 % 86400 + 3600  # 01:00:00 UTC on some day
NOW = MINUTE_START + 20.5  # 39.5 s before the minute ends: Retry-After 40
FRONTS = {  # front -> (path, body) asking for ``model``
    "chat": ("/v1/chat/completions", lambda model: {"model": model, "messages": [{"role": "user", "content": "hi"}]}),
    "messages": ("/v1/messages", lambda model: {"model": model, "max_tokens": 10,
                                                "messages": [{"role": "user", "content": "hi"}]}),
    "responses": ("/v1/responses", lambda model: {"model": model, "input": "hi", "store": False}),
    "gemini": ("/v1beta/models/{model}:generateContent", lambda model: {"contents": [{"role": "user",
                                                                                      "parts": [{"text": "hi"}]}]}),
}


def limited_app(**key):
    """An app with one named key ``alice`` (``key`` adds its limits), a plain key, and the clock at NOW."""
    config = base_config(access_keys=[{"name": "alice", "key": "sk-alice", **key}, "sk-plain"],
                         model_redirects={"claude-alias": "claude-test"})
    app = app_for(config)
    gateway = app.extensions["droid2api"]
    gateway.limits.clock = gateway.usage.clock = lambda: clock.now
    clock.now = NOW
    return app.test_client()


class clock:
    now = NOW


def ask(http, front: str, model: str = "claude-test", key: str = "sk-alice"):
    """(status, headers, JSON body) of one request, finished as a WSGI server finishes it (sinks run)."""
    path, body = FRONTS[front]
    with http.open(path.format(model=model), method="POST", json=body(model), headers={"x-api-key": key}) as answer:
        return answer.status_code, answer.headers, answer.get_json()


def error_of(front: str, body: dict) -> tuple:
    """(kind, message) of an error body in ``front``'s shape, checking that shape."""
    if front == "messages":
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
        return body["error"]["type"], body["error"]["message"]
    if front == "gemini":
        assert set(body["error"]) == {"code", "message", "status"}
        return body["error"]["status"], body["error"]["message"]
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]["type"], body["error"]["message"]


@pytest.fixture
def upstream():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, FACTORY_ENDPOINTS["anthropic"], body=ANSWER, content_type="application/json")
        yield mock


def test_plain_keys_and_named_keys_without_limits_are_not_limited(upstream):
    http = limited_app()
    for _ in range(5):
        assert ask(http, "messages", key="sk-plain")[0] == 200
        assert ask(http, "chat", model="claude-alias", key="sk-alice")[0] == 200


def test_without_access_keys_nothing_is_limited(upstream):
    http = app_for().test_client()
    for _ in range(3):
        with http.open("/v1/messages", method="POST", json=FRONTS["messages"][1]("claude-test")) as answer:
            assert answer.status_code == 200


@pytest.mark.parametrize("front", FRONTS)
def test_a_model_off_the_keys_list_is_403_in_the_clients_dialect(upstream, front):
    http = limited_app(models=["gemini-test", "claude-*"])
    status, _, body = ask(http, front, model="gpt-test")
    assert status == 403
    kind, message = error_of(front, body)
    assert kind == ("PERMISSION_DENIED" if front == "gemini" else "permission_error")
    assert message == "key 'alice' may not use model 'gpt-test'"
    assert len(upstream.calls) == 0
    assert ask(http, front, model="claude-test")[0] == 200  # by a glob


@pytest.mark.parametrize("models, requested, allowed", [
    (["claude-test"], "claude-test", True),
    (["claude-test"], "claude-alias", True),  # a redirect to an allowed id
    (["claude-alias"], "claude-alias", True),  # the name asked for
    (["claude-t?st"], "claude-test", True),
    (["gpt-*"], "claude-test", False),
    (["claude-test"], "auto", False),  # "auto" may pick any model: it must be allowed itself
    (["auto"], "auto", True),
    (["*"], "auto", True),
])
def test_the_allow_list_matches_the_name_asked_for_or_the_id_it_means(upstream, models, requested, allowed):
    http = limited_app(models=models)
    assert ask(http, "messages", model=requested)[0] == (200 if allowed else 403)


def test_token_counts_are_held_to_the_model_list_but_not_counted(upstream):
    upstream.add(responses.POST, FACTORY_ENDPOINTS["anthropic"] + "/count_tokens", json={"input_tokens": 3})
    http = limited_app(models=["claude-test"], rpm=1)
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    with http.open("/v1/messages/count_tokens", method="POST", json=body, headers={"x-api-key": "sk-alice"}) as a:
        assert a.status_code == 403
    for _ in range(3):
        with http.open("/v1/messages/count_tokens", method="POST", json={**body, "model": "claude-test"},
                       headers={"x-api-key": "sk-alice"}) as answer:
            assert answer.status_code == 200
    assert ask(http, "messages")[0] == 200  # the one request of the minute


@pytest.mark.parametrize("front", FRONTS)
def test_rpm_the_429_comes_exactly_at_the_limit_plus_one_with_retry_after(upstream, front):
    http = limited_app(rpm=3)
    assert [ask(http, front)[0] for _ in range(3)] == [200, 200, 200]
    status, headers, body = ask(http, front)
    assert status == 429
    assert headers["Retry-After"] == "40"
    kind, message = error_of(front, body)
    assert kind == ("RESOURCE_EXHAUSTED" if front == "gemini" else "rate_limit_error")
    assert message == "key 'alice' is over its limit of 3 requests per minute; retry in 40 s"
    assert len(upstream.calls) == 3
    assert ask(http, front, key="sk-plain")[0] == 200  # another key is not affected
    clock.now = MINUTE_START + 60  # the next minute: a new window
    assert ask(http, front)[0] == 200


@pytest.mark.parametrize("front", FRONTS)
def test_tpm_refuses_once_the_answers_of_the_minute_reach_the_limit(upstream, front):
    http = limited_app(tpm=2 * ANSWER_TOKENS)
    assert ask(http, front)[0] == 200
    assert ask(http, front)[0] == 200  # under the limit when it arrived; it reaches it
    status, headers, body = ask(http, front)
    assert (status, headers["Retry-After"]) == (429, "40")
    assert error_of(front, body)[1] == \
        f"key 'alice' is over its limit of {2 * ANSWER_TOKENS} tokens per minute; retry in 40 s"
    clock.now = MINUTE_START + 61
    assert ask(http, front)[0] == 200


@pytest.mark.parametrize("front", FRONTS)
def test_daily_tokens_refuse_until_the_next_utc_day(upstream, front):
    http = limited_app(daily_tokens=ANSWER_TOKENS + 1, tpm=10 * ANSWER_TOKENS)
    assert ask(http, front)[0] == 200
    clock.now = MINUTE_START + 600  # another minute, the same day
    assert ask(http, front)[0] == 200  # 1 token left: served, and it crosses the limit
    clock.now = MINUTE_START + 1200
    status, headers, body = ask(http, front)
    day_end = MINUTE_START - 3600 + 86400
    assert (status, headers["Retry-After"]) == (429, str(day_end - clock.now))
    assert "tokens per day (UTC)" in error_of(front, body)[1]
    clock.now = day_end
    assert ask(http, front)[0] == 200


def test_an_unavailable_store_refuses_a_limited_key_with_503_and_nobody_else(upstream):
    http = limited_app(rpm=5)
    gateway = http.application.extensions["droid2api"]

    class Broken(MemoryStore):
        def increment(self, *args, **kwargs):
            raise StoreError("disk I/O error")

    gateway.limits.store = Broken()
    status, _, body = ask(http, "messages")
    assert status == 503 and "cannot be checked now" in body["error"]["message"]
    assert ask(http, "messages", key="sk-plain")[0] == 200


def test_the_counters_name_the_key_never_the_key_itself(upstream):
    http = limited_app(rpm=5, tpm=10_000, daily_tokens=100_000)
    assert ask(http, "chat")[0] == 200
    store = http.application.extensions["droid2api"].limits.store
    http.application.extensions["droid2api"].usage.flush()
    for namespace in ("limits", "usage", "usage.index"):
        entries = store.items(namespace)
        assert entries and all("alice" in key for key in entries)
        assert not any("sk-alice" in key or b"sk-alice" in value for key, value in entries.items())


def test_may_use():
    assert may_use(None, {"anything"})
    assert may_use(["a-*"], {"x", "a-1"}) and not may_use(["a-*"], {"b-1"}) and not may_use([], {"a"})


def test_windows_are_fixed_utc_minutes_counted_in_the_store():
    store = MemoryStore(clock=lambda: clock.now)
    from droid2api.config import ClientKey

    key = ClientKey(name="bob", sha256="0" * 64, rpm=1)
    router = type("R", (), {"is_auto": lambda self, m: False,
                            "policy": type("P", (), {"redirect": lambda self, m: m})()})()
    limits = Limits([key], router, store, clock=lambda: clock.now)
    clock.now = MINUTE_START + 59.9
    limits.admit(key, "m")
    with pytest.raises(Exception) as refused:
        limits.admit(key, "m")
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "1"}
    clock.now = MINUTE_START + 60
    limits.admit(key, "m")  # a fixed window: the next minute starts afresh
