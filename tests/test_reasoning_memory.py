"""Reasoning the gateway hands out with tool calls (Gemini thought signatures, Anthropic signed thinking) is
remembered by call id and restored on the next turn for clients that rebuild the assistant turn from id, name and
arguments alone, or drop thought parts from their history."""

from __future__ import annotations

import json

import pytest
import responses

from droid2api.dialects.gemini.request import SIGNATURE_PLACEHOLDER

from .helpers import FACTORY_ENDPOINTS, app_for, base_config, recorded, sse_events

GEMINI_URL = FACTORY_ENDPOINTS["google"]
RECORDING = "google__test_google_streaming_tool_call_thought_signature"
TOOL = {"type": "function", "function": {"name": "get_country", "parameters": {"type": "object", "properties": {}}}}


def recorded_signature() -> str:
    for _, data in sse_events(recorded(f"{RECORDING}.0.response.sse")):
        for part in json.loads(data)["candidates"][0]["content"].get("parts", []):
            if "functionCall" in part:
                return part["thoughtSignature"]
    raise AssertionError("no signed call in the recording")


@pytest.fixture
def http():
    config = base_config(models=[{"id": "gemini-3", "type": "google", "upstream_model": "gemini-3-pro-preview"}])
    return app_for(config).test_client()


def second_turn_calls() -> list:
    contents = json.loads(responses.calls[1].request.body)["contents"]
    return [part for content in contents for part in content["parts"] if "functionCall" in part]


