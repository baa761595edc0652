"""Other dialects' reasoning carried through an Anthropic client, from its history back to the upstream.

Claude Code sends every thinking block back with its ``signature`` as it got it; carried.py puts a
Responses upstream's encrypted reasoning and Gemini's thought signatures there. These tests start from
such a history, decode it with the Anthropic front and check that each upstream encoder sends the data
back exactly, and only to the dialect that made it.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from droid2api import ir
from droid2api.dialects import BY_NAME
from droid2api.dialects import carried
from droid2api.dialects.anthropic import decode_request

ROUTE = SimpleNamespace(factory=False, upstream_model="m", fast=False)
USER = {"role": "user", "content": "hi"}


def encode(request: ir.Request, dialect: str) -> tuple:
    losses = []
    return BY_NAME[dialect].encode_request(request, losses, ROUTE), losses


def assistant_history(*blocks) -> dict:
    return {"model": "m", "messages": [USER, {"role": "assistant", "content": list(blocks)},
                                       {"role": "user", "content": "and?"}]}


def test_responses_reasoning_goes_back_to_a_responses_upstream_exactly():
    signature = carried.wrap(ir.Dialect.RESPONSES, encrypted="gAAAAB-secret", item_id="rs_123")
    request = decode_request(assistant_history({"type": "thinking", "thinking": "I pondered.", "signature": signature},
                                               {"type": "text", "text": "Paris."}))

    assert request.messages[1].parts[0] == ir.Thinking(text="I pondered.", encrypted="gAAAAB-secret", id="rs_123",
                                                       source=ir.Dialect.RESPONSES)
    body, _ = encode(request, ir.Dialect.RESPONSES)
    assert body["input"][1] == {"type": "reasoning", "id": "rs_123", "encrypted_content": "gAAAAB-secret",
                                "summary": [{"type": "summary_text", "text": "I pondered."}]}


def test_a_gemini_call_signature_goes_back_onto_its_function_call():
    call_signature = carried.wrap(ir.Dialect.GEMINI, signature="CiQB-call", call_id="toolu_1")
    thought_signature = carried.wrap(ir.Dialect.GEMINI, signature="CiQB-thought")
    request = decode_request(assistant_history(
        {"type": "thinking", "thinking": "Let me look.", "signature": thought_signature},
        {"type": "thinking", "thinking": "", "signature": call_signature},
        {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"x": 1}}))

    assert request.messages[1].parts == [
        ir.Thinking(text="Let me look.", signature="CiQB-thought", source=ir.Dialect.GEMINI),
        ir.ToolCall("toolu_1", "look", '{"x":1}', signature="CiQB-call")]
    body, _ = encode(request, ir.Dialect.GEMINI)
    assert body["contents"][1]["parts"] == [
        {"text": "", "thoughtSignature": "CiQB-thought"},
        {"functionCall": {"name": "look", "args": {"x": 1}}, "thoughtSignature": "CiQB-call"}]


def test_a_call_signature_without_its_call_is_a_loss():
    signature = carried.wrap(ir.Dialect.GEMINI, signature="CiQB", call_id="toolu_gone")
    request = decode_request(assistant_history({"type": "thinking", "thinking": "", "signature": signature},
                                               {"type": "text", "text": "ok"}))
    assert request.messages[1].parts == [ir.Text("ok")]
    assert [loss.field for loss in request.losses] == ["messages[1].content[0]"]


@pytest.mark.parametrize("made_by, signature", [
    (ir.Dialect.RESPONSES, carried.wrap(ir.Dialect.RESPONSES, encrypted="gAAAAB", item_id="rs_1")),
    (ir.Dialect.GEMINI, carried.wrap(ir.Dialect.GEMINI, signature="CiQB")),
    (ir.Dialect.ANTHROPIC, "EqEECkYICxgC"),
])
def test_reasoning_never_reaches_an_upstream_that_did_not_make_it(made_by, signature):
    request = decode_request(assistant_history({"type": "thinking", "thinking": "hmm", "signature": signature},
                                               {"type": "text", "text": "ok"}))
    for dialect in BY_NAME:
        body, _ = encode(request, dialect)
        sent = json.dumps(body)
        opaque = ["gAAAAB", "CiQB", "EqEECkYICxgC", carried.PREFIX]
        if dialect == made_by:
            assert any(blob in sent for blob in opaque[:3]), dialect
        else:
            assert not any(blob in sent for blob in opaque), dialect
