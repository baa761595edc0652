"""The Gemini API over Anthropic, Responses and Chat models (and relayed to Gemini), driven by google-genai.

The official SDK (``genai.Client`` with ``http_options.base_url`` at the real gunicorn + gevent gateway,
no retries) calls ``models.generate_content`` / ``generate_content_stream`` / ``count_tokens`` / ``list`` /
``get`` and runs ``chats``; what it accepts is what its own parser, error handling and pydantic models
(which forbid unknown fields and hold thought signatures as base64 bytes) make of the gateway's bytes.
The raw-HTTP tests check the framings byte-level: SSE, and Google's JSON array without ``?alt=sse``,
whose elements are validated as the SDK's GenerateContentResponse.

The fake upstream replays recorded real answers of each dialect; the expected values are read from those
recordings by hand, not through the gateway's codecs. The round trips check the part a Gemini client
cannot see: the Anthropic signature or Responses ``encrypted_content`` rides in a ``thoughtSignature``,
and comes back, on the next turn, exactly to the upstream that made it.
"""

from __future__ import annotations

import json

import pytest
from google import genai
from google.genai import errors, types

from tests.helpers import recorded, recorded_json

from .checks import assert_factory_headers, assert_not_forwarded, completed_response, gemini_folded, gemini_sse_chunks
from .client import Exchange, post, sse_payloads
from .servers import (ANTHROPIC_PATH, CHAT_PATH, COUNT_TOKENS_PATH, DIRECT_GEMINI_KEY, DIRECT_GEMINI_PATH,
                      RESPONSES_PATH, SDK_OPTIONS, SYSTEM_PROMPT)

CLIENT_KEY = SDK_OPTIONS["api_key"]
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)  # the tool loop is the test's, by hand
ASK = "What is the largest city in my country?"

# A declaration in Google's OpenAPI subset, and the JSON Schema it means (README: converted to JSON Schema).
COUNTRY_PARAMETERS = types.Schema(type="OBJECT", properties={
    "hint": types.Schema(type="STRING", description="What the user said about it.", nullable=True),
    "limit": types.Schema(type="INTEGER", minimum=1),
    "tags": types.Schema(type="ARRAY", items=types.Schema(type="STRING", enum=["a", "b"])),
}, required=["hint"])
COUNTRY_JSON_SCHEMA = {"type": "object", "properties": {
    "hint": {"type": ["string", "null"], "description": "What the user said about it."},
    "limit": {"type": "integer", "minimum": 1},
    "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
}, "required": ["hint"]}
COUNTRY_TOOL = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_user_country", description="The user's country.", parameters=COUNTRY_PARAMETERS)])
# The same kind of declaration as Gemini CLI writes it: JSON Schema already.
CAPITAL_SCHEMA = {"type": "object", "properties": {"country": {"type": "string"}}, "required": ["country"]}
CAPITAL_TOOL = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_capital", description="The capital of a country.", parameters_json_schema=CAPITAL_SCHEMA)])


def gemini_client(base_url: str, api_version: str = "v1beta") -> genai.Client:
    # attempts=1: no retry, explicit or implicit, hides what the gateway answered the first time.
    options = types.HttpOptions(base_url=base_url, api_version=api_version, timeout=20_000,
                                retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=CLIENT_KEY, http_options=options)


@pytest.fixture
def gemini(gateway):
    client = gemini_client(gateway.url)
    yield client
    client.close()


def user(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part.from_text(text=text)])


def function_response(call: types.FunctionCall, output: str) -> types.Content:
    """What a manual tool loop sends back: the call's result, under its id and name."""
    part = types.Part.from_function_response(name=call.name, response={"output": output})
    part.function_response.id = call.id
    return types.Content(role="user", parts=[part])


def result_text(block: dict) -> str:
    """An Anthropic tool_result's text: a string, or text blocks."""
    content = block["content"]
    return content if isinstance(content, str) else "".join(part["text"] for part in content)


