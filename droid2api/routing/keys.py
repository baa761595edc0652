"""This module keeps the state of the server's own upstream keys: which are parked, which are resting.

A pooled key (configured on the server: ``api_keys``, ``api_keys_env``, a
comma-separated ``FACTORY_API_KEY``) that an upstream answers 401 or 402 is
*parked*: it is not used again until the configuration is reloaded (each
start or reload of the server is a new *generation*). A 403 parks it for
that model only, since upstreams refuse single models to some accounts. A key
answered 429 *rests*, for that model, for the upstream's Retry-After (or
``rate_limit_rest``) while the pool's other keys serve: providers limit rates
per model, so one model's limit must not stop a key serving the others. Keys are used in turn (a round-robin
cursor shared by the workers), except that a conversation keeps its key
while the key is usable (routing/affinity.py).

State is in the store, namespace ``routing``, keyed by the key's fingerprint:
the key itself is never stored or logged.
"""

from __future__ import annotations

import json
import logging
import time
from email.utils import parsedate_to_datetime

from ..store import StoreError

log = logging.getLogger(__name__)

NAMESPACE = "routing"
PARK_MEMORY = 30 * 86400.0  # a parked key stays parked this long at most, even without a reload
MAX_REST = 3600.0  # a Retry-After further out than this is read as this


