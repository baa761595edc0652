"""This module walks a request's candidate routes until one answers: the order of events when an upstream fails.

For each candidate route, in order:

1. An open circuit breaker skips the route (half-open: one request probes it;
   a probe that ends without a verdict, its keys resting or parked, lets the
   next request probe instead).
2. Its keys are taken in turn, parked and resting ones left out, the
   conversation's own key first.
3. An attempt is one ordinary passthrough or conversion (``attempt(route)``).
   It counts as failed only if it ends before anything has been sent to the
   client: an error status, a refused connection, no first byte in time, a
   body broken off. After the first byte the client has the answer; a later
   failure ends its stream with an error event and is reported to the
   breaker when the upstream response closes.
4. A failure's outcome: 401/402/403 with a server key parks the key and the
   next key is tried; 429 with a server key rests it and the next key is
   tried (with a client's own key, the next route is, and the route is not
   blamed); a status in ``retry_statuses`` or no answer at all counts
   against the breaker and the next route is tried; any other status goes
   back to the client at once, as the upstream wrote it.

When no route is left, the client gets the last failure (or, if nothing could
be tried, why not: a 503 or 429 with Retry-After). Every response carries the
routing headers, and the notice when a fallback answered (notice.py).
"""

from __future__ import annotations

import logging
import time

from ..errors import GatewayError
from ..upstream import UpstreamBroken, UpstreamFailed
from . import notice as notices

log = logging.getLogger(__name__)

PARKING_STATUSES = (401, 402, 403)


class _Attempt:
    """What an UpstreamResponse reports back to once the client has been answered."""

    __slots__ = ("router", "route", "admission", "committed")

    def __init__(self, router, route, admission):
        self.router = router
        self.route = route
        self.admission = admission
        self.committed = False

    def closed(self, broken: bool):
        if broken and self.committed:  # a stream that failed after its first byte
            self.router.breakers.failed(self.route.id, self.admission, "the stream broke off")
            self.router.stats.record(self.route.id, 0.0, False)


def walk(router, candidates: list, *, conversation: str | None, recalled: dict, client_key: str | None,
         attempt, render_failure, dialect: str):
    """The first answer ``attempt(route)`` gets along ``candidates``; see the module docstring for the order.

    ``render_failure(failure)`` turns the last UpstreamFailed into the client's
    response (or raises it as a GatewayError in the client's dialect).
    """
    return _Walk(router, candidates, conversation, recalled, client_key).run(attempt, render_failure, dialect)