def anthropic_deltas(name: str) -> tuple:
    """(thinking, signature, text) of a recorded Anthropic stream."""
    deltas = [p["delta"] for p in sse_payloads(recorded(f"{name}.response.sse")) if p["type"] == "content_block_delta"]
    return tuple("".join(d.get(key, "") for d in deltas) for key in ("thinking", "signature", "text"))


def stream_calls(raw: bytes) -> list:
    """(id, name, arguments) of the function calls in a recorded Chat stream."""
    calls = {}
    for payload in sse_payloads(raw):
        for choice in payload.get("choices") or []:
            for call in choice["delta"].get("tool_calls") or []:
                found = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                found["id"] += call.get("id") or ""
                found["name"] += call["function"].get("name") or ""
                found["arguments"] += call["function"].get("arguments") or ""
    return [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls.values()]


def chat_text(raw: bytes) -> str:
    return "".join(choice["delta"].get("content") or "" for payload in sse_payloads(raw)
                   for choice in payload.get("choices") or [])


def output_text(response: dict) -> str:
    return "".join(part["text"] for item in response["output"] if item["type"] == "message"
                   for part in item["content"] if part["type"] == "output_text")


# -- Anthropic upstream ---------------------------------------------------------------------------


def test_anthropic_function_call_and_the_manual_function_response_loop(gemini, upstream):
    first = recorded_json("anthropic__test_anthropic_tool_output.0.response.json")
    upstream.reply_json(ANTHROPIC_PATH, first)
    config = types.GenerateContentConfig(system_instruction="Be brief.", tools=[COUNTRY_TOOL],
                                         automatic_function_calling=NO_AFC)

    response = gemini.models.generate_content(model="claude-test", contents=[user(ASK)], config=config)

    [tool_use] = first["content"]
    assert [(c.id, c.name, c.args) for c in response.function_calls] == \
        [(tool_use["id"], tool_use["name"], tool_use["input"])]
    candidate = response.candidates[0]
    assert candidate.finish_reason == types.FinishReason.STOP  # Gemini stops with STOP after function calls
    assert candidate.content.role == "model" and response.model_version == "claude-test"
    assert response.response_id == first["id"]
    usage = response.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (445, 23, 468)
    received = upstream.only_request(ANTHROPIC_PATH)
    assert_factory_headers(received, "anthropic")
    body = received.json()
    assert body["model"] == "claude-test"
    assert body["system"] == [{"type": "text", "text": SYSTEM_PROMPT}, {"type": "text", "text": "Be brief."}]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": ASK}]}]
    assert body["tools"] == [{"name": "get_user_country", "description": "The user's country.",
                              "input_schema": COUNTRY_JSON_SCHEMA}]

    # The loop by hand: the model's turn as the SDK gave it, then the function's result under the call's id.
    second = recorded_json("anthropic__test_anthropic_tool_output.1.response.json")
    upstream.reply_json(ANTHROPIC_PATH, second)
    [call] = response.function_calls
    history = [user(ASK), candidate.content, function_response(call, "Mexico")]
    answer = gemini.models.generate_content(model="claude-test", contents=history, config=config)

    assert [(c.name, c.args) for c in answer.function_calls] == [("final_result", second["content"][0]["input"])]
    messages = upstream.requests(ANTHROPIC_PATH)[1].json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == [{"type": "tool_use", "id": tool_use["id"], "name": "get_user_country",
                                       "input": {}}]
    [result] = messages[2]["content"]
    assert (result["type"], result["tool_use_id"], result_text(result)) == ("tool_result", tool_use["id"], "Mexico")


