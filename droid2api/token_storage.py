"""This module keeps Factory's WorkOS tokens where every process of the gateway finds them, and lets one
process at a time rotate them: a private JSON file under a file lock (one host: its workers), and,
with ``redis_url``, one Redis key under a Redis lock (several hosts).

A record has the shape of the droid CLI's ``auth.json``: ``access_token``,
``refresh_token``, ``last_updated`` (ISO 8601), and ``seed`` (the SHA-256 of
the DROID_REFRESH_KEY that started the rotation) when there was one.
credentials.RefreshingToken decides what to adopt and when to refresh; this
module only reads, writes and locks.

Redis: the record is the JSON string at ``droid2api:credentials:factory``,
without a TTL (``maxmemory-policy volatile-ttl`` never evicts it); the lock is
redis-py's ``Lock`` at that key + ``:lock``, which expires by itself after
``LOCK_HOLD`` seconds should its holder die mid-refresh. Every Redis failure
is a StoreError naming the server, never the password.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from contextlib import contextmanager
from datetime import datetime

from filelock import FileLock

from .store import StoreError

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 30  # seconds a process waits for another's refresh
LOCK_HOLD = 60  # seconds a Redis lock outlives a holder that died: above a refresh's 5 + 15 s of timeouts
CREDENTIAL_KEY = "droid2api:credentials:factory"
LOCK_POLL = 0.05  # seconds between two tries at a Redis lock another host holds


class FileTokens:
    """The record in the JSON file at ``path``, and its lock file ``path.lock``."""

    def __init__(self, path: str):
        self.path = path
        self.where = path
        self.lock = FileLock(path + ".lock", timeout=LOCK_TIMEOUT)  # raises filelock.Timeout or OSError

    def read(self) -> dict | None:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            log.warning("credentials: cannot read %s: %s", self.path, e)
            return None
        return data if isinstance(data, dict) else None

    def write(self, record: dict):
        """Merge ``record`` into the file (the droid CLI's other fields stay); OSError when it cannot."""
        data = self.read() or {}
        data.update(record)
        write_private_json(self.path, data)


class RedisTokens:
    """The record in Redis at ``key``, shared by every host configured with the same ``redis_url``."""

    def __init__(self, url: str, key: str = CREDENTIAL_KEY):
        from .store.redis_store import connect, describe, secrets_of  # redis-py only when configured

        self.key = key
        self.where = f"{describe(url)} (key {key})"
        self._client = connect(url)
        self._secrets = secrets_of(url)

    def read(self) -> dict | None:
        with self._errors("read"):
            raw = self._client.get(self.key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError as e:
            log.warning("credentials: the Factory token in %s is not JSON (%s); ignoring it", self.where, e)
            return None
        return data if isinstance(data, dict) else None

    def write(self, record: dict):
        with self._errors("write"):
            self._client.set(self.key, json.dumps(record).encode())

    @contextmanager
    def locked(self):
        """Hold the Redis lock for the block; StoreError when Redis fails or another host keeps it too long."""
        from redis.exceptions import LockError

        lock = self._client.lock(self.key + ":lock", timeout=LOCK_HOLD, sleep=LOCK_POLL,
                                 blocking_timeout=LOCK_TIMEOUT, thread_local=False)
        with self._errors("lock"):
            if not lock.acquire():
                raise StoreError(f"{self.where}: another process held the refresh lock for over {LOCK_TIMEOUT} s")
        try:
            yield
        finally:
            try:
                lock.release()
            except LockError as e:  # it expired (held past LOCK_HOLD), or Redis went away: it expires by itself
                log.warning("credentials: releasing the refresh lock in %s: %s", self.where, e)
            except Exception as e:  # noqa: BLE001 -- a failed release must not hide the block's outcome
                log.warning("credentials: releasing the refresh lock in %s: %s", self.where, e)

    def close(self):
        self._client.connection_pool.disconnect()

    @contextmanager
    def _errors(self, doing: str):
        import redis

        from .store.redis_store import store_error

        try:
            yield
        except redis.RedisError as e:
            raise store_error(e, f"the Factory token in {self.where}", doing, self._secrets) from e


def write_private_json(path: str, data: dict):
    """Replace ``path`` atomically with ``data``, readable by the owner only."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".auth-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def timestamp(value) -> float:
    """A record's ``last_updated`` (ISO 8601 or epoch seconds) as epoch seconds; 0.0 when absent or unreadable."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0
