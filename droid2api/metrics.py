"""This module counts what the gateway does, for Prometheus (GET /metrics, blueprints/metrics.py).

One ``Metrics`` object per app. Its ``observe`` is a sink of the access log
(access_log.py): each finished RequestRecord adds to the request, duration,
token and routing counters. ``count_streams`` wraps the Flask app to keep the
open-streams gauge. Breaker state is not counted here: it lives in the store,
shared by the workers, so a collector reads it at scrape time.

Under gunicorn every worker is counted: the master points
``PROMETHEUS_MULTIPROC_DIR`` at an emptied directory before it forks a worker
(server.py), prometheus_client then keeps each worker's values in files there,
and a scrape, whichever worker serves it, sums them (MultiProcessCollector).
Without it (Flask's test client, ``flask run``) the values stay in this
process, in the app's own registry.

Label values are bounded: a model label is a configured model id, ``auto`` or
``other``; a client label is the access key's configured name (never the key);
``-`` stands for nothing (no model named, no key, no front).
"""

from __future__ import annotations

import logging
import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from .config_schema import AUTO_MODEL
from .errors import GatewayError
from .record import TOKEN_KINDS, current as current_record
from .store import StoreError

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
NONE = "-"
OTHER = "other"
# From a quick refusal to a long generation: LLM answers take seconds to minutes.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
TTFB_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


def multiprocess_dir() -> str | None:
    """The directory the workers share their values through, when prometheus_client runs in multi-process mode
    (it decides once, when first imported, from the environment)."""
    if values.ValueClass is values.MutexValue:
        if os.environ.get(MULTIPROC_ENV):
            log.warning("metrics: %s is set but prometheus_client was imported before it: each worker's metrics "
                        "stay its own", MULTIPROC_ENV)
        return None
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())