def test_anthropic_signed_thinking_survives_the_tool_loop(gemini, upstream):
    """Non-streamed: the thought part carries Anthropic's signature, and the next turn gets the signed
    thinking block back exactly, before the text and the tool_use, as Anthropic requires in a tool loop."""
    name = "anthropic__test_anthropic_tool_with_thinking"
    first = recorded_json(f"{name}.0.response.json")
    thinking, text, tool_use = first["content"]
    upstream.reply_json(ANTHROPIC_PATH, first)
    # The recording's own request: a 3000-token budget.
    config = types.GenerateContentConfig(
        tools=[COUNTRY_TOOL], automatic_function_calling=NO_AFC,
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=3000))

    response = gemini.models.generate_content(model="claude-test", contents=[user(ASK)], config=config)

    parts = response.candidates[0].content.parts
    assert [(bool(p.thought), p.text, p.function_call is not None) for p in parts] == \
        [(True, thinking["thinking"], False), (False, text["text"], False), (False, None, True)]
    assert parts[0].thought_signature  # bytes: the SDK accepted it as base64
    assert (parts[2].function_call.id, parts[2].function_call.name) == (tool_use["id"], tool_use["name"])
    assert response.text == text["text"]  # thoughts are not the answer's text
    sent = upstream.only_request(ANTHROPIC_PATH).json()
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 3000}

    upstream.reply_json(ANTHROPIC_PATH, recorded_json(f"{name}.1.response.json"))
    history = [user(ASK), response.candidates[0].content, function_response(response.function_calls[0], "Mexico")]
    answer = gemini.models.generate_content(model="claude-test", contents=history, config=config)

    assert answer.text == recorded_json(f"{name}.1.response.json")["content"][0]["text"]
    body = upstream.requests(ANTHROPIC_PATH)[1].json()
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 3000}
    assert body["messages"][1] == {"role": "assistant", "content": [thinking, text, {**tool_use}]}
    [result] = body["messages"][2]["content"]
    assert (result["tool_use_id"], result_text(result)) == (tool_use["id"], "Mexico")


def test_anthropic_thinking_stream_round_trips_through_a_chat(gemini, upstream):
    """Streamed, through google-genai's chats, which keep every chunk of the answer as a Content of its own:
    the thought chunks, the signature, the text, and on the next turn the whole signed block back."""
    name = "anthropic__test_anthropic_model_thinking_part_stream.0"
    upstream.reply_sse(ANTHROPIC_PATH, recorded(f"{name}.response.sse"))
    thinking, signature, text = anthropic_deltas(name)
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=1024))
    chat = gemini.chats.create(model="claude-test", config=config)

    chunks = list(chat.send_message_stream("How do I cross the street?"))

    folded = gemini_folded(chunks)
    assert (folded["thoughts"], folded["text"], folded["calls"]) == (thinking, text, [])
    assert len(folded["signatures"]) == 1  # once, when the thinking block stops
    assert len(chunks) > 20  # sent as the upstream produced it, not gathered into one chunk
    assert {chunk.model_version for chunk in chunks} == {"claude-test"}
    assert len({chunk.response_id for chunk in chunks}) == 1
    last = chunks[-1]
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert all(chunk.candidates[0].finish_reason is None for chunk in chunks[:-1])
    usage = last.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (43, 282, 325)
    sent = upstream.only_request(ANTHROPIC_PATH).json()
    assert sent["stream"] is True and sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}

    upstream.reply_json(ANTHROPIC_PATH, recorded_json("anthropic__test_anthropic_tool_with_thinking.1.response.json"))
    chat.send_message("Thanks.")

    messages = upstream.requests(ANTHROPIC_PATH)[1].json()["messages"]
    assert messages == [
        {"role": "user", "content": [{"type": "text", "text": "How do I cross the street?"}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": thinking, "signature": signature},
                                          {"type": "text", "text": text}]},
        {"role": "user", "content": [{"type": "text", "text": "Thanks."}]},
    ]


