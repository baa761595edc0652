"""This module keeps the state store in one SQLite file, shared by the worker processes of one host.

One table, ``entries (namespace, key, value, expires, size)``; a trigger-kept
running total of ``size`` makes the size check one read per write. The file
is in WAL mode, so readers never wait and writers queue behind each other for
at most ``BUSY_TIMEOUT`` seconds; every write is a short ``BEGIN IMMEDIATE``
transaction, so two writers never deadlock on a lock upgrade.

Connections: one per process, opened on first use and guarded by a lock (under
gevent all requests of a worker are greenlets of one thread, and sqlite calls
never yield to another greenlet while the lock is held). A process forked from
one that had the store open opens its own: the inherited connection is set
aside, never used and never closed, since closing it in the child would drop
the child's POSIX locks on the file and could checkpoint or remove the WAL
under the parent. Waiting on a busy database blocks the whole worker process
(sqlite's busy handler sleeps in C); write transactions take milliseconds.

Expiry: an entry lives until ``expires`` (its ``ttl``, else the retention) and
is never returned after. Expired rows are purged opportunistically: every
``PURGE_EVERY`` writes of a process, at most ``PURGE_BATCH`` of them.

Size bound: each entry counts its value, key and namespace bytes. When a write
takes the total over ``max_bytes``, the entries that would expire soonest are
deleted (expired ones first, as they expire soonest of all) until the total is
under again, never the entry just written; at most ``EVICT_BATCH`` rows per
write, so a lowered bound is reached over the next writes rather than in one
long pause. With the default retention that is oldest-written first, like
Redis's ``volatile-ttl``. The file itself is somewhat larger than the total
(pages, index, WAL) and does not shrink after deletions; the bound keeps it
near ``max_bytes``. A value over ``max_value_bytes`` (16 MB, or ``max_bytes``
if smaller) is refused with ValueTooLarge.

Repeated reads: ``get_many`` answers from a per-process cache while no process
of the host has written to the namespace since (``read_cache.py``: a marks
file beside the database, ``store.sqlite3-marks``), so the routing state every
request reads costs a memory load rather than a query.

Failures: every sqlite error becomes StoreError naming the file; after one
that is not a busy timeout the connection is dropped and the next call opens
the file again, so a repaired or replaced file is picked up.

The directory is created 0700 and the file 0600 (the WAL and shared-memory
files take the file's mode): it holds conversation content.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
import weakref
from contextlib import contextmanager

from . import MAX_VALUE_BYTES, StoreError, check_entry, counter_value, entry_size, storable
from .read_cache import ChangeMarks, ReadCache

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 5.0  # seconds a write waits for another process's write
PURGE_EVERY = 64  # writes per process between purges of expired rows
PURGE_BATCH = 500  # expired rows deleted per purge, at most
EVICT_BATCH = 1000  # rows deleted per write to get under max_bytes, at most
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # the WAL is truncated to this after a checkpoint

_SCHEMA = f"""
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS entries (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    expires REAL NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries (expires);
CREATE TABLE IF NOT EXISTS totals (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO totals VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS entries_inserted AFTER INSERT ON entries
    BEGIN UPDATE totals SET bytes = bytes + new.size WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS entries_updated AFTER UPDATE OF size ON entries
    BEGIN UPDATE totals SET bytes = bytes + new.size - old.size WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS entries_deleted AFTER DELETE ON entries
    BEGIN UPDATE totals SET bytes = bytes - old.size WHERE id = 1; END;
PRAGMA user_version = {SCHEMA_VERSION};
COMMIT;
"""

_UPSERT = ("INSERT INTO entries (namespace, key, value, expires, size) VALUES (?, ?, ?, ?, ?) "
           "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires = excluded.expires, "
           "size = excluded.size")

_open_stores = weakref.WeakSet()  # for the fork hook below; holds no store alive


class SQLiteStore:
    """A Store in the SQLite file at ``path`` (created on first use, with its directory)."""

    def __init__(self, path: str, retention_seconds: float, max_bytes: int, clock=time.time,
                 max_value_bytes: int = MAX_VALUE_BYTES):
        if not retention_seconds > 0 or not max_bytes > 0:
            raise ValueError("retention_seconds and max_bytes must be positive")
        self.path = os.path.abspath(os.path.expanduser(path))
        self.retention = float(retention_seconds)
        self.max_bytes = int(max_bytes)
        self.max_value_bytes = min(max_value_bytes, self.max_bytes)
        self._clock = clock
        # Under gevent this is a greenlet lock: sqlite calls never yield while it is held; the one sleep
        # (_wal, while workers create a new file together) yields, and other greenlets wait their turn.
        self._lock = threading.Lock()
        self._conn = None
        self._pid = None
        self._inherited = []  # connections opened before a fork: kept, never closed, never used
        self._writes = 0
        self._cache = None  # a ReadCache, opened with the connection
        self._removed_others = False  # a purge or eviction in this transaction deleted entries anywhere
        _open_stores.add(self)

    # -- the Store interface --------------------------------------------------

    def get(self, namespace: str, key: str) -> bytes | None:
        check_entry(namespace, key)
        key = storable(key)
        with self._session("read") as conn:
            row = conn.execute("SELECT value FROM entries WHERE namespace = ? AND key = ? AND expires > ?",
                               (namespace, key, self._clock())).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, namespace: str, key: str, value: bytes, ttl: float | None = None) -> None:
        value = check_entry(namespace, key, value, ttl, self.max_value_bytes)
        with self._transaction("write", namespace) as conn:
            self._write(conn, namespace, storable(key), value, ttl)

    def get_many(self, namespace: str, keys: list) -> dict:
        wanted = tuple(keys)
        cache = self._cache
        if cache is not None and self._pid == os.getpid():  # keys it holds were checked when first read
            found = cache.get(namespace, wanted, self._clock())
            if found is not None:
                return found
        for key in keys:
            check_entry(namespace, key)
        if not keys:
            return {}
        stored = {storable(key): key for key in keys}
        with self._session("read") as conn:
            now, cache = self._clock(), self._cache
            mark = cache.mark(namespace) if cache is not None else None  # before the query: see read_cache.py
            marks = ", ".join("?" * len(stored))
            rows = conn.execute(f"SELECT key, value, expires FROM entries WHERE namespace = ? AND key IN "
                                f"({marks}) AND expires > ?", (namespace, *stored, now)).fetchall()
        rows = {stored[key]: (bytes(value), expires) for key, value, expires in rows}
        if cache is not None:
            cache.keep(namespace, wanted, mark, rows)
        return {key: value for key, (value, _) in rows.items()}

    def items(self, namespace: str) -> dict:
        check_entry(namespace, "")
        with self._session("read") as conn:
            rows = conn.execute("SELECT key, value FROM entries WHERE namespace = ? AND expires > ?",
                                (namespace, self._clock())).fetchall()
        return {key: bytes(value) for key, value in rows}

    def increment(self, namespace: str, key: str, amount: int = 1, ttl: float | None = None) -> int:
        check_entry(namespace, key, b"", ttl)
        key = storable(key)
        with self._transaction("increment", namespace) as conn:  # the read and the write: one step for all
            row = conn.execute("SELECT value FROM entries WHERE namespace = ? AND key = ? AND expires > ?",
                               (namespace, key, self._clock())).fetchone()
            value = counter_value(None if row is None else bytes(row[0])) + amount
            self._write(conn, namespace, key, str(value).encode(), ttl)
        return value

    def increment_many(self, namespace: str, amounts: dict, ttl: float | None = None) -> dict:
        for key in amounts:
            check_entry(namespace, key, b"", ttl)
        values = {}
        with self._transaction("increment", namespace) as conn:  # one wait for the write lock, one commit
            now = self._clock()
            for key, amount in amounts.items():
                row = conn.execute("SELECT value FROM entries WHERE namespace = ? AND key = ? AND expires > ?",
                                   (namespace, storable(key), now)).fetchone()
                values[key] = counter_value(None if row is None else bytes(row[0])) + amount
                self._write(conn, namespace, storable(key), str(values[key]).encode(), ttl)
        return values

    def _write(self, conn, namespace: str, key: str, value: bytes, ttl: float | None):
        """Upsert one entry inside the caller's transaction, then purge and evict as needed."""
        now = self._clock()
        conn.execute(_UPSERT, (namespace, key, value, now + (self.retention if ttl is None else ttl),
                               entry_size(namespace, key, value)))
        if self._writes % PURGE_EVERY == 0 and self._purge(conn, now, PURGE_BATCH):
            self._removed_others = True
        self._writes += 1
        total = conn.execute("SELECT bytes FROM totals WHERE id = 1").fetchone()[0]
        if total > self.max_bytes:
            self._evict(conn, total - self.max_bytes, namespace, key)
            self._removed_others = True

    def delete(self, namespace: str, key: str) -> bool:
        check_entry(namespace, key)
        key = storable(key)
        with self._transaction("delete", namespace) as conn:
            row = conn.execute("SELECT expires FROM entries WHERE namespace = ? AND key = ?",
                               (namespace, key)).fetchone()
            conn.execute("DELETE FROM entries WHERE namespace = ? AND key = ?", (namespace, key))
        return row is not None and row[0] > self._clock()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # -- maintenance ----------------------------------------------------------

    def purge(self, limit: int = PURGE_BATCH) -> int:
        """Delete up to ``limit`` expired entries now; how many went."""
        with self._transaction("purge", None) as conn:
            count = self._purge(conn, self._clock(), limit)
            self._removed_others = count > 0
        return count

    @staticmethod
    def _purge(conn, now: float, limit: int) -> int:
        return conn.execute("DELETE FROM entries WHERE rowid IN "
                            "(SELECT rowid FROM entries WHERE expires <= ? ORDER BY expires LIMIT ?)",
                            (now, limit)).rowcount

    @staticmethod
    def _evict(conn, excess: int, namespace: str, key: str):
        """Delete the soonest-expiring entries (not ``namespace``/``key``) until ``excess`` bytes are freed."""
        victims, freed = [], 0
        rows = conn.execute("SELECT rowid, size FROM entries WHERE NOT (namespace = ? AND key = ?) "
                            "ORDER BY expires, rowid LIMIT ?", (namespace, key, EVICT_BATCH))
        for rowid, size in rows:
            if freed >= excess:
                break
            victims.append((rowid,))
            freed += size
        rows.close()
        conn.executemany("DELETE FROM entries WHERE rowid = ?", victims)

    # -- connections ------------------------------------------------------------

    @contextmanager
    def _transaction(self, doing: str, namespace: str | None):
        """One write transaction; once it has committed, the marks tell every process's read cache."""
        with self._session(doing) as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._removed_others = False
            yield conn
            conn.execute("COMMIT")
            if self._cache is not None:
                if self._removed_others:
                    self._cache.marks.stamp_all()
                elif namespace is not None:
                    self._cache.marks.stamp((namespace,))

    @contextmanager
    def _session(self, doing: str):
        """This process's connection, under the lock; sqlite errors leave as StoreError."""
        with self._lock:
            conn = None
            try:
                conn = self._connection()
                yield conn
            except sqlite3.Error as e:
                self._recover(conn, e)
                raise StoreError(f"state store {self.path}: {doing} failed: {e}") from e

    def _connection(self):
        if self._conn is not None and self._pid != os.getpid():
            self._set_aside()
        if self._conn is None:
            self._conn = self._open()
            self._pid = os.getpid()
            self._cache = self._open_cache()
        return self._conn

    def _open_cache(self):
        try:
            return ReadCache(ChangeMarks(self.path + "-marks"))
        except (OSError, ValueError) as e:
            log.warning("store: no read cache (%s-marks: %s); every read asks the database", self.path, e)
            return None

    def _set_aside(self):
        if self._conn is not None:
            self._inherited.append(self._conn)
        self._conn = None
        self._cache = None

    def _recover(self, conn, error: sqlite3.Error):
        if conn is None:
            return
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        text = str(error).lower()
        if "locked" in text or "busy" in text:
            return  # another process held the write lock too long: the connection itself is fine
        try:
            conn.close()
        except sqlite3.Error:
            pass
        self._conn = None

    def _open(self):
        directory = os.path.dirname(self.path)
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, mode=0o700, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            mode = os.fstat(fd).st_mode
            os.close(fd)
        except OSError as e:
            raise StoreError(f"state store {self.path}: cannot create: {e.strerror or e}") from e
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("store: %s is readable by other users (mode %o); it holds conversation content: "
                        "chmod 600 it", self.path, stat.S_IMODE(mode))
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        try:
            journal = _wal(conn)
            if journal != "wal":
                log.warning("store: %s cannot use WAL (journal mode %s): workers will wait on each other more",
                            self.path, journal)
            conn.execute("PRAGMA synchronous = NORMAL")  # in WAL mode: durable except on power loss
            conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"state store {self.path}: schema version {version} is newer than this "
                                 f"droid2api's ({SCHEMA_VERSION})")
            if version < SCHEMA_VERSION:
                conn.executescript(_SCHEMA)
        except BaseException:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            conn.close()
            raise
        return conn


def _wal(conn) -> str:
    """Switch to WAL mode (it persists in the file); the journal mode in force after."""
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0].lower()
    deadline = time.monotonic() + BUSY_TIMEOUT
    while journal != "wal":
        # Several workers opening a new file at once: the switch needs the file to itself, and sqlite
        # answers "locked" at once instead of calling the busy handler, so wait here.
        try:
            journal = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower()
            break
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)
    return journal


def _after_fork_in_child():
    # A lock some other thread held at the fork stays held forever in the child: replace it, and
    # set the parent's connection aside before anything can use it.
    for store in list(_open_stores):
        store._lock = threading.Lock()
        store._set_aside()


os.register_at_fork(after_in_child=_after_fork_in_child)
