"""Fixtures for every test module: the session's real redis-server (tests/redis_server.py)."""

from __future__ import annotations

import pytest

from .redis_server import start_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One redis-server for the session, started (and installed with apt-get if missing) on first use."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis, emptied (FLUSHALL) for this test; restarted if an earlier test stopped it."""
    if redis_server.process.poll() is not None:
        redis_server.start()
    assert redis_server.command("FLUSHALL") == b"+OK"
    return redis_server.url
