"""This module keeps the state store in Redis, shared by the gateways of several hosts (``redis_url``).

Same contract as the embedded SQLite store (sqlite.py): bytes under
(namespace, key), every entry expiring after its own ``ttl`` or the
retention, ``ValueTooLarge`` over the per-value cap, every failure a
``StoreError``. The layout:

- one Redis string per entry, at ``key_prefix + namespace + ":" + key``
  (namespaces cannot hold ``:``, so the mapping is unambiguous); values are
  the caller's bytes as they are;
- every key gets a TTL when written (``SET ... PX``), so Redis itself drops
  expired entries; ``increment`` is ``INCRBY`` + ``PEXPIRE`` in one
  ``MULTI``/``EXEC``, atomic for every host;
- ``get_many`` is one ``MGET``; ``items`` walks the keyspace with
  ``SCAN MATCH prefix+namespace:*``, which visits every key of the database:
  it is meant for small namespaces (routing statistics, reports), never for
  stored responses.

Size bound: Redis's own. ``store_max_mb`` is the SQLite file's bound and does
not apply here; set ``maxmemory`` on the server with ``maxmemory-policy
volatile-ttl``: every gateway key has a TTL, so Redis then drops the entries
closest to expiry first, as the SQLite store does. Under ``noeviction`` a full
Redis refuses writes, and those become StoreError.

Connections: one redis-py client per store, whose pool opens connections on
first use and is shared by the greenlets of a gevent worker (gevent patches
the sockets redis-py uses). A forked child gets a pool of its own (redis-py
checks the process id). Timeouts are short, so a dead Redis fails requests
fast instead of holding them: connect ``CONNECT_TIMEOUT``, each reply
``READ_TIMEOUT``; a refused or dropped connection is retried once at once
(a pooled connection may predate a Redis restart); after a connection
failure the store answers StoreError at once for ``DOWN_PAUSE`` seconds
instead of waiting on the network again for each call.

Errors name the server as ``redis://host:port/db`` (``describe``), never the
URL itself, which may hold a password.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, AuthorizationError
from redis.retry import Retry

from . import MAX_VALUE_BYTES, StoreError, check_entry

DEFAULT_PREFIX = "droid2api:"
CONNECT_TIMEOUT = 2.0  # seconds to open a connection to Redis
READ_TIMEOUT = 5.0  # seconds to wait for one reply
DOWN_PAUSE = 1.0  # seconds after a connection failure during which calls fail at once
SCAN_COUNT = 1000  # keys per SCAN step and per MGET batch in items()


def describe(url: str) -> str:
    """Where ``url`` points, fit for logs and error messages: scheme, host, port and database, no credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    try:
        port = parts.port or 6379
    except ValueError:
        port = "?"
    database = parts.path.strip("/") or "0"
    return f"{parts.scheme}://{parts.hostname or 'localhost'}:{port}/{database}"


def connect(url: str) -> redis.Redis:
    """A redis-py client for ``url`` with the gateway's timeouts and retry; it connects on first use."""
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=READ_TIMEOUT,
                                    retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                                    client_name="droid2api")
    except ValueError as e:  # a malformed URL is the configuration's mistake: say so at start
        raise ValueError(f"redis_url {describe(url)}: {e}") from None


def secrets_of(url: str) -> list:
    """The user name and password in ``url``: never to appear in a message."""
    parts = urlsplit(url)
    return [unquote(s) for s in (parts.password, parts.username) if s and len(s) > 2]


def scrubbed(error: Exception, secrets: list) -> str:
    """An exception's message with any of ``secrets`` blanked (redis-py does not put them there; be sure)."""
    text = str(error) or type(error).__name__
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


