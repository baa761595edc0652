"""An upstream's JSON answer is decoded once and used as it is (ir.ResponseEvents): a non-streamed client gets
it encoded, a streamed client gets it as a stream, a Responses client gets it under the gateway's own id, and
the reasoning memory reads it from its parts. Each checked against the recorded answer it came from."""

from __future__ import annotations

import json

import responses

from .helpers import FACTORY_ENDPOINTS, app_for, recorded_json, sse_events

ANTHROPIC_URL = FACTORY_ENDPOINTS["anthropic"]
ANSWER = "anthropic__test_anthropic_tool_with_thinking.0.response.json"
TOOL = {"type": "function", "function": {"name": "get_user_country", "parameters": {"type": "object",
                                                                                   "properties": {}}}}
ASK = [{"role": "user", "content": "What is the largest city in the user country?"}]


def recorded_blocks(kind: str) -> list:
    return [block for block in recorded_json(ANSWER)["content"] if block["type"] == kind]


@responses.activate
def test_a_streamed_chat_client_gets_a_json_answer_as_a_whole_stream():
    responses.post(ANTHROPIC_URL, json=recorded_json(ANSWER))  # the upstream answered JSON, not a stream
    http = app_for().test_client()

    answer = http.post("/v1/chat/completions", json={"model": "claude-test", "messages": ASK, "tools": [TOOL],
                                                     "stream": True})

    datas = [data for _, data in sse_events(answer.get_data())]
    chunks = [json.loads(data) for data in datas[:-1]]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk.get("choices")]
    calls = [call for delta in deltas for call in delta.get("tool_calls", [])]
    (tool_use,) = recorded_blocks("tool_use")
    (text,) = recorded_blocks("text")
    assert answer.status_code == 200 and answer.mimetype == "text/event-stream"
    assert datas[-1] == "[DONE]"
    assert "".join(delta.get("content") or "" for delta in deltas) == text["text"]
    assert (calls[0]["id"], calls[0]["function"]["name"]) == (tool_use["id"], tool_use["name"])
    assert json.loads("".join(call["function"].get("arguments", "") for call in calls)) == tool_use["input"]
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks if chunk.get("choices")][-1] == "tool_calls"


@responses.activate
def test_a_responses_client_gets_each_json_answer_under_an_id_of_the_gateways_own_and_can_read_it_back():
    responses.post(ANTHROPIC_URL, json=recorded_json(ANSWER))  # twice the same answer, with the same upstream id
    http = app_for().test_client()
    ask = {"model": "claude-test", "input": ASK[0]["content"],
           "tools": [{"type": "function", "name": "get_user_country", "parameters": {"type": "object",
                                                                                    "properties": {}}}]}

    first, second = (http.post("/v1/responses", json=ask).get_json() for _ in range(2))
    stored = [http.get(f"/v1/responses/{answer['id']}").get_json() for answer in (first, second)]

    (tool_use,) = recorded_blocks("tool_use")
    calls = [item for item in first["output"] if item["type"] == "function_call"]
    assert first["id"].startswith("resp_") and first["id"] != second["id"]
    assert [(call["call_id"], call["name"], json.loads(call["arguments"])) for call in calls] == \
        [(tool_use["id"], tool_use["name"], tool_use["input"])]
    assert stored == [first, second]
