"""POST /v1/messages over Responses, Chat and Gemini upstreams, driven by the official anthropic SDK.

The SDK runs with strict response validation: every message and stream event the gateway writes must be
a valid Anthropic object. The fake upstream replays recorded real answers of each dialect; the expected
values are read from those recordings by hand, not through the gateway's codecs. The thinking round
trips check the part no peer gets right: another dialect's opaque reasoning data goes to the client in a
thinking block's signature and comes back, on the next turn, exactly to the upstream that made it.
"""

from __future__ import annotations

import base64
import json

import anthropic
import pytest

from tests.helpers import recorded

from .checks import completed_response
from .client import post, sse_payloads
from .servers import (CHAT_PATH, DIRECT_GEMINI_PATH, GEMINI_PATH, RESPONSES_PATH, SDK_OPTIONS, SYSTEM_PROMPT)

COUNTRY_TOOL = {"name": "get_user_country", "description": "The user's country.",
                "input_schema": {"type": "object", "properties": {}}}
ASK = [{"role": "user", "content": "What is the largest city in my country?"}]
PNG = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                                     "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()
PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\ntrailer\n%%EOF").decode()


@pytest.fixture
def claude(gateway):
    client = anthropic.Anthropic(base_url=gateway.url, **SDK_OPTIONS)  # strict validation on
    yield client
    client.close()


def block_types(message) -> list:
    return [block.type for block in message.content]


# -- Responses upstream ---------------------------------------------------------------------------


def test_responses_tool_call_answer(claude, upstream):
    answer = completed_response("openai_responses__test_openai_responses_stream.0")
    upstream.reply_json(RESPONSES_PATH, answer)

    message = claude.messages.create(model="gpt-test", max_tokens=256, messages=ASK, tools=[COUNTRY_TOOL],
                                     system="Be brief.")

    call = answer["output"][0]
    tool_use = [block for block in message.content if block.type == "tool_use"]
    assert [(b.id, b.name, b.input) for b in tool_use] == [(call["call_id"], call["name"], json.loads(call["arguments"]))]
    assert message.stop_reason == "tool_use" and message.model == "gpt-test"
    usage = answer["usage"]
    cached = usage.get("input_tokens_details", {}).get("cached_tokens", 0)
    assert message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0) == usage["input_tokens"]
    assert (message.usage.cache_read_input_tokens or 0) == cached
    assert message.usage.output_tokens == usage["output_tokens"]
    body = upstream.only_request(RESPONSES_PATH).json()
    assert body["instructions"] == SYSTEM_PROMPT + "Be brief."
    assert body["input"][-1]["content"] == [{"type": "input_text", "text": ASK[0]["content"]}]
    assert body["tools"][0]["name"] == "get_user_country" and body["max_output_tokens"] == 256


def test_responses_reasoning_stream_comes_back_as_thinking_and_returns_exactly(claude, upstream):
    name = "openai_responses__test_openai_responses_thinking_part_iter.0"
    upstream.reply_sse(RESPONSES_PATH, recorded(f"{name}.response.sse"))
    answer = completed_response(name)
    reasoning = [item for item in answer["output"] if item["type"] == "reasoning"]
    texts = [c["text"] for item in answer["output"] if item["type"] == "message" for c in item["content"]]

    with claude.messages.stream(model="gpt-test", max_tokens=8000, messages=ASK,
                                thinking={"type": "enabled", "budget_tokens": 4000}) as stream:
        final = stream.get_final_message()

    assert "".join(b.text for b in final.content if b.type == "text") == "".join(texts)
    thinking = [b for b in final.content if b.type == "thinking"]
    assert "".join(b.thinking for b in thinking) == "".join(s["text"] for item in reasoning for s in item["summary"])
    assert thinking and all(b.signature.startswith("d2a.") for b in thinking)
    sent = upstream.only_request(RESPONSES_PATH).json()
    assert sent["reasoning"]["effort"] and sent["include"] == ["reasoning.encrypted_content"]

    # Claude Code sends the assistant turn back as it received it.
    upstream.reply_json(RESPONSES_PATH, completed_response("openai_responses__test_openai_responses_stream.0"))
    history = [*ASK, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]},
               {"role": "user", "content": "And the second largest?"}]
    claude.messages.create(model="gpt-test", max_tokens=8000, messages=history,
                           thinking={"type": "enabled", "budget_tokens": 4000})

    # The upstream encrypts afresh in each event; a streaming client keeps the finished item's copy.
    done = [p["item"] for p in sse_payloads(recorded(f"{name}.response.sse"))
            if p["type"] == "response.output_item.done" and p["item"]["type"] == "reasoning"]
    items = upstream.requests(RESPONSES_PATH)[1].json()["input"]
    sent_reasoning = [item for item in items if item["type"] == "reasoning"]
    assert [(item["id"], item["encrypted_content"]) for item in sent_reasoning] == \
        [(item["id"], item["encrypted_content"]) for item in done]


