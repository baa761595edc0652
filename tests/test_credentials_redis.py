"""The Factory refresh token shared through Redis (``redis_url``): one host refreshes under a Redis lock and
the others adopt the new token without calling WorkOS; a rotated token Redis fails to take is kept in
memory and in the host's auth file, then put into Redis once it answers; a Redis that is down means no
refresh at all (never an uncoordinated one); hosts racing in real processes call WorkOS exactly once.
Each "host" here is a RefreshingToken with an auth file of its own and a Redis client of its own."""

from __future__ import annotations

import json
import logging
import multiprocessing
import time

import pytest

from droid2api.credentials import WORKOS_URL, RefreshingToken, factory_credential
from droid2api.errors import GatewayError
from droid2api.token_storage import CREDENTIAL_KEY, RedisTokens

from .redis_server import free_port
from .test_credentials import HOUR, T0, Clock, make_jwt, write_auth


class WorkOS:
    """A scripted post_form: answers in turn, and the refresh tokens it was sent."""

    def __init__(self, *answers, during=None):
        self.answers = list(answers)
        self.sent = []
        self.during = during  # called while the call is in flight, e.g. to stop Redis

    def __call__(self, url, data):
        self.sent.append(data["refresh_token"])
        if self.during is not None:
            self.during()
        access, refresh = self.answers.pop(0)
        return 200, {"access_token": access, "refresh_token": refresh}


def host(tmp_path, name, workos, url, clock, seed="rt-env") -> RefreshingToken:
    return RefreshingToken(str(tmp_path / name / "auth.json"), workos, seed=seed, source="DROID_REFRESH_KEY",
                           clock=clock, shared=RedisTokens(url))


def stored(url) -> dict:
    return RedisTokens(url).read()


def test_one_host_refreshes_and_the_other_adopts_without_calling_workos(tmp_path, redis_url):
    clock = Clock()
    first, second = make_jwt(exp=int(T0) + 24 * HOUR, n=1), make_jwt(exp=int(T0) + 24 * HOUR, n=2)
    workos = WorkOS((first, "rt-2"), (second, "rt-3"))
    a, b = host(tmp_path, "a", workos, redis_url, clock), host(tmp_path, "b", workos, redis_url, clock)

    assert a.token() == first
    assert b.token() == first
    assert workos.sent == ["rt-env"]
    record = stored(redis_url)
    assert (record["access_token"], record["refresh_token"]) == (first, "rt-2")
    assert json.loads((tmp_path / "a" / "auth.json").read_text())["refresh_token"] == "rt-2"  # this host's copy
    assert not (tmp_path / "b" / "auth.json").exists()  # b rotated nothing

    clock.now += 6 * HOUR + 1  # both stale now: the first to take the lock refreshes, the other adopts
    assert b.token() == second
    assert a.token() == second
    assert workos.sent == ["rt-env", "rt-2"]
    assert stored(redis_url)["refresh_token"] == "rt-3"
    assert a.state()["shared_in"].endswith(f"(key {CREDENTIAL_KEY})") and a.state()["shared"] is True


def test_a_host_starting_later_adopts_the_shared_token_even_when_forced_at_start(tmp_path, redis_url):
    clock = Clock()
    token = make_jwt(exp=int(T0) + 24 * HOUR)
    workos = WorkOS((token, "rt-2"))
    a = host(tmp_path, "a", workos, redis_url, clock)
    a.refresh(force=True)  # what Credentials.startup does
    clock.now += 5
    b = host(tmp_path, "b", workos, redis_url, clock)
    assert b.refresh(force=True) is True
    assert b.token() == token
    assert workos.sent == ["rt-env"]


def test_a_rotation_redis_cannot_take_is_kept_and_shared_once_redis_answers(tmp_path, redis_server, redis_url,
                                                                            caplog):
    clock = Clock()
    new = make_jwt(exp=int(T0) + 24 * HOUR)
    workos = WorkOS((new, "rt-2"), during=redis_server.stop)  # Redis dies while WorkOS answers
    a = host(tmp_path, "a", workos, redis_url, clock)
    assert a.token() == new  # the new token works here
    assert "cannot save the rotated refresh token to Redis" in caplog.text
    assert json.loads((tmp_path / "a" / "auth.json").read_text())["refresh_token"] == "rt-2"  # the fallback
    assert a.state()["shared"] is False

    # Another worker of the same host starts while Redis is down: it takes the token from the host's file.
    a2 = host(tmp_path, "a", workos, redis_url, clock)
    assert a2.token() == new
    # Another host with nothing in its file: no lock, so no refresh and no WorkOS call, but a clear 401.
    b = host(tmp_path, "b", workos, redis_url, clock)
    with pytest.raises(GatewayError, match="unreachable: lock failed"):
        b.token()
    assert workos.sent == ["rt-env"]

    redis_server.start()  # empty: it kept nothing on disk
    clock.now += 5
    assert a2.token() == new  # it holds a token Redis may lack: it looks, and puts it there
    assert stored(redis_url)["refresh_token"] == "rt-2"
    assert a.token() == new
    assert a.state()["shared"] is True
    clock.now += 60  # b's back-off after its failure
    assert b.token() == new
    assert workos.sent == ["rt-env"]


