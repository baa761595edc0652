"""Model "auto" end to end, on a server of two workers: round robin, session affinity, falling back.

Three models take part, each on a fake upstream process of its own (A, B, C); a fourth, marked
``"auto": false``, never does. Each request starts at the next model in turn, the cursor shared by the
workers through the store; a conversation stays on the model that last answered it while that model is
healthy. The tests choose the worker that serves each request (servers.served_by).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from .client import post
from .servers import extra_upstream, message_json, served_by, worker_pids

PATH = "/auto/v1/messages"
MODELS = {"auto-a": "model-a", "auto-b": "model-b", "auto-c": "model-c"}  # model id: upstream model
SERVER_ERROR = {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


@pytest.fixture(scope="module")
def extra_processes(tmp_path_factory, running, upstream_b_process):
    with extra_upstream(tmp_path_factory.mktemp("upstream-c"), running, "fake upstream C") as c:
        yield upstream_b_process, c


@pytest.fixture
def upstreams(upstream, extra_processes) -> dict:
    """Each auto model's fake upstream, by model id: nothing queued, no requests recorded."""
    clients = {"auto-a": upstream, "auto-b": extra_processes[0].client, "auto-c": extra_processes[1].client}
    for client in clients.values():
        client.reset()
    yield clients
    for client in clients.values():
        client.reset()


@pytest.fixture(scope="module")
def pair(start_server, upstream_process, extra_processes):
    urls = [upstream_process.client.url] + [process.client.url for process in extra_processes]
    server = start_server(
        env={"WEB_CONCURRENCY": "2"},
        upstreams=[{"name": f"up-{n}", "type": "anthropic", "base_url": url + "/auto", "api_key": f"sk-ant-{n}"}
                   for n, url in zip("abc", urls)],
        models=[
            {"id": "manual", "upstream": "up-a", "upstream_model": "manual", "auto": False},
            *({"id": model, "upstream": f"up-{model[-1]}", "upstream_model": upstream_model}
              for model, upstream_model in MODELS.items()),
        ],
        model_redirects={},
    )
    server.workers = worker_pids(server, 2)
    return server


def ask_auto(server, worker: int, session: str | None = None):
    """POST a Messages request for model "auto" to ``worker``, with an opening no other request shares."""
    headers = {"x-claude-code-session-id": session} if session else {}
    body = {"model": "auto", "max_tokens": 64, "messages": [{"role": "user", "content": uuid.uuid4().hex}]}
    with served_by(server, worker):
        exchange = post(server.url + "/v1/messages", body, headers)
        answer = exchange.json()
    assert exchange.status == 200, answer
    return exchange, answer


def queue_answers(upstreams: dict, count: int):
    for model, client in upstreams.items():
        for _ in range(count):
            client.reply_json(PATH, message_json(f"from {model}", MODELS[model]))


def test_each_request_starts_at_the_next_model_whichever_worker_serves_it(pair, upstreams):
    queue_answers(upstreams, 2)
    order = list(MODELS)

    answered = []
    for i in range(2 * len(MODELS)):
        exchange, answer = ask_auto(pair, pair.workers[i % 2])
        model = exchange.headers["x-gateway-model"]
        assert exchange.headers["x-gateway-switched"] == "0" and exchange.headers["x-gateway-attempts"] == "1"
        assert answer["content"][0]["text"] == f"from {model}"
        answered.append(model)

    assert Counter(answered) == {model: 2 for model in MODELS}
    start = order.index(answered[0])  # in turn, though the workers took turns too
    assert answered == [order[(start + i) % len(order)] for i in range(len(answered))]
    for model, client in upstreams.items():
        assert [r.json()["model"] for r in client.requests()] == [MODELS[model]] * 2  # never "manual"


def test_a_session_stays_on_its_model_while_it_is_healthy(pair, upstreams):
    queue_answers(upstreams, 6)
    session = str(uuid.uuid4())

    kept, free = [], []
    for i in range(4):
        exchange, _ = ask_auto(pair, pair.workers[i % 2], session)
        kept.append(exchange.headers["x-gateway-model"])
        exchange, _ = ask_auto(pair, pair.workers[(i + 1) % 2])  # others move the cursor on meanwhile
        free.append(exchange.headers["x-gateway-model"])
    assert len(set(kept)) == 1 and len(set(free)) > 1
    first = kept[0]

    # Its model fails: the session moves on to the next, and stays there.
    upstreams[first].reset()
    upstreams[first].reply_json(PATH, SERVER_ERROR, status=500)
    exchange, answer = ask_auto(pair, pair.workers[0], session)
    second = exchange.headers["x-gateway-model"]
    assert second != first and exchange.headers["x-gateway-switched"] == "1"
    notice = json.loads(exchange.headers["x-gateway-notice"])
    assert (notice["from"], notice["to"], notice["trigger_status"]) == (first, second, 500)
    assert answer["gateway_notice"] == notice
    for worker in pair.workers:
        exchange, _ = ask_auto(pair, worker, session)
        assert exchange.headers["x-gateway-model"] == second and exchange.headers["x-gateway-switched"] == "0"
    assert len(upstreams[first].requests()) == 1


def test_auto_falls_back_through_the_other_models_in_turn(pair, upstreams):
    for model in ("auto-a", "auto-b"):
        for _ in range(3):
            upstreams[model].reply_json(PATH, OVERLOADED, status=529)
    queue_answers({"auto-c": upstreams["auto-c"]}, 3)

    attempts = []
    for i in range(3):  # starting once at each model
        exchange, answer = ask_auto(pair, pair.workers[i % 2])
        assert exchange.headers["x-gateway-model"] == "auto-c"
        assert answer["content"][0]["text"] == "from auto-c"
        attempts.append(int(exchange.headers["x-gateway-attempts"]))

    assert sorted(attempts) == [1, 2, 3]  # from auto-c at once; from auto-b via auto-c; from auto-a via both
    assert len(upstreams["auto-a"].requests()) == 1 and len(upstreams["auto-b"].requests()) == 2
