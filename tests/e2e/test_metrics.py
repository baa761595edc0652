"""GET /metrics on a gunicorn server of two workers: every worker counted, the counts exact.

A scripted mix of requests goes to each worker in turn (servers.served_by): relayed and converted,
streamed and not, an upstream error and a fallback, plus a stream held open on one worker while the
other one is scraped. Whichever worker serves the scrape, the counts add up to what was sent, the
tokens to what the fake upstream reported, and the open streams come back to 0; a worker killed and
replaced takes none of the counts with it.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .client import get, post
from .servers import (ANTHROPIC_PATH, DIRECT_ANTHROPIC_PATH, gateway_config, message_json, message_sse, served_by,
                      worker_pids)

KEY = "sk-e2e-metrics"
CLIENT = "metrics-client"
HEADERS = {"authorization": f"Bearer {KEY}"}
USAGE = message_json("")["usage"]  # what every scripted answer reports: 12 input tokens, 3 output
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
SERVER_ERROR = {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}
WAIT = 10.0


@pytest.fixture(scope="module")
def metered(start_server, upstream_process, tmp_path_factory):
    """Two workers, their metrics in a directory of the test's own that holds a stale file from a previous run."""
    directory = tmp_path_factory.mktemp("prometheus")
    stale = directory / "counter_99999.db"
    stale.write_bytes(b"left by a previous run")
    models = gateway_config(upstream_process.client.url)["models"] + [
        {"id": "claude-flaky", "upstream": "anthropic-direct", "upstream_model": "claude-flaky",
         "fallbacks": ["claude-test"]}]
    server = start_server(env={"WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(directory)},
                          models=models, breaker_failures=100,
                          access_keys=[{"name": CLIENT, "key": KEY, "admin": True}])
    server.access_key = KEY
    server.workers = worker_pids(server, 2)
    assert not stale.exists()  # emptied by the master at start
    return server


def messages(model: str, stream: bool = False) -> dict:
    return {"model": model, "max_tokens": 64, "stream": stream,
            "messages": [{"role": "user", "content": f"Say hello ({uuid.uuid4().hex[:8]})"}]}


def chat(model: str, stream: bool = False) -> dict:
    return {"model": model, "stream": stream,
            "messages": [{"role": "user", "content": f"Say hello ({uuid.uuid4().hex[:8]})"}]}


def send(server, worker: int, path: str, body: dict) -> int:
    """POST ``body`` to ``worker``, read the whole answer; its status."""
    with served_by(server, worker):
        exchange = post(server.url + path, body, HEADERS)
        exchange.read()
    return exchange.status


def scrape(server, worker: int | None = None) -> dict:
    """Every sample of GET /metrics (from loopback: no key), {(name, ((label, value), ...)): value}; only
    those of API requests (a front), not /health, /metrics or the routing resets the fixtures send."""
    if worker is None:
        answer = get(server.url + "/metrics")
    else:
        with served_by(server, worker):
            answer = get(server.url + "/metrics")
    text = answer.read().decode()
    assert answer.status == 200, text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("front") != "-":
                found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def series(found: dict, name: str, *labels: str) -> dict:
    return {tuple(dict(sample_labels)[label] for label in labels): value
            for (sample_name, sample_labels), value in found.items() if sample_name == name}


def settled(server, check, worker: int | None = None) -> dict:
    """A scrape once ``check(scrape)`` holds: a request is counted when the server closes it, a moment after
    the client has read its last byte."""
    deadline = time.monotonic() + WAIT
    while True:
        found = scrape(server, worker)
        if check(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def requests_counted(found: dict) -> float:
    return sum(value for (name, _), value in found.items() if name == "droid2api_requests_total")


def test_the_counts_of_both_workers_add_up_exactly(metered, upstream):
    first, second = metered.workers
    answer, stream = message_json("hello"), message_sse("hello")

    upstream.reply_json(ANTHROPIC_PATH, answer)
    assert send(metered, first, "/v1/messages", messages("claude-test")) == 200  # relayed
    upstream.reply_sse(ANTHROPIC_PATH, stream)
    assert send(metered, first, "/v1/chat/completions", chat("claude-test", stream=True)) == 200  # converted
    upstream.reply_json(DIRECT_ANTHROPIC_PATH, SERVER_ERROR, status=500)
    assert send(metered, first, "/v1/messages", messages("claude-direct")) == 500  # no fallback

    upstream.reply_sse(ANTHROPIC_PATH, stream)
    assert send(metered, second, "/v1/messages", messages("claude-test", stream=True)) == 200
    upstream.reply_json(ANTHROPIC_PATH, answer)
    assert send(metered, second, "/v1/chat/completions", chat("claude-test")) == 200
    upstream.reply_json(DIRECT_ANTHROPIC_PATH, OVERLOADED, status=529)
    upstream.reply_json(ANTHROPIC_PATH, answer)
    assert send(metered, second, "/v1/messages", messages("claude-flaky")) == 200  # claude-test answers

    # A stream held open on the second worker, while the first one is scraped.
    held = upstream.reply_sse(ANTHROPIC_PATH, stream, hold_at=2)
    with served_by(metered, second):
        exchange = post(metered.url + "/v1/messages", messages("claude-test", stream=True), HEADERS)
        exchange.read_until(b"content_block_start")
    found = scrape(metered, first)
    assert series(found, "droid2api_open_streams", "front")[("anthropic",)] == 1.0
    held.release()
    exchange.read()

    found = settled(metered, lambda found: requests_counted(found) == 7, first)
    assert series(found, "droid2api_requests_total", "front", "model", "upstream", "status") == {
        ("anthropic", "claude-test", "factory-anthropic", "200"): 4.0,  # the fallback's answer among them
        ("openai_chat", "claude-test", "factory-anthropic", "200"): 2.0,
        ("anthropic", "claude-direct", "anthropic-direct", "500"): 1.0,
    }
    assert series(found, "droid2api_request_duration_seconds_count", "front", "model") == {
        ("anthropic", "claude-test"): 4.0, ("openai_chat", "claude-test"): 2.0, ("anthropic", "claude-direct"): 1.0}
    assert series(found, "droid2api_time_to_first_byte_seconds_count", "front", "model") == {
        ("anthropic", "claude-test"): 2.0, ("openai_chat", "claude-test"): 1.0}
    routing = ("front", "requested_model")
    assert series(found, "droid2api_upstream_attempts_total", *routing) == {
        ("anthropic", "claude-test"): 3.0, ("openai_chat", "claude-test"): 2.0,
        ("anthropic", "claude-direct"): 1.0, ("anthropic", "claude-flaky"): 2.0}
    assert len(upstream.requests()) == 8  # as many calls as attempts counted
    assert series(found, "droid2api_upstream_retries_total", *routing) == {("anthropic", "claude-flaky"): 1.0}
    assert series(found, "droid2api_upstream_errors_total", *routing) == {
        ("anthropic", "claude-direct"): 1.0, ("anthropic", "claude-flaky"): 1.0}
    assert series(found, "droid2api_fallbacks_total", "requested_model", "model") == {
        ("claude-flaky", "claude-test"): 1.0}
    answered = 6  # each answer reported USAGE
    assert series(found, "droid2api_tokens_total", "model", "client", "kind") == {
        ("claude-test", CLIENT, "input"): answered * USAGE["input_tokens"],
        ("claude-test", CLIENT, "output"): answered * USAGE["output_tokens"]}
    assert KEY not in repr(found)
    found = settled(metered, lambda found: not any(series(found, "droid2api_open_streams", "front").values()))
    assert set(series(found, "droid2api_open_streams", "front").values()) == {0.0}

    # A worker killed and replaced: the counts it kept stay in the sum, read here by its replacement.
    os.kill(first, signal.SIGKILL)
    metered.wait_until(lambda: first not in worker_pids(metered, 2), "replace the killed worker")
    metered.workers = worker_pids(metered, 2)
    replacement = next(pid for pid in metered.workers if pid != second)
    replaced = scrape(metered, replacement)
    for name in ("droid2api_requests_total", "droid2api_tokens_total", "droid2api_upstream_attempts_total"):
        assert {k: v for k, v in replaced.items() if k[0] == name} == {k: v for k, v in found.items() if k[0] == name}
