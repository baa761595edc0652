"""The order of events when an attempt fails (routing/walk.py), and how the client is told (routing/notice.py)."""

from __future__ import annotations

import json

import pytest
from flask import Response

from droid2api.credentials import StaticKey
from droid2api.key_pool import Credentials
from droid2api.errors import GatewayError
from droid2api.ir import Dialect
from droid2api.policy import Policy
from droid2api.routing import Router
from droid2api.routing.notice import _first_event_noted, mark
from droid2api.routing.walk import walk
from droid2api.store import MemoryStore
from droid2api.upstream import UpstreamFailed

from .helpers import base_config, settings_for

MODELS = [
    {"id": "primary", "type": "anthropic", "fallbacks": ["second", "third"]},
    {"id": "second", "type": "openai"},
    {"id": "third", "type": "common", "auto": False},
    {"id": "pooled", "upstream": "pool"},
]
POOL = {"name": "pool", "type": "anthropic", "base_url": "https://pool.test", "api_keys": ["k1", "k2", "k3"]}


def make_router(**overrides):
    settings = settings_for(base_config(models=MODELS, upstreams=[POOL], **overrides))
    credentials = Credentials(StaticKey(["fk"], "FACTORY_API_KEY"), {})
    return Router(settings, Policy(settings), credentials, MemoryStore(), environ={})


def failed(status, message="boom", headers=None, answered=True):
    return UpstreamFailed(status, message, upstream="u", raw=b'{"error":"x"}' if answered else None,
                          headers=headers or {}, dialect=Dialect.CHAT)


class Script:
    """attempt(route): raises or answers what the test scripted for that model, in order; records each try."""

    def __init__(self, **outcomes):
        self.outcomes = {model: list(steps) for model, steps in outcomes.items()}
        self.tried = []

    def __call__(self, route):
        self.tried.append((route.model.id, route.key.secret))
        outcome = self.outcomes[route.model.id].pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return Response(json.dumps({"answer": route.model.id}), content_type="application/json")


def run(router, requested, script, *, recalled=None, dialect=Dialect.CHAT):
    rendered = []

    def render(failure):
        rendered.append(failure)
        return Response(failure.raw, status=failure.status, content_type="application/json")

    recalled = recalled or {}
    response = walk(router, router.candidates(requested, recalled.get("model")), conversation="c1", recalled=recalled,
                    client_key=None, attempt=script, render_failure=render, dialect=dialect)
    return response, rendered


def test_a_retryable_status_moves_to_the_next_fallback_and_the_client_is_told():
    router = make_router()
    script = Script(primary=[failed(529, "Overloaded")], second=[failed(500)], third=["ok"])
    response, _ = run(router, "primary", script)
    assert [model for model, _ in script.tried] == ["primary", "second", "third"]
    assert json.loads(response.get_data())["answer"] == "third"
    assert (response.headers["x-gateway-attempts"], response.headers["x-gateway-switched"],
            response.headers["x-gateway-model"]) == ("3", "1", "third")
    notice = json.loads(response.get_data())["gateway_notice"]
    assert notice == json.loads(response.headers["x-gateway-notice"])
    assert (notice["from"], notice["to"], notice["trigger_status"], notice["reason"]) == \
        ("primary", "third", 529, "Overloaded")


def test_a_client_error_goes_back_at_once_as_the_upstream_wrote_it():
    router = make_router()
    script = Script(primary=[failed(400, "bad")])
    response, rendered = run(router, "primary", script)
    assert response.status_code == 400 and rendered[0].status == 400 and len(script.tried) == 1
    assert response.headers["x-gateway-switched"] == "0"


def test_when_every_route_fails_the_client_gets_the_last_failure():
    router = make_router()
    script = Script(primary=[failed(503)], second=[failed(502, answered=False)], third=[failed(500, "last")])
    response, rendered = run(router, "primary", script)
    assert response.status_code == 500 and rendered[-1].message == "last"
    assert response.headers["x-gateway-attempts"] == "3"


def test_no_answer_at_all_is_raised_in_the_clients_dialect_with_the_headers():
    router = make_router(fallbacks=[])
    router.settings.model("primary").fallbacks = []
    with pytest.raises(GatewayError) as raised:
        run(router, "primary", Script(primary=[failed(504, "did not answer", answered=False)]))
    assert raised.value.status == 504 and raised.value.headers["x-gateway-attempts"] == "1"


def test_pool_keys_park_rest_and_the_next_key_serves():
    router = make_router()
    script = Script(pooled=[failed(401, "invalid key"), failed(429, headers={"retry-after": "5"}), "ok"])
    response, _ = run(router, "pooled", script)
    assert response.status_code == 200 and response.headers["x-gateway-switched"] == "0"
    assert [secret for _, secret in script.tried] == ["k2", "k3", "k1"]  # the pool's cursor starts at its next key
    script = Script(pooled=["ok"])
    run(router, "pooled", script)
    assert script.tried == [("pooled", "k1")]  # k2 parked, k3 resting


def test_everything_skipped_is_a_429_with_retry_after_when_only_rate_limits_stand_in_the_way():
    router = make_router()
    for secret in ("k1", "k2", "k3"):
        key = next(k for k in router.credentials.keys(router.candidates("pooled")[0], None) if k.secret == secret)
        router.keys.rest("pool", "pooled", key, {"retry-after": "9"}, "slow down")
    with pytest.raises(GatewayError) as raised:
        run(router, "pooled", Script())
    assert raised.value.status == 429 and raised.value.headers["Retry-After"] in ("9", "10")
    assert "resting" in raised.value.message and raised.value.headers["x-gateway-attempts"] == "0"


