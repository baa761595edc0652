"""The lean transport adapter: the pool and request line it finds without requests' per-call URL parsing."""

from __future__ import annotations

import io

import requests

from droid2api.transport import LeanAdapter, _split


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
