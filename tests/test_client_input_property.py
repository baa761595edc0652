"""No client input gets a 500: a property test over every endpoint, and a regression test per crash it found.

The app runs in-process with every upstream mocked healthy (recorded answers
of the real APIs), so a body that passes validation gets a real 200. Bodies
start from real requests — the recorded upstream requests in tests/recorded/
and, where the shared fixtures are checked out beside the repo, the CLI
agents' requests — damaged by tests/json_mutations.py. Whatever the body, the
answer must be below 500, an error must be in the endpoint's own dialect
shape, and no traceback may reach the log. HYPOTHESIS_PROFILE=deep searches
longer.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import hypothesis_profiles  # noqa: F401  (loads the profile before any @given runs)
from .helpers import FACTORY_ENDPOINTS, RECORDED, LogRecords, app_for, base_config, recorded
from .json_mutations import TOO_MANY_DIGITS, damaged_bodies, encode, raw_bodies

CLIENT_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "clients"

# A model of each type at each kind of reasoning level: "auto" leaves the client's choice alone, the
# others make the gateway rewrite the body (forced thinking, thinking removed).
MODELS = [{"id": f"{kind}-{level}", "type": kind, "reasoning": level, "provider": kind}
          for kind in ("anthropic", "openai", "common", "google") for level in ("auto", "high", "off")]
MODELS.append({"id": "google-3", "type": "google", "reasoning": "auto", "upstream_model": "gemini-3-pro"})


def _names(kind: str) -> list:
    return [m["id"] for m in MODELS if m["type"] == kind]


# -- seed bodies ----------------------------------------------------------------------------------

def _trimmed(value):
    """A big real body cut down to a size that mutates fast: short strings, a few list items each."""
    if isinstance(value, str):
        return value[:200]
    if isinstance(value, list):
        return [_trimmed(v) for v in (value if len(value) <= 4 else value[:2] + value[-2:])]
    if isinstance(value, dict):
        return {k: _trimmed(v) for k, v in value.items()}
    return value


def _recorded_requests(provider: str) -> list:
    return [json.loads(path.read_bytes()) for path in sorted(RECORDED.glob(f"{provider}__*.request.json"))]


def _agent_requests(name: str) -> list:
    path = CLIENT_FIXTURES / name
    return [_trimmed(entry["body"]) for entry in json.loads(path.read_bytes())] if path.exists() else []


RICH_CHAT = {  # every message role and content part the Chat decoder reads, in one conversation
    "model": "m",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use tools.",
                                           "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "name": "ann", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}]},
        {"role": "assistant", "content": "Let me look.", "reasoning_content": "hmm",
         "reasoning_details": [{"type": "reasoning.text", "format": "anthropic-claude-v1", "text": "hmm",
                                "signature": "c2ln", "index": 0},
                               {"type": "reasoning.encrypted", "format": "openai-responses-v1", "data": "ZW5j",
                                "id": "rs_1", "index": 1}],
         "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"x\":1}"},
                         "extra_content": {"google": {"thought_signature": "c2ln"}}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "{\"seen\": true}"}]},
        {"role": "assistant", "content": None, "function_call": {"name": "old", "arguments": "{}"}},
        {"role": "function", "name": "old", "content": "done"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}], "refusal": "no"},
        {"role": "user", "content": "thanks"},
    ],
    "tools": [{"type": "function", "function": {"name": "look", "description": "Look.", "strict": True, "parameters": {
        "type": "object", "properties": {"x": {"type": ["integer", "null"], "enum": [1, 2]},
                                         "y": {"$ref": "#/$defs/y"}},
        "required": ["x"], "$defs": {"y": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}}}],
    "tool_choice": {"type": "function", "function": {"name": "look"}},
    "parallel_tool_calls": False, "max_completion_tokens": 300, "temperature": 0.5, "top_p": 0.9, "stop": ["END"],
    "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}},
    "reasoning": {"effort": "low", "max_tokens": 2000}, "thinking": {"type": "enabled", "budget_tokens": 2000},
    "metadata": {"user_id": "u1"}, "user": "u1", "stream": True, "stream_options": {"include_usage": True},
}

CHAT_SEEDS = [RICH_CHAT, *_recorded_requests("openai")]
MESSAGES_SEEDS = [*_recorded_requests("anthropic"), *_agent_requests("claude-code.json")]
RESPONSES_SEEDS = [*_recorded_requests("openai_responses"), *_agent_requests("codex.json")]

# Each endpoint under test: (path, the models it is sent to, seed bodies, error shape).
TARGETS = {
    **{f"chat->{kind}": ("/v1/chat/completions", _names(kind), CHAT_SEEDS, "openai")
       for kind in ("anthropic", "openai", "google", "common")},
    "responses": ("/v1/responses", _names("openai"), RESPONSES_SEEDS, "openai"),
    "messages": ("/v1/messages", _names("anthropic"), MESSAGES_SEEDS, "anthropic"),
    "count_tokens": ("/v1/messages/count_tokens", _names("anthropic"), MESSAGES_SEEDS, "anthropic"),
}


# -- the app and its healthy upstreams --------------------------------------------------------------

# Per upstream type: (recorded JSON answer, recorded SSE answer) — whichever exists for each.
ANSWERS = {
    "anthropic": ("anthropic__test_anthropic_tool_output.0.response.json",
                  "anthropic__test_anthropic_model_thinking_part_stream.0.response.sse"),
    "google": ("google__test_google_tool_output.0.response.json",
               "google__test_google_model_thinking_part_iter.0.response.sse"),
    "openai": (None, "openai_responses__test_openai_responses_thinking_part_iter.0.response.sse"),
    "common": (None, "openai__test_run_stream_sync_streams_real_model.0.response.sse"),
}


def _answer(kind: str):
    plain, streamed = ANSWERS[kind]

    def callback(request):
        stream = b'"stream":true' in (request.body or b"") or plain is None
        if stream:
            return 200, {"content-type": "text/event-stream"}, recorded(streamed)
        return 200, {"content-type": "application/json"}, recorded(plain)
    return callback


@pytest.fixture(scope="module")
def gateway():
    """(test client, log records) for an app whose upstreams all answer 200."""
    app = app_for(base_config(models=MODELS, system_prompt="Answer in English."))
    with LogRecords() as records, responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for kind, url in FACTORY_ENDPOINTS.items():
            mock.add_callback(responses.POST, url, callback=_answer(kind), content_type=None)
        mock.post(FACTORY_ENDPOINTS["anthropic"] + "/count_tokens", json={"input_tokens": 12})
        yield app.test_client(), records


def check_answer(answer, shape: str, records: LogRecords):
    """The property: below 500, errors in the dialect's shape, nothing logged as a crash."""
    crashes = [r for r in records.records if r.levelno >= logging.ERROR or r.name == "droid2api.relay"]
    records.records.clear()
    assert not crashes, [r.getMessage() for r in crashes]
    status = answer.status_code
    assert status < 500, f"{status}: {answer.get_data()[:500]!r}"
    if status < 400:
        return
    assert answer.content_type == "application/json"
    body = json.loads(answer.get_data())
    if shape == "anthropic":
        assert set(body) == {"type", "error"} and body["type"] == "error", body
        assert set(body["error"]) == {"type", "message"}, body
    else:
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


