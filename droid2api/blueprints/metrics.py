"""GET /metrics: the gateway's metrics in Prometheus' text format (droid2api/metrics.py), and who may read them.

Without an access key only a client on this host may: one that connects from
loopback and came through no proxy. Behind nginx every request arrives from
loopback, so a request that carries X-Forwarded-For, X-Real-IP or Forwarded
(the shipped deploy/nginx.conf sets the first two) counts as a remote one.
From anywhere else an access key is needed, unless ``metrics_public`` is set.
"""

from __future__ import annotations

import ipaddress

from flask import Blueprint, Response, current_app, request
from prometheus_client.exposition import choose_encoder

from ..errors import GatewayError

bp = Blueprint("metrics", __name__)
bp.dialect = None

PATH = "/metrics"
EXTENSION = "droid2api.metrics"  # app.extensions: the app's metrics.Metrics
_FORWARDING = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


@bp.get(PATH)
def scrape():
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(current_app.extensions[EXTENSION].scrape_registry()), content_type=content_type)


def admits_without_key(request, settings, guard) -> bool:
    """Whether ``request`` is one for /metrics that needs no access key: ``metrics_public``, or a local client. A
    remote one is refused (403) when no access key is configured, since none could let it in."""
    if request.path != PATH:
        return False
    if settings.metrics_public or from_loopback(request.environ):
        return True
    if not guard.enabled:
        raise GatewayError(403, "/metrics answers remote clients only with an access key, and none is "
                                "configured; set metrics_public to serve it to anyone")
    return False


def from_loopback(environ) -> bool:
    """A client on this host that connected directly, not through a reverse proxy."""
    if any(environ.get(name) for name in _FORWARDING):
        return False
    try:
        address = ipaddress.ip_address(environ.get("REMOTE_ADDR", "").split("%", 1)[0])
    except ValueError:
        return False  # a Unix socket has no address: it may be a proxy's
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback
