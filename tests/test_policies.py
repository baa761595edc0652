"""Policies on the passthrough paths (reasoning levels, system prompt, model redirects), the headers
Factory and other upstreams receive, and the outbound side: proxies in turn, pooled sessions, timeouts.
Everything is checked on the request the upstream receives."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses

from droid2api import ir
from droid2api.credentials import WORKOS_URL
from droid2api.errors import GatewayError
from droid2api.headers import standard_headers
from droid2api.policy import Policy
from droid2api.upstream import UpstreamClient

from .helpers import FACTORY_ENDPOINTS, app_for, base_config, settings_for
from .test_credentials import make_jwt

ANTHROPIC_URL = FACTORY_ENDPOINTS["anthropic"]
RESPONSES_URL = FACTORY_ENDPOINTS["openai"]
CHAT_URL = FACTORY_ENDPOINTS["common"]
BUDGETS = {"low": 4096, "medium": 12288, "high": 24576, "xhigh": 40960}
INTERLEAVED = "interleaved-thinking-2025-05-14"
PROMPT = "You are Droid.\n\n"


def config_with(model: dict, **overrides) -> dict:
    return base_config(models=[model], **overrides)


def sent_body(index: int = 0) -> dict:
    return json.loads(responses.calls[index].request.body)


def sent_headers(index: int = 0):
    return responses.calls[index].request.headers


def betas(index: int = 0) -> list:
    value = sent_headers(index).get("anthropic-beta", "")
    return [b.strip() for b in value.split(",") if b.strip()]


def post_message(level: str, body: dict, headers=None, path="/v1/messages"):
    app = app_for(config_with({"id": "claude-test", "type": "anthropic", "reasoning": level}))
    return app.test_client().post(path, json={"model": "claude-test", "messages": [], **body}, headers=headers or {})


# -- reasoning levels: Anthropic ----------------------------------------------------------------

@pytest.mark.parametrize("level, budget", BUDGETS.items())
@responses.activate
def test_anthropic_levels_set_the_thinking_budget_and_room_for_it(level, budget):
    responses.post(ANTHROPIC_URL, json={"type": "message"})
    post_message(level, {"max_tokens": 1000, "temperature": 0.2, "thinking": {"type": "disabled"}},
                 {"anthropic-beta": "prompt-caching-2024-07-31"})
    body = sent_body()
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] > budget
    assert "temperature" not in body  # Anthropic rejects a temperature other than 1 while thinking
    assert INTERLEAVED in betas() and "prompt-caching-2024-07-31" in betas()


@responses.activate
def test_anthropic_level_keeps_a_max_tokens_that_already_leaves_room():
    responses.post(ANTHROPIC_URL, json={"type": "message"})
    post_message("medium", {"max_tokens": 64000, "temperature": 1})
    assert (sent_body()["max_tokens"], sent_body()["temperature"]) == (64000, 1)


@responses.activate
def test_anthropic_off_removes_thinking_and_the_interleaved_beta():
    responses.post(ANTHROPIC_URL, json={"type": "message"})
    post_message("off", {"max_tokens": 1000, "thinking": {"type": "enabled", "budget_tokens": 2000}},
                 {"anthropic-beta": f"{INTERLEAVED}, context-1m-2025-08-07"})
    assert "thinking" not in sent_body()
    assert INTERLEAVED not in betas() and "context-1m-2025-08-07" in betas()


@responses.activate
def test_anthropic_auto_leaves_the_clients_thinking_and_betas_alone():
    responses.post(ANTHROPIC_URL, json={"type": "message"})
    thinking = {"type": "enabled", "budget_tokens": 2000}
    post_message("auto", {"max_tokens": 1000, "temperature": 0.5, "thinking": thinking},
                 {"anthropic-beta": f"{INTERLEAVED}, x-beta"})
    assert (sent_body()["thinking"], sent_body()["max_tokens"], sent_body()["temperature"]) == (thinking, 1000, 0.5)
    assert INTERLEAVED in betas() and "x-beta" in betas()
    responses.calls.reset()
    post_message("auto", {"max_tokens": 1000})
    assert "thinking" not in sent_body() and INTERLEAVED not in betas()


@responses.activate
def test_count_tokens_gets_the_thinking_budget_but_no_max_tokens():
    responses.post(ANTHROPIC_URL + "/count_tokens", json={"input_tokens": 12})
    answer = post_message("high", {}, path="/v1/messages/count_tokens")
    assert answer.get_json() == {"input_tokens": 12}
    assert sent_body()["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    assert "max_tokens" not in sent_body()


# -- reasoning levels: Responses and Chat -------------------------------------------------------

def post_response(level: str, body: dict):
    app = app_for(config_with({"id": "gpt-test", "type": "openai", "reasoning": level}))
    return app.test_client().post("/v1/responses", json={"model": "gpt-test", "input": "hi", **body})


@pytest.mark.parametrize("level", BUDGETS)
@responses.activate
def test_responses_levels_set_effort_with_summary(level):
    responses.post(RESPONSES_URL, json={"object": "response"})
    post_response(level, {"reasoning": {"effort": "minimal"}})
    assert sent_body()["reasoning"] == {"effort": level, "summary": "auto"}


@responses.activate
def test_responses_off_removes_reasoning_and_auto_keeps_it():
    responses.post(RESPONSES_URL, json={"object": "response"})
    post_response("off", {"reasoning": {"effort": "high"}})
    post_response("auto", {"reasoning": {"effort": "high", "summary": "detailed"}})
    assert "reasoning" not in sent_body(0)
    assert sent_body(1)["reasoning"] == {"effort": "high", "summary": "detailed"}


@responses.activate
def test_chat_off_removes_reasoning_effort_and_auto_keeps_it():
    responses.post(CHAT_URL, json={"choices": []})
    for level in ("off", "auto"):
        app = app_for(config_with({"id": "glm-test", "type": "common", "reasoning": level}))
        app.test_client().post("/v1/chat/completions", json={"model": "glm-test", "messages": [],
                                                               "reasoning_effort": "high"})
    assert "reasoning_effort" not in sent_body(0)
    assert sent_body(1)["reasoning_effort"] == "high"


# -- system prompt ------------------------------------------------------------------------------

@pytest.mark.parametrize("client_system, expected", [
    (None, [{"type": "text", "text": PROMPT}]),
    ("Be brief.", [{"type": "text", "text": PROMPT}, {"type": "text", "text": "Be brief."}]),
    ([{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
     [{"type": "text", "text": PROMPT}, {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]),
])
@responses.activate
def test_system_prompt_goes_first_and_the_clients_system_stays_anthropic(client_system, expected):
    responses.post(ANTHROPIC_URL, json={"type": "message"})
    body = {"model": "claude-test", "max_tokens": 5, "messages": []}
    if client_system is not None:
        body["system"] = client_system
    app_for(base_config(system_prompt=PROMPT)).test_client().post("/v1/messages", json=body)
    assert sent_body()["system"] == expected


@responses.activate
def test_system_prompt_goes_first_and_the_clients_system_stays_chat_and_responses():
    responses.post(CHAT_URL, json={"choices": []})
    responses.post(RESPONSES_URL, json={"object": "response"})
    http = app_for(base_config(system_prompt=PROMPT)).test_client()
    http.post("/v1/chat/completions", json={"model": "glm-test", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]}, {"role": "user", "content": "hi"}]})
    http.post("/v1/responses", json={"model": "gpt-test", "input": "hi", "instructions": "Be brief."})
    http.post("/v1/responses", json={"model": "gpt-test", "input": "hi"})
    assert sent_body(0)["messages"] == [
        {"role": "system", "content": PROMPT},
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": "hi"}]
    assert sent_body(1)["instructions"] == PROMPT + "Be brief."
    assert sent_body(2)["instructions"] == PROMPT


@responses.activate
def test_empty_system_prompt_changes_nothing():
    responses.post(ANTHROPIC_URL, json={"type": "message"})
    app_for(base_config(system_prompt="")).test_client().post(
        "/v1/messages", json={"model": "claude-test", "max_tokens": 5, "messages": [], "system": "Mine."})
    assert sent_body()["system"] == "Mine."


# -- model redirects ----------------------------------------------------------------------------

@responses.activate
def test_model_redirects_choose_the_model_the_upstream_sees():
    responses.post(ANTHROPIC_URL, json={"type": "message", "model": "claude-test"})
    app = app_for(base_config(model_redirects={"claude-old": "claude-test"}))
    answer = app.test_client().post("/v1/messages", json={"model": "claude-old", "max_tokens": 5, "messages": []})
    assert answer.status_code == 200
    assert sent_body()["model"] == "claude-test"


def test_redirect_to_an_unconfigured_model_is_404():
    policy = Policy(settings_for(base_config(model_redirects={"a": "nowhere"})))
    with pytest.raises(GatewayError) as caught:
        policy.route("a")
    assert caught.value.status == 404


@responses.activate
def test_upstream_model_name_replaces_the_configured_id():
    responses.post("https://llm.example/v1/chat/completions", json={"choices": []})
    app = app_for(base_config(upstreams=[{"name": "llm", "type": "common", "base_url": "https://llm.example/v1",
                                          "api_key": "sk"}],
                              models=[{"id": "my-glm", "upstream": "llm", "upstream_model": "zai/glm-4.6"}],
                              model_redirects={"glm": "my-glm"}))
    app.test_client().post("/v1/chat/completions", json={"model": "glm", "messages": []})
    assert sent_body()["model"] == "zai/glm-4.6"


# -- Factory headers ----------------------------------------------------------------------------

@responses.activate
def test_factory_anthropic_headers():
    responses.post(ANTHROPIC_URL, json={"type": "message"})
    config = base_config(user_agent="factory-cli/0.90.2",
                         models=[{"id": "claude-test", "type": "anthropic", "provider": "bedrock", "fast": True}])
    token = make_jwt(external_org_id="org_123")
    app = app_for(config, {"FACTORY_API_KEY": token})
    app.test_client().post("/v1/messages", json={"model": "claude-test", "max_tokens": 5, "messages": [],
                                                 "stream": True},
                           headers={"x-session-id": "sess-1", "x-stainless-os": "Linux"})
    headers = sent_headers()
    expected = {
        "authorization": f"Bearer {token}",
        "x-factory-client": "cli",
        "x-api-provider": "bedrock",
        "x-session-id": "sess-1",
        "user-agent": "factory-cli/0.90.2",
        "x-client-version": "0.90.2",
        "x-factory-org-id": "org_123",
        "anthropic-version": "2023-06-01",
        "x-api-key": "placeholder",
        "x-stainless-lang": "js",
        "x-stainless-os": "Linux",  # the client's own stainless header wins over the default
        "x-stainless-helper-method": "stream",
        "content-type": "application/json",
    }
    assert {name: headers.get(name) for name in expected} == expected
    assert uuid.UUID(headers["x-assistant-message-id"])
    assert "fast-mode-2026-02-01" in betas()


@pytest.mark.parametrize("path, body, url, provider", [
    ("/v1/responses", {"model": "gpt-test", "input": "hi"}, RESPONSES_URL, "openai"),
    ("/v1/chat/completions", {"model": "glm-test", "messages": []}, CHAT_URL, "fireworks"),
])
@responses.activate
def test_factory_openai_and_chat_headers(path, body, url, provider):
    responses.post(url, json={})
    http = app_for().test_client()
    for _ in range(2):
        http.post(path, json=body)
    first, second = sent_headers(0), sent_headers(1)
    assert first["x-factory-client"] == "cli"
    assert first["x-api-provider"] == provider
    assert first["user-agent"] == "factory-cli/0.84.0"
    assert first["authorization"] == "Bearer fk-test-key"
    for name in ("x-session-id", "x-assistant-message-id"):
        assert uuid.UUID(first[name]) != uuid.UUID(second[name])  # fresh for each request
    assert not any(name.startswith(("anthropic-", "x-stainless")) for name in first)
    assert "x-api-key" not in first


@responses.activate
def test_factory_headers_do_not_copy_the_clients_other_headers():
    responses.post(CHAT_URL, json={})
    app_for().test_client().post("/v1/chat/completions", json={"model": "glm-test", "messages": []},
                                 headers={"cookie": "sid=1", "x-forwarded-for": "10.0.0.1", "openai-organization": "o"})
    assert not {"cookie", "x-forwarded-for", "openai-organization"} & {n.lower() for n in sent_headers()}


# -- other upstreams: clean standard headers ----------------------------------------------------

UPSTREAMS = [
    {"name": "claude", "type": "anthropic", "base_url": "https://anthropic.example", "api_key": "sk-ant"},
    {"name": "oai", "type": "openai", "base_url": "https://oai.example/v1", "api_key_env": "OAI_KEY"},
    {"name": "azure", "type": "common", "base_url": "https://azure.example/openai/v1", "api_key": "az-key",
     "auth_header": "api-key", "auth_prefix": "", "headers": {"x-ms-region": "west"}},
    {"name": "gem", "type": "google", "base_url": "https://gemini.example/v1beta", "api_key": "AIza"},
]
CUSTOM_MODELS = [{"id": "c", "upstream": "claude"}, {"id": "o", "upstream": "oai"}, {"id": "a", "upstream": "azure"},
                 {"id": "g", "upstream": "gem"}]


def custom_app():
    config = base_config(upstreams=UPSTREAMS, models=CUSTOM_MODELS)
    return app_for(config, {"OAI_KEY": "sk-oai", "FACTORY_API_KEY": "fk-never-sent"}).test_client()


@pytest.mark.parametrize("path, body, url, auth", [
    ("/v1/messages", {"model": "c", "max_tokens": 5, "messages": []}, "https://anthropic.example/v1/messages",
     {"x-api-key": "sk-ant", "anthropic-version": "2023-06-01"}),
    ("/v1/responses", {"model": "o", "input": "hi"}, "https://oai.example/v1/responses",
     {"authorization": "Bearer sk-oai"}),
    ("/v1/chat/completions", {"model": "a", "messages": []}, "https://azure.example/openai/v1/chat/completions",
     {"api-key": "az-key", "x-ms-region": "west"}),
])
@responses.activate
def test_other_upstreams_get_clean_standard_headers(path, body, url, auth):
    responses.post(url, json={})
    answer = custom_app().post(path, json=body, headers={"x-session-id": "s", "cookie": "c=1",
                                                         "authorization": "Bearer client-key"})
    assert answer.status_code == 200
    headers = {name.lower(): value for name, value in sent_headers().items()}
    assert {name: headers.get(name) for name in auth} == auth
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("droid2api/")
    factory_only = {"x-factory-client", "x-session-id", "x-api-provider", "x-assistant-message-id", "cookie"}
    assert not factory_only & set(headers)
    assert not any(name.startswith("x-stainless") for name in headers)
    assert "fk-never-sent" not in json.dumps(headers) and "client-key" not in json.dumps(headers)


@responses.activate
def test_a_factory_upstream_entry_gets_factory_credentials_and_headers():
    url = "https://factory-mirror.example/api/llm/a/v1/messages"
    responses.post(url, json={"type": "message"})
    config = base_config(upstreams=[{"name": "mirror", "type": "anthropic", "base_url": url, "factory": True}],
                         models=[{"id": "c", "upstream": "mirror", "upstream_model": "claude-real"}])
    app_for(config).test_client().post("/v1/messages", json={"model": "c", "max_tokens": 5, "messages": []})
    assert responses.calls[0].request.url == url  # a Factory URL is the full URL
    assert sent_headers()["authorization"] == "Bearer fk-test-key"
    assert sent_headers()["x-factory-client"] == "cli" and sent_headers()["x-api-key"] == "placeholder"
    assert sent_body()["model"] == "claude-real"


def test_gemini_upstream_standard_headers():
    config = settings_for(base_config(upstreams=UPSTREAMS, models=CUSTOM_MODELS))
    route = Policy(config).route("g")
    headers = standard_headers(route, "AIza", {"x-goog-api-client": "genai-js"}, stream=True)
    assert headers["x-goog-api-key"] == "AIza"
    assert headers["accept"] == "text/event-stream"
    assert "authorization" not in headers and "x-goog-api-client" not in headers
    assert route.generate_url(True) == "https://gemini.example/v1beta/models/g:streamGenerateContent?alt=sse"


def test_custom_auth_prefix_and_header():
    settings = settings_for(base_config(
        upstreams=[{"name": "u", "type": "common", "base_url": "https://x", "auth_header": "Authorization",
                    "auth_prefix": "Token "}],
        models=[{"id": "m", "upstream": "u"}]))
    assert standard_headers(Policy(settings).route("m"), "k", {}, stream=False)["authorization"] == "Token k"


# -- proxies, sessions, timeouts ----------------------------------------------------------------

PROXIES = ["http://user:pass@proxy-a.example:8080", "https://proxy-b.example:3128", "http://proxy-c.example:80"]


def proxy_of(call) -> str | None:
    proxies = call.request.req_kwargs.get("proxies") or {}
    assert proxies.get("http") == proxies.get("https")
    return proxies.get("https")


@responses.activate
def test_proxies_are_used_in_turn_including_the_workos_refresh(tmp_path):
    responses.post(WORKOS_URL, json={"access_token": make_jwt(exp=4_000_000_000), "refresh_token": "rt-2"})
    responses.post(CHAT_URL, json={})
    app = app_for(base_config(proxies=[{"name": n, "url": u} for n, u in zip("abc", PROXIES)]),
                  {"DROID_REFRESH_KEY": "rt-1", "HOME": str(tmp_path), "DROID2API_AUTH_FILE": str(tmp_path / "a.json")})
    http = app.test_client()
    for _ in range(4):
        http.post("/v1/chat/completions", json={"model": "glm-test", "messages": []})
    assert responses.calls[0].request.url == WORKOS_URL
    assert [proxy_of(c) for c in responses.calls] == [PROXIES[0], PROXIES[1], PROXIES[2], PROXIES[0], PROXIES[1]]


@responses.activate
def test_no_proxies_means_direct_and_timeouts_come_from_config():
    responses.post(CHAT_URL, json={})
    app = app_for(base_config(connect_timeout=3, read_timeout=45.5))
    app.test_client().post("/v1/chat/completions", json={"model": "glm-test", "messages": []})
    assert proxy_of(responses.calls[0]) is None
    assert responses.calls[0].request.req_kwargs["timeout"] == (3.0, 45.5)


class Recorder(BaseHTTPRequestHandler):
    """A loopback HTTP/1.1 server (or plain forward proxy) that notes what reached it and from where."""

    protocol_version = "HTTP/1.1"
    seen: list  # set per server

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        self.seen.append({"line": self.requestline, "peer_port": self.client_address[1],
                          "proxy_auth": self.headers.get("proxy-authorization")})
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def loopback():
    servers = []

    def start():
        handler = type("Handler", (Recorder,), {"seen": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"127.0.0.1:{server.server_address[1]}", handler.seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def relay(client, name: str, url: str):
    """One upstream call read the way the gateway reads one: stream the body, then close."""
    upstream = client.post(name, url, {"content-type": "application/json"}, b"{}", (5, 30))
    try:
        assert upstream.read() == b'{"ok":true}'
    finally:
        upstream.close()


def test_one_pooled_session_per_upstream_keeps_its_connection(loopback):
    address, seen = loopback()
    client = UpstreamClient([])
    for _ in range(3):
        relay(client, "llm", f"http://{address}/v1/chat/completions")
    relay(client, "other", f"http://{address}/v1/chat/completions")
    ports = [entry["peer_port"] for entry in seen]
    assert ports[0] == ports[1] == ports[2]  # the same TCP connection, reused
    assert ports[3] != ports[0]  # another upstream has a session (and pool) of its own


def test_proxies_in_turn_with_credentials_and_a_pool_each(loopback):
    proxy_a, seen_a = loopback()
    proxy_b, seen_b = loopback()
    client = UpstreamClient([f"http://user:p%40ss@{proxy_a}", f"http://{proxy_b}"])
    for _ in range(4):
        relay(client, "llm", "http://upstream.example/v1/chat/completions")
    assert [e["line"] for e in seen_a] == ["POST http://upstream.example/v1/chat/completions HTTP/1.1"] * 2
    assert len(seen_b) == 2
    assert seen_a[0]["proxy_auth"] == "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert seen_b[0]["proxy_auth"] is None
    assert seen_a[0]["peer_port"] == seen_a[1]["peer_port"] and seen_b[0]["peer_port"] == seen_b[1]["peer_port"]


# -- the same policies for converted requests (through the IR) ----------------------------------

@pytest.mark.parametrize("level, expected", [
    ("auto", ir.Reasoning(effort="high", budget_tokens=999)),
    ("off", ir.Reasoning(effort="none")),
    *[(level, ir.Reasoning(effort=level, budget_tokens=budget)) for level, budget in BUDGETS.items()],
])
def test_policy_apply_sets_model_system_prompt_reasoning_and_max_tokens(level, expected):
    settings = settings_for(base_config(system_prompt=PROMPT, model_redirects={"old": "m"},
                                        models=[{"id": "m", "type": "anthropic", "reasoning": level,
                                                 "max_tokens": 2048}]))
    policy = Policy(settings)
    request = ir.Request(model="old", system=[ir.Instruction("Be brief.", role="developer")],
                         reasoning=ir.Reasoning(effort="high", budget_tokens=999))
    policy.apply(request, policy.route("old"))
    assert request.model == "m"
    assert request.system == [ir.Instruction(PROMPT), ir.Instruction("Be brief.", role="developer")]
    assert request.reasoning == expected
    assert request.max_tokens == 2048


def test_forced_thinking_drops_a_low_top_p_and_yields_to_a_forced_tool():
    from types import SimpleNamespace

    from droid2api.dialects.anthropic.passthrough import apply_policies

    route = SimpleNamespace(upstream_model="claude", model=SimpleNamespace(reasoning="high"))
    body = apply_policies({"max_tokens": 100000, "top_p": 0.5, "messages": []}, route, "")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 24576} and "top_p" not in body
    body = apply_policies({"max_tokens": 100000, "top_p": 0.97, "messages": []}, route, "")
    assert body["top_p"] == 0.97
    # Anthropic refuses thinking while tool_choice forces a tool; the client's choice wins.
    forced = {"max_tokens": 10, "tool_choice": {"type": "tool", "name": "f"}, "messages": []}
    assert "thinking" not in apply_policies(forced, route, "") and forced["max_tokens"] == 10


def test_responses_system_prompt_never_runs_into_the_clients_instructions():
    from types import SimpleNamespace

    from droid2api.dialects.openai_responses.passthrough import apply_policies

    route = SimpleNamespace(upstream_model="gpt", fast=False, model=SimpleNamespace(reasoning="auto", fast=False))
    assert apply_policies({"instructions": "Be brief."}, route, "You are Droid.")["instructions"] == \
        "You are Droid.\n\nBe brief."
    assert apply_policies({"instructions": "Be brief."}, route, "You are Droid.\n\n")["instructions"] == \
        "You are Droid.\n\nBe brief."
    assert apply_policies({}, route, "You are Droid.")["instructions"] == "You are Droid."


@responses.activate
def test_responses_fast_model_asks_for_priority_unless_the_client_chose_a_tier():
    responses.post(RESPONSES_URL, json={})
    app = app_for(config_with({"id": "gpt-fast", "type": "openai", "fast": True}))
    app.test_client().post("/v1/responses", json={"model": "gpt-fast", "input": "hi"})
    app.test_client().post("/v1/responses", json={"model": "gpt-fast", "input": "hi", "service_tier": "flex"})
    assert [sent_body(i)["service_tier"] for i in range(2)] == ["priority", "flex"]


def test_model_redirects_take_glob_patterns_after_exact_names():
    settings = settings_for(base_config(model_redirects={
        "gemini-*-flash-lite*": "gemini-test", "claude-3-5-haiku-20241022": "claude-test", "claude-*": "gpt-test"}))
    policy = Policy(settings)
    assert policy.route("gemini-2.5-flash-lite-preview").model.id == "gemini-test"  # Gemini CLI's router model
    assert policy.route("claude-3-5-haiku-20241022").model.id == "claude-test"  # the exact name wins
    assert policy.route("claude-test").model.id == "claude-test"  # a configured model is never redirected
    assert policy.route("claude-opus-9").model.id == "gpt-test"
    with pytest.raises(GatewayError) as caught:
        policy.route("gemini-2.5-pro")  # no pattern matches
    assert caught.value.status == 404