class KeyStates:
    def __init__(self, store, generation: str, default_rest: float, clock=time.time):
        self.store = store
        self.generation = generation  # this server's: it becomes the newest once announced
        self.default_rest = default_rest
        self.clock = clock
        self._announced = False

    def announce(self):
        """Make this server's generation the newest, once: the first process of a new start or reload to
        route does it (a worker respawned later under an old generation finds it seen and keeps quiet)."""
        if self._announced:
            return
        try:
            if self.store.increment(NAMESPACE, f"generation.seen:{self.generation}", ttl=PARK_MEMORY) == 1:
                self.store.put(NAMESPACE, "generation", self.generation.encode(), ttl=PARK_MEMORY)
            self._announced = True
        except StoreError as e:
            log.warning("routing: cannot announce generation %s: %s", self.generation, e)

    def _newest(self, found: dict) -> str:
        raw = found.get("generation")
        return raw.decode() if raw else self.generation

    @staticmethod
    def _park_keys(upstream: str, key, model: str) -> tuple:
        base = f"park:{upstream}:{key.fingerprint}"
        return base, f"{base}:{model}"

    @staticmethod
    def _rest_key(upstream: str, key, model: str) -> str:
        return f"rest:{upstream}:{key.fingerprint}:{model}"

    def names(self, upstream: str, model: str, keys: list) -> list:
        """The store entries ``usable`` reads, for a caller that reads them with others in one go."""
        pooled = [key for key in keys if key.pooled]
        if not pooled:
            return []
        names = ["generation"]
        for key in pooled:
            names += [*self._park_keys(upstream, key, model), self._rest_key(upstream, key, model)]
        return names

    def usable(self, upstream: str, model: str, keys: list, first=None, found: dict | None = None) -> tuple:
        """(the keys to try, in order; why the others are left out, as (status, text) pairs; the soonest a
        resting key is back, or None). ``first`` is a fingerprint to try first (the conversation's key);
        ``found``: ``names(...)`` already read from the store."""
        names = self.names(upstream, model, keys)
        if not names:
            return list(keys), [], None
        self.announce()
        if found is None:
            try:
                found = self.store.get_many(NAMESPACE, names)
            except StoreError as e:
                log.warning("routing: key states of %s unavailable (%s); trying every key", upstream, e)
                found = {}
        now, newest = self.clock(), self._newest(found)
        ready, skipped, back_at = [], [], None
        for key in keys:
            whole, per_model = self._park_keys(upstream, key, model)
            parked = next((record for record in (_json(found.get(whole)), _json(found.get(per_model)))
                           if record.get("generation") == newest), None)  # older ones: a reload since
            rest = _json(found.get(self._rest_key(upstream, key, model)))
            if parked is not None:
                record = parked
                skipped.append((503, f"key {key.fingerprint} parked after a {record.get('status', '?')}: "
                                     f"{record.get('reason', '')}"))
            elif rest and rest.get("until", 0) > now:
                skipped.append((429, f"key {key.fingerprint} resting {rest['until'] - now:.0f}s more after a "
                                     f"429: {rest.get('reason', '')}"))
                back_at = rest["until"] if back_at is None else min(back_at, rest["until"])
            else:
                ready.append(key)
        return _ordered(ready, first, self._cursor(upstream, len(ready))), skipped, back_at

    def _cursor(self, upstream: str, size: int) -> int:
        if size < 2:
            return 0
        try:
            return self.store.increment(NAMESPACE, f"rr:keys:{upstream}") % size
        except StoreError:
            return 0

    def park(self, upstream: str, model: str, key, status: int, reason: str):
        self.announce()
        whole, per_model = self._park_keys(upstream, key, model)
        try:
            newest = self._newest(self.store.get_many(NAMESPACE, ["generation"]))
        except StoreError:
            newest = self.generation
        record = {"status": status, "model": model, "fingerprint": key.fingerprint, "at": self.clock(),
                  "reason": reason[:300], "generation": newest}
        self._put(per_model if status == 403 else whole, record, PARK_MEMORY)
        scope = f"for model {model}" if status == 403 else "for every model"
        log.error("routing: key %s of upstream %s answered %s and is parked %s until the config is reloaded: %s",
                  key.fingerprint, upstream, status, scope, reason)

    def rest(self, upstream: str, model: str, key, headers, reason: str) -> float:
        """Rest ``key`` for ``model`` as long as the 429's headers ask (or the default); the seconds chosen."""
        seconds = retry_after(headers) or self.default_rest
        self._put(self._rest_key(upstream, key, model), {"until": self.clock() + seconds, "model": model,
                                                         "fingerprint": key.fingerprint, "reason": reason[:300]},
                  seconds)
        log.warning("routing: key %s of upstream %s is rate limited for %s; resting it %.0fs: %s", key.fingerprint,
                    upstream, model, seconds, reason)
        return seconds

    def states(self, upstream: str, keys: list, entries: dict | None = None) -> list:
        """For /v1/gateway/routes: each pooled key's fingerprint, and where it is parked or resting.
        ``entries`` is this namespace's ``items()`` when a report already read them."""
        now = self.clock()
        by_key = {key.fingerprint: {"fingerprint": key.fingerprint, "parked": None, "parked_for_models": {},
                                    "resting_for_models": {}} for key in keys}
        entries = self.store.items(NAMESPACE) if entries is None else entries
        newest = self._newest(entries)
        for name, raw in entries.items():
            record = _json(raw)
            entry = by_key.get(record.get("fingerprint"))
            if entry is None:
                continue
            if name.startswith(f"park:{upstream}:") and record.get("generation") == newest:
                if record.get("status") == 403:
                    entry["parked_for_models"][record.get("model")] = record.get("reason")
                else:
                    entry["parked"] = {"status": record.get("status"), "reason": record.get("reason")}
            elif name.startswith(f"rest:{upstream}:") and record.get("until", 0) > now:
                entry["resting_for_models"][record.get("model")] = round(record["until"] - now, 1)
        return list(by_key.values())

    def forget(self):
        """Un-park and wake every key (POST /v1/gateway/routes/reset)."""
        for name in self.store.items(NAMESPACE):
            if name.startswith(("park:", "rest:")):
                self.store.delete(NAMESPACE, name)

    def _put(self, name: str, record: dict, ttl: float):
        try:
            self.store.put(NAMESPACE, name, json.dumps(record).encode(), ttl=ttl)
        except StoreError as e:
            log.warning("routing: cannot record key state %s: %s", name.split(":")[0], e)


def retry_after(headers) -> float | None:
    """Seconds an upstream asked to wait: ``retry-after-ms`` (OpenAI), ``retry-after`` in seconds or as a date."""
    if headers is None:
        return None
    try:
        if headers.get("retry-after-ms"):
            return min(max(float(headers["retry-after-ms"]) / 1000, 0.0), MAX_REST) or None
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        return min(max(seconds, 0.0), MAX_REST) or None
    except (TypeError, ValueError, OverflowError):
        return None


def _ordered(keys: list, first: str | None, start: int) -> list:
    """``keys`` rotated to begin at ``start``, with the one whose fingerprint is ``first`` moved to the front."""
    rotated = keys[start:] + keys[:start]
    for i, key in enumerate(rotated):
        if key.fingerprint == first:
            return [key] + rotated[:i] + rotated[i + 1:]
    return rotated


def _json(raw) -> dict:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}
