"""A fallback from an Anthropic model to a Responses model inside a Claude Code-shaped tool loop.

Claude Code's own recorded requests (../shared/fixtures/clients/claude-code.json: thinking enabled,
``context_management``, 24 tools, its headers and session id) ask ``claude-main``, an Anthropic model on
upstream A (the session's fake upstream), whose fallback is ``gpt-fallback``, a Responses model on
upstream B (a second fake upstream process).

Turn 1: A answers 529; B answers a recorded Responses stream of reasoning (encrypted) and a function
call. Claude Code gets a valid Anthropic stream (the anthropic SDK's types and MessageStream) with a
tool_use block, the reasoning in a thinking block whose signature carries B's data, and the notice.

Turn 2: Claude Code sends the tool result, with the assistant turn as it received it. The request names
``claude-main``, whose breaker one failure has not opened, so A is tried first again:

* A answers: it gets a body Anthropic accepts. The tool_use / tool_result pair is intact, and nothing
  of B's opaque reasoning reaches it: a thinking block signed by another dialect would be rejected, so
  it is dropped, and thinking is turned off for a turn whose tool call has no Anthropic thinking before
  it (Anthropic rejects that too), as the converting path does.
* A fails again: B gets a valid Responses body, its reasoning item back exactly, the function_call and
  its function_call_output paired by call id.
"""

from __future__ import annotations

import json

import anthropic
import httpx2
import pytest

from droid2api.dialects.carried import PREFIX
from tests.helpers import anthropic_events, recorded, sse_events

from .checks import client_requests, completed_response
from .client import post, sse_payloads
from .servers import SDK_OPTIONS, fresh

A_PATH = "/a/v1/messages"
B_PATH = "/b/v1/responses"
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
TOOL_CALL = "openai_responses__test_openai_responses_streaming_usage.0"  # reasoning, then a function call
B_TEXT = "openai_responses__test_openai_responses_stream.1"  # a text answer
A_TEXT = "anthropic__test_anthropic_model_thinking_part_stream.0"  # thinking, then text
SENT_HEADERS = ("anthropic-version", "anthropic-beta", "content-type", "user-agent", "x-app",
                "x-claude-code-session-id", "anthropic-dangerous-direct-browser-access")
TOOL_OUTPUT = "6666 is the result."


@pytest.fixture
def b(upstream_b_process):
    yield from fresh(upstream_b_process)


@pytest.fixture(scope="module")
def routed(start_server, upstream_process, upstream_b_process):
    return start_server(
        upstreams=[{"name": "anthropic-a", "type": "anthropic", "base_url": upstream_process.client.url + "/a",
                    "api_key": "sk-ant-a"},
                   {"name": "responses-b", "type": "openai", "base_url": upstream_b_process.client.url + "/b/v1",
                    "api_key": "sk-openai-b"}],
        models=[{"id": "claude-main", "upstream": "anthropic-a", "upstream_model": "claude-sonnet-4-5",
                 "fallbacks": ["gpt-fallback"]},
                {"id": "gpt-fallback", "upstream": "responses-b", "upstream_model": "gpt-5"}])


@pytest.fixture(scope="module")
def claude_code():
    requests = client_requests("claude-code.json")
    assert len(requests) == 2 and all(r["path"] == "/v1/messages?beta=true" for r in requests)
    return requests


def send(server, request: dict, body: dict):
    """POST ``body`` as Claude Code does: its path, its headers, JSON.stringify's bytes. (status, headers, raw)"""
    headers = {name: value for name, value in request["headers"].items() if name.lower() in SENT_HEADERS}
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    exchange = post(server.url + request["path"], raw, headers)
    return exchange.status, exchange.headers, exchange.read()


def without_notice(raw: bytes) -> tuple:
    """(the notice inside message_start's message, the stream rebuilt without it), the notice required to be
    there and nowhere else."""
    events = sse_events(raw)
    payloads = [json.loads(data) for _, data in events]
    notice = payloads[0]["message"].pop("gateway_notice") if payloads[0]["type"] == "message_start" else None
    assert notice is not None, raw[:500]
    assert "gateway_notice" not in json.dumps(payloads), "the notice is on the first event only"
    rebuilt = b"".join(f"event: {name}\ndata: {json.dumps(p)}\n\n".encode()
                       for (name, _), p in zip(events, payloads))
    return notice, rebuilt


