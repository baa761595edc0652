"""The state store on Redis: the backend-independent tests of test_store.py and test_store_counters.py run
again here on a real redis-server, then Redis's own: key layout and TTLs, real expiry, SCAN, atomic
counters across processes and greenlets, failures as StoreError naming the server (never its password),
and open_store choosing Redis when ``redis_url`` is set.

The shared tests move a fake clock (``clock.now += 11`` past a ``ttl=10``); Redis expires keys by its own
clock, so here they run on ``TimeScaled``: every ttl and the retention divided by ``SCALE``, and each step
of the clock a real sleep of that size (11 s past 10 s becomes 110 ms past 100 ms). Only the direction that
cannot flake is used: the shared tests that check an entry still lives a hair before its expiry
(test_ttl_and_default_retention) stay on the fake-clock backends, with a real-time version below.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest
import redis

from droid2api.config import parse_settings
from droid2api.store import StoreError, ValueTooLarge, open_store
from droid2api.store.redis_store import RedisStore, describe

from .test_store import DAY, REPO
# Collected again in this module, where ``make`` and ``store`` below build Redis stores.
from .test_store import (test_default_cap_is_16_mb, test_namespaces_are_isolated,  # noqa: F401
                         test_put_get_delete, test_values_are_bytes_of_any_kind, test_values_over_the_cap_are_refused)
from .test_store_counters import (test_a_key_with_a_lone_surrogate_is_stored_and_found_like_any_other,  # noqa: F401
                                  test_get_many_returns_only_live_entries_that_exist,
                                  test_increment_counts_from_zero_and_expires_with_its_ttl,
                                  test_increment_many_adds_to_several_counters_at_once,
                                  test_increment_refuses_bad_arguments_like_put,
                                  test_items_lists_one_namespace_without_expired_entries)
from .test_store_counters import values_from_processes
from .redis_server import free_port

SCALE = 100.0


class SleepingClock:
    """A clock whose steps are real sleeps, ``SCALE`` times shorter."""

    def __init__(self):
        self._now = 0.0

    @property
    def now(self) -> float:
        return self._now

    @now.setter
    def now(self, value: float):
        time.sleep(max(0.0, value - self._now) / SCALE)
        self._now = value


class TimeScaled:
    """A RedisStore whose every ttl is ``SCALE`` times shorter, for the shared fake-clock tests."""

    def __init__(self, store: RedisStore):
        self.inner = store
        self.clock = SleepingClock()

    def put(self, namespace, key, value, ttl=None):
        return self.inner.put(namespace, key, value, None if ttl is None else ttl / SCALE)

    def increment(self, namespace, key, amount=1, ttl=None):
        return self.inner.increment(namespace, key, amount, None if ttl is None else ttl / SCALE)

    def increment_many(self, namespace, amounts, ttl=None):
        return self.inner.increment_many(namespace, amounts, None if ttl is None else ttl / SCALE)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def redis_store(url, retention=DAY, max_bytes=None, **kwargs) -> RedisStore:
    """A store under a prefix of its own; ``max_bytes`` (the SQLite bound) caps values, as it does there."""
    if max_bytes is not None:
        kwargs["max_value_bytes"] = min(kwargs.get("max_value_bytes", 16 * 1024 * 1024), max_bytes)
    return RedisStore(url, retention, key_prefix=f"test-{uuid.uuid4().hex[:8]}:", **kwargs)


@pytest.fixture
def make(redis_url):
    opened = []

    def build(retention=DAY, max_bytes=None, **kwargs):
        store = TimeScaled(redis_store(redis_url, retention / SCALE, max_bytes, **kwargs))
        opened.append(store)
        return store

    yield build
    for store in opened:
        store.close()


@pytest.fixture
def store(make):
    return make()


@pytest.fixture
def raw(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


# -- Redis's own ----------------------------------------------------------------------------------

def test_keys_are_prefix_namespace_key_and_every_one_has_a_ttl(redis_url, raw):
    store = RedisStore(redis_url, retention_seconds=DAY)
    store.put("responses", "resp_1", b"\x00bytes")
    store.put("n", "short", b"s", ttl=60)
    store.increment("routing", "rr:auto")
    store.increment("routing", "hits", ttl=30)
    assert sorted(raw.keys("*")) == [b"droid2api:n:short", b"droid2api:responses:resp_1",
                                     b"droid2api:routing:hits", b"droid2api:routing:rr:auto"]
    assert raw.get("droid2api:responses:resp_1") == b"\x00bytes"
    assert DAY * 1000 - 5000 < raw.pttl("droid2api:responses:resp_1") <= DAY * 1000
    assert 55_000 < raw.pttl("droid2api:n:short") <= 60_000
    assert DAY * 1000 - 5000 < raw.pttl("droid2api:routing:rr:auto") <= DAY * 1000
    assert 25_000 < raw.pttl("droid2api:routing:hits") <= 30_000
    store.increment("routing", "hits", ttl=90)  # each increment sets the counter's lifetime again
    assert 85_000 < raw.pttl("droid2api:routing:hits") <= 90_000


def test_entries_expire_in_real_time(redis_url):
    store = redis_store(redis_url, retention=0.4)
    store.put("n", "default", b"d")
    store.put("n", "short", b"s", ttl=0.15)
    store.put("n", "long", b"l", ttl=60)
    assert store.get("n", "short") == b"s"
    time.sleep(0.25)
    assert store.get("n", "short") is None
    assert store.delete("n", "short") is False  # expired counts as absent
    assert store.get("n", "default") == b"d"
    time.sleep(0.25)
    assert store.get_many("n", ["default", "short", "long"]) == {"long": b"l"}
    assert store.items("n") == {"long": b"l"}


def test_items_pages_through_scan_and_matches_its_namespace_literally(redis_url):
    store = RedisStore(redis_url, DAY, key_prefix="odd*[prefix]?\\:")
    other = RedisStore(redis_url, DAY, key_prefix="oddX[prefix]?\\:")  # would match an unescaped glob
    for i in range(2500):
        store.put("stats", f"route-{i}", str(i).encode())
    store.put("stats", "ключ*?[x]", b"unicode and glob characters")
    store.put("stats.more", "not-this", b"x")  # a namespace that starts with the same letters
    other.put("stats", "not-this-either", b"x")
    listed = store.items("stats")
    assert len(listed) == 2501
    assert listed["route-1234"] == b"1234"
    assert listed["ключ*?[x]"] == b"unicode and glob characters"


def test_a_value_that_is_not_a_counter_restarts_at_the_amount(redis_url, raw):
    store = RedisStore(redis_url, DAY)
    store.put("n", "junk", b"12 and more")
    assert store.increment("n", "junk", 3, ttl=50) == 3
    assert 45_000 < raw.pttl("droid2api:n:junk") <= 50_000
    raw.lpush("droid2api:n:list", b"x")  # another type under a gateway key: an error, not a crash
    with pytest.raises(StoreError, match=r"state store redis://127\.0\.0\.1:\d+/0: increment failed: .*WRONGTYPE"):
        store.increment("n", "list")
    with pytest.raises(StoreError, match="read failed: WRONGTYPE"):
        store.get("n", "list")


def test_value_cap_is_checked_before_sending(redis_url):
    store = RedisStore(redis_url, DAY, max_value_bytes=10)
    with pytest.raises(ValueTooLarge):
        store.put("n", "k", bytes(11))
    assert store.get("n", "k") is None


def test_an_unreachable_redis_is_a_store_error_naming_host_and_port_without_the_password():
    port = free_port()  # nothing listens there
    store = RedisStore(f"redis://gateway:s3cret-pass@127.0.0.1:{port}/2", DAY)
    with pytest.raises(StoreError) as caught:
        store.get("n", "k")
    message = str(caught.value)
    assert message.startswith(f"state store redis://127.0.0.1:{port}/2 unreachable: read failed: ")
    assert "s3cret-pass" not in message and "gateway:" not in message
    with pytest.raises(StoreError, match="unreachable"):  # and at once for a moment after
        store.check()
    with pytest.raises(StoreError, match="unreachable"):
        store.increment("n", "c")


def test_a_wrong_password_is_a_store_error_without_the_password(redis_url, raw):
    raw.config_set("requirepass", "the-right-one")
    try:
        store = RedisStore(redis_url.replace("redis://", "redis://:not-the-password@"), DAY)
        with pytest.raises(StoreError) as caught:
            store.put("n", "k", b"v")
        assert str(caught.value).startswith(f"state store {describe(redis_url)} refused the login: ")
        assert "not-the-password" not in str(caught.value)
    finally:
        admin = redis.Redis.from_url(redis_url.replace("redis://", "redis://:the-right-one@"))
        admin.config_set("requirepass", "")
        admin.close()


def test_a_restarted_redis_is_used_again(redis_server, redis_url, monkeypatch):
    from droid2api.store import redis_store
    monkeypatch.setattr(redis_store, "DOWN_PAUSE", 0.0)
    store = RedisStore(redis_url, DAY)
    store.put("n", "k", b"before")
    redis_server.stop()
    with pytest.raises(StoreError, match="unreachable"):
        store.check()
    redis_server.start()
    store.put("n", "k", b"after")  # the pooled connection died with the old server: a new one is opened
    assert store.get("n", "k") == b"after"
    store.close()
    store.close()
    assert store.get("n", "k") == b"after"  # close, then use: connects again


def test_check_pings(redis_url):
    RedisStore(redis_url, DAY).check()


def test_describe_never_shows_credentials():
    assert describe("redis://user:pw@cache.internal:6380/3") == "redis://cache.internal:6380/3"
    assert describe("rediss://:pw@cache") == "rediss://cache:6379/0"
    assert describe("unix:///run/redis.sock?db=1") == "unix:///run/redis.sock"


COUNTER = """
import sys
from droid2api.store.redis_store import RedisStore
store = RedisStore(sys.argv[1], 86400)
print(" ".join(str(store.increment("n", "shared")) for _ in range(int(sys.argv[2]))))
"""


def test_increment_is_atomic_across_processes(redis_url):
    assert sorted(values_from_processes(COUNTER, redis_url)) == list(range(1, 451))


GREENLETS = """
from gevent import monkey; monkey.patch_all()
import sys, gevent
from droid2api.store.redis_store import RedisStore
store = RedisStore(sys.argv[1], 86400)
jobs = [gevent.spawn(lambda: [store.increment("n", "g") for _ in range(20)]) for _ in range(50)]
gevent.joinall(jobs, raise_error=True)
values = sorted(v for job in jobs for v in job.value)
pool = store._client.connection_pool
print(values == list(range(1, 1001)), len(pool._available_connections) + len(pool._in_use_connections))
"""


def test_greenlets_of_one_gevent_worker_share_one_pool(redis_url):
    done = subprocess.run([sys.executable, "-c", GREENLETS, redis_url], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    all_counted, connections = done.stdout.split()
    assert all_counted == "True"
    assert 1 <= int(connections) <= 50  # greenlets waited on sockets concurrently, through one pool


# -- configuration ------------------------------------------------------------------------------

def test_open_store_picks_redis_when_redis_url_is_set(tmp_path):
    settings = parse_settings(json.dumps({"redis_url": "redis://:pw@127.0.0.1:1/0", "data_dir": str(tmp_path),
                                          "store_retention_days": 2}), "config.json", {})
    store = open_store(settings)
    assert isinstance(store, RedisStore)
    assert (store.where, store.retention) == ("redis://127.0.0.1:1/0", 2 * DAY)
    assert list(tmp_path.iterdir()) == []  # nothing connected, nothing written
    env = parse_settings("{}", "config.json", {"DROID2API_REDIS_URL": "redis://127.0.0.1:2/1"})
    assert open_store(env).where == "redis://127.0.0.1:2/1"
