"""Two gateway servers (as on two hosts: each its own data_dir and auth file) sharing one real redis-server:
state made on one is seen by the other, the Factory refresh token rotates once for both, and a Redis
that stops makes the servers unready and fails only the requests that need state.

redis-server is installed with apt-get when missing and started on a free port (tests/redis_server.py,
the same skip/fail rules as the nginx test: DROID2API_SKIP_REDIS=1 skips, anything else fails).
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs

import openai
import pytest

from droid2api.credentials import EXPIRY_MARGIN, jwt_claims
from tests.redis_server import start_redis
from tests.test_credentials import make_jwt

from .checks import openai_error
from .client import get, post
from .servers import ANTHROPIC_PATH, SDK_OPTIONS, message_json, routes_report

WORKOS_PATH = "/workos/user_management/authenticate"
STALE_AFTER = 6.0  # seconds until the first refreshed token counts as stale (its exp is EXPIRY_MARGIN + this away)
WAIT_LIMIT = 10.0


@pytest.fixture(scope="module")
def redis(tmp_path_factory, running):
    server = start_redis(tmp_path_factory.mktemp("redis"))
    running["redis-server"] = server
    yield server
    del running["redis-server"]
    server.stop()


@pytest.fixture(scope="module")
def stopped_at_the_end(start_server):
    """The servers this module starts, stopped when it ends: no later test should find them on a dead Redis."""
    mine = []
    yield mine
    for server in mine:
        server.stop()


@pytest.fixture(scope="module")
def pair(start_server, redis, stopped_at_the_end):
    """Two servers with ``redis_url`` in their config (the Factory key from FACTORY_API_KEY, as by default)."""
    servers = [start_server(redis_url=redis.url, breaker_failures=1, breaker_cooldown=60.0) for _ in range(2)]
    stopped_at_the_end += servers
    return servers


def sdk(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", **SDK_OPTIONS)


def test_a_previous_response_id_made_on_one_server_continues_on_the_other(pair, upstream):
    one, two = pair
    upstream.reply_json(ANTHROPIC_PATH, message_json("Paris."))
    upstream.reply_json(ANTHROPIC_PATH, message_json("About 2.1 million."))
    with sdk(one) as client:
        first = client.responses.create(model="claude-test", input="Capital of France?")
    with sdk(two) as client:
        second = client.responses.create(model="claude-test", input="Its population?", previous_response_id=first.id)
        assert client.responses.retrieve(first.id).output_text == "Paris."
    assert second.output_text == "About 2.1 million."
    sent = [r.json()["messages"] for r in upstream.requests(ANTHROPIC_PATH)]
    assert sent[1] == [
        {"role": "user", "content": [{"type": "text", "text": "Capital of France?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Paris."}]},
        {"role": "user", "content": [{"type": "text", "text": "Its population?"}]},
    ]


def test_a_breaker_tripped_on_one_server_is_open_on_the_other(pair):
    one, two = pair
    failed = post(one.url + "/v1/messages", {"model": "claude-dead", "max_tokens": 8,
                                             "messages": [{"role": "user", "content": uuid.uuid4().hex}]})
    body = failed.read()
    assert failed.status == 502, body
    seen = routes_report(two)["claude-dead"]
    assert seen["breaker"]["state"] == "open" and seen["available"] is False
    assert routes_report(two)["claude-test"]["breaker"]["state"] == "closed"


def test_a_refresh_on_one_server_is_seen_by_the_other_with_one_workos_call_each_rotation(
        start_server, redis, upstream, stopped_at_the_end):
    first = make_jwt(sub="e2e", iat=int(time.time()), exp=int(time.time() + EXPIRY_MARGIN + STALE_AFTER))
    second = make_jwt(sub="e2e", iat=int(time.time()), exp=int(time.time()) + 8 * 3600)
    upstream.reply_json(WORKOS_PATH, {"access_token": first, "refresh_token": "rt-e2e-2"})
    # The token is shared through DROID2API_REDIS_URL: droid2api/gateway.py does not yet hand the config's
    # redis_url to the credentials (see the README's Redis section).
    env = {"FACTORY_API_KEY": "", "DROID_REFRESH_KEY": "rt-e2e-1", "DROID2API_REDIS_URL": redis.url,
           "DROID2API_WORKOS_URL": upstream.url + WORKOS_PATH}
    one = start_server(env=env)  # refreshes at start
    two = start_server(env=env)  # finds the fresh token in Redis
    stopped_at_the_end += [one, two]

    def authorizations(*servers) -> list:
        for server in servers:
            upstream.reply_json(ANTHROPIC_PATH, message_json("hi"))
            exchange = post(server.url + "/v1/messages", {"model": "claude-test", "max_tokens": 8,
                                                          "messages": [{"role": "user", "content": "hi"}]})
            assert exchange.status == 200, exchange.read()
            exchange.read()
        return [r.headers["authorization"] for r in upstream.requests(ANTHROPIC_PATH)[-len(servers):]]

    assert authorizations(one, two, one) == [f"Bearer {first}"] * 3
    assert [form(r)["refresh_token"] for r in upstream.requests(WORKOS_PATH)] == ["rt-e2e-1"]

    # Once that token is stale, the first server to need it refreshes; the other adopts the result.
    upstream.reply_json(WORKOS_PATH, {"access_token": second, "refresh_token": "rt-e2e-3"})
    time.sleep(max(0.0, jwt_claims(first)["exp"] - EXPIRY_MARGIN - time.time() + 0.5))
    assert authorizations(two, one, two) == [f"Bearer {second}"] * 3
    assert [form(r)["refresh_token"] for r in upstream.requests(WORKOS_PATH)] == ["rt-e2e-1", "rt-e2e-2"]
    for server in (one, two):
        credential = get(server.url + "/health/ready").json()["credential"]
        assert credential["ready"] and credential["shared"] and credential["shared_in"].startswith(
            f"redis://127.0.0.1:{redis.port}/0")


def test_with_redis_stopped_the_servers_are_unready_and_only_state_requests_fail(pair, redis, upstream):
    one, two = pair
    redis.stop()
    try:
        ready = get(one.url + "/health/ready")
        body = ready.json()
        assert ready.status == 503 and body["status"] == "unavailable"
        assert body["reason"].startswith(f"state store redis://127.0.0.1:{redis.port}/0 unreachable: ")

        continued = post(two.url + "/v1/responses", {"model": "claude-test", "input": "More?",
                                                      "previous_response_id": "resp_from_before"})
        error = continued.json()
        assert continued.status == 503 and openai_error(error) == "service_unavailable"
        assert "state store is unavailable" in error["error"]["message"]

        upstream.reply_json(ANTHROPIC_PATH, message_json("still here"))
        served = post(two.url + "/v1/messages", {"model": "claude-test", "max_tokens": 8,
                                                 "messages": [{"role": "user", "content": "hi"}]})
        assert served.status == 200 and served.json()["content"][0]["text"] == "still here"
    finally:
        redis.start()  # same port, empty
    deadline = time.monotonic() + WAIT_LIMIT
    while get(one.url + "/health/ready").status != 200:
        assert time.monotonic() < deadline, "the server did not become ready again once Redis was back"
        time.sleep(0.1)


def form(received) -> dict:
    return {name: values[0] for name, values in parse_qs(received.body).items()}


def test_a_rate_limit_and_usage_count_across_both_servers(start_server, redis, stopped_at_the_end, upstream):
    keys = [{"name": "ops", "key": "sk-ops-shared", "admin": True},
            {"name": "alice", "key": "sk-alice-shared", "rpm": 3}]
    servers = [start_server(redis_url=redis.url, access_keys=keys) for _ in range(2)]
    stopped_at_the_end += servers
    if time.gmtime().tm_sec > 50:  # the rpm window is the UTC minute: keep all four requests inside one
        time.sleep(61 - time.gmtime().tm_sec)
    for i in range(3):
        upstream.reply_json(ANTHROPIC_PATH, message_json(f"answer {i}"))
    answers = []
    for i in range(4):  # alternating between the two servers, as a load balancer would
        exchange = post(servers[i % 2].url + "/v1/messages", {
            "model": "claude-test", "max_tokens": 8, "messages": [{"role": "user", "content": f"question {i}"}]},
            {"x-api-key": "sk-alice-shared"})
        answers.append((exchange.status, exchange.headers.get("retry-after"), exchange.read()))
    assert [status for status, _, _ in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[3][1]) <= 60 and b"rate_limit_error" in answers[3][2]
    assert len(upstream.requests(ANTHROPIC_PATH)) == 3  # the refused one never left the gateway
    deadline = time.monotonic() + WAIT_LIMIT  # each server writes its counts once a second
    while True:
        usage = get(servers[1].url + "/v1/gateway/usage", headers={"authorization": "Bearer sk-ops-shared"}).json()
        alice = [row for row in usage["data"] if row["key"] == "alice"]
        if (alice and alice[0]["requests"] == 3) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (alice[0]["requests"], alice[0]["input"], alice[0]["output"]) == (3, 36, 9)  # 3 answers: 12 in, 3 out
