"""The shipped deploy/nginx.conf in front of the real gunicorn server, over HTTPS, must not hold streams back.

nginx comes from the distribution's packages: when it is missing, the fixture installs it with
apt-get (CI runs as root), and fails (never skips) if that is impossible, unless
DROID2API_SKIP_NGINX=1 says to leave nginx out. The site file is used as shipped, with only its
placeholders (ports, host name, certificate paths, gunicorn's address) filled in.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess

import pytest
import trustme

from tests.debian import installed
from tests.helpers import recorded

from .checks import STREAMED, assert_streamed_as_produced
from .client import get, in_pieces, post
from .servers import ANTHROPIC_PATH, REPO, LoggedProcess, free_port

MAIN_CONF = """\
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/droid2api.conf;
}}
"""


def nginx_binary() -> str:
    """nginx's path, installed from the distribution's packages first if need be."""
    return installed("nginx", "nginx", "DROID2API_SKIP_NGINX")


def site_config(https_port: int, http_port: int, gateway_address: str, cert: str, key: str) -> str:
    """deploy/nginx.conf with its placeholders filled in, and nothing else changed."""
    text = (REPO / "deploy" / "nginx.conf").read_text()
    for placeholder, value in [
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("server_name droid2api.example.com;", "server_name localhost;"),
        ("/etc/letsencrypt/live/droid2api.example.com/fullchain.pem", cert),
        ("/etc/letsencrypt/live/droid2api.example.com/privkey.pem", key),
        ("server 127.0.0.1:3000;", f"server {gateway_address};"),
    ]:
        assert placeholder in text, f"deploy/nginx.conf no longer has the placeholder {placeholder!r}"
        text = text.replace(placeholder, value)
    return text


class Nginx(LoggedProcess):
    https_url: str
    http_url: str
    ssl_context: ssl.SSLContext


@pytest.fixture(scope="module")
def nginx(gateway, tmp_path_factory, running):
    binary = nginx_binary()
    directory = tmp_path_factory.mktemp("nginx")
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    cert, key = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(b"".join(pem.bytes() for pem in issued.cert_chain_pems))
    key.write_bytes(issued.private_key_pem.bytes())
    https_port, http_port = free_port(), free_port()
    (directory / "droid2api.conf").write_text(
        site_config(https_port, http_port, gateway.url.removeprefix("http://"), str(cert), str(key)))
    (directory / "nginx.conf").write_text(MAIN_CONF.format(d=directory))

    log_path = directory / "error.log"
    with open(log_path, "ab") as log:  # what nginx says before it has read its config goes there too
        process = subprocess.Popen([binary, "-p", str(directory), "-c", str(directory / "nginx.conf"),
                                    "-e", str(log_path), "-g", "daemon off;"], stdout=log, stderr=subprocess.STDOUT)
    server = Nginx("nginx", process, log_path)
    server.https_url = f"https://localhost:{https_port}"
    server.http_url = f"http://127.0.0.1:{http_port}"
    server.ssl_context = ssl.create_default_context()
    ca.configure_trust(server.ssl_context)

    def listening():
        socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
        return True

    server.wait_until(listening, f"listen on port {https_port}")
    running["nginx"] = server
    yield server
    del running["nginx"]
    server.stop()


@pytest.mark.parametrize("endpoint, model, path, name", STREAMED, ids=["messages", "responses"])
def test_stream_passes_through_nginx_as_it_is_produced(nginx, upstream, endpoint, model, path, name):
    assert_streamed_as_produced(upstream, nginx.https_url + endpoint, model, path, name, nginx.ssl_context)


def test_request_body_sent_in_chunks_reaches_the_upstream_whole(nginx, upstream):
    # What HTTP/2 clients and streaming uploads send: no Content-Length, so nginx (request buffering
    # off) passes the body on in chunks too.
    answer = recorded("anthropic__test_multiple_parallel_tool_calls.1.response.json")
    upstream.reply_json(ANTHROPIC_PATH, answer)
    body = {"model": "claude-test", "max_tokens": 64, "messages": [{"role": "user", "content": "Hello " * 5000}]}
    raw = json.dumps(body).encode()

    exchange = post(nginx.https_url + "/v1/messages", in_pieces(raw, 4096), ssl_context=nginx.ssl_context)

    assert (exchange.status, exchange.read()) == (200, answer)
    assert upstream.only_request(ANTHROPIC_PATH).json()["messages"] == body["messages"]


def test_plain_http_is_redirected_to_https(nginx):
    exchange = get(nginx.http_url + "/v1/models")

    assert exchange.status == 301
    assert exchange.headers["location"].startswith("https://")
    exchange.close()


@pytest.mark.parametrize("megabytes, answered_by", [(32.5, "gateway"), (34, "nginx")])
def test_a_body_over_the_limit_gets_a_413_every_sdk_can_read(nginx, upstream, megabytes, answered_by):
    # Up to nginx's 33m the gateway sees the body and answers in the client's dialect (max_body_mb is
    # 32); past it nginx answers with the site's own JSON, which has Anthropic's shape.
    filler = "a" * int(megabytes * 1024 * 1024)
    raw = json.dumps({"model": "claude-test", "max_tokens": 5,
                      "messages": [{"role": "user", "content": filler}]}).encode()

    exchange = post(nginx.https_url + "/v1/messages", raw, {"content-type": "application/json"},
                    ssl_context=nginx.ssl_context, timeout=60.0)

    assert exchange.status == 413
    body = exchange.json()
    assert body["type"] == "error" and body["error"]["type"] == "request_too_large"
    assert ("max_body_mb" in body["error"]["message"]) is (answered_by == "gateway")
    assert not upstream.requests(ANTHROPIC_PATH)
