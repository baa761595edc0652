"""Tests that "no reasoning" (a client's ``reasoning_effort: "none"``, a model's ``reasoning: off``) turns
reasoning off on every upstream that can, goes as low as it can elsewhere, and records the loss."""

from __future__ import annotations

import json

import pytest
import responses

from droid2api import ir
from droid2api.dialects import gemini, openai_chat, openai_responses
from droid2api.reasoning import openai_off_effort

from .helpers import FACTORY_ENDPOINTS, app_for, base_config


def config_with(*models) -> dict:
    return base_config(models=list(models))


def sent_body(index: int = 0) -> dict:
    return json.loads(responses.calls[index].request.body)


@pytest.mark.parametrize("model, effort, lossy", [
    ("gpt-5.1", "none", False),
    ("gpt-5.2-2025-12-11", "none", False),
    ("openai/gpt-5.1", "none", False),
    ("gpt-5", "minimal", True),
    ("gpt-5-mini", "minimal", True),
    ("gpt-5-codex", "low", True),
    ("o3", "low", True),
    ("gpt-5-pro", None, True),
    ("gpt-4o", None, False),  # never reasons: nothing to turn off
    ("glm-4.6", None, False),
])
def test_openai_off_effort_per_model_family(model, effort, lossy):
    got, loss = openai_off_effort(model)
    assert got == effort
    assert bool(loss) is lossy


@pytest.mark.parametrize("model, config, lossy", [
    ("gemini-2.5-flash", {"thinkingBudget": 0}, False),
    ("gemini-2.5-flash-lite", {"thinkingBudget": 0}, False),
    ("gemini-2.5-pro", {"thinkingBudget": 128, "includeThoughts": False}, True),
    ("gemini-3-pro-preview", {"thinkingLevel": "LOW", "includeThoughts": False}, True),
    ("gemini-3-flash-preview", {"thinkingLevel": "MINIMAL", "includeThoughts": False}, True),
    ("gemini-2.0-flash", None, False),  # never thinks
])
def test_gemini_thinking_off_per_model_family(model, config, lossy):
    got, loss = gemini.thinking_off(model)
    assert got == config
    assert bool(loss) is lossy


def test_encoders_record_the_loss_where_reasoning_cannot_be_turned_off():
    route = type("Route", (), {"factory": False, "fast": False, "upstream_model": "gemini-2.5-pro"})()
    for encode, model in ((openai_responses.encode_request, "gpt-5"), (openai_chat.encode_request, "o3"),
                          (gemini.encode_request, "gemini-2.5-pro")):
        losses = []
        request = ir.Request(model=model, messages=[ir.Message("user", [ir.Text("hi")])],
                             reasoning=ir.Reasoning(effort="none"))
        encode(request, losses, route)
        assert [loss.field for loss in losses] == ["reasoning"], encode.__module__


@responses.activate
def test_client_none_turns_responses_reasoning_off():
    responses.post(FACTORY_ENDPOINTS["openai"], json={})
    app = app_for(config_with({"id": "gpt", "type": "openai", "upstream_model": "gpt-5.1"}))
    app.test_client().post("/v1/chat/completions", json={
        "model": "gpt", "reasoning_effort": "none", "messages": [{"role": "user", "content": "hi"}]})
    body = sent_body()
    assert body["reasoning"] == {"effort": "none"}
    assert "include" not in body  # nothing encrypted to ask for when nothing is reasoned


@responses.activate
def test_client_none_turns_gemini_25_thinking_off():
    responses.post(FACTORY_ENDPOINTS["google"], json={})
    app = app_for(config_with({"id": "flash", "type": "google", "upstream_model": "gemini-2.5-flash"}))
    app.test_client().post("/v1/chat/completions", json={
        "model": "flash", "reasoning_effort": "none", "messages": [{"role": "user", "content": "hi"}]})
    assert sent_body()["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}


@responses.activate
def test_model_off_on_converted_gemini_3_uses_the_lowest_level():
    responses.post(FACTORY_ENDPOINTS["google"], json={})
    app = app_for(config_with({"id": "g3", "type": "google", "upstream_model": "gemini-3-pro-preview",
                               "reasoning": "off"}))
    app.test_client().post("/v1/chat/completions", json={
        "model": "g3", "reasoning_effort": "high", "messages": [{"role": "user", "content": "hi"}]})
    assert sent_body()["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "LOW", "includeThoughts": False}


@responses.activate
def test_model_off_on_responses_passthrough_asks_for_the_lowest_effort():
    responses.post(FACTORY_ENDPOINTS["openai"], json={})
    app = app_for(config_with({"id": "gpt", "type": "openai", "upstream_model": "gpt-5", "reasoning": "off"}))
    app.test_client().post("/v1/responses", json={"model": "gpt", "input": "hi",
                                                  "reasoning": {"effort": "high", "summary": "auto"}})
    assert sent_body()["reasoning"] == {"effort": "minimal"}


@responses.activate
def test_model_off_on_chat_passthrough_sends_none_to_models_that_take_it():
    responses.post(FACTORY_ENDPOINTS["common"], json={})
    app = app_for(config_with({"id": "gpt", "type": "common", "upstream_model": "gpt-5.1", "reasoning": "off"},
                              {"id": "glm", "type": "common", "reasoning": "off"}))
    client = app.test_client()
    client.post("/v1/chat/completions", json={"model": "gpt", "reasoning_effort": "high",
                                              "messages": [{"role": "user", "content": "hi"}]})
    client.post("/v1/chat/completions", json={"model": "glm", "reasoning_effort": "high",
                                              "messages": [{"role": "user", "content": "hi"}]})
    assert sent_body(0)["reasoning_effort"] == "none"
    assert "reasoning_effort" not in sent_body(1)  # unknown family: the client's effort is dropped


def test_model_off_on_gemini_passthrough_sets_the_off_config():
    from types import SimpleNamespace

    route = SimpleNamespace(factory=False, upstream_model="gemini-2.5-flash", requested="flash",
                            model=SimpleNamespace(reasoning="off"))
    body = gemini.apply_policies({"contents": [], "generationConfig": {"thinkingConfig": {"thinkingBudget": 9000},
                                                                       "temperature": 0.2}}, route, "")
    assert body["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 0}, "temperature": 0.2}
