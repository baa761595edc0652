"""The SQLite store's read cache: a repeated get_many skips the database, and any write of any process ends it."""

from __future__ import annotations

import multiprocessing
import os
import stat

import pytest

from droid2api.store import DB_FILE
from droid2api.store.sqlite import SQLiteStore

from .test_store import DAY, Clock


def open_store(path, clock=None, max_bytes=1 << 30):
    return SQLiteStore(str(path), DAY, max_bytes, clock=clock or Clock())


@pytest.fixture
def path(tmp_path):
    return tmp_path / "data" / DB_FILE


def statements(store) -> list:
    """Every SQL statement ``store``'s connection runs from now on."""
    seen = []
    with store._session("trace") as conn:
        conn.set_trace_callback(seen.append)
    return seen


def test_a_repeated_read_does_not_ask_the_database(path):
    store = open_store(path)
    store.put("routing", "open:r", b"1")
    assert store.get_many("routing", ["open:r", "fail:r"]) == {"open:r": b"1"}
    ran = statements(store)
    for _ in range(3):
        assert store.get_many("routing", ["open:r", "fail:r"]) == {"open:r": b"1"}
    assert ran == []
    assert store.get_many("routing", ["fail:r"]) == {}  # other keys: another read
    assert len(ran) == 1
    assert stat.S_IMODE(os.stat(str(path) + "-marks").st_mode) == 0o600


@pytest.mark.parametrize("write", ["put", "delete", "increment", "increment_many"])
def test_a_write_by_another_store_of_the_same_file_is_seen_at_once(path, write):
    reader, writer = open_store(path), open_store(path)
    writer.put("routing", "k", b"1")
    assert reader.get_many("routing", ["k"]) == {"k": b"1"}
    if write == "put":
        writer.put("routing", "k", b"2")
    elif write == "delete":
        writer.delete("routing", "k")
    elif write == "increment":
        writer.increment("routing", "k")
    else:
        writer.increment_many("routing", {"k": 5})
    expected = {"put": {"k": b"2"}, "delete": {}, "increment": {"k": b"2"}, "increment_many": {"k": b"6"}}[write]
    assert reader.get_many("routing", ["k"]) == expected


def test_a_write_to_another_namespace_keeps_the_cache(path):
    reader, writer = open_store(path), open_store(path)
    writer.put("routing", "k", b"1")
    reader.get_many("routing", ["k"])
    ran = statements(reader)
    writer.put("usage", "count", b"9")
    assert reader.get_many("routing", ["k"]) == {"k": b"1"}
    assert ran == []


def test_an_entry_that_expires_while_cached_is_not_returned(path):
    clock = Clock()
    store = open_store(path, clock)
    store.put("routing", "rest", b"x", ttl=10)
    store.put("routing", "open", b"y")
    assert store.get_many("routing", ["rest", "open"]) == {"rest": b"x", "open": b"y"}
    clock.now += 11
    assert store.get_many("routing", ["rest", "open"]) == {"open": b"y"}


def test_an_eviction_from_a_cached_namespace_by_a_write_elsewhere_is_seen(path):
    reader = open_store(path)
    writer = open_store(path, max_bytes=4096)
    writer.put("routing", "old", b"x" * 1000, ttl=60)  # expires soonest: the first to go
    assert reader.get_many("routing", ["old"]) == {"old": b"x" * 1000}
    writer.put("big", "new", b"y" * 3500)  # over the bound: "old" is evicted
    assert reader.get_many("routing", ["old"]) == {}


def _write_in_child(path: str, value: bytes):
    open_store(path).put("routing", "k", value)


def test_a_write_by_another_process_is_seen_at_once(path):
    store = open_store(path)
    store.put("routing", "k", b"parent")
    assert store.get_many("routing", ["k"]) == {"k": b"parent"}
    child = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(str(path), b"child"))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert store.get_many("routing", ["k"]) == {"k": b"child"}
