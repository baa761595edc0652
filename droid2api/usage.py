"""This module keeps the usage counters: requests and tokens per access key, model and UTC day.

``Usage.record`` is a RequestRecord sink (access_log.py): each finished
request that went upstream, other than a token count, adds 1 request and the
tokens its upstream reported (input, which includes the cached tokens;
output, which includes reasoning; cache_read; cache_write; reasoning) under
the key's name (never the key; None without access keys) and the model that
answered, else the one asked for. The counters live in the state store
(namespace ``usage``, one entry per day, key, model and kind, kept 400 days);
``usage.index`` names each (key, model) pair seen, so reading a period is one
listing of that small namespace and one batch of reads per day, on SQLite and
Redis alike. ``droid2api usage`` and GET /v1/gateway/usage read them back.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
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
    def __init__(self, store, clock=time.time):
        self.store = store
        self.clock = clock

    def today(self) -> datetime.date:
        return datetime.datetime.fromtimestamp(self.clock(), datetime.timezone.utc).date()

    def record(self, record):
        """Count one finished request (the sink)."""
        if not is_counted(record):
            return
        day = self.today().isoformat()
        pair = [record.client, record.model or record.requested]
        amounts = {_key(day, pair, "requests"): 1}
        amounts.update({_key(day, pair, kind): record.tokens[kind] for kind in TOKEN_KINDS if record.tokens.get(kind)})
        try:
            counted = self.store.increment_many(NAMESPACE, amounts, ttl=TTL)  # one transaction per request
            if counted[_key(day, pair, "requests")] == 1:
                # The first request of this pair today: its index entry then lives as long as today's counters.
                self.store.put(INDEX, json.dumps(pair), b"1", ttl=TTL)
        except StoreError as e:  # the request was served; only its accounting is lost
            log.warning("usage: cannot count a request of %s: %s", record.client or "-", e)

    def rows(self, since: datetime.date | None = None, key: str | None = None) -> list:
        """One dict per day, key and model with any usage since ``since`` (default: the last 30 days), in that
        order; ``key`` keeps one key's rows."""
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