def test_the_pending_token_goes_to_redis_from_the_host_that_holds_it(tmp_path, redis_server, redis_url):
    clock = Clock()
    new = make_jwt(exp=int(T0) + 24 * HOUR)
    workos = WorkOS((new, "rt-2"), during=redis_server.stop)
    a = host(tmp_path, "a", workos, redis_url, clock)
    a.token()
    redis_server.start()
    clock.now += 1
    a.token()
    assert stored(redis_url) is None  # tried again only every SHARE_RETRY seconds
    clock.now += 5
    a.token()
    assert stored(redis_url)["refresh_token"] == "rt-2"


def test_redis_down_means_no_refresh_and_a_clear_error(tmp_path, caplog):
    dead = f"redis://:pw-secret@127.0.0.1:{free_port()}/0"
    path = tmp_path / "auth.json"
    old = make_jwt(exp=int(T0) + 20 * 60)
    write_auth(path, old, "rt-1", obtained_at=T0 - HOUR)
    workos = WorkOS((make_jwt(exp=int(T0) + 24 * HOUR), "rt-2"))
    token = RefreshingToken(str(path), workos, source="~/.factory/auth.json", clock=Clock(),
                            shared=RedisTokens(dead))
    assert token.token() == old  # from the file, while it lasts
    assert workos.sent == []
    state = token.state()
    assert state["last_error"].startswith(f"the Factory token in redis://127.0.0.1:{dead.rsplit(':', 1)[1]} "
                                          f"(key {CREDENTIAL_KEY}) unreachable: lock failed: ")
    assert "pw-secret" not in caplog.text and "pw-secret" not in state["last_error"]


def test_a_record_from_another_refresh_key_is_ignored_then_replaced(tmp_path, redis_url):
    clock = Clock()
    other = host(tmp_path, "old", WorkOS((make_jwt(exp=int(T0) + 24 * HOUR, n="old"), "rt-old-2")), redis_url,
                 clock, seed="rt-old")
    other.token()
    new = make_jwt(exp=int(T0) + 24 * HOUR, n="new")
    workos = WorkOS((new, "rt-new-2"))
    fresh = host(tmp_path, "new", workos, redis_url, clock, seed="rt-new")
    assert fresh.token() == new
    assert workos.sent == ["rt-new"]
    assert stored(redis_url)["refresh_token"] == "rt-new-2"


def test_no_token_reaches_the_log(tmp_path, redis_url, caplog):
    caplog.set_level(logging.DEBUG)
    access = make_jwt(exp=int(T0) + 24 * HOUR)
    host(tmp_path, "a", WorkOS((access, "rt-secret-2")), redis_url, Clock(), seed="rt-secret-1").token()
    host(tmp_path, "b", WorkOS(), redis_url, Clock(), seed="rt-secret-1").token()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (access, "rt-secret-1", "rt-secret-2"):
        assert secret not in logged


def test_factory_credential_shares_through_redis_and_takes_the_workos_url_override(tmp_path, redis_url):
    environ = {"DROID_REFRESH_KEY": "rt", "DROID2API_WORKOS_URL": "http://127.0.0.1:9/workos"}
    plain = factory_credential(environ, str(tmp_path / "auth.json"), None)
    assert (plain._shared, plain._workos_url) == (None, "http://127.0.0.1:9/workos")
    shared = factory_credential({**environ, "DROID2API_REDIS_URL": redis_url}, str(tmp_path / "auth.json"), None)
    assert isinstance(shared._shared, RedisTokens)
    given = factory_credential({"DROID_REFRESH_KEY": "rt"}, str(tmp_path / "auth.json"), None, redis_url=redis_url)
    assert isinstance(given._shared, RedisTokens) and given._workos_url == WORKOS_URL


# -- hosts racing, in real processes ----------------------------------------------------------------

def _racing_host(path, url, calls_file, new_access, barrier, results, at_start):
    def post_form(_, data):
        with open(calls_file, "a") as f:
            f.write(data["refresh_token"] + "\n")
        time.sleep(0.3)  # hold the refresh open so the other host arrives while it runs
        return 200, {"access_token": new_access, "refresh_token": "rt-2"}

    token = RefreshingToken(path, post_form, seed="rt-1", source="test", shared=RedisTokens(url))
    barrier.wait()
    if at_start:
        token.refresh(force=True)
    results.put(token.token())


@pytest.mark.parametrize("at_start", [False, True], ids=["no token yet", "refresh at start"])
def test_two_host_processes_refresh_exactly_once(tmp_path, redis_url, at_start):
    calls_file = tmp_path / "workos-calls.txt"
    calls_file.touch()
    new_access = make_jwt(exp=int(time.time()) + 8 * HOUR)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    hosts = [context.Process(target=_racing_host, args=(str(tmp_path / name / "auth.json"), redis_url,
                                                        str(calls_file), new_access, barrier, results, at_start))
             for name in ("a", "b")]
    for process in hosts:
        process.start()
    tokens = [results.get(timeout=60) for _ in hosts]
    for process in hosts:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert calls_file.read_text().splitlines() == ["rt-1"]
    assert tokens == [new_access, new_access]
    assert stored(redis_url)["refresh_token"] == "rt-2"
