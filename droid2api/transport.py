"""requests' transport adapter, made lean for upstream calls.

``UpstreamClient`` (upstream.py) mounts ``LeanAdapter`` on each session. What it
changes was found by profiling a relayed call (README, Speed).

One thing measured and left as it is: before reusing a pooled connection,
urllib3 asks whether the server has closed it with a ``poll``, which gevent
patches into a watcher on the hub. A real non-blocking ``poll`` costs less
(16-connection throughput +5-10%), but that wait on the hub is also where a
worker's other connections get their turn: without it the 16-connection p99
went from ~18 ms to ~250 ms.
"""

from __future__ import annotations

import datetime

from requests.adapters import HTTPAdapter
from requests.cookies import cookiejar_from_dict
from requests.models import Response


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
        response = LeanResponse.made()
        response.status_code = resp.status
        response.headers = resp.headers  # urllib3's HTTPHeaderDict: case-insensitive already, no copy needed
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url
        response.request = req
        response.connection = self
        return response

    def close(self):
        self._pools.clear()
        super().close()


class LeanResponse(Response):
    """requests' Response, made without the two objects its ``__init__`` builds and an upstream call never
    uses: an empty header dict (urllib3's arrives) and a cookie jar, made here only if someone asks for
    ``cookies``. Together with the headers copy they were about 5 µs of each call."""

    @classmethod
    def made(cls) -> "LeanResponse":
        if _RESPONSE_DEFAULTS is None:
            return cls()
        response = cls.__new__(cls)
        response.__dict__.update(_RESPONSE_DEFAULTS)
        response.history = []
        return response

    @property
    def cookies(self):
        jar = self.__dict__.get("_cookies")
        if jar is None:
            jar = self._cookies = cookiejar_from_dict({})
        return jar

    @cookies.setter
    def cookies(self, jar):
        self._cookies = jar


def _response_defaults() -> dict | None:
    """What Response.__init__ sets, read from a real one so that a new attribute in requests comes along;
    None (make each the usual way) if one of them could not be shared between responses."""
    made_here = ("headers", "history", "cookies")
    defaults = {name: value for name, value in vars(Response()).items() if name not in made_here}
    immutable = (bool, int, str, datetime.timedelta)
    return defaults if all(value is None or isinstance(value, immutable) for value in defaults.values()) else None


_RESPONSE_DEFAULTS = _response_defaults()


def _split(url: str) -> tuple:
    """(scheme://host[:port], /path?query) of an absolute URL built from validated config."""
    scheme, _, host, *path = url.split("/", 3)
    return f"{scheme}//{host}", "/" + (path[0].partition("#")[0] if path else "")
