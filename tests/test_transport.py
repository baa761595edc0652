"""The lean transport: the pools it makes, and the check before a pooled connection is reused."""

from __future__ import annotations

import socket

import pytest

from droid2api.transport import LeanAdapter, _Connection, _HTTPSConnection, _quiet


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_an_idle_connection_is_quiet_until_the_server_closes_it(pair):
    ours, theirs = pair
    assert _quiet(ours)
    theirs.close()
    assert not _quiet(ours)


def test_stray_bytes_on_an_idle_connection_make_it_unusable(pair):
    ours, theirs = pair
    theirs.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
    assert not _quiet(ours)


def test_no_socket_is_no_connection():
    assert not _quiet(None)


def test_the_pools_use_the_quick_check():
    adapter = LeanAdapter(pool_connections=2, pool_maxsize=4, max_retries=0)
    assert adapter.poolmanager.connection_from_url("http://upstream.test/v1").ConnectionCls is _Connection
    assert adapter.poolmanager.connection_from_url("https://upstream.test/v1").ConnectionCls is _HTTPSConnection
    proxied = adapter.proxy_manager_for("http://proxy.test:3128")
    assert proxied.connection_from_url("https://upstream.test/v1").ConnectionCls is _HTTPSConnection
    adapter.close()
