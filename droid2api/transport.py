"""requests' transport adapter and urllib3's connections, made lean for upstream calls.

``UpstreamClient`` (upstream.py) mounts ``LeanAdapter`` on each session. What it
changes was found by profiling a relayed call (README, Speed): the stock
adapter's per-call URL parsing and cookie jar, and the check urllib3 makes
before reusing a pooled connection, which under gevent's patched ``poll``
registered and ran a watcher on the hub (4–5% of a worker's time at 16
connections) where one non-blocking system call answers the same question.
"""

from __future__ import annotations

import select

from requests.adapters import HTTPAdapter
from requests.models import Response
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

try:  # the real poll: gevent's (after monkey-patching) waits on the hub even for a timeout of 0
    from gevent.monkey import get_original

    _poll = get_original("select", "poll")
except ImportError:  # gevent is a dependency; without it, select.poll is the real one anyway
    _poll = select.poll


def _quiet(sock) -> bool:
    """Whether nothing waits to be read on an idle pooled connection: no end of file, no stray bytes. Either
    means the server has closed it or broken the protocol, and it must not carry the next request."""
    if sock is None:
        return False
    poller = _poll()
    poller.register(sock.fileno(), select.POLLIN)
    return not poller.poll(0)


class _Connection(HTTPConnection):
    @property
    def is_connected(self) -> bool:  # urllib3 asks before reusing a pooled connection
        return _quiet(self.sock)


class _HTTPSConnection(HTTPSConnection):
    @property
    def is_connected(self) -> bool:
        return _quiet(self.sock)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


POOLS = {"http": _Pool, "https": _HTTPSPool}


class LeanAdapter(HTTPAdapter):
    """requests' transport adapter without the per-call work an upstream call does not need.

    ``HTTPAdapter.send`` is kept whole (its error translation, and the ``responses``
    mocks of the unit tests, which replace it); only the hooks it offers for
    subclassing change. Per call, the stock ones parse the URL four times to find
    the connection pool and the request line, and fill a cookie jar from the
    answer's headers: together about a sixth of a relayed call's own time.
    Here the pool is looked up by the URL's origin, the request line is cut
    from the URL, and no cookies are kept (one jar for all the clients of an
    upstream would leak between them).
    """

    def __init__(self, **options):
        self._pools = {}  # scheme://host[:port] -> urllib3 connection pool
        super().__init__(**options)

    def init_poolmanager(self, *args, **options):
        super().init_poolmanager(*args, **options)
        self.poolmanager.pool_classes_by_scheme = POOLS

    def proxy_manager_for(self, proxy, **options):
        manager = super().proxy_manager_for(proxy, **options)
        if not proxy.lower().startswith("socks"):  # SOCKS brings pool classes of its own
            manager.pool_classes_by_scheme = POOLS
        return manager

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        if verify is not True or cert is not None:
            return super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
        origin, _ = _split(request.url)
        pool = self._pools.get(origin)
        if pool is None or pool.pool is None:  # none yet, or closed (evicted by the pool manager, adapter closed)
            pool = super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
            self._pools[origin] = pool
        return pool

    def request_url(self, request, proxies):
        if proxies:  # a plain-HTTP proxy takes the whole URL
            return super().request_url(request, proxies)
        return _split(request.url)[1]

    def build_response(self, req, resp):
        response = Response()
        response.status_code = resp.status
        response.headers = CaseInsensitiveDict(resp.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url
        response.request = req
        response.connection = self
        return response

    def close(self):
        self._pools.clear()
        super().close()


def _split(url: str) -> tuple:
    """(scheme://host[:port], /path?query) of an absolute URL built from validated config."""
    scheme, _, host, *path = url.split("/", 3)
    return f"{scheme}//{host}", "/" + (path[0].partition("#")[0] if path else "")
