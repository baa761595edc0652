"""This module notices a client that has gone away while its answer is pending, so the upstream call ends at once.

Under gunicorn's gevent worker one greenlet serves each connection: it runs the
Flask view, then iterates the response body. On its own it learns that the
client left only when it next writes to it; while the upstream is silent (a
model thinking, a non-streamed answer being generated) the upstream would go on
working, and billing, for minutes.

``ClientWatch``, WSGI middleware just inside the access log, gives each request
a ``Watch``. Once the view has read the request body it calls
``watch_client``: from then on an io watcher on the gevent hub's loop waits
until the client's socket is readable, and its callback, in the hub, peeks at
it without blocking (a watcher started and stopped costs a request ~4 µs, where
a greenlet spawned and killed cost ~35: benchmarks/client_watch.py). End of
file or a reset means the client is gone: ``ClientGone`` is thrown into the
request's greenlet wherever it waits — connecting upstream, waiting for the
upstream's headers or body, waiting for the next event. It unwinds through the ``finally`` blocks that close the upstream
response (requests closes, rather than pools, a connection interrupted mid-call),
and the middleware ends the request quietly: one info line, status 499 (nginx's
"client closed request") for the access log, and nothing more written to the
client. Bytes from the client instead (a pipelined request) end the watch: it
is still there.

ClientGone is only ever thrown while the request's greenlet is in the
application (the view, or pulling the next chunk of the body), never into the
server's own code, and never inside ``shielded()``. The watch is active only
for a plain TCP HTTP/1 connection served by gunicorn under gevent; anywhere else
(TLS, HTTP/2, other workers, Flask's test client) requests are served exactly
as without it.
"""

from __future__ import annotations

import contextvars
import errno
import logging
import socket
import sys
from contextlib import contextmanager

from .access_log import ENV_STATUS  # set to "499" when the client went away: the access log reports it

log = logging.getLogger(__name__)

ENV_WATCH = "droid2api.client_watch"
GONE_STATUS = "499 Client Closed Request"

_current = contextvars.ContextVar("droid2api_client_watch", default=None)  # per greenlet under gevent


class ClientGone(BaseException):
    """Thrown into a request's greenlet when its client has closed the connection.

    A BaseException, like GreenletExit, so that no ``except Exception`` on the
    way turns it into an error answer: it only unwinds, closing what it passes.
    """


def watch_client(environ):
    """Start watching the client of this request, where the server allows; call it once the body has been read
    (until then, the body's own bytes would look like the client still talking)."""
    watch = environ.get(ENV_WATCH)
    if watch is not None:
        watch.start()


@contextmanager
def shielded():
    """A block ClientGone never interrupts (an exchange whose answer must be kept, such as a token refresh
    that rotates the refresh token); a client that left meanwhile is acted on when the block ends."""
    watch = _current.get()
    if watch is None:
        yield
        return
    watch.shields += 1
    try:
        yield
    finally:
        watch.shields -= 1
    if watch.shields == 0 and watch.exposed and watch.gone and not watch.thrown:
        watch.thrown = True
        raise ClientGone()


