"""POST /v1/chat/completions over Anthropic, Responses and Gemini upstreams, driven by the official openai SDK.

The SDK runs with strict response validation: every answer and chunk the gateway writes must be a valid
Chat Completions object. The fake upstream replays recorded real answers of each dialect; the expected
values below are read from those recordings by hand-written folding, not by the gateway's codecs.
"""

from __future__ import annotations

import base64
import json

import openai
import pytest

from tests.fake_upstream import sse_chunks
from tests.helpers import recorded, recorded_json

from .checks import assert_factory_headers, assert_not_forwarded, completed_response, openai_error
from .client import post, sse_payloads
from .servers import (ANTHROPIC_PATH, DIRECT_GEMINI_KEY, DIRECT_GEMINI_PATH, GEMINI_PATH, RESPONSES_PATH,
                      SDK_OPTIONS, SYSTEM_PROMPT)

USER_COUNTRY_TOOL = {"type": "function", "function": {"name": "get_user_country", "description": "",
                                                      "parameters": {"type": "object", "properties": {}}}}
ASK = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the largest city in my country?"}]


@pytest.fixture
def chat(gateway):
    client = openai.OpenAI(base_url=gateway.url + "/v1", **SDK_OPTIONS)  # strict validation on
    yield client
    client.close()


def gemini_texts(raw: bytes) -> tuple:
    """(answer text, thought text) of a recorded Gemini stream."""
    answer, thoughts = "", ""
    for payload in sse_payloads(raw):
        for part in payload["candidates"][0]["content"].get("parts", []):
            if "text" in part:
                if part.get("thought"):
                    thoughts += part["text"]
                else:
                    answer += part["text"]
    return answer, thoughts


# -- Anthropic upstream -------------------------------------------------------------------------


def test_anthropic_tool_call_answer(chat, upstream):
    answer = recorded_json("anthropic__test_anthropic_tool_output.0.response.json")
    upstream.reply_json(ANTHROPIC_PATH, answer)

    completion = chat.chat.completions.create(model="claude-alias", messages=ASK, tools=[USER_COUNTRY_TOOL])

    choice = completion.choices[0]
    tool_use = answer["content"][0]
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls] == \
        [(tool_use["id"], tool_use["name"], tool_use["input"])]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (445, 23)
    assert completion.model == "claude-alias"

    received = upstream.only_request(ANTHROPIC_PATH)
    body = received.json()
    assert body["model"] == "claude-test"  # the redirect applied
    assert body["system"] == [{"type": "text", "text": SYSTEM_PROMPT}, {"type": "text", "text": "Be brief."}]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": ASK[1]["content"]}]}]
    assert body["max_tokens"] == 4096  # Anthropic needs one; nothing set it
    assert body["tools"] == [{"name": "get_user_country", "description": "",
                              "input_schema": {"type": "object", "properties": {}}}]
    assert "stream" not in body
    assert_factory_headers(received, "anthropic")
    assert received.headers["x-api-key"] == "placeholder"


def test_anthropic_parallel_tool_calls(chat, upstream):
    answer = recorded_json("anthropic__test_multiple_parallel_tool_calls.0.response.json")
    upstream.reply_json(ANTHROPIC_PATH, answer)

    completion = chat.chat.completions.create(model="claude-test", messages=ASK)

    message = completion.choices[0].message
    assert message.content == answer["content"][0]["text"]
    assert [(c.id, json.loads(c.function.arguments)) for c in message.tool_calls] == \
        [(b["id"], b["input"]) for b in answer["content"] if b["type"] == "tool_use"]


def test_anthropic_thinking_stream_through_the_stream_helper(chat, upstream):
    raw = recorded("anthropic__test_anthropic_model_thinking_part_stream.0.response.sse")
    upstream.reply_sse(ANTHROPIC_PATH, raw)
    deltas = [p["delta"] for p in sse_payloads(raw) if p["type"] == "content_block_delta"]

    with chat.chat.completions.stream(model="claude-test", messages=ASK,
                                      stream_options={"include_usage": True}) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_completion()

    message = final.choices[0].message
    assert message.content == "".join(d.get("text", "") for d in deltas)
    assert message.model_extra["reasoning_content"] == "".join(d.get("thinking", "") for d in deltas)
    signature = "".join(d.get("signature", "") for d in deltas)
    assert message.model_extra["reasoning_details"][0]["signature"] == signature
    assert "content.delta" in kinds and final.choices[0].finish_reason == "stop"
    assert final.usage.prompt_tokens == 43 and final.usage.completion_tokens > 0
    assert upstream.only_request(ANTHROPIC_PATH).json()["stream"] is True