def sdk_final_message(raw: bytes):
    """What the anthropic SDK's MessageStream (strict validation on) assembles from ``raw``."""

    def answer(request):
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    options = {**SDK_OPTIONS, "base_url": "http://gateway.test",
               "http_client": httpx2.Client(transport=httpx2.MockTransport(answer))}
    with anthropic.Anthropic(**options) as client:
        with client.messages.stream(model="claude-main", max_tokens=1024,
                                    messages=[{"role": "user", "content": "hi"}]) as stream:
            return stream.get_final_message()


def turn_one(routed, upstream, b, claude_code):
    """Turn 1 with A overloaded and B answering a tool call: (the final message, the notice)."""
    upstream.reply_json(A_PATH, OVERLOADED, status=529)
    b.reply_sse(B_PATH, recorded(f"{TOOL_CALL}.response.sse"))
    status, headers, raw = send(routed, claude_code[0], {**claude_code[0]["body"], "model": "claude-main"})

    assert status == 200 and headers["content-type"].startswith("text/event-stream"), raw[:2000]
    notice, rebuilt = without_notice(raw)
    anthropic_events(rebuilt)  # Anthropic's grammar; every event strictly the SDK's type, no unknown field
    final = sdk_final_message(raw)
    assert final.model_extra["gateway_notice"] == notice == json.loads(headers["x-gateway-notice"])
    assert {k: v for k, v in notice.items() if k != "reason"} == {
        "type": "gateway_notice", "from": "claude-main", "to": "gpt-fallback", "trigger_status": 529, "attempts": 2}
    assert (headers["x-gateway-switched"], headers["x-gateway-model"]) == ("1", "gpt-fallback")
    assert final.model == "claude-main" and final.stop_reason == "tool_use"
    return final, notice


def turn_two_body(claude_code, final) -> dict:
    """Claude Code's second request after ``final``: its first user turn, the assistant turn as received,
    and the tool result (with Claude Code's own fields: is_error, cache_control on the last block)."""
    template = claude_code[1]["body"]
    first_user, _, result_turn = template["messages"]
    tool_use = next(block for block in final.content if block.type == "tool_use")
    result = {**result_turn["content"][0], "tool_use_id": tool_use.id, "content": TOOL_OUTPUT}
    assistant = [block.model_dump(exclude_none=True) for block in final.content]
    return {**template, "model": "claude-main",
            "messages": [first_user, {"role": "assistant", "content": assistant},
                         {"role": "user", "content": [result]}]}


# -- turn 1 ---------------------------------------------------------------------------------------------


def test_turn_one_falls_back_to_responses_and_claude_code_gets_a_tool_use(routed, upstream, b, claude_code):
    final, _ = turn_one(routed, upstream, b, claude_code)

    call = next(item for item in completed_response(TOOL_CALL)["output"] if item["type"] == "function_call")
    tool_use = [block for block in final.content if block.type == "tool_use"]
    assert [(t.id, t.name, t.input) for t in tool_use] == \
        [(call["call_id"], call["name"], json.loads(call["arguments"]))]
    thinking = [block for block in final.content if block.type == "thinking"]
    assert thinking and all(block.signature.startswith(PREFIX) for block in thinking)  # B's data, carried
    assert final.content[0].type == "thinking"

    assert len(upstream.requests(A_PATH)) == 1  # A was asked once, and failed
    body = b.only_request(B_PATH).json()
    assert body["model"] == "gpt-5" and body["stream"] is True
    assert [tool["name"] for tool in body["tools"]] == [tool["name"] for tool in claude_code[0]["body"]["tools"]]
    assert body["include"] == ["reasoning.encrypted_content"]


# -- turn 2 ---------------------------------------------------------------------------------------------