def test_anthropic_counts_tokens_exactly(gemini, upstream):
    upstream.reply_json(COUNT_TOKENS_PATH, {"input_tokens": 77})

    count = gemini.models.count_tokens(model="claude-test", contents=ASK)

    assert count.total_tokens == 77
    body = upstream.only_request(COUNT_TOKENS_PATH).json()
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": ASK}]}]
    assert body["system"] == [{"type": "text", "text": SYSTEM_PROMPT}]


# -- Responses upstream ---------------------------------------------------------------------------


def test_responses_streamed_function_call_loop(gemini, upstream):
    name = "openai_responses__test_openai_responses_stream"
    upstream.reply_sse(RESPONSES_PATH, recorded(f"{name}.0.response.sse"))
    [call_item] = completed_response(f"{name}.0")["output"]
    config = types.GenerateContentConfig(tools=[CAPITAL_TOOL], automatic_function_calling=NO_AFC)
    ask = user("What is the capital of France?")

    chunks = list(gemini.models.generate_content_stream(model="gpt-test", contents=[ask], config=config))

    folded = gemini_folded(chunks)
    assert folded["calls"] == [(call_item["call_id"], "get_capital", json.loads(call_item["arguments"]))]
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    usage = completed_response(f"{name}.0")["usage"]
    assert chunks[-1].usage_metadata.prompt_token_count == usage["input_tokens"]
    assert chunks[-1].usage_metadata.total_token_count == usage["total_tokens"]
    received = upstream.only_request(RESPONSES_PATH)
    assert_factory_headers(received, "openai")
    body = received.json()
    assert body["stream"] is True and body["instructions"] == SYSTEM_PROMPT
    assert body["tools"] == [{"type": "function", "name": "get_capital", "description": "The capital of a country.",
                              "parameters": CAPITAL_SCHEMA, "strict": False}]

    upstream.reply_sse(RESPONSES_PATH, recorded(f"{name}.1.response.sse"))
    call = next(part.function_call for chunk in chunks for part in chunk.candidates[0].content.parts
                if part.function_call)
    model_turn = types.Content(role="model", parts=[types.Part(function_call=call)])
    history = [ask, model_turn, function_response(call, "Paris")]
    answer = list(gemini.models.generate_content_stream(model="gpt-test", contents=history, config=config))

    assert gemini_folded(answer)["text"] == output_text(completed_response(f"{name}.1"))
    items = upstream.requests(RESPONSES_PATH)[1].json()["input"]
    assert [item["type"] for item in items] == ["message", "function_call", "function_call_output"]
    assert (items[1]["call_id"], items[1]["name"], json.loads(items[1]["arguments"])) == \
        (call_item["call_id"], "get_capital", {"country": "France"})
    assert (items[2]["call_id"], items[2]["output"]) == (call_item["call_id"], "Paris")


def test_responses_reasoning_round_trips_through_thought_signatures(gemini, upstream):
    name = "openai_responses__test_openai_responses_thinking_part_iter.0"
    upstream.reply_sse(RESPONSES_PATH, recorded(f"{name}.response.sse"))
    answer = completed_response(name)
    summaries = "".join(s["text"] for item in answer["output"] if item["type"] == "reasoning" for s in item["summary"])
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_level=types.ThinkingLevel.HIGH))
    chat = gemini.chats.create(model="gpt-test", config=config)

    chunks = list(chat.send_message_stream("How do I cross the street?"))

    folded = gemini_folded(chunks)
    assert (folded["thoughts"], folded["text"]) == (summaries, output_text(answer))
    assert folded["signatures"]
    usage = chunks[-1].usage_metadata
    reasoning = answer["usage"]["output_tokens_details"]["reasoning_tokens"]
    assert (usage.prompt_token_count, usage.thoughts_token_count, usage.candidates_token_count) == \
        (answer["usage"]["input_tokens"], reasoning, answer["usage"]["output_tokens"] - reasoning)
    sent = upstream.only_request(RESPONSES_PATH).json()
    assert sent["reasoning"] == {"effort": "high", "summary": "auto"}
    assert sent["include"] == ["reasoning.encrypted_content"]

    upstream.reply_sse(RESPONSES_PATH, recorded("openai_responses__test_openai_responses_stream.1.response.sse"))
    list(chat.send_message_stream("Thanks."))

    # The upstream encrypts afresh in each event; the finished item's copy is the one that counts.
    done = [p["item"] for p in sse_payloads(recorded(f"{name}.response.sse"))
            if p["type"] == "response.output_item.done" and p["item"]["type"] == "reasoning"]
    items = upstream.requests(RESPONSES_PATH)[1].json()["input"]
    assert [(item["id"], item["encrypted_content"]) for item in items if item["type"] == "reasoning"] == \
        [(item["id"], item["encrypted_content"]) for item in done]
    assert [item.get("role") for item in items if item["type"] == "message"] == ["user", "assistant", "user"]


