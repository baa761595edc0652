"""The HTTP client for upstream calls: pooled sessions, proxies, timeouts, error translation.

Everything that touches the network on the way out goes through
``UpstreamClient``; requests' exceptions become GatewayErrors here and
nowhere else (the pattern of requests' own ``HTTPAdapter.send``), so the
rest of the gateway only ever sees statuses and bytes.
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from . import response_headers
from .errors import GatewayError
from .transport import LeanAdapter

log = logging.getLogger(__name__)

POOL_SIZE = 64  # concurrent connections per upstream and proxy; gevent runs many requests per worker
READ_SIZE = 65536
REFRESH_TIMEOUT = (5.0, 15.0)  # connect, read: WorkOS answers a token refresh in well under a second


class UpstreamBroken(GatewayError):
    """The upstream failed after its response began: the stream must end with an error event."""


class UpstreamFailed(GatewayError):
    """An attempt that got no usable answer, before anything went to the client.

    Either an error status (``raw`` holds the upstream's body, ``headers`` its
    headers, ``dialect`` the dialect it is written in) or no answer at all
    (``raw`` None: refused, timed out, broken off before the first byte). The
    router decides whether another route or key may still answer.
    """

    def __init__(self, status: int, message: str, *, upstream: str, raw: bytes | None = None, headers=None,
                 dialect: str | None = None):
        super().__init__(status, message)
        self.upstream = upstream
        self.raw = raw
        self.upstream_headers = headers
        self.dialect = dialect

    @property
    def answered(self) -> bool:
        """Whether the upstream answered (with an error status), rather than not at all."""
        return self.raw is not None


class UpstreamResponse:
    """An upstream answer whose body has not been read yet.

    ``on_close`` (set by whoever cares) is called once, with whether the body
    broke off, when the response is closed: the router learns of a stream that
    failed after the client was already answered.
    """

    __slots__ = ("_response", "name", "status", "headers", "_first", "_idle", "broken", "on_close", "_reader",
                 "_abandoned")

    def __init__(self, response: requests.Response, name: str):
        self._response = response
        self.name = name
        self.status = response.status_code
        self.headers = response.headers
        self._first = None
        self._idle = None
        self.broken = False
        self.on_close = None
        self._reader = None  # the thread (a greenlet, under gevent) inside iter_bytes' read, if any
        self._abandoned = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def first_bytes(self) -> bytes:
        """What ``prime`` read (b"" before it or after the body has been iterated)."""
        return self._first or b""

    @property
    def is_event_stream(self) -> bool:
        return self.content_type.startswith("text/event-stream")

    def prime(self, idle_timeout: float):
        """Wait for the body's first bytes, allowing ``idle_timeout`` seconds for them as for every read after.

        The call itself waited for the answer's headers under ``first_byte_timeout``;
        a model that thinks before its first event (Gemini, OpenAI's reasoning
        models on Chat) may then be silent for long, as in the middle of a stream.
        A failure here is still before the client has been answered, so the
        router may try elsewhere.
        """
        raw = self._response.raw
        sock = getattr(raw.connection, "sock", None) if raw.connection is not None else None
        if sock is not None:
            sock.settimeout(idle_timeout)
            self._idle = idle_timeout
        try:
            self._first = raw.read1(READ_SIZE, decode_content=True)
        except Exception as e:
            self.broken = True
            idle = f"sent nothing for {self._idle:g}s (idle_timeout)" if self._idle else None
            raise _broken(self.name, e, "before its first byte", idle=idle) from None

    def iter_bytes(self):
        """Yield the body as it arrives, in whatever pieces the network delivers.

        ``read1`` returns as soon as any bytes are available, chunked or not, so
        an event is relayed the moment it lands rather than when a buffer fills.
        """
        if self._first is not None:
            first, self._first = self._first, None
            if not first:
                return
            yield first
        raw = self._response.raw
        # A body of known length, not compressed, is whole once the length is read: no read to learn its end.
        sized = "content-encoding" not in self.headers
        self._reader = threading.get_ident()
        try:
            while True:
                chunk = raw.read1(READ_SIZE, decode_content=True)  # in case the upstream compressed anyway
                if not chunk:
                    return
                yield chunk
                if sized and raw.length_remaining == 0:
                    return
        except Exception as e:  # urllib3 read errors come in many classes; all mean the same here
            if not self._abandoned:  # the read that close() cut short is not the upstream's failure
                self.broken = True
            idle = f"sent nothing for {self._idle:g}s (idle_timeout)" if self._idle else None
            raise _broken(self.name, e, idle=idle) from None
        finally:
            self._reader = None
            if self._abandoned:  # close() was called from another thread during the read: finish it here
                self._response.close()

    def read(self) -> bytes:
        """The whole body; the response is closed afterwards, whatever happens."""
        try:
            return b"".join(self.iter_bytes())
        finally:
            self.close()

    def close(self):
        reader = self._reader
        if reader is not None and reader != threading.get_ident():
            # Another thread (a greenlet: with_heartbeats' reader) is inside a read and holds the body's
            # buffer, which cannot be closed under it ("reentrant call inside BufferedReader"). Cut the
            # connection instead: the upstream sees it closed at once, the read returns, and the reader
            # finishes the close.
            self._abandoned = True
            connection = self._response.raw.connection
            sock = getattr(connection, "sock", None) if connection is not None else None
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        else:
            self._response.close()
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close(self.broken)


def _broken(name: str, error: Exception, when: str = "", idle: str | None = None) -> UpstreamBroken:
    text = str(error).lower()
    if "timed out" in text or "timeout" in text:
        return UpstreamBroken(504, f"upstream {name} {idle or 'stopped sending'}: read timed out" +
                              (f" {when}" if when else ""))
    return UpstreamBroken(502, f"upstream {name} broke off its response" + (f" {when}" if when else "") +
                          f": {type(error).__name__}")


class UpstreamClient:
    """One pooled requests.Session per upstream and proxy, proxies taken in turn."""

    def __init__(self, proxies: list):
        response_headers.install()
        self._proxies = itertools.cycle(proxies) if proxies else None
        self._proxy_lock = threading.Lock()
        self._sessions = {}
        self._sessions_lock = threading.Lock()

    def post(self, name: str, url: str, headers: dict, body: bytes, timeout: tuple) -> UpstreamResponse:
        """POST ``body`` to ``url``; the response is returned unread (stream=True).

        ``timeout`` is (connect, read): the read part bounds the wait for the
        answer's first byte and, until ``prime`` changes it, every read after.
        """
        proxy = self._next_proxy()
        session = self._session(name, proxy)
        request = _prepared(url, headers, body)
        try:
            # Straight to the session's transport adapter: Session.request would merge environment
            # settings, cookies and hooks on every call (a third of the gateway's own latency), and
            # a cookie jar shared by all clients of one upstream is not wanted anyway.
            response = session.get_adapter(url).send(request, stream=True, timeout=timeout,
                                                     proxies=session.proxies)
        except requests.ConnectTimeout:
            raise GatewayError(504, f"upstream {name} ({_host(url)}) did not accept a connection within "
                                    f"{timeout[0]:g}s (connect_timeout)") from None
        except requests.Timeout:
            raise GatewayError(504, f"upstream {name} ({_host(url)}) did not answer within {timeout[1]:g}s") from None
        except requests.RequestException as e:
            via = f" via proxy {_host(proxy)}" if proxy else ""
            raise GatewayError(502, f"cannot reach upstream {name} ({_host(url)}){via}: "
                                    f"{_reason(e)}") from None
        return UpstreamResponse(response, name)

    def post_form(self, url: str, data: dict):
        """POST a form and return (status, parsed JSON or None); used for the WorkOS refresh."""
        proxy = self._next_proxy()
        session = self._session("workos", proxy)
        try:
            # Its own short timeouts: a refresh runs on a request's path, which must not wait the
            # long read timeout meant for model streams.
            response = session.post(url, data=data, timeout=REFRESH_TIMEOUT, allow_redirects=False)
        except requests.RequestException as e:
            raise GatewayError(502, f"cannot reach {_host(url)}: {_reason(e)}") from None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    def close(self):
        with self._sessions_lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()

    def _next_proxy(self):
        if self._proxies is None:
            return None
        with self._proxy_lock:
            return next(self._proxies)

    def _session(self, name: str, proxy: str | None) -> requests.Session:
        key = (name, proxy)
        session = self._sessions.get(key)
        if session is None:
            with self._sessions_lock:
                session = self._sessions.get(key)
                if session is None:
                    session = requests.Session()
                    session.trust_env = False  # the config, not the environment, decides about proxies
                    adapter = LeanAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
                    session.mount("https://", adapter)
                    session.mount("http://", adapter)
                    if proxy:
                        session.proxies = {"http": proxy, "https": proxy}
                    session.headers.clear()
                    self._sessions[key] = session
        return session


def _prepared(url: str, headers: dict, body: bytes) -> requests.PreparedRequest:
    """A POST ready for HTTPAdapter.send; the URL comes from validated config, so it needs no parsing."""
    request = requests.PreparedRequest()
    request.method = "POST"
    request.url = url
    request.headers = CaseInsensitiveDict(headers)
    request.headers["content-length"] = str(len(body))
    request.body = body
    return request


def _host(url: str | None) -> str:
    """Scheme, host and port of a URL, never its credentials or path."""
    if not url:
        return "-"
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _reason(error: Exception) -> str:
    text = str(error)
    for reason in ("Connection refused", "Name or service not known", "No route to host",
                   "Connection reset", "certificate verify failed", "Temporary failure in name resolution"):
        if reason in text:
            return reason.lower()
    return type(error).__name__