def send(http, path: str, raw: bytes):
    answer = http.post(path, data=raw, content_type="application/json")
    answer.get_data()  # run a streamed answer to its end: conversion happens as it is read
    return answer


# -- the property -----------------------------------------------------------------------------------

# The targets share the profile's budget: the whole module runs about twice the examples of one property
# test. Big bodies (100,000-character strings) are the point, not a slow strategy: no health check for them.
SHARED_BUDGET = settings(max_examples=max(10, settings.default.max_examples // len(TARGETS) * 2),
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("target", TARGETS)
@SHARED_BUDGET
@given(data=st.data())
def test_no_client_body_gets_a_500(gateway, target, data):
    http, records = gateway
    path, models, seeds, shape = TARGETS[target]
    raw = data.draw(st.one_of(damaged_bodies(seeds, models), raw_bodies()) if data.draw(st.integers(0, 9)) == 0
                    else damaged_bodies(seeds, models), label="body")
    check_answer(send(http, path, raw), shape, records)


@SHARED_BUDGET
@given(body=raw_bodies(), query=st.text(max_size=20))
def test_the_model_list_ignores_what_it_does_not_read(gateway, body, query):
    http, records = gateway
    answer = http.get("/v1/models", query_string={"q": query}, data=body)
    check_answer(answer, "openai", records)
    assert answer.status_code == 200 and answer.get_json()["object"] == "list"


def test_the_seeds_are_accepted_as_they_are(gateway):
    """Unmutated, every seed gets a 200: the property test starts from bodies the gateway serves."""
    http, records = gateway
    for target, (path, models, seeds, shape) in TARGETS.items():
        for seed in seeds:
            answer = send(http, path, json.dumps({**seed, "model": models[0]}).encode())
            check_answer(answer, shape, records)
            assert answer.status_code == 200, (target, answer.get_data()[:300])


# -- regressions: each of these was a 500 ----------------------------------------------------------

USER = {"role": "user", "content": "hi"}
WRONG_TYPED_TAGS = [
    ({"messages": [{"role": ["user"], "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": {"user": 1}, "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": [{"type": {}, "text": "hi"}]}]}, "messages[0].content[0].type"),
    ({"messages": [USER], "response_format": {"type": []}}, "response_format.type"),
    ({"messages": [{"role": "assistant", "content": "a", "reasoning_details": [
        {"type": "reasoning.text", "format": [], "text": "t"}]}, USER]}, "messages[0].reasoning_details[0].format"),
]


@pytest.mark.parametrize("model", ["anthropic-auto", "openai-auto", "google-auto"])
@pytest.mark.parametrize("fields, param", WRONG_TYPED_TAGS)
def test_a_tag_of_the_wrong_type_is_a_400_naming_it(gateway, model, fields, param):
    http, records = gateway
    answer = send(http, "/v1/chat/completions", json.dumps({"model": model, **fields}).encode())
    check_answer(answer, "openai", records)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["param"] == param and error["message"].startswith(f"invalid {param}: ")


@pytest.mark.parametrize("target", ["chat->common", "messages"])
def test_an_integer_of_more_digits_than_python_reads_is_a_400(gateway, target):
    http, records = gateway
    path, models, _, shape = TARGETS[target]
    raw = encode({"model": models[0], "messages": [USER], "max_tokens": TOO_MANY_DIGITS})
    answer = send(http, path, raw)
    check_answer(answer, shape, records)
    assert answer.status_code == 400
