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
   tried; a status in ``retry_statuses`` or no answer at all counts against
   the breaker and the next route is tried; any other status goes back to
   the client at once, as the upstream wrote it.

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
    settings = router.settings
    attempts, failures, skipped = 0, [], []
    back_at = None  # the soonest a skipped route or key may be tried again
    for route in candidates:
        admission = router.breakers.admit(route.id)
        if not admission.allowed:
            skipped.append(f"{route.model.id}: circuit breaker open ({admission.reason})")
            back_at = _soonest(back_at, admission.until)
            continue
        try:
            pool = router.credentials.keys(route, client_key)
        except GatewayError as e:
            skipped.append(f"{route.model.id}: {e.message}")
            failures.append(e)
            continue
        keys, unusable, resting_until = router.keys.usable(route.upstream, route.upstream_model, pool,
                                                          first=recalled.get("key"))
        skipped += [f"{route.model.id}: {reason}" for reason in unusable]
        back_at = _soonest(back_at, resting_until)
        judged = False  # whether the breaker has heard how the route did
        for key in keys:
            if attempts >= settings.max_attempts:
                break
            attempts += 1
            keyed = route.with_key(key)
            keyed.report = _Attempt(router, route, admission)
            started = time.monotonic()
            try:
                response = attempt(keyed)
            except (UpstreamFailed, UpstreamBroken) as failure:
                router.stats.record(route.id, (time.monotonic() - started) * 1000, False)
                failures.append(failure)
                outcome = _outcome(failure, key, settings.retry_statuses)
                log.log(logging.DEBUG if outcome == "give up" else logging.WARNING,
                        "routing: attempt %d (%s, key %s) failed: %s; %s", attempts, route.model.id,
                        key.fingerprint, failure.message, outcome)
                if outcome == "park":
                    router.keys.park(route.upstream, route.upstream_model, key, failure.status, failure.message)
                    continue
                if outcome == "rest":
                    router.keys.rest(route.upstream, route.upstream_model, key, failure.upstream_headers,
                                     failure.message)
                    continue
                if outcome == "next route":
                    router.breakers.failed(route.id, admission, failure.message)
                    judged = True
                    break
                router.breakers.succeeded(route.id, admission)  # it answered: a client error, not an outage
                return _give_up(failure, render_failure, attempts, route.model.id)
            except GatewayError as e:  # the attempt's own checks (a request this upstream cannot take)
                router.breakers.release(route.id, admission)
                e.headers.update(notices.routing_headers(attempts, route.model.id))
                raise
            keyed.report.committed = True
            router.breakers.succeeded(route.id, admission)
            router.stats.record(route.id, (time.monotonic() - started) * 1000, True)
            router.affinity.remember(conversation, recalled, route.model.id, key.fingerprint)
            note = None
            if route is not candidates[0]:  # a fallback answers: say from what, to what, and why
                trigger = failures[0] if failures else GatewayError(503, skipped[0] if skipped else "skipped")
                note = notices.notice(candidates[0].model.id, route.model.id, trigger, attempts)
            notices.mark(response, attempts=attempts, model=route.model.id, notice_=note, dialect=dialect)
            return response
        if not judged:  # its keys rested or were parked: a probe it claimed must not hold the route back
            router.breakers.release(route.id, admission)
        if attempts >= settings.max_attempts:
            skipped.append(f"max_attempts ({settings.max_attempts}) reached")
            break
    if failures:
        return _give_up(failures[-1], render_failure, attempts, None, skipped)
    raise _nothing_to_try(skipped, back_at, attempts)


def _outcome(failure, key, retry_statuses) -> str:
    """What a failed attempt leads to: "park", "rest", "next route", or "give up"."""
    if not isinstance(failure, UpstreamFailed) or not failure.answered:
        return "next route"  # refused, timed out, broken off: the route is at fault
    if failure.status in PARKING_STATUSES and key.pooled:
        return "park"
    if failure.status == 429 and key.pooled:
        return "rest"
    if failure.status in retry_statuses:
        return "next route"
    return "give up"


def _give_up(failure, render_failure, attempts: int, model: str | None, skipped=()):
    """The client's answer when ``failure`` is the last word: rendered, with the routing headers."""
    headers = notices.routing_headers(attempts, model)
    if skipped:
        log.warning("routing: no route answered after %d attempts; also skipped: %s", attempts, "; ".join(skipped))
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
    """Every route was skipped before a call: say why, and when to come back."""
    reasons = "; ".join(skipped) or "no route"
    resting_only = skipped and all("resting" in reason for reason in skipped)
    status = 429 if resting_only else 503
    headers = notices.routing_headers(attempts, None)
    if back_at is not None:
        headers["Retry-After"] = str(max(1, int(back_at - time.time() + 0.999)))
    return GatewayError(status, f"no route can take this request now: {reasons}", headers=headers)


def _soonest(current: float | None, candidate: float | None) -> float | None:
    if not candidate:
        return current
    return candidate if current is None else min(current, candidate)
