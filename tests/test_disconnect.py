"""ClientWatch without gunicorn: a request served in a gevent greenlet on one end of a socket pair, whose
other end plays the client. A client that closes its end interrupts the request wherever it waits, and the
request ends quietly with 499; a client that stays, talks, or has already been answered is left alone."""

from __future__ import annotations

import errno
import logging
import socket

import gevent
import gevent.event
import gevent.socket
import pytest

from droid2api.disconnect import ENV_STATUS, ENV_WATCH, ClientGone, ClientWatch, Watch, shielded, watch_client

LIMIT = 5.0  # joins give up after this long: a failure is an assertion, never a hang


class Served:
    """One request through ClientWatch, served the way gunicorn's gevent worker serves it."""

    def __init__(self, app, after=None):
        self.server_end, self.client_end = gevent.socket.socketpair()
        self.environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/messages", "SERVER_PROTOCOL": "HTTP/1.1",
                        "gunicorn.socket": self.server_end}
        self.statuses, self.chunks = [], []
        self.error = None
        self.after = after  # what the connection's greenlet does once the request is over
        self.greenlet = gevent.spawn(self._serve, app)

    def _serve(self, app):
        body = ClientWatch(app)(self.environ, lambda status, headers, exc_info=None: self.statuses.append(status))
        try:
            for chunk in body:
                self.chunks.append(chunk)
        except OSError as e:
            self.error = e
        finally:
            if hasattr(body, "close"):
                body.close()
        if self.after is not None:
            self.after()

    def hang_up(self):
        self.client_end.close()

    def finish(self):
        self.greenlet.join(LIMIT)
        assert self.greenlet.dead, "the request is still being served"
        if self.greenlet.exception is not None:
            raise self.greenlet.exception
        self.server_end.close()


class Upstream:
    """What a view waits for, and how its wait ended."""

    def __init__(self):
        self.answer = gevent.event.Event()
        self.interrupted_by = None

    def wait(self):
        try:
            self.answer.wait(LIMIT)
        except BaseException as e:
            self.interrupted_by = e
            raise


def non_streamed(upstream):
    def app(environ, start_response):
        watch_client(environ)
        upstream.wait()
        start_response("200 OK", [("Content-Length", "6")])
        return [b"answer"]
    return app


def streamed(upstream):
    def app(environ, start_response):
        watch_client(environ)
        start_response("200 OK", [])

        def chunks():
            yield b"first"
            upstream.wait()
            yield b"rest"
        return chunks()
    return app


@pytest.fixture
def went_away(caplog):
    caplog.set_level(logging.INFO, logger="droid2api.disconnect")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "droid2api.disconnect"]


def assert_dropped_quietly(served):
    assert isinstance(served.error, BrokenPipeError) and served.error.errno == errno.EPIPE
    assert served.environ[ENV_STATUS] == "499"


def test_a_client_that_leaves_while_the_view_waits_ends_the_request_with_499(went_away):
    upstream = Upstream()
    served = Served(non_streamed(upstream))
    gevent.sleep(0.05)

    served.hang_up()
    served.finish()

    assert isinstance(upstream.interrupted_by, ClientGone)
    assert served.statuses == ["499 Client Closed Request"] and served.chunks == []
    assert_dropped_quietly(served)
    assert went_away() == ["client went away: POST /v1/messages"]


def test_a_client_that_leaves_mid_stream_interrupts_the_stream(went_away):
    upstream = Upstream()
    served = Served(streamed(upstream))
    gevent.sleep(0.05)
    assert served.chunks == [b"first"]

    served.hang_up()
    served.finish()

    assert isinstance(upstream.interrupted_by, ClientGone)
    assert served.statuses == ["200 OK"] and served.chunks == [b"first"]  # the status went out with "first"
    assert_dropped_quietly(served)
    assert went_away() == ["client went away: POST /v1/messages"]


def test_a_client_that_waits_gets_its_answer(went_away):
    upstream = Upstream()
    served = Served(streamed(upstream))
    gevent.sleep(0.1)
    upstream.answer.set()
    served.finish()

    assert served.chunks == [b"first", b"rest"] and served.error is None and upstream.interrupted_by is None
    assert went_away() == []


