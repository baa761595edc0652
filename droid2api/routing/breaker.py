"""This module keeps a circuit breaker per route (upstream and model), shared by the workers of a host.

After ``failures`` consecutive failed attempts the breaker opens: the route is
skipped, without waiting for it to fail, for a cooldown that doubles with each
trip in a row (up to ``max_cooldown``). When the cooldown is over, one request
(whichever claims the probe first, in any worker) tries the route: success
closes the breaker, failure opens it again for longer.

State lives in the store under namespace ``routing``: a failure counter
(``fail:<route>``, an atomic increment), the open record (``open:<route>``,
JSON) and the probe claim (``probe:<route>:<opened until>``, a counter whose
first incrementer wins). A store that fails is logged and the breaker counts
as closed: routing degrades to "try everything", never to "refuse everything".
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from ..store import StoreError, counter_value

log = logging.getLogger(__name__)

NAMESPACE = "routing"
FAILURE_MEMORY = 600.0  # a failure counter forgets after this long without a new failure
PROBE_WINDOW = 60.0  # a probe that has not reported by then lets another request probe
OPEN_MEMORY = 3600.0  # how long an open record outlives its cooldown (it keeps the trip count)


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a route may be tried now: ``allowed``; ``probe`` if this attempt is the one probe of an
    open breaker; ``failures`` so far; ``until`` when an open breaker lets the next probe through."""

    allowed: bool
    probe: bool = False
    failures: int = 0
    until: float = 0.0
    trips: int = 0
    reason: str = ""


CLOSED = Admission(True)


class Breakers:
    def __init__(self, store, failures: int, cooldown: float, max_cooldown: float, clock=time.time):
        self.store = store
        self.threshold = failures
        self.cooldown = cooldown
        self.max_cooldown = max(max_cooldown, cooldown)
        self.clock = clock

    @staticmethod
    def names(route_id: str) -> list:
        """The store entries ``admit`` reads, for a caller that reads them with others in one go."""
        return [f"open:{route_id}", f"fail:{route_id}"]

    def admit(self, route_id: str, found: dict | None = None) -> Admission:
        """May the route be tried now? ``found``: ``names(route_id)`` already read from the store."""
        try:
            if found is None:
                found = self.store.get_many(NAMESPACE, self.names(route_id))
            failures = counter_value(found.get(f"fail:{route_id}"))
            opened = _record(found.get(f"open:{route_id}"))
            if opened is None:
                return Admission(True, failures=failures)
            until, trips = opened["until"], opened["trips"]
            if self.clock() < until:
                return Admission(False, until=until, trips=trips, reason=opened.get("reason", ""))
            claim = self.store.increment(NAMESPACE, f"probe:{route_id}:{until!r}", ttl=PROBE_WINDOW)
        except StoreError as e:
            log.warning("routing: breaker state of %s unavailable (%s); trying the route", route_id, e)
            return CLOSED
        if claim == 1:
            return Admission(True, probe=True, failures=failures, until=until, trips=trips)
        return Admission(False, until=self.clock() + 1.0, trips=trips, reason="another request is probing it")

    def succeeded(self, route_id: str, admission: Admission):
        if not (admission.probe or admission.failures):
            return  # the common case writes nothing
        try:
            self.store.delete(NAMESPACE, f"fail:{route_id}")
            if admission.probe:
                self.store.delete(NAMESPACE, f"open:{route_id}")
                log.info("routing: %s answered its probe; circuit breaker closed", route_id)
        except StoreError as e:
            log.warning("routing: cannot record the success of %s: %s", route_id, e)

    def failed(self, route_id: str, admission: Admission, reason: str):
        try:
            if admission.probe:
                self._open(route_id, admission.trips + 1, reason)
                return
            failures = self.store.increment(NAMESPACE, f"fail:{route_id}", ttl=FAILURE_MEMORY)
            if failures >= self.threshold:
                self._open(route_id, 1, reason)
        except StoreError as e:
            log.warning("routing: cannot record the failure of %s: %s", route_id, e)

    def release(self, route_id: str, admission: Admission):
        """Give back the probe ``admission`` claimed, when the route was not tried after all (its keys rest or
        are parked): the next request may probe, rather than none until PROBE_WINDOW has passed."""
        if not admission.probe:
            return
        try:
            self.store.delete(NAMESPACE, f"probe:{route_id}:{admission.until!r}")
        except StoreError as e:
            log.warning("routing: cannot give back the probe of %s: %s", route_id, e)

    def _open(self, route_id: str, trips: int, reason: str):
        cooldown = min(self.cooldown * 2 ** (trips - 1), self.max_cooldown)
        until = self.clock() + cooldown
        record = {"until": until, "trips": trips, "reason": reason[:300]}
        self.store.put(NAMESPACE, f"open:{route_id}", json.dumps(record).encode(), ttl=cooldown + OPEN_MEMORY)
        self.store.delete(NAMESPACE, f"fail:{route_id}")
        log.warning("routing: circuit breaker of %s opened for %.0fs (trip %d): %s", route_id, cooldown, trips,
                    reason)

    def forget(self):
        for name in self.store.items(NAMESPACE):
            if name.startswith(("open:", "fail:", "probe:")):
                self.store.delete(NAMESPACE, name)

    def state(self, route_id: str) -> dict:
        """For /v1/gateway/routes: closed (with its failure count), open (until when) or half-open."""
        found = self.store.get_many(NAMESPACE, [f"open:{route_id}", f"fail:{route_id}"])
        failures = counter_value(found.get(f"fail:{route_id}"))
        opened = _record(found.get(f"open:{route_id}"))
        if opened is None:
            return {"state": "closed", "consecutive_failures": failures}
        now = self.clock()
        state = "open" if now < opened["until"] else "half_open"
        return {"state": state, "retry_in": max(0.0, round(opened["until"] - now, 1)), "trips": opened["trips"],
                "reason": opened.get("reason", "")}


def _record(raw: bytes | None) -> dict | None:
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        return record if isinstance(record.get("until"), (int, float)) and isinstance(record.get("trips"), int) \
            else None
    except (ValueError, AttributeError):
        return None
