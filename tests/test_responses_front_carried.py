"""Other dialects' reasoning carried through a Responses client, from its history back to the upstream.

Codex sends every reasoning item back with its ``encrypted_content`` as it got it (``store: false``,
``include: ["reasoning.encrypted_content"]``); carried.py puts a Gemini upstream's thought signatures and
Anthropic's signed thinking there. These tests start from such a history, decode it with the Responses
front and check that each upstream encoder sends the data back exactly, and only to the dialect that
made it; a real Responses ``encrypted_content`` stays the Responses API's.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from droid2api import ir
from droid2api.dialects import BY_NAME, carried
from droid2api.dialects.openai_responses import decode_request

ROUTE = SimpleNamespace(factory=False, upstream_model="m", fast=False)
USER = {"role": "user", "content": "Fix the bug."}


def encode(request: ir.Request, dialect: str) -> tuple:
    losses = []
    return BY_NAME[dialect].encode_request(request, losses, ROUTE), losses


def reasoning_item(encrypted: str, *summaries, item_id: str = "rs_front_1") -> dict:
    return {"type": "reasoning", "id": item_id, "encrypted_content": encrypted,
            "summary": [{"type": "summary_text", "text": text} for text in summaries]}


def assistant_history(*items) -> dict:
    return {"model": "m", "input": [USER, *items, {"role": "user", "content": "and?"}]}


def test_a_gemini_call_signature_goes_back_onto_its_function_call():
    history = assistant_history(
        reasoning_item(carried.wrap(ir.Dialect.GEMINI, signature="CiQB-thought"), "Let me look."),
        reasoning_item(carried.wrap(ir.Dialect.GEMINI, signature="CiQB-call", call_id="call_9"), item_id="rs_front_2"),
        {"type": "function_call", "call_id": "call_9", "name": "look", "arguments": '{"x":1}'})
    request = decode_request(history)

    assert request.messages[1].parts == [
        ir.Thinking(text="Let me look.", signature="CiQB-thought", source=ir.Dialect.GEMINI),
        ir.ToolCall("call_9", "look", '{"x":1}', signature="CiQB-call")]
    body, _ = encode(request, ir.Dialect.GEMINI)
    assert body["contents"][1]["parts"] == [
        {"text": "", "thoughtSignature": "CiQB-thought"},  # Gemini takes its thoughts back as signatures
        {"functionCall": {"name": "look", "args": {"x": 1}}, "thoughtSignature": "CiQB-call"}]


def test_a_call_signature_without_its_call_is_a_loss():
    request = decode_request(assistant_history(
        reasoning_item(carried.wrap(ir.Dialect.GEMINI, signature="CiQB", call_id="call_gone")),
        {"role": "assistant", "content": "ok"}))
    assert request.messages[1].parts == [ir.Text("ok")]
    assert [loss.field for loss in request.losses] == ["input[1]"]


def test_anthropic_signed_thinking_goes_back_to_anthropic_exactly():
    signature = "EqEECkYICxgCKkBsigned+thinking/blob=="
    request = decode_request(assistant_history(
        reasoning_item(carried.wrap(ir.Dialect.ANTHROPIC, signature=signature), "I pondered."),
        {"type": "function_call", "call_id": "toolu_1", "name": "look", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "toolu_1", "output": "seen"}))

    assert request.messages[1].parts[0] == ir.Thinking(text="I pondered.", signature=signature,
                                                       source=ir.Dialect.ANTHROPIC)
    body, _ = encode(request, ir.Dialect.ANTHROPIC)
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "I pondered.", "signature": signature},
        {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {}}]


def test_a_responses_upstreams_own_encrypted_content_stays_its_own():
    request = decode_request(assistant_history(reasoning_item("gAAAAB-secret", "Hmm.", item_id="rs_123"),
                                               {"role": "assistant", "content": "Paris."}))

    assert request.messages[1].parts[0] == ir.Thinking(text="Hmm.", encrypted="gAAAAB-secret", id="rs_123",
                                                       source=ir.Dialect.RESPONSES)
    body, _ = encode(request, ir.Dialect.RESPONSES)
    assert body["input"][1] == {"type": "reasoning", "id": "rs_123", "encrypted_content": "gAAAAB-secret",
                                "summary": [{"type": "summary_text", "text": "Hmm."}]}


@pytest.mark.parametrize("made_by, encrypted", [
    (ir.Dialect.RESPONSES, "gAAAAB"),
    (ir.Dialect.GEMINI, carried.wrap(ir.Dialect.GEMINI, signature="CiQB")),
    (ir.Dialect.ANTHROPIC, carried.wrap(ir.Dialect.ANTHROPIC, signature="EqEECkYICxgC")),
    (ir.Dialect.RESPONSES, carried.wrap(ir.Dialect.RESPONSES, encrypted="gAAAAB", item_id="rs_1")),
])
def test_reasoning_never_reaches_an_upstream_that_did_not_make_it(made_by, encrypted):
    request = decode_request(assistant_history(reasoning_item(encrypted, "hmm"), {"role": "assistant", "content": "ok"}))
    for dialect in BY_NAME:
        body, _ = encode(request, dialect)
        sent = json.dumps(body)
        opaque = ["gAAAAB", "CiQB", "EqEECkYICxgC", carried.PREFIX]
        if dialect == made_by:
            assert any(blob in sent for blob in opaque[:3]) and carried.PREFIX not in sent, dialect
        else:
            assert not any(blob in sent for blob in opaque), dialect