# -- Chat upstream --------------------------------------------------------------------------------


def test_chat_streamed_function_call_loop(gemini, upstream):
    name = "openai__test_run_stream_sync_streams_real_model"
    raw = recorded(f"{name}.0.response.sse")
    upstream.reply_sse(CHAT_PATH, raw)
    config = types.GenerateContentConfig(tools=[CAPITAL_TOOL], automatic_function_calling=NO_AFC)
    ask = user("What is the capital of the UK? Use the tool, then answer.")

    chunks = list(gemini.models.generate_content_stream(model="glm-test", contents=[ask], config=config))

    [(call_id, call_name, arguments)] = stream_calls(raw)
    assert gemini_folded(chunks)["calls"] == [(call_id, call_name, arguments)]
    received = upstream.only_request(CHAT_PATH)
    assert_factory_headers(received, "fireworks")
    body = received.json()
    assert body["messages"] == [{"role": "system", "content": SYSTEM_PROMPT},
                                {"role": "user", "content": ask.parts[0].text}]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["tools"] == [{"type": "function", "function": {"name": "get_capital", "parameters": CAPITAL_SCHEMA,
                                                               "description": "The capital of a country."}}]

    second = recorded(f"{name}.1.response.sse")
    upstream.reply_sse(CHAT_PATH, second)
    call = next(part.function_call for chunk in chunks for part in chunk.candidates[0].content.parts
                if part.function_call)
    model_turn = types.Content(role="model", parts=[types.Part(function_call=call)])
    history = [ask, model_turn, function_response(call, "London")]
    answer = list(gemini.models.generate_content_stream(model="glm-test", contents=history, config=config))

    assert gemini_folded(answer)["text"] == chat_text(second)
    messages = upstream.requests(CHAT_PATH)[1].json()["messages"]
    assistant, tool = messages[-2:]
    assert assistant["role"] == "assistant" and not assistant.get("content")
    assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in assistant["tool_calls"]] \
        == [(call_id, call_name, arguments)]
    assert tool == {"role": "tool", "tool_call_id": call_id, "content": "London"}


def test_count_tokens_is_estimated_where_the_upstream_cannot_count(gemini, upstream):
    for model in ("gpt-test", "glm-test"):
        count = gemini.models.count_tokens(model=model, contents=ASK)
        assert 5 < count.total_tokens < 200, (model, count)
    assert not upstream.requests()


# -- Gemini upstreams: relayed --------------------------------------------------------------------


