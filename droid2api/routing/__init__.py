"""Routing and resilience: which routes a request may take, in what order, and what a failure leads to.

A request names a model. ``Router.candidates`` turns it into an ordered list
of routes: the model and its fallbacks, or for model ``"auto"`` every model
that takes part, starting at the next one in turn. ``walk.walk`` then tries
them (each route with the keys of its pool) until one answers, skipping
routes whose circuit breaker is open and keys that are parked or resting.
Everything it learns is kept in the store, so the workers of a host agree:

- ``breaker.py``: a circuit breaker per route (upstream and model);
- ``keys.py``: parked and resting keys, and the pool's round-robin cursor;
- ``affinity.py``: the route and key that last served a conversation;
- ``stats.py``: recent latency and error rate per route.
"""

from __future__ import annotations

import logging
import os
import uuid

from ..config import ModelConfig
from ..config_schema import AUTO_MODEL
from ..errors import GatewayError
from ..store import StoreError
from .affinity import Affinity
from .breaker import Breakers
from .keys import KeyStates
from .stats import RouteStats

log = logging.getLogger(__name__)

NAMESPACE = "routing"
GENERATION_ENV = "DROID2API_GENERATION"  # set by the gunicorn master at each start and reload (server.py)


class Router:
    def __init__(self, settings, policy, credentials, store, environ=os.environ):
        self.settings = settings
        self.policy = policy
        self.credentials = credentials
        self.store = store
        self.breakers = Breakers(store, settings.breaker_failures, settings.breaker_cooldown,
                                 settings.breaker_max_cooldown)
        generation = environ.get(GENERATION_ENV) or uuid.uuid4().hex[:12]
        self.keys = KeyStates(store, generation, settings.rate_limit_rest)
        self.affinity = Affinity(store)
        self.stats = RouteStats(store)

    def is_auto(self, requested) -> bool:
        """Whether ``requested`` asks the gateway to choose: ``"auto"`` (or a redirect to it), unless a
        configured model has that id."""
        return isinstance(requested, str) and self.policy.redirect(requested) == AUTO_MODEL and \
            self.settings.model(AUTO_MODEL) is None

    def listed_models(self) -> list:
        """The configured models, plus ``"auto"`` when it has candidates (for the model lists)."""
        candidates = [m for m in self.settings.models if m.auto]
        if not candidates or self.settings.model(AUTO_MODEL) is not None:
            return list(self.settings.models)
        auto = ModelConfig(id=AUTO_MODEL, type=candidates[0].type, provider="droid2api",
                           name=f"auto: the gateway picks one of {len(candidates)} models")
        return [*self.settings.models, auto]

    def candidates(self, requested, recalled_model: str | None = None) -> list:
        """The routes to try for ``requested``, in order. A named model comes first, then its fallbacks
        (the conversation's last fallback ahead of the others); ``"auto"`` starts at the next model in turn."""
        if self.is_auto(requested):
            models = [m for m in self.settings.models if m.auto]
            if not models:
                raise GatewayError(404, "model 'auto' has no candidates: every model is marked \"auto\": false",
                                   param="model", code="model_not_found")
            start = self._turn(f"rr:{AUTO_MODEL}", len(models))
            ids = [m.id for m in models[start:] + models[:start]]
            return self.prefer(self._routes(ids, requested), recalled_model)
        primary = self.policy.route(requested)
        own = primary.model.fallbacks
        fallbacks = [f for f in (self.settings.fallbacks if own is None else own) if f != primary.model.id]
        return self.prefer([primary] + self._routes(list(dict.fromkeys(fallbacks)), requested), recalled_model)

    def prefer(self, candidates: list, model_id: str | None) -> list:
        """``candidates`` with the conversation's last model moved ahead: to the front for ``"auto"``, else
        ahead of the other fallbacks (a named model stays first: the client asked for it by name)."""
        ids = [route.model.id for route in candidates]
        if model_id not in ids or not candidates:
            return candidates
        at = ids.index(model_id)
        first = 0 if self.is_auto(candidates[0].requested) else 1
        if at <= first:
            return candidates
        return candidates[:first] + [candidates[at]] + candidates[first:at] + candidates[at + 1:]

    def has_choices(self, candidates: list, client_key: str | None) -> bool:
        """Whether affinity can matter: more than one route, or a pool of keys to choose from."""
        if len(candidates) != 1:
            return len(candidates) > 1
        try:
            return len(self.credentials.keys(candidates[0], client_key)) > 1
        except GatewayError:
            return False

    def read_state(self, route, pool: list | None) -> dict | None:
        """The store entries of ``route``'s breaker and of its ``pool``'s keys, read at once (None: the store
        failed; the breaker and the keys then read on their own, and degrade as they do)."""
        names = self.breakers.names(route.id) + (self.keys.names(route.upstream, route.upstream_model, pool)
                                                  if pool else [])
        try:
            return self.store.get_many(NAMESPACE, names)
        except StoreError as e:
            log.warning("routing: state of %s unavailable: %s", route.id, e)
            return None

    def _routes(self, ids: list, requested: str) -> list:
        routes = []
        for model_id in ids:
            try:
                routes.append(self.policy.route_to(self.settings.model(model_id), requested))
            except GatewayError as e:  # a model without an endpoint: it cannot take part
                log.warning("routing: skipping model %s: %s", model_id, e.message)
        return routes

    def _turn(self, name: str, size: int) -> int:
        """The next position of a round-robin cursor shared by the workers."""
        if size < 2:
            return 0
        try:
            return (self.store.increment(NAMESPACE, name) - 1) % size
        except StoreError as e:
            log.warning("routing: round-robin cursor unavailable (%s); starting at the first", e)
            return 0

    def forget(self):
        """Close every breaker and wake every key (POST /v1/gateway/routes/reset)."""
        self.breakers.forget()
        self.keys.forget()
        log.info("routing: breakers closed and keys woken on request")

    # -- reports ------------------------------------------------------------------

    def routes_report(self) -> list:
        """Every configured model's route with its breaker, keys and recent figures (GET /v1/gateway/routes)."""
        recent = self.stats.report()
        self.keys.announce()  # a report right after a reload already shows its keys unparked
        entries = self.store.items(NAMESPACE)  # one read for every route's key states (a SCAN on Redis)
        report = []
        for model in self.settings.models:
            try:
                route = self.policy.route_to(model, model.id)
            except GatewayError as e:
                report.append({"model": model.id, "available": False, "problem": e.message})
                continue
            entry = {"model": model.id, "upstream": route.upstream, "upstream_model": route.upstream_model,
                     "dialect": route.dialect, "auto": model.auto, "breaker": self.breakers.state(route.id)}
            try:
                keys = self.credentials.keys(route, None)
            except GatewayError:
                keys = []
                entry["keys"] = "the client's own"
            pooled = [k for k in keys if k.pooled]
            if pooled:
                entry["keys"] = self.keys.states(route.upstream, pooled, entries)
            elif keys:
                entry["keys"] = "the server's refreshing Factory token"
            entry["available"] = entry["breaker"]["state"] != "open" and not (pooled and all(
                k["parked"] or route.upstream_model in k["parked_for_models"] or
                route.upstream_model in k["resting_for_models"]
                for k in entry["keys"]))
            entry["recent"] = recent.get(route.id, {"attempts": 0})
            report.append(entry)
        return report


