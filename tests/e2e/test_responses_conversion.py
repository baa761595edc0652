"""POST /v1/responses over Anthropic, Chat and Gemini upstreams, driven by the official openai SDK.

The SDK runs with strict response validation: every Response and stream event the gateway writes must be
a valid Responses object. The fake upstream replays recorded real answers; expected values are read from
those recordings by hand. The stored-response tests run against a server with two gevent workers, so a
``previous_response_id`` made on one worker is continued on the other through the shared state store.
"""

from __future__ import annotations

import json

import openai
import pytest

from tests.helpers import recorded, recorded_json

from .client import sse_payloads
from .servers import ANTHROPIC_PATH, CHAT_PATH, GEMINI_PATH, SDK_OPTIONS, SYSTEM_PROMPT

COUNTRY_TOOL = {"type": "function", "name": "get_user_country", "description": "The user's country.",
                "parameters": {"type": "object", "properties": {}}, "strict": False}
PATCH_TOOL = {"type": "custom", "name": "apply_patch", "description": "Apply a patch to the workspace."}
ASK = "What is the largest city in my country?"


@pytest.fixture
def client(gateway):
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", **SDK_OPTIONS)  # strict validation on
    yield sdk
    sdk.close()


@pytest.fixture(scope="module")
def two_workers(start_server):
    return start_server(env={"WEB_CONCURRENCY": "2"})


def anthropic_text(text: str) -> dict:
    return {"id": "msg_text", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "stop_reason": "end_turn", "content": [{"type": "text", "text": text}],
            "usage": {"input_tokens": 20, "output_tokens": 5}}


# -- Anthropic upstream -------------------------------------------------------------------------


def test_anthropic_tool_call_answer(client, upstream):
    answer = recorded_json("anthropic__test_anthropic_tool_output.0.response.json")
    upstream.reply_json(ANTHROPIC_PATH, answer)

    response = client.responses.create(model="claude-test", input=ASK, instructions="Be brief.",
                                       tools=[COUNTRY_TOOL])

    tool_use = answer["content"][0]
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in calls] == \
        [(tool_use["id"], tool_use["name"], tool_use["input"])]
    assert response.status == "completed" and response.model == "claude-test"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (445, 23)
    body = upstream.only_request(ANTHROPIC_PATH).json()
    assert body["system"] == [{"type": "text", "text": SYSTEM_PROMPT}, {"type": "text", "text": "Be brief."}]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": ASK}]}]
    assert body["tools"][0]["name"] == "get_user_country"


def test_anthropic_thinking_stream_round_trips_through_encrypted_content(client, upstream):
    raw = recorded("anthropic__test_anthropic_model_thinking_part_stream.0.response.sse")
    upstream.reply_sse(ANTHROPIC_PATH, raw)
    deltas = [p["delta"] for p in sse_payloads(raw) if p["type"] == "content_block_delta"]

    with client.responses.stream(model="claude-test", input=ASK, reasoning={"effort": "low"},
                                 include=["reasoning.encrypted_content"]) as stream:
        final = stream.get_final_response()

    assert final.output_text == "".join(d.get("text", "") for d in deltas)
    reasoning = [item for item in final.output if item.type == "reasoning"]
    assert "".join(s.text for item in reasoning for s in item.summary) == \
        "".join(d.get("thinking", "") for d in deltas)
    assert reasoning and reasoning[0].encrypted_content.startswith("d2a.")

    # Codex sends the output back as input items (store: false), then the next message.
    upstream.reply_json(ANTHROPIC_PATH, anthropic_text("Done."))
    history = [{"role": "user", "content": ASK}, *[item.model_dump(exclude_none=True) for item in final.output],
               {"role": "user", "content": "Thanks."}]
    client.responses.create(model="claude-test", input=history, store=False, reasoning={"effort": "low"},
                            include=["reasoning.encrypted_content"])

    assistant = upstream.requests(ANTHROPIC_PATH)[1].json()["messages"][1]
    signature = "".join(d.get("signature", "") for d in deltas)
    assert assistant["content"][0] == {"type": "thinking", "thinking": "".join(d.get("thinking", "") for d in deltas),
                                       "signature": signature}


def test_a_custom_tool_call_comes_back_as_custom_tool_call(client, upstream):
    answer = {**anthropic_text(""), "stop_reason": "tool_use", "content": [
        {"type": "tool_use", "id": "toolu_01Patch", "name": "apply_patch", "input": {"input": "*** Begin Patch"}}]}
    upstream.reply_json(ANTHROPIC_PATH, answer)

    response = client.responses.create(model="claude-test", input="Fix it.", tools=[PATCH_TOOL])

    [call] = response.output
    assert (call.type, call.call_id, call.name, call.input) == ("custom_tool_call", "toolu_01Patch", "apply_patch",
                                                              "*** Begin Patch")
    offered = upstream.only_request(ANTHROPIC_PATH).json()["tools"][0]
    assert offered["name"] == "apply_patch"
    assert offered["input_schema"]["properties"] == {"input": {"type": "string"}}