def test_gemini_direct_is_relayed_with_the_policies(gemini, upstream):
    answer = recorded_json("google__test_google_tool_output.0.response.json")
    upstream.reply_json(DIRECT_GEMINI_PATH + ":generateContent", answer)
    config = types.GenerateContentConfig(system_instruction="Be brief.")

    response = gemini.models.generate_content(model="gemini-direct", contents=[user(ASK)], config=config)

    # Google's own answer, as the SDK reads it from Google.
    assert response.response_id == answer["responseId"] and response.model_version == answer["modelVersion"]
    assert [(c.name, c.args) for c in response.function_calls] == \
        [(p["functionCall"]["name"], p["functionCall"]["args"]) for p in answer["candidates"][0]["content"]["parts"]]
    received = upstream.only_request(DIRECT_GEMINI_PATH + ":generateContent")
    assert received.query == ""
    assert received.headers["x-goog-api-key"] == DIRECT_GEMINI_KEY and "authorization" not in received.headers
    assert_not_forwarded(CLIENT_KEY, received)
    body = received.json()
    assert "model" not in body  # the public API takes it in the URL
    assert body["contents"] == [{"role": "user", "parts": [{"text": ASK}]}]
    assert body["systemInstruction"]["parts"] == [{"text": SYSTEM_PROMPT}, {"text": "Be brief."}]

    name = "google__test_google_model_iter_stream.0"
    upstream.reply_sse(DIRECT_GEMINI_PATH + ":streamGenerateContent", recorded(f"{name}.response.sse"))
    chunks = list(gemini.models.generate_content_stream(model="gemini-direct", contents=[user(ASK)]))
    expected = [part for p in sse_payloads(recorded(f"{name}.response.sse"))
                for part in p["candidates"][0]["content"].get("parts", [])]
    assert gemini_folded(chunks)["calls"] == [(None, p["functionCall"]["name"], p["functionCall"]["args"])
                                              for p in expected if "functionCall" in p]
    received = upstream.only_request(DIRECT_GEMINI_PATH + ":streamGenerateContent")
    assert received.query == "alt=sse"  # once: the client's own alt= is not repeated


def test_gemini_direct_counts_tokens_exactly(gemini, upstream):
    upstream.reply_json(DIRECT_GEMINI_PATH + ":countTokens", {"totalTokens": 1234})

    count = gemini.models.count_tokens(model="gemini-direct", contents=ASK)

    assert count.total_tokens == 1234
    received = upstream.only_request(DIRECT_GEMINI_PATH + ":countTokens")
    assert received.headers["x-goog-api-key"] == DIRECT_GEMINI_KEY
    assert_not_forwarded(CLIENT_KEY, received)
    body = received.json()
    contents = body["contents"] if "contents" in body else body["generateContentRequest"]["contents"]
    assert contents == [{"role": "user", "parts": [{"text": ASK}]}]


def test_factory_gemini_count_tokens_is_estimated(gemini, upstream):
    count = gemini.models.count_tokens(model="gemini-test", contents=ASK)
    assert 5 < count.total_tokens < 200
    assert not upstream.requests()


# -- the models -----------------------------------------------------------------------------------


def test_models_are_listed_in_googles_shape(gemini, gateway):
    listed = list(gemini.models.list())

    names = [model.name for model in listed]
    assert {"models/claude-test", "models/gpt-test", "models/glm-test", "models/gemini-direct"} <= set(names)
    assert all(model.display_name for model in listed)
    assert all({"generateContent", "streamGenerateContent", "countTokens"} <= set(model.supported_actions)
               for model in listed)
    model = gemini.models.get(model="gpt-test")
    assert model.name == "models/gpt-test" and model.display_name
    assert gemini.models.get(model="models/gpt-test").name == "models/gpt-test"
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.get(model="no-such-model")
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"


def test_v1_serves_the_same_and_lists_googles_shape_to_a_google_sdk(gateway, upstream):
    name = "anthropic__test_anthropic_model_thinking_part_stream.0"
    upstream.reply_sse(ANTHROPIC_PATH, recorded(f"{name}.response.sse"))
    client = gemini_client(gateway.url, "v1")

    chunks = list(client.models.generate_content_stream(model="claude-test", contents=[user(ASK)]))
    listed = [model.name for model in client.models.list()]
    got = client.models.get(model="claude-test")
    client.close()

    assert gemini_folded(chunks)["text"] == anthropic_deltas(name)[2]
    assert gemini_folded(chunks)["thoughts"] == ""  # include_thoughts not asked for: no thought text
    upstream.only_request(ANTHROPIC_PATH)
    assert "models/claude-test" in listed and got.name == "models/claude-test"
    # GET /v1/models: OpenAI's list for anyone else, Google's for a request that names a Google SDK.
    plain = Exchange(gateway.url + "/v1/models", "GET", None, {}, None, 15).json()
    assert "data" in plain and "models" not in plain
    for header in ({"x-goog-api-key": CLIENT_KEY}, {"x-goog-api-client": "google-genai-sdk/1.30.0 gl-node/v20"}):
        google = Exchange(gateway.url + "/v1/models", "GET", None, header, None, 15).json()
        assert "data" not in google and "models/gpt-test" in [model["name"] for model in google["models"]]