class _Walk:
    """One request's walk: what was tried, what failed, what was skipped and why."""

    def __init__(self, router, candidates, conversation, recalled, client_key):
        self.router = router
        self.candidates = candidates
        self.conversation = conversation
        self.recalled = recalled
        self.client_key = client_key
        self.attempts = 0
        self.failures = []  # UpstreamFailed, UpstreamBroken or credential GatewayErrors, in order
        self.skipped = []  # (status, reason): routes and keys left out without a call
        self.back_at = None  # the soonest a skipped route or key may be tried again

    def run(self, attempt, render_failure, dialect: str):
        for route in self.candidates:
            answered = self._try_route(route, attempt)
            if answered is not None:
                response, failure = answered
                if failure is not None:  # a client error: it goes back as it is
                    return _give_up(failure, render_failure, self.attempts, route.model.id)
                self._tell(response, route, dialect)
                return response
            if self.attempts >= self.router.settings.max_attempts:
                self.skipped.append((503, f"max_attempts ({self.router.settings.max_attempts}) reached"))
                break
        if self.failures:
            return _give_up(self.failures[-1], render_failure, self.attempts, None, self.skipped)
        raise _nothing_to_try(self.skipped, self.back_at, self.attempts)

    def _try_route(self, route, attempt):
        """(response, None) on an answer, (None, failure) for a client error to relay, None to go on."""
        router = self.router
        try:
            pool = router.credentials.keys(route, self.client_key)
        except GatewayError as e:
            pool, no_key = None, e
        found = router.read_state(route, pool)  # the breaker's and the keys' entries, in one store read
        admission = router.breakers.admit(route.id, found)
        if not admission.allowed:
            self._skip(503, f"{route.model.id}: circuit breaker open ({admission.reason})", admission.until)
            return None
        if pool is None:
            self._skip(no_key.status, f"{route.model.id}: {no_key.message}")
            self.failures.append(no_key)
            return None
        keys, unusable, resting_until = router.keys.usable(route.upstream, route.upstream_model, pool,
                                                          first=self.recalled.get("key"), found=found)
        for status, reason in unusable:
            self._skip(status, f"{route.model.id}: {reason}")
        self.back_at = _soonest(self.back_at, resting_until)
        for key in keys:
            if self.attempts >= router.settings.max_attempts:
                break
            self.attempts += 1
            keyed = route.with_key(key)
            keyed.report = _Attempt(router, route, admission)
            started = time.monotonic()
            try:
                response = attempt(keyed)
            except (UpstreamFailed, UpstreamBroken) as failure:
                router.stats.record(route.id, (time.monotonic() - started) * 1000, False)
                outcome = self._failed(route, key, admission, failure)
                if outcome == "next key":
                    continue
                if outcome == "give up":
                    return None, failure
                return None  # the next route
            except GatewayError as e:  # the attempt's own checks (a request this upstream cannot take)
                router.breakers.release(route.id, admission)
                e.headers.update(notices.routing_headers(self.attempts, route.model.id))
                raise
            keyed.report.committed = True
            router.breakers.succeeded(route.id, admission)
            router.stats.record(route.id, (time.monotonic() - started) * 1000, True)
            router.affinity.remember(self.conversation, self.recalled, route.model.id, key.fingerprint)
            return response, None
        # Its keys rested or were parked: a probe it claimed must not hold the route back.
        router.breakers.release(route.id, admission)
        return None

    def _failed(self, route, key, admission, failure) -> str:
        """Record a failed attempt; what comes next: "next key", "next route" or "give up"."""
        router = self.router
        self.failures.append(failure)
        outcome = _outcome(failure, key, router.settings.retry_statuses)
        log.log(logging.DEBUG if outcome == "give up" else logging.WARNING,
                "routing: attempt %d (%s, key %s) failed: %s; %s", self.attempts, route.model.id,
                key.fingerprint, failure.message, outcome)
        if outcome == "park":
            router.keys.park(route.upstream, route.upstream_model, key, failure.status, failure.message)
            return "next key"
        if outcome == "rest":
            router.keys.rest(route.upstream, route.upstream_model, key, failure.upstream_headers, failure.message)
            return "next key"
        if outcome == "give up":
            router.breakers.succeeded(route.id, admission)  # it answered: a client error, not an outage
            return "give up"
        if outcome == "next route":
            router.breakers.failed(route.id, admission, failure.message)
        else:  # "pass on": rate limited on a key that is not the server's; no fault of the route
            router.breakers.release(route.id, admission)
        return "next route"

    def _skip(self, status: int, reason: str, until: float | None = None):
        self.skipped.append((status, reason))
        self.back_at = _soonest(self.back_at, until)

    def _tell(self, response, route, dialect: str):
        """The routing headers, and the notice when a fallback answered: from what, to what, and why."""
        note = None
        if route is not self.candidates[0]:
            if self.failures:
                trigger = self.failures[0]
            else:
                status, reason = self.skipped[0] if self.skipped else (503, "skipped")
                trigger = GatewayError(status, reason)
            note = notices.notice(self.candidates[0].model.id, route.model.id, trigger, self.attempts)
        notices.mark(response, attempts=self.attempts, model=route.model.id, notice_=note, dialect=dialect)


def _outcome(failure, key, retry_statuses) -> str:
    """What a failed attempt leads to: "park", "rest", "next route", "pass on" or "give up"."""
    if not isinstance(failure, UpstreamFailed) or not failure.answered:
        return "next route"  # refused, timed out, broken off: the route is at fault
    if failure.status in PARKING_STATUSES and key.pooled:
        return "park"
    if failure.status == 429:
        return "rest" if key.pooled else "pass on"  # a rate limit is the key's, never the route's fault
    if failure.status in retry_statuses:
        return "next route"
    return "give up"


def _give_up(failure, render_failure, attempts: int, model: str | None, skipped=()):
    """The client's answer when ``failure`` is the last word: rendered, with the routing headers."""
    headers = notices.routing_headers(attempts, model)
    if skipped:
        log.warning("routing: no route answered after %d attempts; also skipped: %s", attempts,
                    "; ".join(reason for _, reason in skipped))
    try:
        response = render_failure(failure) if isinstance(failure, UpstreamFailed) and failure.answered else None
    except GatewayError as e:
        e.headers.update(headers)
        raise
    if response is None:
        failure.headers.update(headers)
        raise failure
    response.headers.update(headers)
    return response


def _nothing_to_try(skipped: list, back_at: float | None, attempts: int) -> GatewayError:
    """Every route was skipped before a call: say why, and when to come back (429 when only rate limits
    stood in the way)."""
    reasons = "; ".join(reason for _, reason in skipped) or "no route"
    status = 429 if skipped and all(status == 429 for status, _ in skipped) else 503
    headers = notices.routing_headers(attempts, None)
    if back_at is not None:
        headers["Retry-After"] = str(max(1, int(back_at - time.time() + 0.999)))
    return GatewayError(status, f"no route can take this request now: {reasons}", headers=headers)


def _soonest(current: float | None, candidate: float | None) -> float | None:
    if not candidate:
        return current
    return candidate if current is None else min(current, candidate)
