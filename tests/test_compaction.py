"""POST /v1/responses/compact: relayed to a Responses upstream; for any other model, a summary the model writes,
handed out as a compaction item that comes back as the summarised context."""

from __future__ import annotations

import json

import responses

from droid2api.compaction import COMPACTION_PROMPT, SUMMARY_INTRO

from .helpers import FACTORY_ENDPOINTS, app_for

HISTORY = [
    {"role": "user", "content": "Build a landing page for a dog cafe."},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Here it is: ..."}]},
    {"type": "function_call", "call_id": "call_1", "name": "write_file", "arguments": "{\"path\": \"index.html\"}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "written"},
]
TOOLS = [{"type": "function", "name": "write_file", "parameters": {"type": "object", "properties": {}}}]


def anthropic_text(text: str) -> dict:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "stop_reason": "end_turn",
            "content": [{"type": "text", "text": text}], "usage": {"input_tokens": 120, "output_tokens": 30}}


@responses.activate
def test_a_converted_model_compacts_by_summarising_and_the_summary_comes_back_as_context():
    responses.post(FACTORY_ENDPOINTS["anthropic"], json=anthropic_text("The user wants a dog cafe page; index.html done."))
    responses.post(FACTORY_ENDPOINTS["anthropic"], json=anthropic_text("Next: the menu."))
    http = app_for().test_client()

    compacted = http.post("/v1/responses/compact", json={"model": "claude-test", "input": HISTORY, "tools": TOOLS,
                                                          "instructions": "You are Codex."}).get_json()

    assert compacted["object"] == "response.compaction"
    user, item = compacted["output"]
    assert user["role"] == "user" and user["content"] == [{"type": "input_text", "text": HISTORY[0]["content"]}]
    assert item["type"] == "compaction" and item["encrypted_content"].startswith("d2a.summary.")
    assert compacted["usage"]["input_tokens"] == 120 and compacted["usage"]["output_tokens"] == 30
    asked = json.loads(responses.calls[0].request.body)
    assert asked["tool_choice"] == {"type": "none"}
    assert asked["messages"][-1]["content"][-1] == {"type": "text", "text": COMPACTION_PROMPT}

    # Codex replaces its history with the output and goes on.
    http.post("/v1/responses", json={"model": "claude-test", "store": False,
                                     "input": [*compacted["output"], {"role": "user", "content": "Go on."}]})
    sent = json.loads(responses.calls[1].request.body)["messages"]
    texts = [block["text"] for message in sent for block in message["content"]]
    assert texts == [HISTORY[0]["content"],
                     SUMMARY_INTRO + "The user wants a dog cafe page; index.html done.", "Go on."]


@responses.activate
def test_a_responses_model_compacts_at_its_upstream():
    upstream_answer = {"id": "resp_1", "object": "response.compaction", "created_at": 1,
                       "output": [{"id": "cmp_1", "type": "compaction", "encrypted_content": "gAAAA-openai"}],
                       "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}
    responses.post(FACTORY_ENDPOINTS["openai"] + "/compact", json=upstream_answer)
    answer = app_for().test_client().post("/v1/responses/compact", json={"model": "gpt-test", "input": HISTORY})
    assert answer.get_json() == upstream_answer
    assert json.loads(responses.calls[0].request.body)["input"] == HISTORY


def test_openais_own_compaction_item_is_dropped_for_another_upstream():
    from droid2api.dialects import openai_responses

    request = openai_responses.decode_request({"model": "m", "input": [
        {"type": "compaction", "encrypted_content": "gAAAA-openai"}, {"role": "user", "content": "hi"}]})
    assert [part.text for message in request.messages for part in message.parts] == ["hi"]
    assert any("compaction" in loss.reason for loss in request.losses)
