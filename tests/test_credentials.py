"""Upstream credentials: droid2api's order of sources, the WorkOS refresh (request, rotation written
atomically, timing by age and JWT expiry, failures, backoff), workers racing to refresh, and
tokens kept out of every log line."""

from __future__ import annotations

import base64
import json
import logging
import multiprocessing
import stat
import time
from datetime import datetime, timezone
from types import SimpleNamespace
from urllib.parse import parse_qs

import pytest
import requests
import responses

from droid2api import credentials
from droid2api.config import UpstreamConfig
from droid2api.credentials import WORKOS_URL, RefreshingToken, factory_credential, fingerprint
from droid2api.key_pool import Credentials
from droid2api.errors import GatewayError
from droid2api.upstream import REFRESH_TIMEOUT, UpstreamClient

from .helpers import app_for, base_config

HOUR = 3600
T0 = 1_800_000_000.0
ANTHROPIC_URL = "https://api.factory.ai/api/llm/a/v1/messages"
MESSAGE = {"model": "claude-test", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def make_jwt(**claims) -> str:
    """An unsigned JWT with ``claims`` (the gateway only reads them; the upstream verifies)."""
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2ln"


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


def write_auth(path, access: str | None, refresh: str, obtained_at: float | None = None, **extra):
    data = {"refresh_token": refresh, **extra}
    if access is not None:
        data["access_token"] = access
    if obtained_at is not None:
        data["last_updated"] = iso(obtained_at)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def workos_answers(access: str, refresh: str, status: int = 200):
    responses.post(WORKOS_URL, json={"access_token": access, "refresh_token": refresh, "user": {"id": "u"}},
                   status=status)


def workos_form(call) -> dict:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def workos_calls() -> list:
    return [c for c in responses.calls if c.request.url == WORKOS_URL]


def client() -> UpstreamClient:
    return UpstreamClient([])


# -- where the credential comes from ------------------------------------------------------------

@pytest.fixture
def home(tmp_path, monkeypatch):
    """A HOME with ~/.factory/auth.json holding a refresh token, and a cwd of its own."""
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    write_auth(home / ".factory" / "auth.json", None, "rt-home")
    return home


def send_message(environ, headers=None):
    app = app_for(base_config(), environ)
    return app.test_client().post("/v1/messages", json=MESSAGE, headers=headers or {})


@responses.activate
def test_factory_api_key_comes_first(home):
    responses.post(ANTHROPIC_URL, json={"type": "message"})
    answer = send_message({"FACTORY_API_KEY": "fk-1", "DROID_REFRESH_KEY": "rt-env", "HOME": str(home)},
                          {"authorization": "Bearer client-key"})
    assert answer.status_code == 200
    assert responses.calls[0].request.headers["authorization"] == "Bearer fk-1"
    assert workos_calls() == []


@responses.activate
def test_refresh_key_from_env_comes_before_the_auth_file(home):
    access = make_jwt(exp=int(time.time()) + 8 * HOUR)
    workos_answers(access, "rt-env-2")
    responses.post(ANTHROPIC_URL, json={"type": "message"})
    send_message({"DROID_REFRESH_KEY": "rt-env", "HOME": str(home)}, {"authorization": "Bearer client-key"})
    assert workos_form(workos_calls()[0])["refresh_token"] == "rt-env"
    assert responses.calls[-1].request.headers["authorization"] == f"Bearer {access}"


@responses.activate
def test_auth_file_comes_before_the_clients_key(home):
    access = make_jwt(exp=int(time.time()) + 8 * HOUR)
    workos_answers(access, "rt-home-2")
    responses.post(ANTHROPIC_URL, json={"type": "message"})
    send_message({"HOME": str(home)}, {"x-api-key": "client-key"})
    assert workos_form(workos_calls()[0])["refresh_token"] == "rt-home"
    assert responses.calls[-1].request.headers["authorization"] == f"Bearer {access}"


@pytest.mark.parametrize("client_headers", [{"authorization": "Bearer client-key"}, {"x-api-key": "client-key"},
                                            {"x-endpoint-authorization": "Bearer client-key"}])
@responses.activate
def test_without_a_server_credential_the_clients_own_key_goes_upstream(tmp_path, client_headers):
    responses.post(ANTHROPIC_URL, json={"type": "message"})
    answer = send_message({"HOME": str(tmp_path)}, client_headers)
    assert answer.status_code == 200
    assert responses.calls[0].request.headers["authorization"] == "Bearer client-key"


@responses.activate
def test_no_credential_at_all_is_401_saying_what_to_configure(tmp_path):
    answer = send_message({"HOME": str(tmp_path)})
    assert answer.status_code == 401
    error = answer.get_json()
    assert error["type"] == "error" and error["error"]["type"] == "authentication_error"
    for hint in ("FACTORY_API_KEY", "DROID_REFRESH_KEY", "~/.factory/auth.json", "Authorization: Bearer"):
        assert hint in error["error"]["message"]
    assert len(responses.calls) == 0


def _upstream_route(**config):
    """A route to a non-Factory upstream configured with ``config``; only what Credentials.keys reads."""
    return SimpleNamespace(factory=False, config=UpstreamConfig("u", "openai", "https://x", **config))


def _secrets(creds, route, client_key):
    return [(key.secret, key.pooled) for key in creds.keys(route, client_key)]


def test_non_factory_upstream_key_inline_from_env_or_the_clients():
    creds = Credentials(None, {"MY_KEY": " sk-env ", "POOL": "sk-a, sk-b,,"})
    assert _secrets(creds, _upstream_route(api_key_env="MY_KEY"), "client") == [("sk-env", True)]
    assert _secrets(creds, _upstream_route(api_key="sk-inline"), "client") == [("sk-inline", True)]
    assert _secrets(creds, _upstream_route(), "client") == [("client", False)]  # a client's key is never pooled
    assert _secrets(creds, _upstream_route(api_keys=["k1", "k2"]), None) == [("k1", True), ("k2", True)]
    assert _secrets(creds, _upstream_route(api_keys_env="POOL"), None) == [("sk-a", True), ("sk-b", True)]
    with pytest.raises(GatewayError) as unset:
        creds.keys(_upstream_route(api_key_env="OTHER"), "client")
    assert (unset.value.status, "$OTHER" in unset.value.message) == (401, True)
    with pytest.raises(GatewayError) as none:
        creds.keys(_upstream_route(), None)
    assert none.value.status == 401 and "api_key, api_keys, api_key_env or api_keys_env" in none.value.message


def test_factory_api_key_may_be_a_comma_separated_pool():
    factory = factory_credential({"FACTORY_API_KEY": " fk-1 , fk-2 "}, "auth.json", None)
    keys = Credentials(factory, {}).keys(SimpleNamespace(factory=True, config=None), "client")
    assert [(k.secret, k.pooled) for k in keys] == [("fk-1", True), ("fk-2", True)]
    assert keys[0].fingerprint == fingerprint("fk-1") and "fk-1" not in keys[0].fingerprint


# -- the WorkOS refresh -------------------------------------------------------------------------

@responses.activate
def test_refresh_posts_the_workos_form_and_persists_the_rotation(tmp_path):
    path = tmp_path / "factory" / "auth.json"
    write_auth(path, None, "rt-1", droid_cli_field="kept")
    new_access = make_jwt(exp=int(T0) + 8 * HOUR)
    workos_answers(new_access, "rt-2")
    token = RefreshingToken(str(path), client().post_form, source="test", clock=Clock())

    assert token.token() == new_access
    call = workos_calls()[0]
    assert call.request.url == "https://api.workos.com/user_management/authenticate"
    assert call.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert workos_form(call) == {"grant_type": "refresh_token", "refresh_token": "rt-1",
                                 "client_id": "client_01HNM792M5G5G1A2THWPXKFMXB"}
    stored = json.loads(path.read_text())
    assert (stored["access_token"], stored["refresh_token"], stored["droid_cli_field"]) == (new_access, "rt-2", "kept")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["auth.json", "auth.json.lock"]


@responses.activate
def test_every_rotation_is_persisted_and_used_next(tmp_path):
    path = tmp_path / "auth.json"
    write_auth(path, None, "rt-1")
    clock = Clock()
    token = RefreshingToken(str(path), client().post_form, source="test", clock=clock)
    workos_answers(make_jwt(exp=int(T0) + 24 * HOUR), "rt-2")
    token.token()
    responses.replace(responses.POST, WORKOS_URL, json={"access_token": make_jwt(exp=int(T0) + 24 * HOUR, n=2),
                                                        "refresh_token": "rt-3"})
    clock.now += 6 * HOUR + 1
    token.token()
    assert [workos_form(c)["refresh_token"] for c in workos_calls()] == ["rt-1", "rt-2"]
    assert json.loads(path.read_text())["refresh_token"] == "rt-3"


@responses.activate
def test_rotation_replaces_the_file_atomically(tmp_path, monkeypatch):
    path = tmp_path / "auth.json"
    write_auth(path, None, "rt-1")
    before = path.read_text()
    workos_answers(make_jwt(exp=int(T0) + 8 * HOUR), "rt-2")

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(credentials.os, "replace", crash)
    RefreshingToken(str(path), client().post_form, source="test", clock=Clock()).refresh()
    assert path.read_text() == before  # never half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auth.json", "auth.json.lock"]  # temp file cleaned up

    monkeypatch.undo()
    inode = path.stat().st_ino
    RefreshingToken(str(path), client().post_form, source="test", clock=Clock()).refresh()
    assert path.stat().st_ino != inode  # a new file renamed over the old one, not rewritten in place
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@responses.activate
def test_env_refresh_key_rotates_into_the_auth_file_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    now = time.time()
    workos_answers(make_jwt(exp=int(now) + 8 * HOUR), "rt-2")
    first = factory_credential({"DROID_REFRESH_KEY": "rt-env", "HOME": str(tmp_path)}, "auth.json",
                               client().post_form)
    first.token()
    stored = json.loads((tmp_path / "auth.json").read_text())
    assert stored["refresh_token"] == "rt-2"
    assert stat.S_IMODE((tmp_path / "auth.json").stat().st_mode) == 0o600

    # A restart with the same DROID_REFRESH_KEY continues the rotation from the file ...
    responses.replace(responses.POST, WORKOS_URL, json={"access_token": make_jwt(exp=int(now) + 15 * HOUR),
                                                        "refresh_token": "rt-3"})
    later = Clock(now + 7 * HOUR)
    RefreshingToken("auth.json", client().post_form, seed="rt-env", source="DROID_REFRESH_KEY", clock=later).token()
    # ... and a new DROID_REFRESH_KEY starts over from that key.
    fresh = RefreshingToken("auth.json", client().post_form, seed="rt-new-env", source="DROID_REFRESH_KEY",
                            clock=later)
    fresh.token()
    assert [workos_form(c)["refresh_token"] for c in workos_calls()] == ["rt-env", "rt-2", "rt-new-env"]


@responses.activate
def test_app_refreshes_at_start_and_writes_back_to_the_file_it_came_from(tmp_path):
    auth = tmp_path / ".factory" / "auth.json"
    old = make_jwt(exp=int(time.time()) + 5 * HOUR)
    write_auth(auth, old, "rt-1", obtained_at=time.time() - HOUR)
    new = make_jwt(exp=int(time.time()) + 8 * HOUR)
    workos_answers(new, "rt-2")
    responses.post(ANTHROPIC_URL, json={"type": "message"})

    app = app_for(base_config(), {"HOME": str(tmp_path)})
    assert len(workos_calls()) == 1  # at start, before any request
    app.test_client().post("/v1/messages", json=MESSAGE)
    assert len(workos_calls()) == 1
    assert responses.calls[-1].request.headers["authorization"] == f"Bearer {new}"
    assert json.loads(auth.read_text())["refresh_token"] == "rt-2"


# -- when to refresh ----------------------------------------------------------------------------

@responses.activate
def test_refresh_when_the_token_is_older_than_six_hours(tmp_path):
    path = tmp_path / "auth.json"
    old = make_jwt(exp=int(T0) + 24 * HOUR)
    write_auth(path, old, "rt-1", obtained_at=T0)
    new = make_jwt(exp=int(T0) + 30 * HOUR)
    workos_answers(new, "rt-2")
    clock = Clock(T0 + 6 * HOUR - 60)
    token = RefreshingToken(str(path), client().post_form, source="test", clock=clock)
    assert token.token() == old
    assert workos_calls() == []
    clock.now = T0 + 6 * HOUR + 60
    assert token.token() == new
    assert len(workos_calls()) == 1


@responses.activate
def test_refresh_when_jwt_expiry_is_under_thirty_minutes_away(tmp_path):
    path = tmp_path / "auth.json"
    old = make_jwt(exp=int(T0) + 40 * 60)
    write_auth(path, old, "rt-1", obtained_at=T0)
    new = make_jwt(exp=int(T0) + 8 * HOUR)
    workos_answers(new, "rt-2")
    clock = Clock(T0 + 5 * 60)  # 35 minutes left
    token = RefreshingToken(str(path), client().post_form, source="test", clock=clock)
    assert token.token() == old
    clock.now = T0 + 15 * 60  # 25 minutes left
    assert token.token() == new
    assert len(workos_calls()) == 1


@responses.activate
def test_token_age_comes_from_iat_when_the_file_has_no_timestamp(tmp_path):
    path = tmp_path / "auth.json"
    old = make_jwt(iat=int(T0), exp=int(T0) + 24 * HOUR)
    write_auth(path, old, "rt-1")
    workos_answers(make_jwt(exp=int(T0) + 30 * HOUR), "rt-2")
    clock = Clock(T0 + HOUR)
    token = RefreshingToken(str(path), client().post_form, source="test", clock=clock)
    assert token.token() == old
    clock.now = T0 + 7 * HOUR
    assert token.token() != old


# -- failures -----------------------------------------------------------------------------------

@responses.activate
def test_failed_refresh_keeps_the_old_token_while_valid_then_401(tmp_path, caplog):
    path = tmp_path / "auth.json"
    old = make_jwt(exp=int(T0) + 20 * 60)
    write_auth(path, old, "rt-1", obtained_at=T0 - HOUR)
    responses.post(WORKOS_URL, json={"error": "invalid_grant", "error_description": "expired"}, status=400)
    clock = Clock()
    token = RefreshingToken(str(path), client().post_form, source="test", clock=clock)

    assert token.token() == old
    assert "WorkOS answered 400 (invalid_grant); keeping the current token" in caplog.text
    assert json.loads(path.read_text())["refresh_token"] == "rt-1"  # nothing rotated, nothing lost

    clock.now = T0 + 21 * 60
    with pytest.raises(GatewayError) as expired:
        token.token()
    assert expired.value.status == 401
    assert "refresh failed: WorkOS answered 400 (invalid_grant)" in expired.value.message
    assert token.state()["ready"] is False


@responses.activate
def test_failed_refresh_backs_off_before_trying_again(tmp_path):
    path = tmp_path / "auth.json"
    write_auth(path, make_jwt(exp=int(T0) + 20 * 60), "rt-1", obtained_at=T0 - HOUR)
    responses.post(WORKOS_URL, status=502, body="bad gateway")
    clock = Clock()
    token = RefreshingToken(str(path), client().post_form, source="test", clock=clock)
    token.token()
    clock.now += credentials.RETRY_AFTER_FAILURE - 1
    token.token()
    assert len(workos_calls()) == 1
    clock.now += 2
    token.token()
    assert len(workos_calls()) == 2


@responses.activate
def test_unreachable_workos_keeps_the_old_token(tmp_path, caplog):
    path = tmp_path / "auth.json"
    old = make_jwt(exp=int(T0) + 20 * 60)
    write_auth(path, old, "rt-1", obtained_at=T0 - HOUR)
    responses.post(WORKOS_URL, body=requests.ConnectionError("Connection refused"))
    token = RefreshingToken(str(path), client().post_form, source="test", clock=Clock())
    assert token.token() == old
    assert "refresh failed: cannot reach https://api.workos.com" in caplog.text


@responses.activate
def test_a_refresh_that_cannot_be_saved_says_so(tmp_path, monkeypatch, caplog):
    path = tmp_path / "auth.json"
    write_auth(path, None, "rt-1")
    new = make_jwt(exp=int(T0) + 8 * HOUR)
    workos_answers(new, "rt-2")
    def denied(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(credentials.os, "replace", denied)
    token = RefreshingToken(str(path), client().post_form, source="test", clock=Clock())
    assert token.token() == new  # the new token works; only saving it failed
    assert f"cannot save the rotated refresh token to {path}" in caplog.text
    assert "cannot lock" not in caplog.text


@responses.activate
def test_expired_token_with_failing_refresh_is_401_in_the_clients_dialect(tmp_path):
    write_auth(tmp_path / ".factory" / "auth.json", make_jwt(exp=int(time.time()) - 60), "rt-1",
               obtained_at=time.time() - 7 * HOUR)
    responses.post(WORKOS_URL, json={"error": "invalid_grant"}, status=400)
    app = app_for(base_config(), {"HOME": str(tmp_path)})
    answer = app.test_client().post("/v1/chat/completions", json={"model": "glm-test", "messages": []})
    assert answer.status_code == 401
    error = answer.get_json()["error"]
    assert error["type"] == "authentication_error"
    expected = "~/.factory/auth.json is not usable (refresh failed: WorkOS answered 400 (invalid_grant))"
    assert expected in error["message"]
    ready = app.test_client().get("/health/ready")
    assert ready.status_code == 503
    assert ready.get_json()["credential"]["last_error"] == "WorkOS answered 400 (invalid_grant)"


@responses.activate
def test_refresh_goes_through_the_configured_proxies():
    responses.post(WORKOS_URL, json={"access_token": "a", "refresh_token": "r"})
    proxied = UpstreamClient(["http://user:pass@proxy-a:8080", "http://proxy-b:3128"])
    proxied.post_form(WORKOS_URL, {"refresh_token": "x"})
    proxied.post_form(WORKOS_URL, {"refresh_token": "x"})
    sent = [c.request.req_kwargs["proxies"] for c in responses.calls]
    assert sent == [{"http": "http://user:pass@proxy-a:8080", "https": "http://user:pass@proxy-a:8080"},
                    {"http": "http://proxy-b:3128", "https": "http://proxy-b:3128"}]



@responses.activate
def test_refresh_has_its_own_short_timeouts_not_the_stream_read_timeout():
    # A refresh runs on a client's request path: it must not wait the 600 s meant for model streams.
    responses.post(WORKOS_URL, json={"access_token": "a", "refresh_token": "r"})
    UpstreamClient([]).post_form(WORKOS_URL, {"refresh_token": "x"})
    connect, read = responses.calls[0].request.req_kwargs["timeout"]
    assert (connect, read) == REFRESH_TIMEOUT
    assert connect <= 10 and read <= 30


# -- workers racing -----------------------------------------------------------------------------

def _racing_worker(path, calls_file, new_access, barrier, results, at_start):
    def post_form(url, data):
        with open(calls_file, "a") as f:
            f.write(data["refresh_token"] + "\n")
        time.sleep(0.3)  # hold the refresh open so the other worker arrives while it runs
        return 200, {"access_token": new_access, "refresh_token": "rt-2"}

    token = RefreshingToken(path, post_form, source="test")
    barrier.wait()
    if at_start:
        token.refresh(force=True)
    results.put(token.token())


@pytest.mark.parametrize("at_start", [False, True], ids=["stale token", "refresh at start"])
def test_two_worker_processes_refresh_exactly_once(tmp_path, at_start):
    path = tmp_path / "auth.json"
    write_auth(path, make_jwt(exp=int(time.time()) + 10 * 60), "rt-1", obtained_at=time.time() - 7 * HOUR)
    calls_file = tmp_path / "workos-calls.txt"
    calls_file.touch()
    new_access = make_jwt(exp=int(time.time()) + 8 * HOUR)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_racing_worker,
                               args=(str(path), str(calls_file), new_access, barrier, results, at_start))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    tokens = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert calls_file.read_text().splitlines() == ["rt-1"]
    assert tokens == [new_access, new_access]
    assert json.loads(path.read_text())["refresh_token"] == "rt-2"


# -- secrets stay out of the logs ---------------------------------------------------------------

@responses.activate
def test_no_token_reaches_any_log_record_even_in_dev_mode(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    old_access = make_jwt(exp=int(time.time()) + 20 * 60, sub="old")
    new_access = make_jwt(exp=int(time.time()) + 8 * HOUR, sub="new")
    write_auth(tmp_path / ".factory" / "auth.json", old_access, "rt-secret-1", obtained_at=time.time() - 7 * HOUR)
    responses.post(WORKOS_URL, json={"access_token": new_access, "refresh_token": "rt-secret-2"})
    responses.post(ANTHROPIC_URL, json={"type": "message", "echo": {"access_token": new_access}})
    app = app_for(base_config(dev_mode=True, access_keys=["gateway-secret"]), {"HOME": str(tmp_path)})
    http = app.test_client()
    http.post("/v1/messages", json={**MESSAGE, "api_key": "body-secret"},
              headers={"x-api-key": "gateway-secret", "authorization": "Bearer client-secret"})
    responses.replace(responses.POST, WORKOS_URL, json={"error": "invalid_grant"}, status=400)
    app.extensions["droid2api"].credentials.factory.refresh(force=True)
    http.get("/health/ready", headers={"x-api-key": "gateway-secret"})

    assert any(r.name == "droid2api.dev" for r in caplog.records)  # dev mode did log headers and bodies
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    for secret in (old_access, new_access, "rt-secret-1", "rt-secret-2", "gateway-secret", "client-secret",
                   "body-secret"):
        assert secret not in logged
    assert credentials.fingerprint(new_access) in logged  # a fingerprint stands in for it
