"""This module defines the gateway's state store: bytes kept under (namespace, key) for a while.

Features that need memory across requests (stored Responses, Gemini thought
signatures, routing state, usage and limits) keep it here. The interface is
a few methods on bytes, so that an embedded SQLite file (``sqlite.py``, the
default: one host, several worker processes) and Redis (``redis_store.py``:
several hosts) can both serve it. Each entry expires: after its own ``ttl``,
else after the store's retention; an expired entry is never returned.

Every backend failure (a corrupt or unwritable database, a timeout) is raised
as ``StoreError``, never as the library's own exception. Callers log it and
answer the client 503 with a clear message: the request that needed the state
fails, the gateway keeps serving everything else. ``ValueTooLarge`` is the
one ``StoreError`` that is the caller's own doing (a value over the per-value
cap); catch it first if it should be answered differently.

A backend may also offer ``check()``, raising StoreError when it cannot
answer right now; /health/ready calls it where present (Redis has one: a
server that does not answer makes the gateway unready).
"""

from __future__ import annotations

import os
import re
import time
from typing import Protocol

DEFAULT_RETENTION = 30 * 86400.0
MAX_VALUE_BYTES = 16 * 1024 * 1024  # one stored response or signature; larger is refused
DB_FILE = "store.sqlite3"
_NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class StoreError(Exception):
    """The store cannot answer (corrupt, unwritable, busy); the message says what and where."""


class ValueTooLarge(StoreError):
    """A value over the store's per-value cap; nothing was written."""


class Store(Protocol):
    """What every backend provides. Namespaces are short names (letters, digits, ``_.-``); keys are any text."""

    def get(self, namespace: str, key: str) -> bytes | None:
        """The value, or None when absent or expired."""

    def put(self, namespace: str, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value``, replacing any; it expires after ``ttl`` seconds (None: the store's retention)."""

    def delete(self, namespace: str, key: str) -> bool:
        """Remove the entry; True if a live one was there."""

    def get_many(self, namespace: str, keys: list) -> dict:
        """The live values of those ``keys`` that have one, by key: one round trip for several reads."""

    def items(self, namespace: str) -> dict:
        """Every live entry of ``namespace``, by key (for small namespaces: routing statistics, reports)."""

    def increment(self, namespace: str, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Add ``amount`` to the counter at ``key`` (absent or expired: 0) atomically across processes and
        return the new value; the entry then expires after ``ttl`` (None: the store's retention)."""

    def increment_many(self, namespace: str, amounts: dict, ttl: float | None = None) -> dict:
        """``increment`` for several keys at once (key -> amount), in one transaction; key -> new value."""

    def close(self) -> None:
        """Release connections; a later call opens them again."""


def check_entry(namespace: str, key: str, value=None, ttl: float | None = None, cap: int | None = None) -> bytes | None:
    """Refuse arguments no backend would store the same way; return ``value`` as bytes."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise ValueError(f"store namespace must be 1-64 letters, digits, '_', '.' or '-', not {namespace!r}")
    if not isinstance(key, str):
        raise TypeError(f"store key must be str, not {type(key).__name__}")
    if ttl is not None and not ttl > 0:
        raise ValueError(f"store ttl must be a positive number of seconds, not {ttl!r}")
    if value is None:
        return None
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"store values are bytes, not {type(value).__name__}")
    value = bytes(value)
    if cap is not None and len(value) > cap:
        raise ValueTooLarge(f"{namespace}/{key}: a value of {len(value)} bytes is over the store's "
                            f"per-value limit of {cap} bytes")
    return value


def storable(key: str) -> str:
    """``key`` as a backend that needs UTF-8 can hold it: a key with a lone surrogate (a client's id cut in
    the middle of an emoji) becomes an escaped form that no encodable key can equal."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "\ufffe" + key.encode("utf-8", "surrogatepass").hex()
    return key


def counter_value(raw: bytes | None) -> int:
    """A counter entry's value: decimal ASCII; absent (or, defensively, unreadable) counts as 0."""
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def entry_size(namespace: str, key: str, value: bytes) -> int:
    """What an entry counts against the size bound: its value, key and namespace bytes."""
    return len(value) + len(key.encode("utf-8", "surrogatepass")) + len(namespace.encode())


class MemoryStore:
    """A Store in a dict, for tests of the modules that use one; same expiry and size rules as SQLiteStore."""

    def __init__(self, retention_seconds: float = DEFAULT_RETENTION, max_bytes: int | None = None,
                 clock=time.time, max_value_bytes: int = MAX_VALUE_BYTES):
        self.retention = retention_seconds
        self.max_bytes = max_bytes
        self.max_value_bytes = max_value_bytes if max_bytes is None else min(max_value_bytes, max_bytes)
        self._clock = clock
        self._entries = {}  # (namespace, key) -> (value, expires)

    def get(self, namespace: str, key: str) -> bytes | None:
        check_entry(namespace, key)
        entry = self._entries.get((namespace, key))
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def put(self, namespace: str, key: str, value: bytes, ttl: float | None = None) -> None:
        value = check_entry(namespace, key, value, ttl, self.max_value_bytes)
        now = self._clock()
        self._entries = {k: e for k, e in self._entries.items() if e[1] > now}
        self._entries.pop((namespace, key), None)
        self._entries[(namespace, key)] = (value, now + (self.retention if ttl is None else ttl))
        if self.max_bytes is not None:
            total = sum(entry_size(*k, e[0]) for k, e in self._entries.items())
            # Oldest-expiring first, never the entry just written; ties go in insertion order.
            for k in sorted(list(self._entries)[:-1], key=lambda k: self._entries[k][1]):
                if total <= self.max_bytes:
                    break
                total -= entry_size(*k, self._entries.pop(k)[0])

    def delete(self, namespace: str, key: str) -> bool:
        check_entry(namespace, key)
        entry = self._entries.pop((namespace, key), None)
        return entry is not None and entry[1] > self._clock()

    def get_many(self, namespace: str, keys: list) -> dict:
        found = {key: self.get(namespace, key) for key in keys}
        return {key: value for key, value in found.items() if value is not None}

    def items(self, namespace: str) -> dict:
        check_entry(namespace, "")
        now = self._clock()
        return {k[1]: e[0] for k, e in self._entries.items() if k[0] == namespace and e[1] > now}

    def increment(self, namespace: str, key: str, amount: int = 1, ttl: float | None = None) -> int:
        value = counter_value(self.get(namespace, key)) + amount
        self.put(namespace, key, str(value).encode(), ttl)
        return value

    def increment_many(self, namespace: str, amounts: dict, ttl: float | None = None) -> dict:
        return {key: self.increment(namespace, key, amount, ttl) for key, amount in amounts.items()}

    def close(self) -> None:
        pass


def open_store(settings) -> Store:
    """The store the settings configure: Redis when ``redis_url`` is set (redis_store.py), else the SQLite
    file ``store.sqlite3`` in ``data_dir``.

    Nothing connects or touches the disk until first use, so an unreachable
    Redis or a bad data directory fails the requests that need state
    (StoreError), not startup; a malformed ``redis_url`` fails startup.
    """
    retention = settings.store_retention_days * 86400.0
    if getattr(settings, "redis_url", None):
        from .redis_store import RedisStore  # redis-py is imported only when Redis is configured

        return RedisStore(settings.redis_url, retention_seconds=retention)
    from .sqlite import SQLiteStore

    return SQLiteStore(os.path.join(settings.data_dir, DB_FILE), retention_seconds=retention,
                       max_bytes=max(1, int(settings.store_max_mb * 1024 * 1024)))
