"""The lean transport adapter: the pool and request line it finds without requests' per-call URL parsing."""

from __future__ import annotations

import gzip
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
import urllib3

from droid2api.transport import LeanAdapter, _split
from droid2api.upstream import UpstreamClient


def prepared(url: str) -> requests.PreparedRequest:
    return requests.Request("POST", url, data=b"{}").prepare()


def test_origin_and_request_line():
    assert _split("https://api.example.com/v1/messages?beta=true") == ("https://api.example.com",
                                                                       "/v1/messages?beta=true")
    assert _split("http://127.0.0.1:8080/a/b") == ("http://127.0.0.1:8080", "/a/b")
    assert _split("http://127.0.0.1:8080") == ("http://127.0.0.1:8080", "/")


def test_one_pool_per_origin_and_a_new_one_after_a_close():
    adapter = LeanAdapter(pool_connections=2, pool_maxsize=4, max_retries=0)
    first = adapter.get_connection_with_tls_context(prepared("http://upstream.test/v1/a"), True)
    assert adapter.get_connection_with_tls_context(prepared("http://upstream.test/v1/b?x=1"), True) is first
    assert adapter.get_connection_with_tls_context(prepared("https://upstream.test/v1/a"), True) is not first
    assert adapter.request_url(prepared("http://upstream.test/v1/b?x=1"), {}) == "/v1/b?x=1"
    assert adapter.request_url(prepared("http://upstream.test/v1/b"), {"http": "http://proxy.test:3128"}) == \
        "http://upstream.test/v1/b"  # a plain-HTTP proxy is sent the whole URL
    adapter.close()
    again = adapter.get_connection_with_tls_context(prepared("http://upstream.test/v1/a"), True)
    assert again is not first and again.pool is not None


def test_a_response_has_what_requests_gives_one_and_the_answers_headers_as_they_came():
    from requests.models import Response
    from urllib3 import HTTPResponse
    from urllib3._collections import HTTPHeaderDict

    headers = HTTPHeaderDict([("Content-Type", "application/json"), ("X-Request-Id", "a"), ("x-request-id", "b")])
    raw = HTTPResponse(body=io.BytesIO(b"{}"), headers=headers, status=201, reason="Created", preload_content=False)
    request = prepared("http://upstream.test/v1/a")
    response = LeanAdapter().build_response(request, raw)
    assert isinstance(response, Response) and response.status_code == 201 and response.reason == "Created"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["X-REQUEST-ID"] == "a, b"  # as requests' own copy joins them
    assert response.url == request.url and response.request is request and response.history == []
    assert set(vars(Response())) - {"cookies"} <= set(vars(response))  # every attribute requests sets
    assert len(response.cookies) == 0 and response.json() == {}
    other = LeanAdapter().build_response(request, raw)
    assert other.history is not response.history and other.cookies is not response.cookies


class _Answers(BaseHTTPRequestHandler):
    """Answers each POST with the body its path names: sized, gzip-compressed (sized), or chunked."""

    protocol_version = "HTTP/1.1"
    BODY = b'{"text":"' + b"x" * 5000 + b'"}'

    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (self.BODY[:100], self.BODY[100:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        body = gzip.compress(self.BODY) if self.path == "/gzip" else self.BODY
        if self.path == "/gzip":
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_body_is_read_whole_and_a_sized_one_without_a_read_past_its_end(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    reads = []
    read1 = urllib3.response.HTTPResponse.read1
    monkeypatch.setattr(urllib3.response.HTTPResponse, "read1",
                        lambda self, *a, **k: reads.append(1) or read1(self, *a, **k))
    client = UpstreamClient([])
    try:
        for path in ("/sized", "/gzip", "/chunked", "/sized"):
            reads.clear()
            upstream = client.post("u", f"http://127.0.0.1:{server.server_address[1]}{path}", {}, b"{}", (5, 5))
            assert upstream.read() == _Answers.BODY, path
            if path == "/sized":
                assert len(reads) == 1  # the length says it is all there
                assert upstream._response.raw._connection is None  # and the connection went back to the pool
    finally:
        client.close()
        server.shutdown()
        server.server_close()
