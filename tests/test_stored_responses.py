"""The Responses API's state for converted upstreams: stored responses, previous_response_id, retrieve,
delete and input_items, kept by the gateway in its state store."""

from __future__ import annotations

import json

import pytest
import responses

from .helpers import FACTORY_ENDPOINTS, app_for, base_config

ANTHROPIC_URL = FACTORY_ENDPOINTS["anthropic"]


def anthropic_answer(text: str, message_id: str = "msg_01") -> dict:
    return {"id": message_id, "type": "message", "role": "assistant", "model": "claude", "stop_reason": "end_turn",
            "content": [{"type": "text", "text": text}], "usage": {"input_tokens": 5, "output_tokens": 2}}


def anthropic_stream(text: str) -> str:
    events = [
        ("message_start", {"type": "message_start", "message": {**anthropic_answer("", "msg_s"), "content": []}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


@pytest.fixture
def http():
    return app_for().test_client()


def sent(index: int) -> dict:
    return json.loads(responses.calls[index].request.body)


@responses.activate
def test_a_stored_response_is_retrieved_listed_continued_and_deleted(http):
    responses.post(ANTHROPIC_URL, json=anthropic_answer("Paris."))
    responses.post(ANTHROPIC_URL, json=anthropic_answer("About 2.1 million.", "msg_02"))

    first = http.post("/v1/responses", json={"model": "claude-test", "input": "Capital of France?"}).get_json()
    assert first["output"][0]["content"][0]["text"] == "Paris."
    assert http.get(f"/v1/responses/{first['id']}").get_json() == first
    items = http.get(f"/v1/responses/{first['id']}/input_items").get_json()
    assert items["object"] == "list" and items["has_more"] is False
    assert [item["content"][0]["text"] for item in items["data"]] == ["Capital of France?"]

    second = http.post("/v1/responses", json={"model": "claude-test", "input": "Its population?",
                                              "previous_response_id": first["id"]}).get_json()
    assert second["output"][0]["content"][0]["text"] == "About 2.1 million."
    assert sent(1)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Capital of France?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Paris."}]},
        {"role": "user", "content": [{"type": "text", "text": "Its population?"}]},
    ]

    deleted = http.delete(f"/v1/responses/{first['id']}")
    assert deleted.get_json() == {"id": first["id"], "object": "response.deleted", "deleted": True}
    gone = http.get(f"/v1/responses/{first['id']}")
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "response_not_found"
    assert http.delete(f"/v1/responses/{first['id']}").status_code == 404
    # The second response kept the whole conversation: it still continues after the first is gone.
    responses.post(ANTHROPIC_URL, json=anthropic_answer("Yes.", "msg_03"))
    http.post("/v1/responses", json={"model": "claude-test", "input": "Sure?", "previous_response_id": second["id"]})
    assert len(sent(2)["messages"]) == 5


@responses.activate
def test_store_false_keeps_nothing(http):
    responses.post(ANTHROPIC_URL, json=anthropic_answer("Paris."))
    answer = http.post("/v1/responses", json={"model": "claude-test", "input": "Capital?", "store": False}).get_json()
    assert http.get(f"/v1/responses/{answer['id']}").status_code == 404
    continued = http.post("/v1/responses", json={"model": "claude-test", "input": "More?",
                                                 "previous_response_id": answer["id"]})
    assert continued.status_code == 404
    assert continued.get_json()["error"]["param"] == "previous_response_id"
    assert len(responses.calls) == 1  # the unknown id was refused before any upstream call


@responses.activate
def test_a_streamed_response_is_stored_when_it_completes(http):
    responses.post(ANTHROPIC_URL, body=anthropic_stream("Streamed Paris."), content_type="text/event-stream")
    raw = http.post("/v1/responses", json={"model": "claude-test", "input": "Capital?", "stream": True}).get_data()
    completed = [json.loads(line[6:]) for line in raw.decode().splitlines()
                 if line.startswith("data: ") and '"response.completed"' in line]
    stored = http.get(f"/v1/responses/{completed[0]['response']['id']}").get_json()
    assert stored == completed[0]["response"]
    assert stored["output"][0]["content"][0]["text"] == "Streamed Paris."


def test_an_unusable_store_is_a_503_that_names_no_path(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    http = app_for(base_config(data_dir=str(blocker / "data"))).test_client()
    answer = http.get("/v1/responses/resp_1")
    assert answer.status_code == 503
    assert "state store is unavailable" in answer.get_json()["error"]["message"]
    assert str(tmp_path) not in answer.get_data(as_text=True)


@responses.activate
def test_an_item_reference_to_a_stored_item_is_resolved_and_an_unknown_one_refused(http):
    responses.post(ANTHROPIC_URL, json=anthropic_answer("Paris."))
    responses.post(ANTHROPIC_URL, json=anthropic_answer("About 2.1 million.", "msg_02"))
    first = http.post("/v1/responses", json={"model": "claude-test", "input": "Capital of France?"}).get_json()
    answer_item = first["output"][0]["id"]

    http.post("/v1/responses", json={"model": "claude-test", "input": [
        {"role": "user", "content": "Capital of France?"}, {"type": "item_reference", "id": answer_item},
        {"role": "user", "content": "Its population?"}]})
    assert sent(1)["messages"][1] == {"role": "assistant", "content": [{"type": "text", "text": "Paris."}]}

    unknown = http.post("/v1/responses", json={"model": "claude-test", "input": [
        {"type": "item_reference", "id": "msg_nowhere"}]})
    assert unknown.status_code == 400 and "msg_nowhere" in unknown.get_json()["error"]["message"]
    assert len(responses.calls) == 2
