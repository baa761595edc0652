"""Named access keys on the real server with two workers: the rpm limit counts across both (the store is
shared), and the usage the gateway reports, by GET /v1/gateway/usage and by ``droid2api usage`` run beside
it, is what the fake upstream reported."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from .checks import anthropic_error, openai_error
from .client import Exchange, post
from .servers import ANTHROPIC_PATH, BIN, REPO, message_json, message_sse, served_by, worker_pids

ALICE = "gw-e2e-alice-key"
ROOT = "gw-e2e-root-key"
RPM = 4
QUESTION = {"max_tokens": 64, "messages": [{"role": "user", "content": "Say hello"}]}
REPORTED = {"input": 12, "output": 3}  # what message_json and message_sse report
WAIT_LIMIT = 10.0


@pytest.fixture(scope="module")
def limited(start_server):
    server = start_server(env={"WEB_CONCURRENCY": "2"}, access_keys=[
        {"name": "alice", "key": ALICE, "rpm": RPM, "models": ["claude-*"]},
        {"name": "root", "key": ROOT, "admin": True}])
    server.access_key = ROOT  # for the routing reset between tests
    server.workers = worker_pids(server, 2)
    return server


def usage_get(server, key: str, query: str = "") -> Exchange:
    return Exchange(server.url + "/v1/gateway/usage" + query, "GET", None, {"authorization": f"Bearer {key}"},
                    None, 10.0)


def usage_report(server) -> dict:
    exchange = usage_get(server, ROOT, "?key=alice")
    assert exchange.status == 200
    return exchange.json()


def counted_requests(server) -> int:
    return usage_report(server)["totals"]["requests"]


def wait_for_a_fresh_minute():
    """The rpm window is the UTC minute: start early in one, so the test's requests share it."""
    if time.time() % 60 > 45:
        time.sleep(60.5 - time.time() % 60)


def test_the_rpm_limit_counts_across_both_workers_and_usage_is_the_upstreams(limited, upstream):
    first, second = limited.workers
    wait_for_a_fresh_minute()
    for i in range(RPM):
        streamed = i % 2 == 1
        if streamed:
            upstream.reply(ANTHROPIC_PATH, [message_sse("hello")], headers={"content-type": "text/event-stream"})
        else:
            upstream.reply_json(ANTHROPIC_PATH, message_json("hello"))
        with served_by(limited, (first, second)[i % 2]):
            exchange = post(limited.url + "/v1/messages", {"model": "claude-test", "stream": streamed, **QUESTION},
                            {"x-api-key": ALICE})
            assert exchange.status == 200
            exchange.read()
            # The worker counts the answer once it has gone; wait for that before stopping it.
            deadline = time.monotonic() + WAIT_LIMIT
            while counted_requests(limited) != i + 1:
                assert time.monotonic() < deadline, "the usage of the answer was never counted"
                time.sleep(0.05)

    for pid, path, shape in ((first, "/v1/messages", anthropic_error), (second, "/v1/chat/completions", openai_error)):
        with served_by(limited, pid):
            body = {"model": "claude-test", **QUESTION}
            refused = post(limited.url + path, body, {"authorization": f"Bearer {ALICE}"})
            assert refused.status == 429
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            payload = refused.json()
            assert shape(payload) == "rate_limit_error"
    assert len(upstream.requests(ANTHROPIC_PATH)) == RPM

    report = usage_report(limited)
    assert [(row["key"], row["model"]) for row in report["data"]] == [("alice", "claude-test")]
    assert report["totals"] == {"requests": RPM, "input": RPM * REPORTED["input"],
                                "output": RPM * REPORTED["output"], "cache_read": 0, "cache_write": 0,
                                "reasoning": 0}

    directory = limited.log_path.parent  # the server's config and data directory (servers.start_gateway)
    printed = subprocess.run([str(BIN / "droid2api"), "--config", str(directory / "config.json"), "usage"],
                             cwd=REPO, env={"DROID2API_DATA_DIR": str(directory / "data"), "PATH": str(BIN)},
                             capture_output=True, text=True, timeout=30, check=True).stdout
    assert printed.splitlines()[-1].split() == ["total", str(RPM), str(RPM * REPORTED["input"]),
                                                str(RPM * REPORTED["output"]), "0", "0", "0"]
    assert ALICE not in printed


def test_a_model_off_the_keys_list_is_403(limited, upstream):
    refused = post(limited.url + "/v1/messages", {"model": "gpt-test", **QUESTION}, {"x-api-key": ALICE})
    assert refused.status == 403
    assert anthropic_error(refused.json()) == "permission_error"
    assert upstream.requests() == []


def test_the_usage_endpoint_refuses_a_key_that_is_not_admin(limited):
    refused = usage_get(limited, ALICE)
    assert refused.status == 403
    assert openai_error(refused.json()) == "permission_error"