@pytest.mark.parametrize("api_version", ["v1beta", "v1"])
def test_clients_with_the_gemini_path_prefix_reach_the_same_routes(gateway, upstream, api_version):
    upstream.reply_json(ANTHROPIC_PATH, recorded_json("anthropic__test_anthropic_tool_with_thinking.1.response.json"))
    client = gemini_client(gateway.url + "/gemini", api_version)

    response = client.models.generate_content(model="claude-test", contents=[user(ASK)])
    listed = [model.name for model in client.models.list()]
    got = client.models.get(model="gpt-test")
    client.close()

    assert response.text.startswith("Based on the information")
    upstream.only_request(ANTHROPIC_PATH)
    assert "models/claude-test" in listed and got.name == "models/gpt-test"


# -- errors ---------------------------------------------------------------------------------------


def test_an_upstream_429_is_the_sdks_client_error_429(gemini, upstream):
    rate_limited = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    upstream.reply_json(ANTHROPIC_PATH, rate_limited, status=429, headers={"retry-after": "7"})
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model="claude-test", contents=[user(ASK)])
    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert caught.value.message == "slow down"
    assert caught.value.response.headers["retry-after"] == "7"

    # Streamed: the status comes before any chunk, so the SDK raises it at once.
    upstream.reply_json(CHAT_PATH, {"error": {"message": "slow", "type": "rate_limit_error"}}, status=429)
    with pytest.raises(errors.ClientError) as caught:
        list(gemini.models.generate_content_stream(model="glm-test", contents=[user(ASK)]))
    assert caught.value.code == 429


def test_bad_requests_are_the_sdks_client_errors(gemini, upstream):
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model="gpt-test", contents=[user(ASK)],
                                       config=types.GenerateContentConfig(candidate_count=2))
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert "candidateCount" in caught.value.message
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model="no-such-model", contents=[user(ASK)])
    assert caught.value.code == 404
    assert not upstream.requests()


def test_a_stream_cut_midway_raises_in_the_sdk(gemini, upstream):
    raw = recorded("openai_responses__test_openai_responses_thinking_part_iter.0.response.sse")
    upstream.reply_sse(RESPONSES_PATH, raw, drop_after=40)
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))
    received = []

    with pytest.raises(errors.APIError) as caught:
        for chunk in gemini.models.generate_content_stream(model="gpt-test", contents=[user(ASK)], config=config):
            received.append(chunk)

    assert received and all(chunk.candidates[0].finish_reason is None for chunk in received)  # cut, not ended
    assert caught.value.code == 502 and caught.value.status == "UNAVAILABLE"


# -- the framings, byte-level ---------------------------------------------------------------------

BODY = {"contents": [{"role": "user", "parts": [{"text": ASK}]}]}