class Metrics:
    """The gateway's metrics: updated from each finished request, read by a scrape."""

    def __init__(self, settings, router):
        self.settings = settings
        self.router = router
        self.directory = multiprocess_dir()
        self._children = {}  # (metric, labels) -> the labelled child (_labelled)
        self.registry = CollectorRegistry()
        own = None if self.directory else self.registry  # multi-process: the values live in files, not here
        self.breakers = BreakerCollector(settings, router)
        if own is not None:
            own.register(self.breakers)
        routing = ("front", "requested_model")
        self.requests = Counter("droid2api_requests_total", "Requests answered, by the client's dialect (front), "
                                "the model that answered (else the one asked for), upstream and HTTP status.",
                                ("front", "model", "upstream", "status"), registry=own)
        self.duration = Histogram("droid2api_request_duration_seconds", "Time from a request's arrival to its "
                                  "last byte.", ("front", "model"), buckets=DURATION_BUCKETS, registry=own)
        self.ttfb = Histogram("droid2api_time_to_first_byte_seconds", "Time from a streamed request's arrival to "
                              "the first byte of its answer.", ("front", "model"), buckets=TTFB_BUCKETS,
                              registry=own)
        self.tokens = Counter("droid2api_tokens_total", "Tokens the upstreams reported, by model, client key name "
                              "and kind (input, output, cache_read, cache_write, reasoning).",
                              ("model", "client", "kind"), registry=own)
        self.attempts = Counter("droid2api_upstream_attempts_total", "Calls to upstreams, by the client's "
                                "dialect and the model asked for.", routing, registry=own)
        self.retries = Counter("droid2api_upstream_retries_total", "Calls to upstreams beyond a request's first "
                               "(another key or another route).", routing, registry=own)
        self.errors = Counter("droid2api_upstream_errors_total", "Calls to upstreams that failed before the "
                              "client was answered: an error status routed around, a refused connection, a "
                              "timeout; every call of a request that no route answered.", routing, registry=own)
        self.fallbacks = Counter("droid2api_fallbacks_total", "Requests answered by another model than the first "
                                 "candidate (a fallback, or the next model of auto).",
                                 ("front", "requested_model", "model"), registry=own)
        self.open_streams = Gauge("droid2api_open_streams", "Streamed answers being sent now.", ("front",),
                                  multiprocess_mode="livesum", registry=own)

    # -- labels -----------------------------------------------------------------

    def model_label(self, name) -> str:
        """A configured model's id for ``name`` (through the redirects), ``auto``, ``other``, or ``-``."""
        if not isinstance(name, str) or not name:
            return NONE
        if self.settings.model(name) is not None:
            return name
        if self.router.is_auto(name):
            return AUTO_MODEL
        target = self.router.policy.redirect(name)
        return target if self.settings.model(target) is not None else OTHER

    # -- updating ---------------------------------------------------------------

    def observe(self, record):
        """A sink (access_log.py): count one finished request."""
        front = record.front or NONE
        model = self.model_label(record.model or record.requested)
        status = str(record.status) if record.status else NONE
        labelled = self._labelled
        labelled(self.requests, front, model, record.upstream or NONE, status).inc()
        if record.duration_ms is not None:
            labelled(self.duration, front, model).observe(record.duration_ms / 1000)
        if record.stream and record.ttfb_ms is not None:
            labelled(self.ttfb, front, model).observe(record.ttfb_ms / 1000)
        client = record.client or NONE
        for kind in TOKEN_KINDS:
            count = record.tokens.get(kind)
            if count:
                labelled(self.tokens, model, client, kind).inc(count)
        if record.attempts:
            requested = self.model_label(record.requested)
            labelled(self.attempts, front, requested).inc(record.attempts)
            if record.attempts > 1:
                labelled(self.retries, front, requested).inc(record.attempts - 1)
            # An answering model (x-gateway-model) means the last call answered: a success, or a client error
            # relayed as the upstream wrote it. Every other call failed.
            failed = record.attempts - (1 if record.model else 0)
            if failed > 0:
                labelled(self.errors, front, requested).inc(failed)
            if record.switched:
                labelled(self.fallbacks, front, requested, model).inc()

    def _labelled(self, metric, *labels):
        """``metric.labels(*labels)``, kept: looking a child up costs more than counting (every label is
        a configured name or one of a few fixed words, so there are few)."""
        child = self._children.get((metric, labels))
        if child is None:
            child = self._children[metric, labels] = metric.labels(*labels)
        return child

    def count_streams(self, app):
        """WSGI middleware (inside the access log, which starts the record): a streamed answer is open from the
        moment the app returns it until the server closes it."""
        gauge = self.open_streams

        def counted(environ, start_response):
            body = app(environ, start_response)
            record = current_record(environ)
            if record is None or not record.stream or not record.status or record.status >= 400:
                return body
            open_stream = gauge.labels(record.front or NONE)
            open_stream.inc()
            return _OpenStream(body, open_stream.dec)

        return counted

    # -- reading ----------------------------------------------------------------

    def scrape_registry(self) -> CollectorRegistry:
        """What a scrape reads: every worker's values (multi-process mode) or this process's, and the breakers."""
        if self.directory is None:
            return self.registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry, self.directory)
        registry.register(self.breakers)
        return registry


class _OpenStream:
    """A response body that calls ``closed`` once, when the server closes it."""

    __slots__ = ("_body", "_closed")

    def __init__(self, body, closed):
        self._body = body
        self._closed = closed

    def __iter__(self):
        return iter(self._body)

    def close(self):
        closed, self._closed = self._closed, None
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            if closed is not None:
                closed()


class BreakerCollector:
    """droid2api_breaker_state, read from the store at scrape time: each configured route's circuit breaker."""

    NAME = "droid2api_breaker_state"
    HELP = "Circuit breaker of each route (upstream/upstream model): 0 closed, 1 half-open, 2 open."

    def __init__(self, settings, router):
        self.settings = settings
        self.router = router

    def describe(self):
        return [GaugeMetricFamily(self.NAME, self.HELP, labels=("route",))]

    def collect(self):
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=("route",))
        seen = set()
        try:
            for model in self.settings.models:
                try:
                    route = self.router.policy.route_to(model, model.id)
                except GatewayError:
                    continue  # a model without an endpoint has no route
                if route.id in seen:
                    continue
                seen.add(route.id)
                state = self.router.breakers.state(route.id)["state"]
                family.add_metric((route.id,), BREAKER_STATES.get(state, 0))
        except StoreError as e:
            log.warning("metrics: breaker state unavailable: %s", e)
            return
        yield family
