"""Circuit breakers and key pools end to end: what a failing route or a refused key does to the next requests.

A breaker per route opens after ``breaker_failures`` consecutive failures: the route is skipped, its
upstream hears nothing, until the cooldown is over and one probe closes it (or opens it again, for
twice as long). A key answered 401 is parked for every model, 403 for that model, until the config
reloads. The state lives in the store, so two workers of one server agree on it: the tests choose the
worker that serves each request (servers.served_by).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from droid2api.credentials import fingerprint

from .checks import anthropic_error
from .client import get, last_event, post
from .servers import fresh, message_json, message_sse, routes_report, served_by, worker_pids

KEYS = ("sk-ant-pool-first", "sk-ant-pool-second")
FLAKY_KEY = "sk-ant-flaky"
FLAKY_PATH = "/flaky/v1/messages"  # on A
KEYS_PATH = "/keys/v1/messages"  # on A
STEADY_PATH = "/steady/v1/messages"  # on B
SERVER_ERROR = {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}
RATE_LIMITED = {"type": "error", "error": {"type": "rate_limit_error", "message": "Too many requests"}}
UNAUTHORIZED = {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
FORBIDDEN = {"type": "error", "error": {"type": "permission_error", "message": "no access to this model"}}
COOLDOWN = 1.0
WAIT_LIMIT = 5.0


@pytest.fixture
def steady(upstream_b_process):
    """Fake upstream B, where the fallback is: nothing queued, no requests recorded."""
    yield from fresh(upstream_b_process)


def routing_config(a: str, b: str) -> dict:
    return {
        "upstreams": [
            {"name": "a-flaky", "type": "anthropic", "base_url": a + "/flaky", "api_key": FLAKY_KEY},
            {"name": "a-keys", "type": "anthropic", "base_url": a + "/keys", "api_keys": list(KEYS)},
            {"name": "b-steady", "type": "anthropic", "base_url": b + "/steady", "api_key": "sk-ant-steady"},
        ],
        "models": [
            {"id": "flaky", "upstream": "a-flaky", "fallbacks": ["steady"]},
            {"id": "keyed", "upstream": "a-keys", "upstream_model": "keyed-one", "fallbacks": ["steady"]},
            {"id": "keyed-two", "upstream": "a-keys", "upstream_model": "keyed-two", "fallbacks": ["steady"]},
            {"id": "steady", "upstream": "b-steady"},
        ],
        "model_redirects": {},
        "breaker_failures": 2, "breaker_cooldown": COOLDOWN, "breaker_max_cooldown": 8.0,
        "first_byte_timeout": 0.5, "idle_timeout": 0.5, "read_timeout": 10.0,
    }


@pytest.fixture(scope="module")
def routed(start_server, upstream_process, upstream_b_process):
    return start_server(**routing_config(upstream_process.client.url, upstream_b_process.client.url))


@pytest.fixture(scope="module")
def pair(start_server, upstream_process, upstream_b_process):
    """The same config on a server of two workers."""
    server = start_server(env={"WEB_CONCURRENCY": "2"},
                          **routing_config(upstream_process.client.url, upstream_b_process.client.url))
    server.workers = worker_pids(server, 2)
    return server


def ask(server, model: str, stream: bool = False):
    """POST a Messages request whose opening no other request shares (no conversation affinity)."""
    body = {"model": model, "max_tokens": 64, "stream": stream,
            "messages": [{"role": "user", "content": f"Say hello ({uuid.uuid4().hex[:8]})"}]}
    return post(server.url + "/v1/messages", body)


def answered_by(exchange, model: str, switched: bool) -> dict | None:
    """Check a 200 answered by ``model``; the notice if it was a fallback's."""
    body = exchange.read()  # first: a failed check must not leave the connection open (a reload waits for it)
    assert exchange.status == 200, body
    assert exchange.headers["x-gateway-model"] == model, body
    assert exchange.headers["x-gateway-switched"] == ("1" if switched else "0")
    return json.loads(exchange.headers["x-gateway-notice"]) if switched else None


def breaker(server, model: str) -> dict:
    return routes_report(server)[model]["breaker"]


def pool_keys(server, model: str) -> dict:
    return {key["fingerprint"]: key for key in routes_report(server)[model]["keys"]}


def wait_for_half_open(server, model: str):
    deadline = time.monotonic() + WAIT_LIMIT
    while breaker(server, model)["state"] != "half_open":
        assert time.monotonic() < deadline, f"the breaker of {model} is still open {WAIT_LIMIT:g}s later"
        time.sleep(0.05)


