"""A relayed body goes upstream as the client's own bytes when no policy changes it, and rewritten when one does."""

from __future__ import annotations

import json

import pytest
import responses

from droid2api.dialects import BY_NAME
from droid2api.wire import relayable_as_sent

from .helpers import FACTORY_ENDPOINTS, app_for, base_config
from .test_passthrough_policies_pure import BODIES, DIALECTS, route

ANTHROPIC_URL = FACTORY_ENDPOINTS["anthropic"]
ANSWER = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "content": [],
          "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}
# Spaced out, key order of its own, text outside ASCII, a float Python would print otherwise, a lone surrogate.
AS_SENT = ('{ "max_tokens" : 5,\n "model": "claude-test", "temperature": 1.0000000000000001,\n'
           ' "messages": [{"role": "user", "content": "caf\u00e9 \\ud83d"}] }').encode()


def app(**config):
    return app_for(base_config(models=[{"id": "claude-test", "type": "anthropic", "provider": "anthropic"}], **config))


@responses.activate
def test_an_unchanged_body_goes_upstream_byte_for_byte():
    upstream = responses.post(ANTHROPIC_URL, json=ANSWER)
    answer = app().test_client().post("/v1/messages", data=AS_SENT, content_type="application/json")
    assert answer.status_code == 200, answer.get_data()
    assert upstream.calls[0].request.body == AS_SENT


@responses.activate
def test_a_policy_that_changes_the_body_rewrites_it():
    upstream = responses.post(ANTHROPIC_URL, json=ANSWER)
    answer = app(system_prompt="Be brief.").test_client().post("/v1/messages", data=AS_SENT,
                                                                content_type="application/json")
    assert answer.status_code == 200, answer.get_data()
    sent = upstream.calls[0].request.body
    assert sent != AS_SENT
    body = json.loads(sent)
    assert body["system"] == [{"type": "text", "text": "Be brief."}]
    assert body["messages"] == json.loads(AS_SENT)["messages"]  # the same text, surrogate included


@responses.activate
def test_another_upstream_model_rewrites_the_body():
    upstream = responses.post(ANTHROPIC_URL, json=ANSWER)
    config = base_config(models=[{"id": "claude-test", "type": "anthropic", "provider": "anthropic",
                                  "upstream_model": "claude-real"}])
    answer = app_for(config).test_client().post("/v1/messages", data=AS_SENT, content_type="application/json")
    assert answer.status_code == 200, answer.get_data()
    assert json.loads(upstream.calls[0].request.body)["model"] == "claude-real"


@responses.activate
def test_a_utf16_body_is_rewritten_as_utf8():
    upstream = responses.post(ANTHROPIC_URL, json=ANSWER)
    raw = json.dumps(json.loads(AS_SENT)).encode("utf-16-le")
    answer = app().test_client().post("/v1/messages", data=raw, content_type="application/json")
    assert answer.status_code == 200, answer.get_data()
    assert json.loads(upstream.calls[0].request.body.decode("utf-8")) == json.loads(AS_SENT)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_each_dialects_policies_that_change_a_body_are_seen(name):
    dialect = BY_NAME[DIALECTS[name]]
    body = BODIES[name]
    raw = json.dumps(body).encode()
    plain = route("", False)
    plain.upstream_model = body.get("model", "m")
    plain.factory = False
    assert relayable_as_sent(raw, body, dialect.apply_policies(body, plain, ""))
    assert not relayable_as_sent(raw, body, dialect.apply_policies(body, plain, "You are the gateway."))
    assert not relayable_as_sent(raw, body, dialect.apply_policies(body, route("high", True), ""))


@pytest.mark.parametrize("raw", [b"\xef\xbb\xbf{}", "{}".encode("utf-16"), "{}".encode("utf-16-le"),
                                 "{}".encode("utf-32-be")])
def test_bytes_json_reads_but_an_upstream_may_not_are_rewritten(raw):
    assert json.loads(raw) == {}
    assert not relayable_as_sent(raw, {}, {})
