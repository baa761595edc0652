"""The floors benchmarks/bench.py measures beside the gateway, each served by gunicorn + gevent.

``bare_wsgi``: a WSGI function answering the upstream's JSON; ``bare_flask``: the same as a Flask view;
``upstream_call``: a WSGI function making one urllib3 call to $BENCH_UPSTREAM and answering what it got;
``stack_relay``: a Flask view making that call through requests (``stream=True``, as the gateway does) and
relaying what it got: the least a relayed call costs on the gateway's stack, before any work of its own.
Run with benchmarks/floors_gunicorn.py, which takes the gateway's own worker settings.
"""

from __future__ import annotations

import os
from pathlib import Path

import flask
import requests
import urllib3
from requests.adapters import HTTPAdapter

ANSWER = (Path(__file__).resolve().parents[1] / "tests" / "recorded"
          / "anthropic__test_multiple_parallel_tool_calls.0.response.json").read_bytes()


def bare_wsgi(environ, start_response):
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(ANSWER)))])
    return [ANSWER]


bare_flask = flask.Flask(__name__)


@bare_flask.post("/<path:path>")
def view(path):
    flask.request.get_data()
    return flask.Response(ANSWER, content_type="application/json")


# One pool per worker process (created after gunicorn forks it), as large as the gateway's (upstream.POOL_SIZE).
POOL = urllib3.PoolManager(maxsize=64, retries=False)


def upstream_call(environ, start_response):
    body = environ["wsgi.input"].read()
    answer = POOL.request("POST", os.environ["BENCH_UPSTREAM"], body=body,
                          headers={"Content-Type": "application/json"})
    start_response(f"{answer.status} OK", [("Content-Type", answer.headers.get("Content-Type", "")),
                                           ("Content-Length", str(len(answer.data)))])
    return [answer.data]


stack_relay = flask.Flask("stack_relay")
SESSION = requests.Session()
SESSION.trust_env = False  # as the gateway's: no proxy settings read from the environment on every call
SESSION.mount("http://", HTTPAdapter(pool_maxsize=64, max_retries=0))


@stack_relay.post("/<path:path>")
def relay(path):
    answer = SESSION.post(os.environ["BENCH_UPSTREAM"], data=flask.request.get_data(),
                          headers={"Content-Type": "application/json"}, stream=True)
    return flask.Response(answer.content, status=answer.status_code,
                          content_type=answer.headers.get("Content-Type"))
