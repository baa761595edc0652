"""SIGHUP against the real gunicorn server: a valid config is taken, an invalid one refused while the previous
one keeps serving (droid2api/reload.py).

The server here reads ``host`` from its config file (the environment does not override it), so a reload
can change it; ``workers`` stays 1 (WEB_CONCURRENCY, which gunicorn itself reads too). Each test writes the
config it needs and sends SIGHUP to the gunicorn master, as ``systemctl reload`` does, then waits until the
master has said what it did with the config and its worker is a new one.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from .client import get, post
from .servers import ANTHROPIC_PATH, gateway_config, message_json, start_gateway

RELOAD_LIMIT = 30.0


@pytest.fixture(scope="module")
def gateway(upstream_process, tmp_path_factory, running):
    config = gateway_config(upstream_process.client.url, host="127.0.0.1")
    server = start_gateway(config, tmp_path_factory.mktemp("reload-gateway"), {"DROID2API_HOST": ""})
    server.config = config
    server.config_path = server.log_path.parent / "config.json"
    running["reloaded gunicorn"] = server
    yield server
    del running["reloaded gunicorn"]
    server.stop()


def config_with(server, *model_ids, **overrides) -> dict:
    """The module's config, plus Anthropic models ``model_ids`` and ``overrides``."""
    config = json.loads(json.dumps(server.config))
    config["models"] += [{"id": model_id, "type": "anthropic"} for model_id in model_ids]
    config.update(overrides)
    return config


def reload(server, text: str) -> str:
    """Write ``text`` as the config file, send SIGHUP, wait until the master has answered and a new worker
    runs; return what the log got meanwhile."""
    before = set(server_children(server))
    start = len(server.log_path.read_bytes())
    server.config_path.write_text(text)
    os.kill(server.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_LIMIT
    while True:
        server.fail_if_exited("reloading")
        logged = server.log_path.read_bytes()[start:].decode("utf-8", "replace")
        children = server_children(server)
        if ("droid2api: config reloaded" in logged or "droid2api: reload refused" in logged) and \
                len(children) == 1 and not before & set(children) and models(server) is not None:
            return logged
        if time.monotonic() > deadline:
            raise AssertionError(f"the reload did not finish within {RELOAD_LIMIT:g}s:\n{logged}")
        time.sleep(0.05)


def server_children(server) -> list:
    """The pids of the gunicorn master's workers."""
    master = server.process.pid
    return sorted(int(pid) for pid in open(f"/proc/{master}/task/{master}/children").read().split())


def models(server) -> list | None:
    """The model ids GET /v1/models lists; None while no worker answers."""
    try:
        return [model["id"] for model in get(server.url + "/v1/models", timeout=2).json()["data"]]
    except OSError:
        return None


def ask(server, upstream, model: str):
    """A chat completion for ``model``, answered by the fake upstream's Anthropic endpoint: what it was sent."""
    upstream.reply_json(ANTHROPIC_PATH, message_json(f"{model} here"))
    response = post(server.url + "/v1/chat/completions",
                    {"model": model, "messages": [{"role": "user", "content": "Who is there?"}]})
    assert response.status == 200
    assert response.json()["choices"][0]["message"]["content"] == f"{model} here"
    return upstream.only_request(ANTHROPIC_PATH).json()


def refused_lines(logged: str) -> list:
    return [line for line in logged.splitlines() if line.startswith("droid2api: reload refused")]


def test_a_valid_config_adds_a_model(gateway, upstream):
    logged = reload(gateway, json.dumps(config_with(gateway, "claude-added")))

    assert "claude-added" in models(gateway)
    assert ask(gateway, upstream, "claude-added")["model"] == "claude-added"
    count = len(gateway.config["models"]) + 1
    assert f"droid2api: config reloaded: {count} models ({gateway.config_path})" in logged.splitlines()
    assert "Traceback" not in logged


@pytest.mark.parametrize("text, reason", [
    ("{ \"models\": [", "line 1 column 14: Expecting value"),
    (json.dumps({"models": [{"id": "x", "type": "anthropic"}, {"id": "y", "type": "bedrock"}]}),
     "models[1].type: must be one of anthropic, openai, common, google"),
], ids=["bad JSON", "schema error"])
def test_an_invalid_config_is_refused_and_the_previous_one_serves(gateway, upstream, text, reason):
    reload(gateway, json.dumps(config_with(gateway, "claude-before")))

    logged = reload(gateway, text)

    assert refused_lines(logged) == [f"droid2api: reload refused, still serving the previous config: "
                                     f"{gateway.config_path}: {reason}"]
    assert "Traceback" not in logged and "Worker failed to boot" not in logged
    listed = models(gateway)
    assert "claude-before" in listed and "claude-test" in listed and "x" not in listed
    assert ask(gateway, upstream, "claude-before")["model"] == "claude-before"

    upstream.reset()
    logged = reload(gateway, json.dumps(config_with(gateway, "claude-after")))  # a valid one is taken again

    assert refused_lines(logged) == []
    assert "claude-after" in models(gateway) and "claude-before" not in models(gateway)
    assert ask(gateway, upstream, "claude-after")["model"] == "claude-after"


def test_a_changed_host_waits_for_a_restart_and_the_rest_is_taken(gateway, upstream):
    logged = reload(gateway, json.dumps(config_with(gateway, "claude-moved", host="127.0.0.2")))

    assert "droid2api: still listening on 127.0.0.1:" in logged
    assert "the new address 127.0.0.2:" in logged and "takes effect at the next restart" in logged
    assert "claude-moved" in models(gateway)  # served on the address of the start


def test_a_worker_started_after_the_file_broke_serves_the_last_valid_config(gateway, upstream):
    """No reload: a worker that dies is replaced by one that serves what the master validated, not the file."""
    reload(gateway, json.dumps(config_with(gateway, "claude-kept")))
    gateway.config_path.write_text("{ half-edited")
    [worker] = server_children(gateway)

    os.kill(worker, signal.SIGKILL)
    gateway.wait_until(lambda: server_children(gateway) not in ([], [worker]) and models(gateway) is not None,
                       "replace its worker")

    gateway.fail_if_exited("replacing its worker")
    assert "claude-kept" in models(gateway)
    assert ask(gateway, upstream, "claude-kept")["model"] == "claude-kept"