class Watch:
    """The watch over one request's client connection; everything but ``_readable`` and ``_interrupt`` runs in
    the request's greenlet."""

    def __init__(self, sock, greenlet, gevent):
        self._sock = sock  # gevent's socket, for its descriptor
        self._raw = sock._sock  # the non-blocking socket beneath it, peeked at without ever waiting
        self._greenlet = greenlet  # the request's
        self._gevent = gevent
        self._loop = None  # the hub's, once watching
        self._io = None  # the io watcher on the client's socket, from start() until finish()
        self.exposed = False  # the request's greenlet is in the application, where ClientGone may land
        self.shields = 0
        self.gone = False
        self.thrown = False
        self.done = False

    @classmethod
    def of(cls, environ) -> Watch | None:
        """A watch for this request, or None where the server gives no socket that can be watched this way."""
        gevent = sys.modules.get("gevent")  # imported by gunicorn's gevent worker, and only there
        sock = environ.get("gunicorn.socket")
        if gevent is None or sock is None or not str(environ.get("SERVER_PROTOCOL", "")).startswith("HTTP/1."):
            return None  # on HTTP/2 one socket carries many requests
        gevent_socket = sys.modules.get("gevent.socket")  # where sock came from, if it is gevent's
        if gevent_socket is None or type(sock) is not gevent_socket.socket:
            return None  # a TLS socket peeks at records, not at the stream
        greenlet = gevent.getcurrent()
        if not isinstance(greenlet, gevent.Greenlet):
            return None
        return cls(sock, greenlet, gevent)

    @property
    def started(self) -> bool:
        return self._io is not None

    def start(self):
        if self._io is not None or self.done:
            return
        loop = self._gevent.get_hub().loop
        try:
            io = loop.io(self._sock.fileno(), 1)
        except (OSError, ValueError) as e:  # the socket closed under us: nothing to watch
            log.debug("could not watch the client: %r", e)
            return
        self._loop, self._io = loop, io
        io.start(self._readable)

    def call(self, function, *args):
        """``function(*args)`` with the request's greenlet in the application: ClientGone may land there (at
        once, if the client has already gone)."""
        if self.gone and not self.thrown and not self.shields:
            self.thrown = True
            raise ClientGone()
        self.exposed = True
        try:
            return function(*args)
        finally:
            self.exposed = False

    def finish(self):
        """The request is over: stop watching. Once the watcher is stopped its callback no longer runs, so it
        never sees the connection's next request, nor a socket the server has closed."""
        self.done = True
        self.exposed = False
        if _current.get() is self:
            _current.set(None)
        io, self._io = self._io, None
        if io is not None:
            io.stop()  # in any greenlet (the hub too, should a body be collected there); once stopped, not called
            io.close()

    def _readable(self):  # runs in the hub, each time the client's socket is readable until the watcher stops
        if self.done:
            return
        try:
            gone = self._raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:  # readable no longer (a spurious wakeup): go on watching
            return
        except ConnectionError:
            gone = True
        except (OSError, ValueError) as e:  # not the client's doing (the socket closed under us): stay out of it
            log.debug("stopped watching the client: %r", e)
            gone = False
        self._io.stop()  # level-triggered, it would call again: one answer is all there is to know
        if not gone:  # bytes from the client (a pipelined request): it is still there
            return
        self.gone = True
        # The request's greenlet is thrown into by the hub, once it is sure the request is still where
        # ClientGone may land.
        self._loop.run_callback(self._interrupt)

    def _interrupt(self):  # runs in the hub, while the request's greenlet waits
        if self.exposed and not self.shields and not self.thrown and not self.done and not self._greenlet.dead:
            self.thrown = True
            self._greenlet.throw(ClientGone())


class ClientWatch:
    """WSGI middleware: a request whose client has gone ends at once, quietly, with status 499."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        watch = Watch.of(environ)
        if watch is None:
            return self.app(environ, start_response)
        environ[ENV_WATCH] = watch
        _current.set(watch)
        started = []

        def start(status, headers, exc_info=None):
            started.append(status)
            return start_response(status, headers, exc_info)

        try:
            body = watch.call(self.app, environ, start)
        except ClientGone:
            watch.finish()
            if not started:  # the answer had not begun: 499 is the status to log
                start_response(GONE_STATUS, [("Content-Length", "0")])
            return _Dropped(went_away(environ))
        except BaseException:
            watch.finish()
            raise
        if not watch.started:  # the view never read a body (nothing pending upstream): nothing to watch for
            watch.finish()
            return body
        return _WatchedBody(body, watch, environ)


def went_away(environ) -> BrokenPipeError:
    """Note a request whose client left; the error that tells the server its connection is broken."""
    log.info("client went away: %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
    environ[ENV_STATUS] = "499"
    # gunicorn drops a connection that fails with EPIPE without logging more, and writes nothing to it.
    return BrokenPipeError(errno.EPIPE, "the client closed its connection")


class _WatchedBody:
    """A response body pulled under the watch; the server's writes between chunks are left alone."""

    def __init__(self, body, watch: Watch, environ):
        self._body = body
        self._watch = watch
        self._environ = environ

    def __iter__(self):
        watch = self._watch
        try:
            chunks = watch.call(iter, self._body)
            while True:
                chunk = watch.call(next, chunks, _END)
                if chunk is _END:
                    return
                yield chunk
        except ClientGone:
            raise went_away(self._environ) from None
        finally:
            watch.finish()

    def close(self):
        try:
            self._watch.finish()
        finally:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()


class _Dropped:
    """The body of an answer whose client has gone: iterating it tells the server the connection is broken."""

    def __init__(self, error: BaseException):
        self._error = error

    def __iter__(self):
        raise self._error

    def close(self):
        pass


_END = object()
