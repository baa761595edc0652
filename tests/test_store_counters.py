"""The store's reads of several keys, listing of a namespace, and atomic counters, on both backends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from droid2api.store import DB_FILE, MemoryStore
from droid2api.store.sqlite import SQLiteStore

from .test_store import DAY, REPO, Clock


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    clock = Clock()
    if request.param == "memory":
        built = MemoryStore(DAY, 1 << 30, clock=clock)
    else:
        built = SQLiteStore(tmp_path / "data" / DB_FILE, DAY, 1 << 30, clock=clock)
    built.clock = clock
    yield built
    built.close()


def test_get_many_returns_only_live_entries_that_exist(store):
    store.put("n", "a", b"1")
    store.put("n", "b", b"2", ttl=10)
    store.put("other", "c", b"3")
    store.clock.now += 11
    assert store.get_many("n", ["a", "b", "c", "missing"]) == {"a": b"1"}
    assert store.get_many("n", []) == {}


def test_items_lists_one_namespace_without_expired_entries(store):
    store.put("n", "a", b"1")
    store.put("n", "gone", b"x", ttl=1)
    store.put("m", "a", b"2")
    store.clock.now += 2
    assert store.items("n") == {"a": b"1"}
    assert store.items("empty") == {}


def test_increment_counts_from_zero_and_expires_with_its_ttl(store):
    assert store.increment("n", "c") == 1
    assert store.increment("n", "c", 5) == 6
    assert store.get("n", "c") == b"6"
    assert store.increment("n", "t", ttl=10) == 1
    store.clock.now += 11
    assert store.increment("n", "t", ttl=10) == 1  # expired: starts again
    store.put("n", "junk", b"not a number")
    assert store.increment("n", "junk") == 1


def test_increment_refuses_bad_arguments_like_put(store):
    with pytest.raises(ValueError):
        store.increment("bad namespace!", "k")
    with pytest.raises(ValueError):
        store.increment("n", "k", ttl=0)


COUNTER = """
import sys
from droid2api.store.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1], 86400, 1 << 30)
seen = [store.increment("n", "shared") for _ in range(int(sys.argv[2]))]
print(" ".join(map(str, seen)))
"""


def values_from_processes(script: str, target: str) -> list:
    """What three processes running ``script`` on ``target`` (150 increments each) printed, one value a line."""
    runs = [subprocess.Popen([sys.executable, "-c", script, target, "150"], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(3)]
    values = []
    for run in runs:
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
        values += [int(v) for v in out.split()]
    return values


def test_increment_is_atomic_across_processes(tmp_path):
    values = values_from_processes(COUNTER, str(Path(tmp_path) / "data" / DB_FILE))
    assert sorted(values) == list(range(1, 451))  # every value handed out exactly once


def test_increment_many_adds_to_several_counters_at_once(store):
    store.increment("n", "a", 2)
    assert store.increment_many("n", {"a": 3, "b": 1}, ttl=10) == {"a": 5, "b": 1}
    assert store.get_many("n", ["a", "b"]) == {"a": b"5", "b": b"1"}
    assert store.increment_many("n", {}) == {}
    store.clock.now += 11
    assert store.get_many("n", ["a", "b"]) == {}


def test_a_key_with_a_lone_surrogate_is_stored_and_found_like_any_other(store):
    cut = "call_\ud83d"  # a client's tool call id cut in the middle of an emoji
    store.put("n", cut, b"v")
    assert store.get("n", cut) == b"v" and store.get("n", "call_") is None
    assert store.get_many("n", [cut, "other"]) == {cut: b"v"}
    assert store.increment("n", cut + "#") == 1 and store.increment_many("n", {cut + "#": 2}) == {cut + "#": 3}
    assert store.delete("n", cut) and store.get("n", cut) is None