def test_tool_loop_with_thinking_sends_the_signed_block_back(chat, upstream):
    first = recorded_json("anthropic__test_anthropic_tool_with_thinking.0.response.json")
    upstream.reply_json(ANTHROPIC_PATH, first)
    question = [{"role": "user", "content": "What is the largest city in the user country?"}]
    completion = chat.chat.completions.create(model="claude-test", messages=question, tools=[USER_COUNTRY_TOOL],
                                              reasoning_effort="low")
    message = completion.choices[0].message
    upstream.reply_json(ANTHROPIC_PATH, recorded_json("anthropic__test_anthropic_tool_with_thinking.1.response.json"))

    # What an openai SDK user does: append the message as received, then the tool's result.
    follow_up = [*question, message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "Mexico"}]
    chat.chat.completions.create(model="claude-test", messages=follow_up, tools=[USER_COUNTRY_TOOL],
                                 reasoning_effort="low")

    sent = upstream.requests(ANTHROPIC_PATH)[1].json()
    recorded_turn = recorded_json("anthropic__test_anthropic_tool_with_thinking.1.request.json")["messages"][1]
    assert sent["messages"][1] == recorded_turn  # thinking + signature, text, tool_use: as the real API took it
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 4096}


# -- Responses upstream -------------------------------------------------------------------------


def test_responses_tool_call_answer(chat, upstream):
    answer = completed_response("openai_responses__test_openai_responses_stream.0")
    upstream.reply_json(RESPONSES_PATH, answer)

    completion = chat.chat.completions.create(model="gpt-test", messages=ASK, tools=[USER_COUNTRY_TOOL])

    call = answer["output"][0]
    tool_call = completion.choices[0].message.tool_calls[0]
    assert (tool_call.id, tool_call.function.name, tool_call.function.arguments) == \
        (call["call_id"], call["name"], call["arguments"])
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage.total_tokens == answer["usage"]["total_tokens"]
    body = upstream.only_request(RESPONSES_PATH).json()
    assert body["instructions"] == SYSTEM_PROMPT + "Be brief."
    assert body["input"] == [{"type": "message", "role": "user",
                              "content": [{"type": "input_text", "text": ASK[1]["content"]}]}]
    assert body["store"] is False and body["tools"][0]["name"] == "get_user_country"


def test_responses_reasoning_stream(chat, upstream):
    name = "openai_responses__test_openai_responses_thinking_part_iter.0"
    upstream.reply_sse(RESPONSES_PATH, recorded(f"{name}.response.sse"))
    answer = completed_response(name)
    texts = [c["text"] for item in answer["output"] if item["type"] == "message" for c in item["content"]]
    summaries = [s["text"] for item in answer["output"] if item["type"] == "reasoning" for s in item["summary"]]

    stream = chat.chat.completions.create(model="gpt-test", messages=ASK, stream=True,
                                          stream_options={"include_usage": True}, reasoning_effort="high")
    chunks = list(stream)

    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    thinking = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content", "") for c in chunks if c.choices)
    assert content == "".join(texts) and thinking == "".join(summaries)
    usage = chunks[-1].usage
    assert not chunks[-1].choices
    assert usage.completion_tokens_details.reasoning_tokens == answer["usage"]["output_tokens_details"][
        "reasoning_tokens"]
    body = upstream.only_request(RESPONSES_PATH).json()
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"]


# -- Gemini upstreams ---------------------------------------------------------------------------


