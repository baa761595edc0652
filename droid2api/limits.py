"""This module enforces what a named access key may do: which models it may ask for, and how much.

A key in ``access_keys`` written as an object (config.ClientKey) may carry
``models`` (ids or globs), ``rpm``, ``tpm`` and ``daily_tokens``. Before a
request goes upstream, ``Limits.admit`` answers 403 for a model the key may
not use and 429 (with ``Retry-After``) for a key over a limit; app.py renders
both in the client's dialect. Plain-string keys, and requests without access
keys configured, have no limits.

The windows are fixed and aligned to UTC: ``rpm`` and ``tpm`` count per
calendar minute, ``daily_tokens`` per UTC day, so a key may send up to twice
its rpm across a minute's boundary. Requests are counted as they arrive;
tokens (input + output, the input including cached tokens) only when an
answer has finished (``Limits.count``, a RequestRecord sink), so the request
that crosses a token limit is served and the ones after it are refused until
the window ends. Token counting endpoints (count_tokens, countTokens) are held
to the model list only.

Every counter is a ``store.increment`` with a TTL, so the workers of a host
(SQLite) or of several hosts (Redis) count together.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import time

from .config_schema import AUTO_MODEL
from .errors import GatewayError
from .store import StoreError, counter_value

log = logging.getLogger(__name__)

NAMESPACE = "limits"
MINUTE = 60
DAY = 86400


def may_use(patterns: list | None, names) -> bool:
    """Whether any of ``names`` is one of ``patterns`` (model ids or fnmatch globs); None allows everything."""
    if patterns is None:
        return True
    return any(name == pattern or fnmatch.fnmatchcase(name, pattern) for name in names for pattern in patterns)


class Limits:
    """The model lists and rate limits of the configured keys, counted in ``store``."""

    def __init__(self, access_keys: list, router, store, clock=time.time):
        self.router = router
        self.store = store
        self.clock = clock
        self._metered = {key.name: key for key in access_keys if key.tpm or key.daily_tokens}

    # -- before the upstream call ----------------------------------------------

    def admit(self, client, requested, *, count_tokens: bool = False):
        """Raise GatewayError 403 or 429 unless ``client`` (a config.ClientKey, or None) may send this request."""
        if client is None:
            return
        if isinstance(requested, str) and requested and not may_use(client.models, self.names(requested)):
            raise GatewayError(403, f"key {client.name!r} may not use model {requested!r}", param="model",
                               code="model_not_allowed")
        if count_tokens or not (client.rpm or client.tpm or client.daily_tokens):
            return
        try:
            self._admit_within_limits(client)
        except StoreError as e:
            log.warning("limits: cannot count for key %s: %s", client.name, e)
            raise GatewayError(503, f"the usage limits of key {client.name!r} cannot be checked now: the state "
                                    f"store is unavailable") from None

    def names(self, requested: str) -> set:
        """What an allow-list is matched against: the name the client asked for, and the configured id it
        resolves to (model_redirects); model "auto" is itself, so it must be listed (or matched by a glob)."""
        if self.router.is_auto(requested):
            return {requested, AUTO_MODEL}
        return {requested, self.router.policy.redirect(requested)}

    def _admit_within_limits(self, client):
        now = self.clock()
        minute, day = _window(now, MINUTE), _window(now, DAY)
        keys = []
        if client.tpm:
            keys.append(_key("tpm", client.name, minute))
        if client.daily_tokens:
            keys.append(_key("day", client.name, day))
        used = self.store.get_many(NAMESPACE, keys) if keys else {}
        if client.daily_tokens and counter_value(used.get(_key("day", client.name, day))) >= client.daily_tokens:
            raise _over(client, f"{client.daily_tokens} tokens per day (UTC)", day + DAY - now)
        if client.tpm and counter_value(used.get(_key("tpm", client.name, minute))) >= client.tpm:
            raise _over(client, f"{client.tpm} tokens per minute", minute + MINUTE - now)
        if client.rpm:
            count = self.store.increment(NAMESPACE, _key("rpm", client.name, minute), 1, ttl=2 * MINUTE)
            if count > client.rpm:
                raise _over(client, f"{client.rpm} requests per minute", minute + MINUTE - now)

    # -- after the answer: a RequestRecord sink ----------------------------------

    def count(self, record):
        """Add a finished request's tokens to its key's token windows (access_log.py calls this)."""
        client = self._metered.get(record.client)
        tokens = record.total_tokens
        if client is None or not tokens:
            return
        now = self.clock()
        try:
            if client.tpm:
                self.store.increment(NAMESPACE, _key("tpm", client.name, _window(now, MINUTE)), tokens,
                                     ttl=2 * MINUTE)
            if client.daily_tokens:
                self.store.increment(NAMESPACE, _key("day", client.name, _window(now, DAY)), tokens, ttl=2 * DAY)
        except StoreError as e:  # the request was served; its tokens go uncounted, which the log says
            log.warning("limits: cannot count the tokens of %s: %s", client.name, e)


def _window(now: float, length: int) -> int:
    """The start of the fixed UTC window of ``length`` seconds that ``now`` is in."""
    return int(now // length) * length


def _key(kind: str, name: str, window: int) -> str:
    return f"{kind}|{window}|{name}"


def _over(client, limit: str, wait: float) -> GatewayError:
    seconds = max(1, math.ceil(wait))
    return GatewayError(429, f"key {client.name!r} is over its limit of {limit}; retry in {seconds} s",
                        code="rate_limit_exceeded", headers={"Retry-After": str(seconds)})