def test_a_client_that_sends_its_next_request_is_not_gone():
    upstream = Upstream()
    served = Served(non_streamed(upstream))
    gevent.sleep(0.05)
    served.client_end.sendall(b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n")  # pipelined
    gevent.sleep(0.05)
    upstream.answer.set()
    served.finish()

    assert served.chunks == [b"answer"] and upstream.interrupted_by is None



def test_a_watch_woken_with_nothing_to_read_goes_on_watching():
    upstream = Upstream()
    served = Served(non_streamed(upstream))
    gevent.sleep(0.05)
    served.environ[ENV_WATCH]._readable()  # the callback, as on a spurious wakeup: nothing to peek at
    gevent.sleep(0.05)
    assert not served.greenlet.dead and upstream.interrupted_by is None
    served.hang_up()
    served.finish()

    assert isinstance(upstream.interrupted_by, ClientGone)
    assert_dropped_quietly(served)


def test_a_client_that_talks_is_watched_no_more():
    """Its bytes answer the question for this request: the watcher stops, rather than be called on every turn
    of the hub's loop while they wait to be read."""
    upstream = Upstream()
    served = Served(non_streamed(upstream))
    gevent.sleep(0.05)
    watch = served.environ[ENV_WATCH]
    served.client_end.sendall(b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n")
    gevent.sleep(0.05)
    assert watch.started and not watch._io.active
    upstream.answer.set()
    served.finish()

    assert served.chunks == [b"answer"] and upstream.interrupted_by is None


def test_a_watch_can_be_finished_in_the_hub():
    """Where a body the server dropped is collected, and closed, in the hub."""
    server_end, client_end = gevent.socket.socketpair()
    try:
        def request():
            watch = Watch.of({"gunicorn.socket": server_end, "SERVER_PROTOCOL": "HTTP/1.1"})
            watch.start()
            io = watch._io
            gevent.get_hub().loop.run_callback(watch.finish)
            gevent.sleep(0.01)
            return io.active, watch.started

        assert gevent.spawn(request).get(timeout=LIMIT) == (False, False)
    finally:
        server_end.close()
        client_end.close()

def test_the_watch_ends_with_its_request():
    """The connection's greenlet goes on to wait for the next request: a client leaving then is the server's
    business, never an exception thrown into it."""
    upstream = Upstream()
    upstream.answer.set()
    idle = []
    served = Served(non_streamed(upstream), after=lambda: (gevent.sleep(0.2), idle.append("slept")))
    gevent.sleep(0.05)
    served.hang_up()
    served.finish()

    assert served.chunks == [b"answer"] and idle == ["slept"]


def test_a_view_that_reads_no_body_is_not_watched():
    answer = gevent.event.Event()

    def app(environ, start_response):
        answer.wait(LIMIT)
        start_response("200 OK", [])
        return [b"models"]

    served = Served(app)
    gevent.sleep(0.05)
    served.hang_up()
    gevent.sleep(0.05)
    answer.set()
    served.finish()

    assert served.chunks == [b"models"] and served.error is None


def test_a_shielded_block_runs_to_its_end_and_the_request_ends_right_after():
    upstream, refreshed = Upstream(), []

    def app(environ, start_response):
        watch_client(environ)
        with shielded():
            upstream.wait()  # a token refresh: its answer must be read
            refreshed.append(True)
        gevent.sleep(LIMIT)  # the upstream call that follows never starts waiting
        raise AssertionError("not interrupted")

    served = Served(app)
    gevent.sleep(0.05)
    served.hang_up()
    gevent.sleep(0.05)
    assert not served.greenlet.dead and upstream.interrupted_by is None
    upstream.answer.set()
    served.finish()

    assert refreshed == [True]
    assert_dropped_quietly(served)


def test_shielded_outside_a_watched_request_does_nothing():
    with shielded():
        pass


def test_client_gone_is_no_exception_that_error_handlers_catch():
    assert issubclass(ClientGone, BaseException) and not issubclass(ClientGone, Exception)


def test_without_a_watchable_socket_the_app_is_served_as_it_is():
    """Flask's test client, other workers and servers: the application's own body, nothing around it."""
    body = [b"answer"]

    def app(environ, start_response):
        start_response("200 OK", [])
        return body

    assert ClientWatch(app)({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda *args: None) is body


def test_only_plain_http1_sockets_in_gevent_greenlets_are_watched():
    class TLSSocket(gevent.socket.socket):  # gevent's SSLSocket is a subclass of its socket too
        pass

    plain, other = gevent.socket.socketpair()
    tls = TLSSocket(socket.AF_INET, socket.SOCK_STREAM)
    stdlib = socket.socket()
    try:
        def watch(sock, protocol="HTTP/1.1"):
            return Watch.of({"gunicorn.socket": sock, "SERVER_PROTOCOL": protocol})

        assert gevent.spawn(watch, plain).get(timeout=LIMIT) is not None
        assert gevent.spawn(watch, plain, "HTTP/2").get(timeout=LIMIT) is None  # one socket, many requests
        assert gevent.spawn(watch, tls).get(timeout=LIMIT) is None
        assert gevent.spawn(watch, stdlib).get(timeout=LIMIT) is None
        assert watch(plain) is None  # not in a gevent Greenlet: the main greenlet, a thread
    finally:
        for sock in (plain, other, tls, stdlib):
            sock.close()