def trip(server, upstream, steady, served=contextlib.nullcontext):
    """Open the breaker of "flaky" with two 500s (each answered by the fallback)."""
    for _ in range(2):
        upstream.reply_json(FLAKY_PATH, SERVER_ERROR, status=500)
        steady.reply_json(STEADY_PATH, message_json("steady"))
        with served():
            answered_by(ask(server, "flaky"), "steady", switched=True)


# -- circuit breakers ---------------------------------------------------------------------------------


def test_the_breaker_opens_after_consecutive_failures_and_the_route_is_skipped(routed, upstream, steady):
    upstream.reply_json(FLAKY_PATH, SERVER_ERROR, status=500)
    steady.reply_json(STEADY_PATH, message_json("steady"))
    answered_by(ask(routed, "flaky"), "steady", switched=True)
    assert breaker(routed, "flaky") == {"state": "closed", "consecutive_failures": 1}

    upstream.reply_json(FLAKY_PATH, SERVER_ERROR, status=500)
    steady.reply_json(STEADY_PATH, message_json("steady"))
    answered_by(ask(routed, "flaky"), "steady", switched=True)
    report = routes_report(routed)["flaky"]
    assert report["breaker"]["state"] == "open" and report["breaker"]["trips"] == 1
    assert 0 < report["breaker"]["retry_in"] <= COOLDOWN
    assert "Internal server error" in report["breaker"]["reason"]
    assert report["available"] is False

    for _ in range(3):  # skipped without a call: the upstream hears nothing
        steady.reply_json(STEADY_PATH, message_json("steady"))
        exchange = ask(routed, "flaky")
        notice = answered_by(exchange, "steady", switched=True)
        assert exchange.headers["x-gateway-attempts"] == "1"
        assert notice["trigger_status"] == 503 and "circuit breaker open" in notice["reason"]
    assert len(upstream.requests(FLAKY_PATH)) == 2
    assert len(steady.requests()) == 5

    ready = get(routed.url + "/health/ready").json()
    flaky = next(route for route in ready["routes"] if route["model"] == "flaky")
    assert ready["status"] == "ready" and flaky["available"] is False


def test_after_the_cooldown_one_probe_closes_the_breaker(routed, upstream, steady):
    trip(routed, upstream, steady)
    wait_for_half_open(routed, "flaky")

    upstream.reply_json(FLAKY_PATH, message_json("the probe"))
    exchange = ask(routed, "flaky")
    assert answered_by(exchange, "flaky", switched=False) is None
    assert exchange.headers["x-gateway-attempts"] == "1"
    assert breaker(routed, "flaky") == {"state": "closed", "consecutive_failures": 0}

    upstream.reply_json(FLAKY_PATH, message_json("closed again"))
    answered_by(ask(routed, "flaky"), "flaky", switched=False)
    assert len(upstream.requests(FLAKY_PATH)) == 4 and len(steady.requests()) == 2


def test_a_failed_probe_opens_the_breaker_for_twice_as_long(routed, upstream, steady):
    trip(routed, upstream, steady)
    wait_for_half_open(routed, "flaky")

    upstream.reply_json(FLAKY_PATH, SERVER_ERROR, status=500)
    steady.reply_json(STEADY_PATH, message_json("steady"))
    answered_by(ask(routed, "flaky"), "steady", switched=True)

    state = breaker(routed, "flaky")
    assert state["state"] == "open" and state["trips"] == 2
    assert COOLDOWN < state["retry_in"] <= 2 * COOLDOWN  # one failure was enough: a probe gets one chance


def test_only_one_request_probes_a_half_open_breaker(routed, upstream, steady):
    trip(routed, upstream, steady)
    wait_for_half_open(routed, "flaky")
    held = upstream.reply_json(FLAKY_PATH, message_json("the probe"), hold_at=0)

    with ThreadPoolExecutor(1) as pool:
        probe = pool.submit(ask, routed, "flaky")
        deadline = time.monotonic() + WAIT_LIMIT
        while held.state != "holding":
            assert time.monotonic() < deadline, "the probe never reached the upstream"
            time.sleep(0.02)
        steady.reply_json(STEADY_PATH, message_json("steady"))
        notice = answered_by(ask(routed, "flaky"), "steady", switched=True)  # while the probe is out
        held.release()
        answered_by(probe.result(timeout=WAIT_LIMIT), "flaky", switched=False)

    assert "another request is probing it" in notice["reason"]
    assert len(upstream.requests(FLAKY_PATH)) == 3  # two failures and the one probe
    assert breaker(routed, "flaky")["state"] == "closed"