def test_an_open_breaker_skips_the_route_and_the_fallback_says_so():
    router = make_router(breaker_failures=1)
    run(router, "primary", Script(primary=[failed(500)], second=["ok"]))
    script = Script(second=["ok"])
    response, _ = run(router, "primary", script)
    assert script.tried == [("second", "fk")]  # primary was not even tried
    notice = json.loads(response.headers["x-gateway-notice"])
    assert notice["trigger_status"] == 503 and "circuit breaker open" in notice["reason"]


def test_max_attempts_bounds_the_walk():
    router = make_router(max_attempts=2)
    script = Script(primary=[failed(500)], second=[failed(500)], third=["never"])
    response, _ = run(router, "primary", script)
    assert len(script.tried) == 2 and response.status_code == 500


def test_auto_takes_every_model_in_turn_except_those_marked_out():
    router = make_router()
    starts = []
    for _ in range(6):
        script = Script(primary=["ok"], second=["ok"], pooled=["ok"])
        run(router, "auto", script)
        starts.append(script.tried[0][0])
    assert starts == ["primary", "second", "pooled"] * 2
    script = Script(second=["ok"])
    run(router, "auto", script, recalled={"model": "second"})  # the conversation's model first
    assert script.tried[0][0] == "second"


def test_auto_falls_back_through_the_other_candidates():
    router = make_router()
    script = Script(primary=[failed(529)], second=[failed(529)], pooled=["ok"])
    response, _ = run(router, "auto", script)
    assert response.headers["x-gateway-model"] == "pooled"


# -- the notice in a stream ----------------------------------------------------------------------------------


def noted(chunks, dialect):
    return b"".join(_first_event_noted(iter(chunks), {"type": "gateway_notice"}, dialect))


def test_the_notice_rides_on_the_first_data_event_even_when_it_arrives_in_pieces():
    stream = [b": keep-alive\n\ndata: {\"id\":", b"\"c1\"}\n\n", b"data: {\"id\":\"c2\"}\n\ndata: [DONE]\n\n"]
    out = noted(stream, Dialect.CHAT)
    assert out.startswith(b': keep-alive\n\ndata: {"id":"c1","gateway_notice":{"type":"gateway_notice"}}\n\n')
    assert out.endswith(b'data: {"id":"c2"}\n\ndata: [DONE]\n\n')


def test_anthropic_carries_the_notice_inside_message_start_s_message():
    stream = [b'event: message_start\r\ndata: {"type":"message_start","message":{"id":"m"}}\r\n\r\n']
    out = noted(stream, Dialect.ANTHROPIC)
    assert b'"message":{"id":"m","gateway_notice":{"type":"gateway_notice"}}' in out and out.endswith(b"\r\n\r\n")


def test_a_stream_that_never_completes_an_event_is_relayed_unchanged():
    assert noted([b"data: {\"unfinished"], Dialect.CHAT) == b"data: {\"unfinished"


def test_mark_leaves_error_bodies_and_unswitched_answers_alone():
    error = Response(b'{"error":{}}', status=500, content_type="application/json")
    mark(error, attempts=2, model="m", notice_={"type": "gateway_notice"}, dialect=Dialect.CHAT)
    assert error.get_data() == b'{"error":{}}'
    plain = Response(b'{"id":1}', content_type="application/json")
    mark(plain, attempts=1, model="m", notice_=None, dialect=Dialect.CHAT)
    assert plain.get_data() == b'{"id":1}' and "x-gateway-notice" not in plain.headers


def test_auto_is_listed_while_it_has_candidates_and_a_404_without_them():
    router = make_router()
    assert [m.id for m in router.listed_models()][-1] == "auto"
    for model in router.settings.models:
        model.auto = False
    assert "auto" not in [m.id for m in router.listed_models()]
    with pytest.raises(GatewayError) as raised:
        router.candidates("auto")
    assert raised.value.status == 404 and "auto" in raised.value.message


def test_a_rate_limit_on_a_clients_own_key_moves_on_without_blaming_the_route():
    router = make_router(breaker_failures=1)
    router.credentials = Credentials(None, {})  # no server credential: the client's own key is used
    script = Script(primary=[failed(429)], second=["ok"])
    walk(router, router.candidates("primary"), conversation=None, recalled={}, client_key="sk-client",
         attempt=script, render_failure=None, dialect=Dialect.CHAT)
    assert router.breakers.state(router.candidates("primary")[0].id)["state"] == "closed"
    assert script.tried == [("primary", "sk-client"), ("second", "sk-client")]


def test_a_fallback_after_a_resting_key_names_the_rate_limit_as_its_trigger():
    router = make_router()
    router.settings.model("pooled").fallbacks = ["second"]
    pool = router.credentials.keys(router.candidates("pooled")[0], None)
    for key in pool:
        router.keys.rest("pool", "pooled", key, {"retry-after": "30"}, "slow down")
    response, _ = run(router, "pooled", Script(second=["ok"]))
    notice = json.loads(response.headers["x-gateway-notice"])
    assert notice["trigger_status"] == 429 and "resting" in notice["reason"]