def test_images_and_documents_reach_a_responses_upstream(claude, upstream):
    upstream.reply_json(RESPONSES_PATH, completed_response("openai_responses__test_openai_responses_stream.0"))
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
               {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}},
               {"type": "text", "text": "What are these?"}]

    claude.messages.create(model="gpt-test", max_tokens=100, messages=[{"role": "user", "content": content}])

    parts = upstream.only_request(RESPONSES_PATH).json()["input"][-1]["content"]
    assert parts[0] == {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"} or \
        (parts[0]["type"] == "input_image" and parts[0]["image_url"] == f"data:image/png;base64,{PNG}")
    assert parts[1]["type"] == "input_file" and parts[1]["file_data"] == f"data:application/pdf;base64,{PDF}"
    assert parts[2] == {"type": "input_text", "text": "What are these?"}


# -- Gemini upstream -----------------------------------------------------------------------------


def test_gemini_function_call_signature_survives_the_tool_loop(claude, upstream):
    first = "google__test_google_streaming_tool_call_thought_signature.0"
    upstream.reply_sse(GEMINI_PATH, recorded(f"{first}.response.sse"))
    signatures = [part["thoughtSignature"] for payload in sse_payloads(recorded(f"{first}.response.sse"))
                  for part in payload["candidates"][0]["content"].get("parts", []) if "functionCall" in part]

    message = claude.messages.create(model="gemini-test", max_tokens=1024, messages=ASK, tools=[COUNTRY_TOOL])

    tool_use = [b for b in message.content if b.type == "tool_use"]
    assert [b.name for b in tool_use] == ["get_country"] and message.stop_reason == "tool_use"
    upstream.reply_sse(GEMINI_PATH, recorded("google__test_google_streaming_tool_call_thought_signature.1.response.sse"))
    history = [*ASK, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use[0].id, "content": "Mexico"}]}]
    claude.messages.create(model="gemini-test", max_tokens=1024, messages=history, tools=[COUNTRY_TOOL])

    contents = upstream.requests(GEMINI_PATH)[1].json()["contents"]
    calls = [part for content in contents for part in content["parts"] if "functionCall" in part]
    assert [part["thoughtSignature"] for part in calls] == signatures
    results = [part["functionResponse"] for content in contents for part in content["parts"]
               if "functionResponse" in part]
    assert results[0]["name"] == "get_country"


def test_gemini_direct_counts_tokens_exactly(claude, upstream):
    upstream.reply_json(DIRECT_GEMINI_PATH + ":countTokens", {"totalTokens": 1234})

    count = claude.messages.count_tokens(model="gemini-direct", messages=ASK, system="Be brief.")

    assert count.input_tokens == 1234
    body = upstream.only_request(DIRECT_GEMINI_PATH + ":countTokens").json()
    assert body["generateContentRequest"]["model"] == "models/gemini-2.0-flash"
    assert body["generateContentRequest"]["contents"] == [{"role": "user", "parts": [{"text": ASK[0]["content"]}]}]


# -- Chat upstream -------------------------------------------------------------------------------