def test_a_probe_met_by_a_rate_limit_lets_the_next_request_probe_once_the_key_has_rested(routed, upstream, steady):
    trip(routed, upstream, steady)
    wait_for_half_open(routed, "flaky")
    upstream.reply_json(FLAKY_PATH, RATE_LIMITED, status=429, headers={"retry-after": "1"})
    steady.reply_json(STEADY_PATH, message_json("steady"))
    assert answered_by(ask(routed, "flaky"), "steady", switched=True)["trigger_status"] == 429

    deadline = time.monotonic() + WAIT_LIMIT
    while pool_keys(routed, "flaky")[fingerprint(FLAKY_KEY)]["resting_for_models"]:
        assert time.monotonic() < deadline, "the key still rests long after its Retry-After of 1s"
        time.sleep(0.05)
    upstream.reply_json(FLAKY_PATH, message_json("the probe"))
    steady.reply_json(STEADY_PATH, message_json("steady"))
    answered_by(ask(routed, "flaky"), "flaky", switched=False)  # not "another request is probing it"
    assert breaker(routed, "flaky")["state"] == "closed"


def test_a_model_with_no_route_left_is_answered_503_with_retry_after(routed, upstream, steady):
    for _ in range(2):  # "steady" has no fallback: its own failures reach the client
        steady.reply_json(STEADY_PATH, SERVER_ERROR, status=500)
        exchange = ask(routed, "steady")
        assert exchange.status == 500 and exchange.json() == SERVER_ERROR

    exchange = ask(routed, "steady")

    assert exchange.status == 503
    assert exchange.headers["retry-after"] == "1"
    assert exchange.headers["x-gateway-attempts"] == "0" and exchange.headers["x-gateway-switched"] == "0"
    body = exchange.json()
    assert anthropic_error(body) and "circuit breaker open" in body["error"]["message"]
    assert len(steady.requests()) == 2


def test_a_model_whose_only_key_rests_is_answered_429_with_retry_after(routed, upstream, steady):
    steady.reply_json(STEADY_PATH, RATE_LIMITED, status=429, headers={"retry-after": "30"})
    exchange = ask(routed, "steady")
    assert exchange.status == 429 and exchange.headers["retry-after"] == "30"  # the upstream's own answer
    assert exchange.json() == RATE_LIMITED

    exchange = ask(routed, "steady")

    assert exchange.status == 429
    assert 25 <= int(exchange.headers["retry-after"]) <= 30
    body = exchange.json()
    assert anthropic_error(body) == "rate_limit_error" and "resting" in body["error"]["message"]
    assert len(steady.requests()) == 1


def test_a_stream_that_breaks_after_its_first_byte_counts_against_the_breaker(routed, upstream, steady):
    upstream.reply_sse(FLAKY_PATH, message_sse("half"), drop_after=2)
    exchange = ask(routed, "flaky", stream=True)
    assert exchange.headers["x-gateway-model"] == "flaky"
    assert last_event(exchange.read())[0] == "error"
    assert breaker(routed, "flaky") == {"state": "closed", "consecutive_failures": 1}

    upstream.reply_json(FLAKY_PATH, SERVER_ERROR, status=500)
    steady.reply_json(STEADY_PATH, message_json("steady"))
    answered_by(ask(routed, "flaky"), "steady", switched=True)
    assert breaker(routed, "flaky")["state"] == "open"


# -- key pools ------------------------------------------------------------------------------------------


def test_a_key_answered_401_is_parked_and_never_sent_again(routed, upstream, steady):
    upstream.reply_json(KEYS_PATH, UNAUTHORIZED, status=401)
    upstream.reply_json(KEYS_PATH, message_json("the other key"))

    exchange = ask(routed, "keyed")

    assert answered_by(exchange, "keyed", switched=False) is None
    assert exchange.headers["x-gateway-attempts"] == "2"
    refused, serving = [r.headers["x-api-key"] for r in upstream.requests(KEYS_PATH)]
    assert {refused, serving} == set(KEYS)
    keys = pool_keys(routed, "keyed")
    assert keys[fingerprint(refused)]["parked"] == {"status": 401, "reason": "invalid x-api-key"}
    assert keys[fingerprint(serving)]["parked"] is None

    upstream.reset()
    for model in ("keyed", "keyed-two", "keyed", "keyed-two"):  # parked for every model of the upstream
        upstream.reply_json(KEYS_PATH, message_json("the other key"))
        answered_by(ask(routed, model), model, switched=False)
    assert [r.headers["x-api-key"] for r in upstream.requests()] == [serving] * 4
    assert steady.requests() == []


