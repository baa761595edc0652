"""This module keeps the usage counters: requests and tokens per access key, model and UTC day.

``Usage.record`` is a RequestRecord sink (access_log.py): each finished
request that went upstream, other than a token count, adds 1 request and the
tokens its upstream reported (input, which includes the cached tokens;
output, which includes reasoning; cache_read; cache_write; reasoning) under
the key's name (never the key; None without access keys) and the model that
answered, else the one asked for. The counters live in the state store
(namespace ``usage``, one entry per day, key, model and kind, kept 400 days),
each worker writing what it counted once a second in one transaction;
``usage.index`` names each (key, model) pair seen, so reading a period is one
listing of that small namespace and one batch of reads per day, on SQLite and
Redis alike. ``droid2api usage`` and GET /v1/gateway/usage read them back.
"""

from __future__ import annotations

import atexit
import datetime
import json
import logging
import os
import sys
import threading
import time

from .record import TOKEN_KINDS
from .store import StoreError

log = logging.getLogger(__name__)

NAMESPACE = "usage"
INDEX = "usage.index"
KEEP_DAYS = 400
TTL = KEEP_DAYS * 86400.0
DEFAULT_DAYS = 30  # a period without a start: today and the 29 days before
COUNTS = ("requests", *TOKEN_KINDS)
HEADINGS = ("day", "key", "model", "requests", "input", "output", "cache read", "cache write", "reasoning")
_BATCH = 500  # keys per get_many
FLUSH_EVERY = 1.0  # seconds a worker holds its counts before writing them


def is_counted(record) -> bool:
    """Whether a finished request counts: it went to an upstream and was not a token count."""
    return record.upstream is not None and not record.path.endswith(("/count_tokens", ":countTokens"))


def parse_day(text: str) -> datetime.date:
    """A YYYY-MM-DD date; ValueError with a readable message otherwise."""
    try:
        return datetime.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a date: use YYYY-MM-DD") from None