# -- Chat and Gemini upstreams ------------------------------------------------------------------


def test_chat_upstream_stream_with_a_tool_call(client, upstream):
    raw = recorded("openai__test_run_stream_sync_streams_real_model.0.response.sse")
    upstream.reply_sse(CHAT_PATH, raw)
    arguments = "".join(call["function"].get("arguments", "")
                        for payload in sse_payloads(raw) if payload.get("choices")
                        for call in payload["choices"][0]["delta"].get("tool_calls") or [])

    with client.responses.stream(model="glm-test", input=ASK) as stream:
        final = stream.get_final_response()

    [call] = [item for item in final.output if item.type == "function_call"]
    assert call.name == "get_capital" and json.loads(call.arguments) == json.loads(arguments)
    assert upstream.only_request(CHAT_PATH).json()["stream"] is True


def test_gemini_function_call_signature_survives_the_tool_loop(client, upstream):
    first = "google__test_google_streaming_tool_call_thought_signature.0"
    upstream.reply_sse(GEMINI_PATH, recorded(f"{first}.response.sse"))
    signatures = [part["thoughtSignature"] for payload in sse_payloads(recorded(f"{first}.response.sse"))
                  for part in payload["candidates"][0]["content"].get("parts", []) if "functionCall" in part]

    response = client.responses.create(model="gemini-test", input=ASK, tools=[COUNTRY_TOOL],
                                       include=["reasoning.encrypted_content"])

    [call] = [item for item in response.output if item.type == "function_call"]
    upstream.reply_sse(GEMINI_PATH, recorded("google__test_google_streaming_tool_call_thought_signature.1.response.sse"))
    history = [{"role": "user", "content": ASK}, *[item.model_dump(exclude_none=True) for item in response.output],
               {"type": "function_call_output", "call_id": call.call_id, "output": "Mexico"}]
    client.responses.create(model="gemini-test", input=history, tools=[COUNTRY_TOOL], store=False,
                            include=["reasoning.encrypted_content"])

    contents = upstream.requests(GEMINI_PATH)[1].json()["contents"]
    calls = [part for content in contents for part in content["parts"] if "functionCall" in part]
    assert [part["thoughtSignature"] for part in calls] == signatures


def test_upstream_errors_reach_the_sdk_as_openai_errors(client, upstream):
    upstream.reply_json(ANTHROPIC_PATH, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
                        status=429, headers={"retry-after": "3"})
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model="claude-test", input=ASK)
    assert caught.value.response.headers["retry-after"] == "3"


# -- the stored responses, across two workers --------------------------------------------------------


def test_previous_response_id_retrieve_input_items_and_delete(two_workers, upstream):
    sdk = openai.OpenAI(base_url=two_workers.url + "/v1", **SDK_OPTIONS)
    upstream.reply_json(ANTHROPIC_PATH, anthropic_text("Paris."))
    first = sdk.responses.create(model="claude-test", input="Capital of France?")

    # Several calls, each on a new connection, so both workers serve some of them.
    for _ in range(4):
        upstream.reply_json(ANTHROPIC_PATH, anthropic_text("About two million."))
        fresh = openai.OpenAI(base_url=two_workers.url + "/v1", **SDK_OPTIONS)
        follow = fresh.responses.create(model="claude-test", input="Population?", previous_response_id=first.id)
        assert follow.output_text == "About two million."
        assert fresh.responses.retrieve(first.id).output_text == "Paris."
        fresh.close()
    for received in upstream.requests(ANTHROPIC_PATH)[1:]:
        assert [m["content"][0]["text"] for m in received.json()["messages"]] == \
            ["Capital of France?", "Paris.", "Population?"]

    items = sdk.responses.input_items.list(first.id)
    assert [item.content[0].text for item in items.data] == ["Capital of France?"]
    sdk.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(first.id)
    sdk.close()


def test_codex_compaction_on_a_converted_model(gateway, client, upstream):
    upstream.reply_json(ANTHROPIC_PATH, anthropic_text("Summary: a dog cafe page; index.html is written."))
    history = [{"role": "user", "content": "Build a landing page for a dog cafe."},
               {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]}]

    # The API returns the user's messages (input_text) beside the compaction item, as its reference shows;
    # the installed SDK's strict CompactedResponse has no such output item, so this one call reads leniently.
    lenient = openai.OpenAI(base_url=gateway.url + "/v1", **{**SDK_OPTIONS, "_strict_response_validation": False})
    output = lenient.responses.with_raw_response.compact(model="claude-test", input=history).http_response.json()[
        "output"]
    lenient.close()

    assert [item["type"] for item in output] == ["message", "compaction"]
    upstream.reply_json(ANTHROPIC_PATH, anthropic_text("Next, the menu."))
    client.responses.create(model="claude-test", store=False, input=[*output, {"role": "user", "content": "Go on."}])
    sent = upstream.requests(ANTHROPIC_PATH)[1].json()["messages"]
    assert "Summary: a dog cafe page" in json.dumps(sent)