class RedisStore:
    """A Store in the Redis at ``url`` (redis://, rediss:// or unix://), every key under ``key_prefix``."""

    def __init__(self, url: str, retention_seconds: float, max_value_bytes: int = MAX_VALUE_BYTES,
                 key_prefix: str = DEFAULT_PREFIX):
        if not retention_seconds > 0 or not max_value_bytes > 0:
            raise ValueError("retention_seconds and max_value_bytes must be positive")
        self.url = url
        self.where = describe(url)
        self.retention = float(retention_seconds)
        self.max_value_bytes = int(max_value_bytes)
        self.key_prefix = key_prefix
        self._secrets = secrets_of(url)
        self._client = connect(url)  # no connection yet: a malformed URL fails here, an unreachable Redis at use
        self._client_lock = threading.Lock()
        self._down_until = 0.0
        self._down_reason = ""

    # -- the Store interface --------------------------------------------------

    def get(self, namespace: str, key: str) -> bytes | None:
        check_entry(namespace, key)
        with self._errors("read") as client:
            return client.get(self._key(namespace, key))

    def put(self, namespace: str, key: str, value: bytes, ttl: float | None = None) -> None:
        value = check_entry(namespace, key, value, ttl, self.max_value_bytes)
        with self._errors("write") as client:
            client.set(self._key(namespace, key), value, px=self._ms(ttl))

    def delete(self, namespace: str, key: str) -> bool:
        check_entry(namespace, key)
        with self._errors("delete") as client:
            return client.delete(self._key(namespace, key)) > 0  # an expired key counts as absent in Redis too

    def get_many(self, namespace: str, keys: list) -> dict:
        for key in keys:
            check_entry(namespace, key)
        if not keys:
            return {}
        with self._errors("read") as client:
            values = client.mget([self._key(namespace, key) for key in keys])
        return {key: value for key, value in zip(keys, values) if value is not None}

    def items(self, namespace: str) -> dict:
        """Every live entry of ``namespace``: a SCAN of the whole database, so for small namespaces only."""
        check_entry(namespace, "")
        start = self._key(namespace, "")
        pattern = _glob_escape(start) + b"*"
        found = {}
        with self._errors("list") as client:
            batch = []
            for name in client.scan_iter(match=pattern, count=SCAN_COUNT):
                batch.append(name)
                if len(batch) >= SCAN_COUNT:
                    found.update(zip(batch, client.mget(batch)))
                    batch = []
            if batch:
                found.update(zip(batch, client.mget(batch)))
        # SCAN may return a key twice; a key that expired between SCAN and MGET reads as None.
        return {name[len(start):].decode("utf-8", "surrogatepass"): value
                for name, value in found.items() if value is not None}

    def increment(self, namespace: str, key: str, amount: int = 1, ttl: float | None = None) -> int:
        check_entry(namespace, key, b"", ttl)
        name, ms = self._key(namespace, key), self._ms(ttl)
        with self._errors("increment") as client:
            pipe = client.pipeline(transaction=True)
            pipe.incrby(name, amount)
            pipe.pexpire(name, ms)
            try:
                value, _ = pipe.execute()
            except redis.ResponseError as e:
                if "not an integer" not in str(e):
                    raise
                # Not a counter (an unreadable value counts as 0, as in the other backends): start again.
                client.set(name, str(amount).encode(), px=ms)
                value = amount
        return int(value)

    def increment_many(self, namespace: str, amounts: dict, ttl: float | None = None) -> dict:
        for key in amounts:
            check_entry(namespace, key, b"", ttl)
        if not amounts:
            return {}
        ms = self._ms(ttl)
        with self._errors("increment") as client:
            pipe = client.pipeline(transaction=True)
            for key, amount in amounts.items():
                pipe.incrby(self._key(namespace, key), amount)
                pipe.pexpire(self._key(namespace, key), ms)
            try:
                results = pipe.execute()
            except redis.ResponseError as e:
                if "not an integer" not in str(e):
                    raise
                return {key: self.increment(namespace, key, amount, ttl) for key, amount in amounts.items()}
        return {key: int(value) for key, value in zip(amounts, results[::2])}

    def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.connection_pool.disconnect()

    # -- beyond the interface -------------------------------------------------

    def check(self) -> None:
        """Raise StoreError unless Redis answers a PING now (for /health/ready)."""
        with self._errors("ping") as client:
            client.ping()

    def describe(self) -> str:
        return self.where

    # -- internals ------------------------------------------------------------

    def _key(self, namespace: str, key: str) -> bytes:
        return f"{self.key_prefix}{namespace}:{key}".encode("utf-8", "surrogatepass")

    def _ms(self, ttl: float | None) -> int:
        return max(1, math.ceil((self.retention if ttl is None else ttl) * 1000))

    def _connection(self) -> redis.Redis:
        with self._client_lock:
            if self._client is None:
                self._client = connect(self.url)
            return self._client

    @contextmanager
    def _errors(self, doing: str):
        """The client, with every redis-py error leaving as StoreError naming the server."""
        if time.monotonic() < self._down_until:
            raise StoreError(f"state store {self.where} unreachable: {self._down_reason} "
                             f"(not tried again for {DOWN_PAUSE:g} s)")
        try:
            yield self._connection()
        except redis.RedisError as e:
            if isinstance(e, (redis.ConnectionError, redis.TimeoutError)) and \
                    not isinstance(e, (AuthenticationError, AuthorizationError)):
                self._down_until = time.monotonic() + DOWN_PAUSE
                self._down_reason = scrubbed(e, self._secrets)
            raise store_error(e, f"state store {self.where}", doing, self._secrets) from e


def store_error(error: Exception, what: str, doing: str, secrets: list) -> StoreError:
    """A redis-py error as the StoreError callers handle, saying ``what`` failed and how."""
    reason = scrubbed(error, secrets)
    if isinstance(error, (AuthenticationError, AuthorizationError)):
        return StoreError(f"{what} refused the login: {reason}")
    if isinstance(error, (redis.ConnectionError, redis.TimeoutError)):
        return StoreError(f"{what} unreachable: {doing} failed: {reason}")
    return StoreError(f"{what}: {doing} failed: {reason}")


def _glob_escape(raw: bytes) -> bytes:
    """``raw`` matched literally by a Redis glob pattern."""
    for special in (b"\\", b"*", b"?", b"[", b"]"):
        raw = raw.replace(special, b"\\" + special)
    return raw