@pytest.mark.parametrize("stream", [False, True])
@responses.activate
def test_a_chat_client_that_drops_the_signature_gets_it_restored(http, stream):
    for turn in (0, 1):
        responses.post(GEMINI_URL, body=recorded(f"{RECORDING}.{turn}.response.sse"), content_type="text/event-stream")
    ask = [{"role": "user", "content": "Where am I?"}]
    answer = http.post("/v1/chat/completions", json={"model": "gemini-3", "messages": ask, "tools": [TOOL],
                                                     "stream": stream})
    if stream:
        chunks = [json.loads(data) for _, data in sse_events(answer.get_data()) if data != "[DONE]"]
        call = next(c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
                    if c.get("choices") and c["choices"][0]["delta"].get("tool_calls"))
        call_id, name = call["id"], call["function"]["name"]
    else:
        call = answer.get_json()["choices"][0]["message"]["tool_calls"][0]
        call_id, name = call["id"], call["function"]["name"]
    # What many agent frameworks send back: id, name and arguments, nothing else.
    rebuilt = {"role": "assistant", "content": None,
               "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}]}
    http.post("/v1/chat/completions", json={"model": "gemini-3", "tools": [TOOL], "messages": [
        *ask, rebuilt, {"role": "tool", "tool_call_id": call_id, "content": "Mexico"}]})

    assert [part["thoughtSignature"] for part in second_turn_calls()] == [recorded_signature()]


@responses.activate
def test_an_unknown_call_gets_googles_placeholder(http):
    responses.post(GEMINI_URL, body=recorded(f"{RECORDING}.1.response.sse"), content_type="text/event-stream")
    http.post("/v1/chat/completions", json={"model": "gemini-3", "tools": [TOOL], "messages": [
        {"role": "user", "content": "Where am I?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_from_another_model", "type": "function", "function": {"name": "get_country", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_from_another_model", "content": "Mexico"}]})
    contents = json.loads(responses.calls[0].request.body)["contents"]
    calls = [part for content in contents for part in content["parts"] if "functionCall" in part]
    assert [part["thoughtSignature"] for part in calls] == [SIGNATURE_PLACEHOLDER]


@responses.activate
def test_signatures_are_shared_through_the_store_by_every_app_of_the_host(tmp_path):
    # Two apps on one data directory stand for two gunicorn workers.
    config = base_config(data_dir=str(tmp_path), models=[{"id": "gemini-3", "type": "google",
                                                          "upstream_model": "gemini-3-pro-preview"}])
    first, second = app_for(config).test_client(), app_for(config).test_client()
    for turn in (0, 1):
        responses.post(GEMINI_URL, body=recorded(f"{RECORDING}.{turn}.response.sse"), content_type="text/event-stream")
    ask = [{"role": "user", "content": "Where am I?"}]
    call = first.post("/v1/chat/completions", json={"model": "gemini-3", "messages": ask, "tools": [TOOL]}
                      ).get_json()["choices"][0]["message"]["tool_calls"][0]
    rebuilt = {"role": "assistant", "content": None, "tool_calls": [
        {"id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": "{}"}}]}
    second.post("/v1/chat/completions", json={"model": "gemini-3", "tools": [TOOL], "messages": [
        *ask, rebuilt, {"role": "tool", "tool_call_id": call["id"], "content": "Mexico"}]})
    assert [part["thoughtSignature"] for part in second_turn_calls()] == [recorded_signature()]


@responses.activate
def test_a_messages_client_that_drops_the_thinking_block_gets_it_restored(http):
    for turn in (0, 1):
        responses.post(GEMINI_URL, body=recorded(f"{RECORDING}.{turn}.response.sse"), content_type="text/event-stream")
    tool = {"name": "get_country", "input_schema": {"type": "object", "properties": {}}}
    ask = [{"role": "user", "content": "Where am I?"}]
    message = http.post("/v1/messages", json={"model": "gemini-3", "max_tokens": 512, "messages": ask,
                                              "tools": [tool]}).get_json()
    [use] = [block for block in message["content"] if block["type"] == "tool_use"]
    http.post("/v1/messages", json={"model": "gemini-3", "max_tokens": 512, "tools": [tool], "messages": [
        *ask, {"role": "assistant", "content": [use]},  # the carrier thinking block dropped
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "Mexico"}]}]})
    assert [part["thoughtSignature"] for part in second_turn_calls()] == [recorded_signature()]


@responses.activate
def test_a_responses_client_that_drops_the_reasoning_item_gets_it_restored(http):
    for turn in (0, 1):
        responses.post(GEMINI_URL, body=recorded(f"{RECORDING}.{turn}.response.sse"), content_type="text/event-stream")
    tool = {"type": "function", "name": "get_country", "parameters": {"type": "object", "properties": {}}}
    answer = http.post("/v1/responses", json={"model": "gemini-3", "input": "Where am I?", "tools": [tool],
                                              "store": False}).get_json()
    [call] = [item for item in answer["output"] if item["type"] == "function_call"]
    http.post("/v1/responses", json={"model": "gemini-3", "tools": [tool], "store": False, "input": [
        {"role": "user", "content": "Where am I?"},
        {"type": "function_call", "call_id": call["call_id"], "name": call["name"], "arguments": call["arguments"]},
        {"type": "function_call_output", "call_id": call["call_id"], "output": "Mexico"}]})
    assert [part["thoughtSignature"] for part in second_turn_calls()] == [recorded_signature()]


@responses.activate
def test_a_chat_client_that_drops_reasoning_details_gets_anthropics_signed_thinking_back():
    from .helpers import recorded_json

    anthropic_url = FACTORY_ENDPOINTS["anthropic"]
    responses.post(anthropic_url, json=recorded_json("anthropic__test_anthropic_tool_with_thinking.0.response.json"))
    responses.post(anthropic_url, json=recorded_json("anthropic__test_anthropic_tool_with_thinking.1.response.json"))
    http = app_for().test_client()
    tool = {"type": "function", "function": {"name": "get_user_country", "parameters": {"type": "object",
                                                                                       "properties": {}}}}
    ask = [{"role": "user", "content": "What is the largest city in the user country?"}]
    message = http.post("/v1/chat/completions", json={"model": "claude-test", "messages": ask, "tools": [tool],
                                                      "reasoning_effort": "low"}).get_json()["choices"][0]["message"]
    call = message["tool_calls"][0]
    rebuilt = {"role": "assistant", "content": message["content"], "tool_calls": [
        {"id": call["id"], "type": "function", "function": call["function"]}]}  # no reasoning_details
    http.post("/v1/chat/completions", json={"model": "claude-test", "tools": [tool], "reasoning_effort": "low",
                                            "messages": [*ask, rebuilt, {"role": "tool", "tool_call_id": call["id"],
                                                                         "content": "Mexico"}]})
    sent = json.loads(responses.calls[1].request.body)
    recorded_turn = recorded_json("anthropic__test_anthropic_tool_with_thinking.1.request.json")["messages"][1]
    assert sent["messages"][1]["content"][0] == recorded_turn["content"][0]  # the signed thinking block
    assert sent["thinking"]["type"] == "enabled"  # so thinking stays on for the loop
