"""The state store: the interface's rules on both MemoryStore and SQLiteStore (expiry, size bound,
per-value cap), then SQLite's own: file modes, failures as StoreError, several real processes on
one file, and a fork after open; and the config settings that choose it."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from droid2api.config import ConfigError, parse_settings
from droid2api.store import DB_FILE, MemoryStore, StoreError, ValueTooLarge, open_store
from droid2api.store import sqlite as sqlite_store
from droid2api.store.sqlite import PURGE_EVERY, SQLiteStore

REPO = Path(__file__).resolve().parent.parent
DAY = 86400.0


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture(params=["memory", "sqlite"])
def make(request, tmp_path, clock):
    """Builds a store of the parametrised backend, with the fake clock."""
    opened = []

    def build(retention=DAY, max_bytes=1 << 30, **kwargs):
        if request.param == "memory":
            store = MemoryStore(retention, max_bytes, clock=clock, **kwargs)
        else:
            store = SQLiteStore(tmp_path / "data" / DB_FILE, retention, max_bytes, clock=clock, **kwargs)
        opened.append(store)
        return store

    yield build
    for store in opened:
        store.close()


def rows(path) -> int:
    """Rows in the file, expired ones included, as another connection sees them."""
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM entries").fetchone()[0]


# -- the interface, on both backends ------------------------------------------------------------

def test_put_get_delete(make):
    store = make()
    assert store.get("responses", "resp_1") is None
    store.put("responses", "resp_1", b"one")
    assert store.get("responses", "resp_1") == b"one"
    store.put("responses", "resp_1", b"two")
    assert store.get("responses", "resp_1") == b"two"
    assert store.delete("responses", "resp_1") is True
    assert store.get("responses", "resp_1") is None
    assert store.delete("responses", "resp_1") is False


def test_namespaces_are_isolated(make):
    store = make()
    store.put("responses", "call_1", b"a response")
    store.put("gemini.signatures", "call_1", b"a signature")
    assert store.get("responses", "call_1") == b"a response"
    assert store.get("gemini.signatures", "call_1") == b"a signature"
    assert store.delete("responses", "call_1")
    assert store.get("gemini.signatures", "call_1") == b"a signature"


def test_values_are_bytes_of_any_kind(make):
    store = make()
    every_byte = bytes(range(256)) * 3
    store.put("n", "all", every_byte)
    store.put("n", "empty", b"")
    store.put("n", "view", memoryview(b"\x00\xff\x00"))
    store.put("n", "array", bytearray(b"\xc3\x28"))  # not UTF-8
    store.put("n", "ключ 🔑", b"k")
    assert store.get("n", "all") == every_byte
    assert store.get("n", "empty") == b""
    assert store.get("n", "view") == b"\x00\xff\x00"
    assert store.get("n", "array") == b"\xc3\x28"
    assert store.get("n", "ключ 🔑") == b"k"
    assert type(store.get("n", "all")) is bytes
    with pytest.raises(TypeError):
        store.put("n", "text", "not bytes")
    with pytest.raises(ValueError):
        store.put("has:colon", "k", b"v")  # namespaces must map onto Redis keys unambiguously


def test_ttl_and_default_retention(make, clock):
    store = make(retention=DAY)
    store.put("n", "default", b"d")
    store.put("n", "short", b"s", ttl=60)
    store.put("n", "long", b"l", ttl=3 * DAY)
    clock.now += 59.9
    assert store.get("n", "short") == b"s"
    clock.now += 0.1
    assert store.get("n", "short") is None
    assert store.delete("n", "short") is False  # expired counts as absent
    clock.now += DAY - 60 - 0.1
    assert store.get("n", "default") == b"d"
    clock.now += 0.1
    assert store.get("n", "default") is None
    assert store.get("n", "long") == b"l"
    store.put("n", "default", b"again")  # a write starts a new lifetime
    assert store.get("n", "default") == b"again"
    with pytest.raises(ValueError):
        store.put("n", "k", b"v", ttl=0)


def test_size_bound_evicts_the_soonest_expiring_first(make, clock):
    # Each entry counts value + key + namespace bytes: 100 + 2 + 1.
    store = make(retention=DAY, max_bytes=1000)
    for i in range(9):
        store.put("n", f"k{i}", bytes(100))
        clock.now += 1
    store.put("n", "ks", bytes(70), ttl=60)  # soonest to expire; 927 + 73 = 1000 bytes, still within
    assert all(store.get("n", f"k{i}") is not None for i in range(9))
    store.put("n", "k9", bytes(100))  # over: the short-lived one goes first, then the oldest
    assert store.get("n", "ks") is None
    assert store.get("n", "k0") is None
    assert [store.get("n", f"k{i}") is not None for i in range(1, 10)] == [True] * 9


def test_size_bound_never_evicts_the_entry_just_written(make, clock):
    store = make(retention=DAY, max_bytes=500)
    for i in range(4):
        store.put("n", f"k{i}", bytes(100))
        clock.now += 1
    store.put("n", "new", bytes(200), ttl=1)  # the soonest to expire, yet it stays
    assert store.get("n", "new") == bytes(200)
    assert store.get("n", "k0") is None
    assert store.get("n", "k1") is None
    assert store.get("n", "k2") is not None


def test_values_over_the_cap_are_refused(make):
    store = make(max_value_bytes=1000)
    store.put("n", "fits", bytes(1000))
    with pytest.raises(ValueTooLarge, match="1001 bytes is over the store's per-value limit of 1000 bytes"):
        store.put("n", "fits", bytes(1001))
    assert store.get("n", "fits") == bytes(1000)  # nothing was written
    assert issubclass(ValueTooLarge, StoreError)
    small = make(max_bytes=300)
    with pytest.raises(ValueTooLarge):
        small.put("n", "k", bytes(301))  # nor can a value be larger than the whole store


def test_default_cap_is_16_mb(make):
    store = make()
    store.put("n", "big", bytes(16 * 1024 * 1024))
    with pytest.raises(ValueTooLarge):
        store.put("n", "bigger", bytes(16 * 1024 * 1024 + 1))


# -- SQLite ---------------------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path, clock):
    store = SQLiteStore(tmp_path / "data" / DB_FILE, retention_seconds=DAY, max_bytes=1 << 30, clock=clock)
    yield store
    store.close()


def test_expired_rows_are_purged_every_so_many_writes(store, clock):
    for i in range(10):
        store.put("n", f"old{i}", b"x", ttl=10)
    clock.now += 11
    assert rows(store.path) == 10  # expired, not returned, still there
    for i in range(PURGE_EVERY):
        store.put("n", f"new{i}", b"y")
    assert rows(store.path) == PURGE_EVERY  # the write that completed the round purged them
    for i in range(5):
        store.put("n", f"gone{i}", b"z", ttl=10)
    clock.now += 11
    assert store.purge() == 5
    assert store.purge() == 0


def test_the_size_total_stays_exact(store, clock):
    store.max_bytes = 2000
    for i in range(50):
        store.put("n", f"k{i % 17}", bytes(i * 7 % 90), ttl=5 + i % 3)
        if i % 5 == 0:
            store.delete("n", f"k{(i * 3) % 17}")
        clock.now += 1
    store.purge()
    with sqlite3.connect(store.path) as conn:
        total = conn.execute("SELECT bytes FROM totals").fetchone()[0]
        assert total == conn.execute("SELECT coalesce(sum(size), 0) FROM entries").fetchone()[0]
        assert total <= 2000


def test_directory_and_files_are_private(tmp_path, clock):
    old = os.umask(0o022)
    try:
        store = SQLiteStore(tmp_path / "data" / "deeper" / DB_FILE, DAY, 1 << 20, clock=clock)
        store.put("n", "k", b"secret conversation")
    finally:
        os.umask(old)
    directory = tmp_path / "data" / "deeper"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = sorted(p.name for p in directory.iterdir())
    assert files == [DB_FILE, DB_FILE + "-marks", DB_FILE + "-shm", DB_FILE + "-wal"]
    for name in files:
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
    store.close()


def test_nothing_touches_the_disk_before_first_use(tmp_path):
    SQLiteStore(tmp_path / "data" / DB_FILE, DAY, 1 << 20)
    assert not (tmp_path / "data").exists()


def test_a_corrupt_file_is_a_store_error_and_a_replaced_one_is_picked_up(tmp_path):
    path = tmp_path / DB_FILE
    path.write_bytes(b"this is not an SQLite database, " * 100)
    store = SQLiteStore(path, DAY, 1 << 20)
    with pytest.raises(StoreError, match=rf"state store {path}: read failed: file is not a database"):
        store.get("n", "k")
    with pytest.raises(StoreError):
        store.put("n", "k", b"v")
    path.unlink()
    store.put("n", "k", b"v")
    assert store.get("n", "k") == b"v"
    store.close()


def test_an_unusable_directory_is_a_store_error(tmp_path):
    (tmp_path / "data").write_text("a file where the directory should be")
    store = SQLiteStore(tmp_path / "data" / DB_FILE, DAY, 1 << 20)
    with pytest.raises(StoreError, match=r"state store .*/data/store.sqlite3: cannot create"):
        store.put("n", "k", b"v")


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / DB_FILE
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        SQLiteStore(path, DAY, 1 << 20).get("n", "k")


def test_a_write_lock_held_too_long_is_a_store_error_and_the_connection_survives(store, monkeypatch):
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT", 0.05)
    store.close()
    store.put("n", "k", b"before")
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreError, match="write failed: database is locked"):
        store.put("n", "k", b"during")
    assert store.get("n", "k") == b"before"  # WAL: reads go on during another's write
    other.execute("ROLLBACK")
    other.close()
    kept = store._conn
    store.put("n", "k", b"after")
    assert store._conn is kept
    assert store.get("n", "k") == b"after"


def test_close_then_use_opens_again(store):
    store.put("n", "k", b"v")
    store.close()
    store.close()
    assert store.get("n", "k") == b"v"


WORKER = textwrap.dedent("""
    import os, sys, time
    from droid2api.store.sqlite import SQLiteStore

    path, go, me, other, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    store = SQLiteStore(path, retention_seconds=3600, max_bytes=1 << 30)
    while not os.path.exists(go):
        time.sleep(0.002)
    for i in range(n):
        store.put(me, str(i), f"{me}-{i}".encode() * 50)
        store.get(other, str(i))
    missing, deadline = set(range(n)), time.monotonic() + 20
    while missing and time.monotonic() < deadline:
        missing = {i for i in missing if store.get(other, str(i)) != f"{other}-{i}".encode() * 50}
        if missing:
            time.sleep(0.01)
    store.close()
    sys.exit(f"{me}: never saw {len(missing)} of {other}'s entries" if missing else 0)