def test_gemini_on_factory_answers_a_plain_call_from_its_stream(chat, upstream):
    raw = recorded("google__test_google_model_iter_stream.2.response.sse")
    upstream.reply_sse(GEMINI_PATH, raw)  # Factory's /g/v1/generate answers with generateContent SSE

    completion = chat.chat.completions.create(model="gemini-test", messages=ASK)

    assert completion.choices[0].message.content == gemini_texts(raw)[0]
    received = upstream.only_request(GEMINI_PATH)
    body = received.json()
    assert body["model"] == "gemini-test"  # Factory reads the model from the body
    assert body["systemInstruction"] == {"parts": [{"text": SYSTEM_PROMPT}, {"text": "Be brief."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": ASK[1]["content"]}]}]
    assert_factory_headers(received, "google")


def test_gemini_direct_tool_call(chat, upstream):
    answer = recorded_json("google__test_google_tool_output.1.response.json")
    upstream.reply_json(DIRECT_GEMINI_PATH + ":generateContent", answer)

    completion = chat.chat.completions.create(model="gemini-direct", messages=ASK, tools=[USER_COUNTRY_TOOL])

    call = completion.choices[0].message.tool_calls[0]
    function_call = answer["candidates"][0]["content"]["parts"][0]["functionCall"]
    assert (call.function.name, json.loads(call.function.arguments)) == (function_call["name"], function_call["args"])
    assert call.id.startswith("call_") and completion.choices[0].finish_reason == "tool_calls"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (47, 8)
    received = upstream.only_request(DIRECT_GEMINI_PATH + ":generateContent")
    assert received.headers["x-goog-api-key"] == DIRECT_GEMINI_KEY
    assert "model" not in received.json() and "x-factory-client" not in received.headers
    assert_not_forwarded(SDK_OPTIONS["api_key"], received)


def test_gemini_thought_signature_survives_a_streamed_tool_loop(chat, upstream):
    path = DIRECT_GEMINI_PATH + ":streamGenerateContent"
    raw = recorded("google__test_google_streaming_tool_call_thought_signature.0.response.sse")
    upstream.reply_sse(path, raw)
    signature = sse_payloads(raw)[0]["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    tool = {"type": "function", "function": {"name": "get_country", "parameters": {"type": "object", "properties": {}}}}

    with chat.chat.completions.stream(model="gemini-direct", messages=ASK, tools=[tool]) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.tool_calls[0].model_extra["extra_content"] == {"google": {"thought_signature": signature}}
    assert upstream.only_request(path).query == "alt=sse"

    upstream.reply_sse(path, recorded("google__test_google_streaming_tool_call_thought_signature.1.response.sse"))
    follow_up = [*ASK, message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "Mexico"}]
    with chat.chat.completions.stream(model="gemini-direct", messages=follow_up, tools=[tool]) as stream:
        text = stream.get_final_completion().choices[0].message.content
    assert text == gemini_texts(recorded("google__test_google_streaming_tool_call_thought_signature.1.response.sse"))[0]
    model_turn = upstream.requests(path)[1].json()["contents"][1]
    assert model_turn == {"role": "model", "parts": [{"functionCall": {"name": "get_country", "args": {}},
                                                      "thoughtSignature": signature}]}


# -- the stream itself --------------------------------------------------------------------------


def test_chunks_follow_the_chat_stream_rules_and_leave_as_events_arrive(gateway, upstream):
    name = "openai_responses__test_openai_responses_stream.0"  # a streamed function call
    raw = recorded(f"{name}.response.sse")
    held = upstream.reply_sse(RESPONSES_PATH, raw, hold_at=3)

    exchange = post(gateway.url + "/v1/chat/completions", {"model": "gpt-test", "messages": ASK, "stream": True,
                                                           "stream_options": {"include_usage": True}})
    early = exchange.read_until(b'"tool_calls"')
    assert held.state == "holding"  # the first chunks left while the upstream still held the rest
    held.release()
    body = early + exchange.read()

    assert exchange.headers["content-type"].startswith("text/event-stream")
    assert body.endswith(b"data: [DONE]\n\n")
    chunks = [json.loads(block[6:]) for block in body.decode().split("\n\n") if block.startswith("data: {")]
    with_choices = [c for c in chunks if c["choices"]]
    deltas = [c["choices"][0]["delta"] for c in with_choices]
    assert "role" in deltas[0] and not any("role" in d for d in deltas[1:])
    heads = [t for d in deltas for t in d.get("tool_calls", []) if "id" in t]
    assert len(heads) == 1 and heads[0]["function"]["name"] == "get_capital"
    arguments = "".join(t["function"].get("arguments", "") for d in deltas for t in d.get("tool_calls", []))
    assert arguments == '{"country":"France"}'
    assert [c["choices"][0]["finish_reason"] for c in with_choices][-1] == "tool_calls"
    assert all(c["choices"][0]["finish_reason"] is None for c in with_choices[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 271


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, body, headers, expected", [
    (400, {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long"}}, {}, 400),
    (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, {}, 503),
    (429, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}, {"retry-after": "17"}, 429),
])
def test_anthropic_upstream_errors_become_openai_errors(gateway, upstream, status, body, headers, expected):
    upstream.reply_json(ANTHROPIC_PATH, body, status=status, headers=headers)

    exchange = post(gateway.url + "/v1/chat/completions", {"model": "claude-test", "messages": ASK})

    assert exchange.status == expected
    error = exchange.json()
    openai_error(error)
    assert error["error"]["message"] == body["error"]["message"]
    if headers:
        assert exchange.headers["retry-after"] == "17"


def test_gemini_upstream_error_becomes_an_openai_error(chat, upstream):
    error = {"error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}}
    upstream.reply_json(DIRECT_GEMINI_PATH + ":generateContent", error, status=400)

    with pytest.raises(openai.BadRequestError) as caught:
        chat.chat.completions.create(model="gemini-direct", messages=ASK)

    assert caught.value.status_code == 400 and caught.value.message.endswith("Request contains an invalid argument.")


@pytest.mark.parametrize("cut", ["dropped", "ended early"])
def test_a_stream_that_fails_midway_raises_in_the_sdk(chat, upstream, cut):
    raw = recorded("anthropic__test_anthropic_model_thinking_part_stream.0.response.sse")
    if cut == "dropped":
        upstream.reply_sse(ANTHROPIC_PATH, raw, drop_after=10)
    else:
        upstream.reply(ANTHROPIC_PATH, sse_chunks(raw)[:10], content_type="text/event-stream")

    stream = chat.chat.completions.create(model="claude-test", messages=ASK, stream=True)
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert received  # the part that did arrive was relayed first
    assert "upstream" in caught.value.message


def test_unreachable_upstream_is_502_naming_it(chat):
    with pytest.raises(openai.APIStatusError) as caught:
        chat.chat.completions.create(model="claude-dead", messages=ASK)
    assert caught.value.status_code == 502
    assert "dead-anthropic" in caught.value.message and "connection refused" in caught.value.message


def test_silent_upstream_is_504(start_server, upstream):
    impatient = start_server(read_timeout=0.5)
    upstream.reply(ANTHROPIC_PATH, [b"{}"], hold_at=0)

    exchange = post(impatient.url + "/v1/chat/completions", {"model": "claude-test", "messages": ASK})

    assert exchange.status == 504
    assert openai_error(exchange.json()) == "timeout_error"


@pytest.mark.parametrize("body, status, param", [
    ({"model": "claude-test"}, 400, "messages"),
    ({"model": "claude-test", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400,
     "messages[0].content[0].image_url"),
    ({"model": "claude-test", "messages": ASK, "n": 2}, 400, "n"),
    ({"model": "gemini-direct", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}, 400, None),
    ({"model": "nope", "messages": ASK}, 404, "model"),
])
def test_bad_requests_never_reach_the_upstream(gateway, upstream, body, status, param):
    exchange = post(gateway.url + "/v1/chat/completions", body)

    assert exchange.status == status
    error = exchange.json()
    openai_error(error)
    if param:
        assert error["error"]["param"] == param
    if body["model"] == "gemini-direct":
        assert "does not fetch image URLs" in error["error"]["message"]
    assert upstream.requests() == []


def test_images_reach_anthropic_as_blocks(chat, upstream):
    upstream.reply_json(ANTHROPIC_PATH, recorded_json("anthropic__test_anthropic_tool_output.1.response.json"))
    pixel = base64.b64encode(b"\x89PNG fake").decode()
    chat.chat.completions.create(model="claude-test", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]}])
    content = upstream.only_request(ANTHROPIC_PATH).json()["messages"][0]["content"]
    assert content[1:] == [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": pixel}},
                           {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}]
