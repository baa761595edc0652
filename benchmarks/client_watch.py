"""What the client watch (droid2api/disconnect.py) costs a request, in microseconds of one gevent worker.

Serves requests the way gunicorn's gevent worker does, without gunicorn: in a gevent greenlet, on one end
of a socket pair whose other end is a client that stays. Each view waits once (``gevent.sleep(0)``, a switch
to the hub and back, as for the upstream's answer) and answers; the same app bare, under ClientWatch without
reading a body (nothing watched), and under ClientWatch watching the client, with a one-chunk answer and a
streamed one of 27 chunks (the bench's recorded Anthropic stream). Prints µs per request and what the
middleware adds to the bare app; asserts nothing. Run: ``.venv/bin/python benchmarks/client_watch.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import gevent
import gevent.socket

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from droid2api.disconnect import ClientWatch, watch_client  # noqa: E402

REQUESTS = 20_000
ROUNDS = 5  # the best of: the machine is noisy
STREAMED_CHUNKS = 27


def app(read_body: bool, chunks: int):
    def view(environ, start_response):
        if read_body:
            watch_client(environ)
        gevent.sleep(0)  # the upstream's answer
        start_response("200 OK", [])
        return [b"data: {}\n\n"] * chunks
    return view


def serve(wsgi, environ, requests: int) -> float:
    """Seconds for ``requests`` requests, each iterated and closed as gunicorn does."""
    def start_response(status, headers, exc_info=None):
        pass

    started = time.perf_counter()
    for _ in range(requests):
        body = wsgi(dict(environ), start_response)
        try:
            for _chunk in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
    return time.perf_counter() - started


def per_request(wsgi, environ, requests: int) -> float:
    """Microseconds per request, the best of ROUNDS, each run in a greenlet of its own."""
    return min(gevent.spawn(serve, wsgi, environ, requests).get() for _ in range(ROUNDS)) / requests * 1e6


def main():
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else REQUESTS
    server_end, client_end = gevent.socket.socketpair()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/messages", "SERVER_PROTOCOL": "HTTP/1.1",
               "gunicorn.socket": server_end}
    print(f"µs per request, best of {ROUNDS} x {requests:,}; gevent {gevent.__version__}, "
          f"loop {type(gevent.get_hub().loop).__module__}")
    for label, chunks in (("one chunk", 1), (f"{STREAMED_CHUNKS} chunks", STREAMED_CHUNKS)):
        bare = per_request(app(True, chunks), environ, requests)
        unwatched = per_request(ClientWatch(app(False, chunks)), environ, requests)
        watched = per_request(ClientWatch(app(True, chunks)), environ, requests)
        print(f"{label:>10}: bare app {bare:6.2f}   ClientWatch, no body read {unwatched:6.2f} "
              f"(+{unwatched - bare:.2f})   watched {watched:6.2f} (+{watched - bare:.2f})")
    server_end.close()
    client_end.close()


if __name__ == "__main__":
    main()
