"""This module keeps each route's recent latency and error rate, for /v1/gateway/routes.

Every worker records its own attempts in memory (a bounded window per route)
and writes them to the store at most every ``FLUSH_EVERY`` seconds, under its
own key; a report reads the entries of all workers and merges them. So
recording costs no store write per request, and a report is at most a few
seconds behind.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import deque

from ..store import StoreError

log = logging.getLogger(__name__)

NAMESPACE = "routing.stats"
WINDOW = 300.0  # "recent": the last five minutes
PER_ROUTE = 200  # attempts kept per route and worker
FLUSH_EVERY = 2.0


class RouteStats:
    def __init__(self, store, clock=time.time):
        self.store = store
        self.clock = clock
        self._recent = {}  # route id -> deque of (time, milliseconds, ok)
        self._flushed_at = 0.0
        self._dirty = False

    def record(self, route_id: str, milliseconds: float, ok: bool):
        window = self._recent.get(route_id)
        if window is None:
            window = self._recent[route_id] = deque(maxlen=PER_ROUTE)
        window.append((round(self.clock(), 3), round(milliseconds, 1), ok))
        self._dirty = True
        if self.clock() - self._flushed_at >= FLUSH_EVERY:
            self.flush()

    def flush(self):
        if not self._dirty:
            return
        self._flushed_at = self.clock()
        self._dirty = False
        horizon = self._flushed_at - WINDOW
        snapshot = {route: [entry for entry in window if entry[0] > horizon] for route, window in self._recent.items()}
        try:
            self.store.put(NAMESPACE, str(os.getpid()), json.dumps(snapshot).encode(), ttl=WINDOW)
        except StoreError as e:
            log.warning("routing: cannot save route statistics: %s", e)

    def report(self) -> dict:
        """Route id -> {attempts, errors, error_rate, latency_ms_p50, latency_ms_p95} over the recent window."""
        self.flush()
        merged = {}
        horizon = self.clock() - WINDOW
        for raw in self.store.items(NAMESPACE).values():
            try:
                snapshot = json.loads(raw)
            except ValueError:
                continue
            for route, entries in snapshot.items():
                merged.setdefault(route, []).extend(e for e in entries if e[0] > horizon)
        return {route: _summary(entries) for route, entries in merged.items()}


def _summary(entries: list) -> dict:
    latencies = sorted(e[1] for e in entries if e[2])
    errors = sum(1 for e in entries if not e[2])
    return {
        "attempts": len(entries),
        "errors": errors,
        "error_rate": round(errors / len(entries), 3) if entries else 0.0,
        "latency_ms_p50": _quantile(latencies, 0.5),
        "latency_ms_p95": _quantile(latencies, 0.95),
    }


def _quantile(ordered: list, q: float):
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