def test_chat_upstream_stream_with_a_tool_call(claude, upstream):
    raw = recorded("openai__test_run_stream_sync_streams_real_model.0.response.sse")
    upstream.reply_sse(CHAT_PATH, raw)
    arguments = "".join(call["function"].get("arguments", "")
                        for payload in sse_payloads(raw) if payload.get("choices")
                        for call in payload["choices"][0]["delta"].get("tool_calls") or [])

    with claude.messages.stream(model="glm-test", max_tokens=256, messages=ASK) as stream:
        final = stream.get_final_message()

    tool_use = [b for b in final.content if b.type == "tool_use"]
    assert [b.name for b in tool_use] == ["get_capital"] and tool_use[0].input == json.loads(arguments)
    assert final.stop_reason == "tool_use"
    assert upstream.only_request(CHAT_PATH).json()["stream"] is True


def test_count_tokens_is_estimated_where_the_upstream_cannot_count(claude, upstream):
    count = claude.messages.count_tokens(model="gpt-test", messages=ASK, tools=[COUNTRY_TOOL])
    assert 10 < count.input_tokens < 200
    assert not upstream.requests()


# -- errors, models, prefixes, keep-alives --------------------------------------------------------


def test_upstream_errors_reach_the_sdk_as_anthropic_errors(claude, upstream):
    upstream.reply_json(RESPONSES_PATH, {"error": {"message": "slow down", "type": "rate_limit_error"}},
                        status=429, headers={"retry-after": "7"})
    with pytest.raises(anthropic.RateLimitError) as caught:
        claude.messages.create(model="gpt-test", max_tokens=10, messages=ASK)
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["error"]["type"] == "rate_limit_error"

    upstream.reply_json(GEMINI_PATH, {"error": {"code": 403, "message": "no", "status": "PERMISSION_DENIED"}},
                        status=403)
    with pytest.raises(anthropic.PermissionDeniedError):
        claude.messages.create(model="gemini-test", max_tokens=10, messages=ASK)


def test_a_stream_cut_midway_ends_with_an_error_event(claude, upstream):
    raw = recorded("openai_responses__test_openai_responses_thinking_part_iter.0.response.sse")
    upstream.reply_sse(RESPONSES_PATH, raw, drop_after=20)
    with pytest.raises(anthropic.APIStatusError):
        with claude.messages.stream(model="gpt-test", max_tokens=100, messages=ASK) as stream:
            stream.get_final_message()


def test_models_are_listed_in_anthropics_shape(claude, gateway):
    page = claude.models.list()
    ids = [model.id for model in page.data]
    assert "claude-test" in ids and "gpt-test" in ids
    assert all(model.type == "model" and model.display_name for model in page.data)
    assert claude.models.retrieve("gpt-test").id == "gpt-test"
    with pytest.raises(anthropic.NotFoundError):
        claude.models.retrieve("no-such-model")


@pytest.mark.parametrize("prefix", ["/anthropic", "/claude"])
def test_clients_with_a_path_prefix_reach_the_same_routes(gateway, upstream, prefix):
    upstream.reply_json(RESPONSES_PATH, completed_response("openai_responses__test_openai_responses_stream.0"))
    with anthropic.Anthropic(base_url=gateway.url + prefix, **SDK_OPTIONS) as client:
        message = client.messages.create(model="gpt-test", max_tokens=10, messages=ASK)
        assert message.type == "message"
        assert client.models.list().data


def test_a_silent_upstream_gets_pings_in_between(start_server, upstream):
    gateway = start_server(ping_interval=0.2)
    raw = recorded("openai_responses__test_openai_responses_thinking_part_iter.0.response.sse")
    held = upstream.reply_sse(RESPONSES_PATH, raw, hold_at=3)
    body = {"model": "gpt-test", "max_tokens": 100, "stream": True, "messages": ASK}

    exchange = post(gateway.url + "/v1/messages", json.dumps(body).encode(),
                    {"content-type": "application/json", "anthropic-version": "2023-06-01"})
    before = exchange.read_until(b"event: ping")
    held.release()
    after = exchange.read()

    assert b"event: message_start" in before
    assert b"event: message_stop" in after and b"event: error" not in after