def test_turn_two_goes_to_the_named_model_first_and_it_gets_a_body_anthropic_accepts(routed, upstream, b,
                                                                                    claude_code):
    final, _ = turn_one(routed, upstream, b, claude_code)
    upstream.reset()
    b.reset()
    upstream.reply_sse(A_PATH, recorded(f"{A_TEXT}.response.sse"))

    sent = turn_two_body(claude_code, final)
    status, headers, raw = send(routed, claude_code[1], sent)

    assert status == 200, raw[:2000]
    assert raw == recorded(f"{A_TEXT}.response.sse")  # relayed byte for byte: no notice
    assert (headers["x-gateway-switched"], headers["x-gateway-attempts"]) == ("0", "1")
    assert headers["x-gateway-model"] == "claude-main" and "x-gateway-notice" not in headers
    assert not b.requests()

    body = upstream.only_request(A_PATH).json()
    user, assistant, results = body["messages"]
    tool_use_id = sent["messages"][2]["content"][0]["tool_use_id"]
    assert user == sent["messages"][0]
    assert assistant["role"] == "assistant" and results["role"] == "user"
    assert [block["id"] for block in assistant["content"] if block["type"] == "tool_use"] == [tool_use_id]
    assert results["content"] == sent["messages"][2]["content"]  # the tool_result as Claude Code sent it
    # Nothing of B's reasoning: no thinking signed by another dialect, none of its encrypted content.
    encrypted = [item["encrypted_content"] for item in completed_response(TOOL_CALL)["output"]
                 if item["type"] == "reasoning"]
    text = json.dumps(body)
    assert PREFIX not in text and not any(e in text for e in encrypted)
    assert [b for b in assistant["content"] if b["type"] != "thinking"] == \
        [b for b in sent["messages"][1]["content"] if b["type"] != "thinking"]
    # Anthropic rejects thinking while the tool call being answered has no thinking of its own before it,
    # and Claude Code's clear_thinking context edit without thinking: both go for this turn.
    assert sent["thinking"]["type"] == "enabled" and sent["context_management"]["edits"][0]["type"] == \
        "clear_thinking_20251015"
    assert "thinking" not in body and "context_management" not in body
    assert assistant["content"][0]["type"] == "tool_use"
    assert body["tools"] == sent["tools"] and body["metadata"] == sent["metadata"]


def test_turn_two_falls_back_again_and_responses_gets_its_reasoning_and_the_paired_call(routed, upstream, b,
                                                                                       claude_code):
    final, _ = turn_one(routed, upstream, b, claude_code)
    upstream.reset()
    b.reset()
    upstream.reply_json(A_PATH, OVERLOADED, status=529)
    b.reply_sse(B_PATH, recorded(f"{B_TEXT}.response.sse"))

    sent = turn_two_body(claude_code, final)
    status, headers, raw = send(routed, claude_code[1], sent)

    assert status == 200, raw[:2000]
    notice, rebuilt = without_notice(raw)
    anthropic_events(rebuilt)
    answer = sdk_final_message(raw)
    texts = [c["text"] for item in completed_response(B_TEXT)["output"] if item["type"] == "message"
             for c in item["content"]]
    assert "".join(block.text for block in answer.content if block.type == "text") == "".join(texts)
    assert (notice["from"], notice["to"], notice["trigger_status"]) == ("claude-main", "gpt-fallback", 529)
    assert (headers["x-gateway-switched"], headers["x-gateway-model"]) == ("1", "gpt-fallback")
    assert len(upstream.requests(A_PATH)) == 1  # A was tried first again

    items = b.only_request(B_PATH).json()["input"]
    kinds = [item["type"] for item in items]
    assert kinds.count("function_call") == kinds.count("function_call_output") == 1
    call = items[kinds.index("function_call")]
    output = items[kinds.index("function_call_output")]
    tool_use = next(block for block in final.content if block.type == "tool_use")
    assert call["call_id"] == output["call_id"] == tool_use.id
    assert call["name"] == tool_use.name and json.loads(call["arguments"]) == tool_use.input
    assert kinds.index("function_call") < kinds.index("function_call_output")
    assert output["output"] == TOOL_OUTPUT
    # The reasoning B made goes back to it exactly, as the finished item of its stream carried it.
    done = [p["item"] for p in sse_payloads(recorded(f"{TOOL_CALL}.response.sse"))
            if p["type"] == "response.output_item.done" and p["item"]["type"] == "reasoning"]
    reasoning = [item for item in items if item["type"] == "reasoning"]
    assert [(item["id"], item["encrypted_content"]) for item in reasoning] == \
        [(item["id"], item["encrypted_content"]) for item in done]
    assert kinds.index("reasoning") < kinds.index("function_call")
