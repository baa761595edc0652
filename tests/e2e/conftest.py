"""Fixtures for the end-to-end tests: one fake upstream and the real gunicorn servers, shared by the session.

When a test fails, the logs of every process still running are added to its report.
"""

from __future__ import annotations

import anthropic
import openai
import pytest

from .servers import (SDK_OPTIONS, extra_upstream, fresh, gateway_config, reset_routing, start_fake_upstream,
                      start_gateway)

RUNNING = pytest.StashKey[dict]()


def pytest_configure(config):
    config.stash[RUNNING] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for name, process in item.config.stash[RUNNING].items():
            report.sections.append((f"{name} log", process.log()))
    return report


@pytest.fixture(scope="session")
def running(pytestconfig) -> dict:
    """The processes whose logs a failing test's report shows, by name: register yours here."""
    return pytestconfig.stash[RUNNING]


@pytest.fixture(scope="session")
def upstream_process(tmp_path_factory, running):
    process = start_fake_upstream(tmp_path_factory.mktemp("upstream"))
    running["fake upstream"] = process
    yield process
    del running["fake upstream"]
    process.stop()


@pytest.fixture
def upstream(upstream_process):
    """The fake upstream's control client, with nothing queued and no requests recorded."""
    yield from fresh(upstream_process)


@pytest.fixture(scope="session")
def upstream_b_process(tmp_path_factory, running):
    """A second fake upstream process, for the routing tests' fallbacks."""
    with extra_upstream(tmp_path_factory.mktemp("upstream-b"), running, "fake upstream B") as process:
        yield process


@pytest.fixture(scope="session")
def start_server(upstream_process, tmp_path_factory, running):
    """Start a gunicorn server with the e2e config (``overrides`` on top) and ``env``; all stop with the session.

    Starting one takes about half a second, so modules share the default one and start their
    own only for a config of their own (access keys, short timeouts).
    """
    started = []

    def start(env: dict | None = None, **overrides):
        config = gateway_config(upstream_process.client.url, **overrides)
        server = start_gateway(config, tmp_path_factory.mktemp("gateway"), env)
        first = (config.get("access_keys") or [None])[0]
        server.access_key = first["key"] if isinstance(first, dict) else first
        started.append(server)
        running[f"gunicorn {server.url}"] = server
        return server

    start.started = started
    yield start
    for server in started:
        server.terminate()
    for server in started:
        del running[f"gunicorn {server.url}"]
        server.stop()


@pytest.fixture(autouse=True)
def fresh_routing(request):
    """Breakers closed and keys awake in every gateway a test finds running: one test's scripted 429 or 5xx
    must not rest a key or trip a breaker for the next (POST /v1/gateway/routes/reset)."""
    if "start_server" in request.fixturenames:
        for server in request.getfixturevalue("start_server").started:
            if server.process.poll() is None:
                reset_routing(server)


@pytest.fixture(scope="session")
def gateway(start_server):
    """The gateway with the default e2e config: no access keys, default timeouts."""
    return start_server()


@pytest.fixture
def anthropic_client(gateway):
    client = anthropic.Anthropic(base_url=gateway.url, **SDK_OPTIONS)
    yield client
    client.close()


@pytest.fixture
def openai_client(gateway):
    """The openai SDK, without strict validation unlike the anthropic one.

    Real Responses traffic from 2025 fails the installed SDK's strict models (they require
    ``usage.input_tokens_details.cache_write_tokens``, and older streams lack ``sequence_number``):
    strict mode would test the age of the recordings, not the gateway. The tests compare what the
    SDK assembles with the recorded JSON instead, which is the stricter check.
    """
    client = openai.OpenAI(base_url=gateway.url + "/v1", **{**SDK_OPTIONS, "_strict_response_validation": False})
    yield client
    client.close()