class Usage:
    """The counters of one worker: a request's counts are added in memory, and written to the store in one
    transaction at most every ``flush_every`` seconds (and when the process exits, and before this worker
    reads them back). A request's own write would cost more than the rest of its bookkeeping; the price is
    that another process sees a worker's counts up to ``flush_every`` seconds late."""

    def __init__(self, store, clock=time.time, flush_every: float = FLUSH_EVERY):
        self.store = store
        self.clock = clock
        self.flush_every = flush_every
        self._pending = {}  # (day, (key name, model), kind) -> amount not yet written
        self._new_pairs = set()  # (day, (key name, model)) whose index entry this worker has not written yet
        self._indexed = set()  # (day, (key name, model)) this worker has written the index entry of
        self._day = (0.0, "")  # (the end of the day in seconds, the day): record() asks for it every time
        self._lock = threading.Lock()
        self._flusher = None

    def today(self) -> datetime.date:
        return datetime.datetime.fromtimestamp(self.clock(), datetime.timezone.utc).date()

    def record(self, record):
        """Count one finished request (the sink)."""
        if not is_counted(record):
            return
        day = self._current_day()
        pair = (record.client, record.model or record.requested)
        with self._lock:  # the store's keys are written out at the flush, once per key and second
            pending = self._pending
            pending[day, pair, "requests"] = pending.get((day, pair, "requests"), 0) + 1
            for kind in TOKEN_KINDS:
                amount = record.tokens.get(kind)
                if amount:
                    pending[day, pair, kind] = pending.get((day, pair, kind), 0) + amount
            if (day, pair) not in self._indexed:
                self._new_pairs.add((day, pair))
        self._start_flusher()

    def _current_day(self) -> str:
        now = self.clock()
        ends, day = self._day
        if now >= ends or now < ends - 86400:
            day = self.today().isoformat()
            self._day = ((now // 86400 + 1) * 86400, day)
        return day

    def flush(self):
        """Write the pending counts (one transaction) and any new index entries."""
        with self._lock:
            pending, new_pairs = self._pending, self._new_pairs
            self._pending, self._new_pairs = {}, set()
        if not pending and not new_pairs:
            return
        try:
            if pending:
                self.store.increment_many(NAMESPACE, {_key(day, pair, kind): amount
                                                      for (day, pair, kind), amount in pending.items()}, ttl=TTL)
            for day, pair in new_pairs:  # an index entry lives as long as the counters of the day it was seen
                self.store.put(INDEX, json.dumps(list(pair)), b"1", ttl=TTL)
                self._indexed.add((day, pair))
        except StoreError as e:  # kept for the next flush: a store that is back gets the counts late, not never
            log.warning("usage: cannot write %d counts yet: %s", len(pending), e)
            with self._lock:
                for name, amount in pending.items():
                    self._pending[name] = self._pending.get(name, 0) + amount
                self._new_pairs |= new_pairs

    def _start_flusher(self):
        if self._flusher is not None:
            return
        with self._lock:
            if self._flusher is not None:
                return
            # A thread, so that counts reach the store while the worker is idle; under gevent a greenlet.
            self._flusher = threading.Thread(target=self._flush_forever, name="droid2api-usage", daemon=True)
            self._flusher.start()
        atexit.register(self.flush)  # a worker that stops writes what it holds

    def _flush_forever(self):
        while True:
            time.sleep(self.flush_every)
            try:
                self.flush()
            except Exception:  # never let the flusher die: the next round tries again
                log.exception("usage: flushing the counts failed")

    def rows(self, since: datetime.date | None = None, key: str | None = None) -> list:
        """One dict per day, key and model with any usage since ``since`` (default: the last 30 days), in that
        order; ``key`` keeps one key's rows. Other workers' counts of the last ``flush_every`` seconds may be
        missing."""
        self.flush()
        today = self.today()
        since = max(since or today - datetime.timedelta(days=DEFAULT_DAYS - 1),
                    today - datetime.timedelta(days=KEEP_DAYS))
        pairs = sorted((json.loads(entry) for entry in self.store.items(INDEX)),
                       key=lambda pair: (pair[0] or "", pair[1] or ""))
        if key is not None:
            pairs = [pair for pair in pairs if pair[0] == key]
        rows = []
        day = since
        while day <= today and pairs:
            wanted = [_key(day.isoformat(), pair, kind) for pair in pairs for kind in COUNTS]
            found = {}
            for start in range(0, len(wanted), _BATCH):
                found.update(self.store.get_many(NAMESPACE, wanted[start:start + _BATCH]))
            for pair in pairs:
                counts = {kind: int(found.get(_key(day.isoformat(), pair, kind), b"0")) for kind in COUNTS}
                if any(counts.values()):
                    rows.append({"day": day.isoformat(), "key": pair[0], "model": pair[1], **counts})
            day += datetime.timedelta(days=1)
        return rows


def totals(rows: list) -> dict:
    return {kind: sum(row[kind] for row in rows) for kind in COUNTS}


def table(rows: list) -> str:
    """The rows as a text table with a totals line, numbers right-aligned."""
    lines = [[row["day"], row["key"] or "-", row["model"] or "-", *(str(row[kind]) for kind in COUNTS)]
             for row in rows]
    lines.append(["total", "", "", *(str(value) for value in totals(rows).values())])
    widths = [max(len(cells[i]) for cells in [HEADINGS, *lines]) for i in range(len(HEADINGS))]

    def line(cells) -> str:
        return "  ".join(cell.ljust(width) if i < 3 else cell.rjust(width)
                         for i, (cell, width) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join(line(cells) for cells in [HEADINGS, *lines])


def command(since: str | None, key: str | None, out=None, err=None) -> int:
    """``droid2api usage``: print the table from the store the config names; 2 for a bad config or date."""
    out, err = out or sys.stdout, err or sys.stderr
    from .config import ConfigError, load_settings
    from .store import DB_FILE, StoreError, open_store

    try:
        start = parse_day(since) if since is not None else None
        settings = load_settings()
    except (ValueError, ConfigError) as e:
        print(f"droid2api: {e}", file=err)
        return 2
    if not settings.redis_url and not os.path.exists(os.path.join(settings.data_dir, DB_FILE)):
        print(f"no usage recorded: there is no store in {os.path.abspath(settings.data_dir)} (data_dir)", file=out)
        return 0
    store = open_store(settings)
    try:
        rows = Usage(store).rows(start, key)
    except StoreError as e:
        print(f"droid2api: the state store cannot be read: {e}", file=err)
        return 1
    finally:
        store.close()
    print(table(rows), file=out)
    return 0


def _key(day: str, pair: list, kind: str) -> str:
    return json.dumps([day, *pair, kind])