def test_a_key_answered_403_is_parked_for_that_model_only(routed, upstream, steady):
    upstream.reply_json(KEYS_PATH, FORBIDDEN, status=403)
    upstream.reply_json(KEYS_PATH, message_json("the other key"))
    answered_by(ask(routed, "keyed"), "keyed", switched=False)
    refused, serving = [r.headers["x-api-key"] for r in upstream.requests(KEYS_PATH)]
    assert pool_keys(routed, "keyed")[fingerprint(refused)]["parked_for_models"] == \
        {"keyed-one": "no access to this model"}

    upstream.reset()
    for model in ("keyed", "keyed", "keyed-two", "keyed-two"):  # the pool's keys are taken in turn
        upstream.reply_json(KEYS_PATH, message_json("served"))
        answered_by(ask(routed, model), model, switched=False)
    sent = [(r.json()["model"], r.headers["x-api-key"]) for r in upstream.requests()]
    assert sent[:2] == [("keyed-one", serving)] * 2
    assert {key for model, key in sent[2:]} == set(KEYS)  # the other model still gets the refused key


def test_when_every_key_is_parked_the_model_falls_back(routed, upstream, steady):
    upstream.reply_json(KEYS_PATH, UNAUTHORIZED, status=401)
    upstream.reply_json(KEYS_PATH, UNAUTHORIZED, status=401)
    steady.reply_json(STEADY_PATH, message_json("steady"))

    exchange = ask(routed, "keyed")
    notice = answered_by(exchange, "steady", switched=True)
    assert exchange.headers["x-gateway-attempts"] == "3"
    assert notice["trigger_status"] == 401

    steady.reply_json(STEADY_PATH, message_json("steady"))
    notice = answered_by(ask(routed, "keyed"), "steady", switched=True)
    assert "parked" in notice["reason"]
    assert len(upstream.requests()) == 2
    assert routes_report(routed)["keyed"]["available"] is False


def test_parked_keys_are_tried_again_after_the_config_reloads(routed, upstream, steady):
    upstream.reply_json(KEYS_PATH, UNAUTHORIZED, status=401)
    upstream.reply_json(KEYS_PATH, message_json("the other key"))
    answered_by(ask(routed, "keyed"), "keyed", switched=False)
    refused = upstream.requests()[0].headers["x-api-key"]

    before = set(worker_pids(routed, 1))
    os.kill(routed.process.pid, signal.SIGHUP)  # gunicorn reloads: new config generation, new workers
    routed.wait_until(lambda: not before & set(worker_pids(routed, 1)), "replace its worker after SIGHUP")
    assert pool_keys(routed, "keyed")[fingerprint(refused)]["parked"] is None

    upstream.reset()
    for _ in range(2):
        upstream.reply_json(KEYS_PATH, message_json("served"))
        answered_by(ask(routed, "keyed"), "keyed", switched=False)
    assert {r.headers["x-api-key"] for r in upstream.requests()} == set(KEYS)


# -- two workers of one server ----------------------------------------------------------------------------


def test_two_workers_share_the_breaker(pair, upstream, steady):
    first, second = pair.workers
    trip(pair, upstream, steady, lambda: served_by(pair, first))  # both failures on one worker...
    for worker in (second, first, second):  # ...and each worker skips the route
        steady.reply_json(STEADY_PATH, message_json("steady"))
        with served_by(pair, worker):
            notice = answered_by(ask(pair, "flaky"), "steady", switched=True)
        assert "circuit breaker open" in notice["reason"]
    assert len(upstream.requests(FLAKY_PATH)) == 2

    wait_for_half_open(pair, "flaky")
    upstream.reply_json(FLAKY_PATH, message_json("the probe"))
    with served_by(pair, second):  # the other worker's probe closes it for both
        answered_by(ask(pair, "flaky"), "flaky", switched=False)
    upstream.reply_json(FLAKY_PATH, message_json("closed"))
    with served_by(pair, first):
        answered_by(ask(pair, "flaky"), "flaky", switched=False)


def test_two_workers_count_failures_together(pair, upstream, steady):
    first, second = pair.workers
    workers = iter((first, second))
    trip(pair, upstream, steady, lambda: served_by(pair, next(workers)))  # one failure on each worker
    assert breaker(pair, "flaky")["state"] == "open"


def test_two_workers_share_parked_keys(pair, upstream, steady):
    first, second = pair.workers
    upstream.reply_json(KEYS_PATH, UNAUTHORIZED, status=401)
    upstream.reply_json(KEYS_PATH, message_json("the other key"))
    with served_by(pair, first):
        answered_by(ask(pair, "keyed"), "keyed", switched=False)
    refused, serving = [r.headers["x-api-key"] for r in upstream.requests()]

    upstream.reset()
    for worker in (second, second, first):
        upstream.reply_json(KEYS_PATH, message_json("served"))
        with served_by(pair, worker):
            answered_by(ask(pair, "keyed"), "keyed", switched=False)
    assert [r.headers["x-api-key"] for r in upstream.requests()] == [serving] * 3