""")


def test_two_processes_share_one_file(tmp_path):
    path, go = tmp_path / "fresh" / DB_FILE, tmp_path / "go"
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), str(go), me, other, "200"],
                                cwd=REPO, stderr=subprocess.PIPE, text=True)
               for me, other in (("a", "b"), ("b", "a"))]
    go.touch()  # both start writing at once, on a database neither has created yet
    for worker in workers:
        _, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err
        assert "locked" not in err
    assert rows(path) == 400


def _child_uses(store):
    inherited = store._conn
    ok = store.get("n", "parent") == b"p" and store._conn is not inherited
    store.put("n", "child", b"c")
    store.close()
    raise SystemExit(0 if ok else 1)


def test_a_forked_child_opens_its_own_connection(store):
    store.put("n", "parent", b"p")
    child = multiprocessing.get_context("fork").Process(target=_child_uses, args=(store,))
    child.start()
    child.join(10)
    assert child.exitcode == 0
    assert store.get("n", "child") == b"c"  # the parent's connection still works, and sees the child's write
    store.put("n", "after", b"a")
    assert store.get("n", "after") == b"a"


def test_a_connection_from_another_process_id_is_never_used(store):
    store.put("n", "k", b"v")
    parent_conn = store._conn
    store._pid = -1  # as if forked without the at-fork hook
    assert store.get("n", "k") == b"v"
    assert store._conn is not parent_conn
    assert store._inherited == [parent_conn]


# -- configuration ------------------------------------------------------------------------------

def settings(config=None, environ=None):
    return parse_settings(json.dumps(config or {}), "config.json", environ or {})


def test_store_settings_defaults_and_environment():
    s = settings()
    assert (s.data_dir, s.store_retention_days, s.store_max_mb) == ("data", 30.0, 512.0)
    s = settings({"data_dir": "/var/lib/droid2api", "store_retention_days": 7, "store_max_mb": 64})
    assert (s.data_dir, s.store_retention_days, s.store_max_mb) == ("/var/lib/droid2api", 7.0, 64.0)
    assert settings({"data_dir": "x"}, {"DROID2API_DATA_DIR": "/srv/state"}).data_dir == "/srv/state"


@pytest.mark.parametrize("config, expected", [
    ({"store_retention_days": 0}, "config.json: store_retention_days: must be a positive number"),
    ({"store_max_mb": -1}, "config.json: store_max_mb: must be a positive number"),
    ({"data_dir": ""}, "config.json: data_dir: must not be empty"),
])
def test_store_settings_are_validated(config, expected):
    with pytest.raises(ConfigError) as caught:
        settings(config)
    assert str(caught.value) == expected


def test_open_store_puts_the_file_in_the_data_directory(tmp_path):
    store = open_store(settings({"data_dir": str(tmp_path / "state"), "store_retention_days": 2,
                                 "store_max_mb": 1.5}))
    assert isinstance(store, SQLiteStore)
    assert store.path == str(tmp_path / "state" / DB_FILE)
    assert (store.retention, store.max_bytes) == (2 * DAY, 1536 * 1024)
    store.put("n", "k", b"v")
    assert (tmp_path / "state" / DB_FILE).exists()
    store.close()