def test_a_whole_answer_is_a_strict_generate_content_response(gateway, upstream):
    """What generateContent writes, read by the SDK's model with no field it does not know and the thought
    signature base64 (the SDK's own read drops unknown fields, so would not notice one)."""
    name = "anthropic__test_anthropic_tool_with_thinking.0.response.json"
    upstream.reply_json(ANTHROPIC_PATH, recorded_json(name))
    body = {**BODY, "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 3000}}}

    exchange = post(gateway.url + "/v1beta/models/claude-test:generateContent", body)
    raw = exchange.read()

    assert exchange.status == 200 and exchange.headers["content-type"].startswith("application/json")
    response = types.GenerateContentResponse.model_validate_json(raw)
    thinking, text, tool_use = recorded_json(name)["content"]
    parts = response.candidates[0].content.parts
    assert [(p.thought, p.text) for p in parts[:2]] == [(True, thinking["thinking"]), (None, text["text"])]
    assert parts[0].thought_signature and parts[2].function_call.id == tool_use["id"]


def test_alt_sse_streams_server_sent_events(gateway, upstream):
    name = "openai_responses__test_openai_responses_stream.1"
    upstream.reply_sse(RESPONSES_PATH, recorded(f"{name}.response.sse"))

    exchange = post(gateway.url + "/v1beta/models/gpt-test:streamGenerateContent?alt=sse", BODY)
    raw = exchange.read()

    assert exchange.status == 200 and exchange.headers["content-type"].startswith("text/event-stream")
    payloads = gemini_sse_chunks(raw)
    assert "".join(part.get("text", "") for p in payloads for part in p["candidates"][0]["content"]["parts"]) == \
        output_text(completed_response(name))
    assert payloads[-1]["candidates"][0]["finishReason"] == "STOP" and "usageMetadata" in payloads[-1]
    assert upstream.only_request(RESPONSES_PATH).query == ""  # alt= is the Gemini client's, never sent on


def test_without_alt_the_stream_is_a_json_array(gateway, upstream):
    name = "openai_responses__test_openai_responses_stream.1"
    upstream.reply_sse(RESPONSES_PATH, recorded(f"{name}.response.sse"))

    exchange = post(gateway.url + "/v1beta/models/gpt-test:streamGenerateContent", BODY)
    raw = exchange.read()

    assert exchange.status == 200 and exchange.headers["content-type"].startswith("application/json")
    elements = json.loads(raw)
    assert isinstance(elements, list) and len(elements) > 2
    chunks = [types.GenerateContentResponse.model_validate(element) for element in elements]  # no unknown field
    assert gemini_folded(chunks)["text"] == output_text(completed_response(name))
    assert elements[-1]["candidates"][0]["finishReason"] == "STOP" and "usageMetadata" in elements[-1]
    assert all("finishReason" not in element["candidates"][0] for element in elements[:-1])


def test_a_json_array_cut_midway_ends_with_an_error_element_and_stays_json(gateway, upstream):
    raw = recorded("openai_responses__test_openai_responses_thinking_part_iter.0.response.sse")
    upstream.reply_sse(RESPONSES_PATH, raw, drop_after=40)
    body = {**BODY, "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}

    exchange = post(gateway.url + "/v1beta/models/gpt-test:streamGenerateContent", body)
    elements = json.loads(exchange.read())

    assert exchange.status == 200
    *chunks, error = elements
    assert chunks and all(types.GenerateContentResponse.model_validate(chunk) for chunk in chunks)
    assert error.keys() == {"error"} and error["error"]["code"] == 502 and error["error"]["status"] == "UNAVAILABLE"


def test_gemini_direct_relays_the_json_array_as_it_came(gateway, upstream):
    payloads = sse_payloads(recorded("google__test_google_model_iter_stream.0.response.sse"))
    array = b"[" + b",\r\n".join(json.dumps(payload).encode() for payload in payloads) + b"]"
    upstream.reply_json(DIRECT_GEMINI_PATH + ":streamGenerateContent", array)

    exchange = post(gateway.url + "/v1beta/models/gemini-direct:streamGenerateContent", BODY)

    assert exchange.status == 200 and exchange.read() == array
    received = upstream.only_request(DIRECT_GEMINI_PATH + ":streamGenerateContent")
    assert received.query == ""  # Google's array, as the client asked: no alt=sse
