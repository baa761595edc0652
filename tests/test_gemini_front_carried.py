"""Thought signatures in a Gemini client's history, from its request back to the upstream that made them.

A Gemini client sends each part's ``thoughtSignature`` back as it got it. Gemini's own signature must
reach a Gemini upstream unchanged and never another (Anthropic must not take it for one of its own);
carried.py puts an Anthropic or Responses upstream's reasoning there (``d2a.``, base64-encoded for a
Gemini client), which the Gemini front decodes back into that dialect's fields.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from droid2api import ir
from droid2api.dialects import BY_NAME, carried
from droid2api.dialects.gemini import decode_request

ROUTE = SimpleNamespace(factory=False, upstream_model="m", fast=False)
USER = {"role": "user", "parts": [{"text": "Fix the bug."}]}
CALL = {"functionCall": {"id": "c1", "name": "look", "args": {"x": 1}}}
RESULT = {"role": "user", "parts": [{"functionResponse": {"id": "c1", "name": "look", "response": {"output": "ok"}}}]}
GEMINI_SIGNATURE = "EpwICpkIAXLI2nxlU6gs"


def encode(request: ir.Request, dialect: str) -> tuple:
    losses = []
    return BY_NAME[dialect].encode_request(request, losses, ROUTE), losses


def model_turn(*parts) -> ir.Request:
    return decode_request({"contents": [USER, {"role": "model", "parts": list(parts)}, RESULT]}, "m", False)


def for_gemini_client(thinking: ir.Thinking) -> str:
    """The thoughtSignature the Gemini front gives a client for another dialect's reasoning."""
    return carried.wrap_thinking(thinking, client=ir.Dialect.GEMINI)


def test_geminis_own_call_signature_stays_on_its_call_and_goes_back_to_gemini_unchanged():
    request = model_turn({**CALL, "thoughtSignature": GEMINI_SIGNATURE})

    assert request.messages[1].parts == [ir.ToolCall("c1", "look", '{"x":1}', signature=GEMINI_SIGNATURE)]
    body, losses = encode(request, ir.Dialect.GEMINI)
    assert body["contents"][1]["parts"] == [{"functionCall": {"name": "look", "args": {"x": 1}},
                                             "thoughtSignature": GEMINI_SIGNATURE}]
    assert losses == []


def test_geminis_own_signature_is_never_sent_to_anthropic_as_a_signature():
    request = model_turn({"text": "Let me look.", "thought": True, "thoughtSignature": "c2lnLXRob3VnaHQ="},
                         {**CALL, "thoughtSignature": GEMINI_SIGNATURE})

    assert request.messages[1].parts[0] == ir.Thinking("Let me look.", signature="c2lnLXRob3VnaHQ=",
                                                       source=ir.Dialect.GEMINI)
    body, losses = encode(request, ir.Dialect.ANTHROPIC)
    assert body["messages"][1]["content"] == [{"type": "tool_use", "id": "c1", "name": "look", "input": {"x": 1}}]
    assert GEMINI_SIGNATURE not in json.dumps(body) and "c2lnLXRob3VnaHQ=" not in json.dumps(body)
    assert {"messages[1].content[0]", "messages[1].content[1].signature"} <= {loss.field for loss in losses}


def test_anthropic_thinking_carried_in_a_thought_part_goes_back_to_anthropic_exactly():
    signature = for_gemini_client(ir.Thinking("I pondered.", signature="EqEECkYICxgC", source=ir.Dialect.ANTHROPIC))
    request = model_turn({"text": "I pondered.", "thought": True, "thoughtSignature": signature}, CALL)

    assert request.messages[1].parts[0] == ir.Thinking("I pondered.", signature="EqEECkYICxgC",
                                                       source=ir.Dialect.ANTHROPIC)
    body, _ = encode(request, ir.Dialect.ANTHROPIC)
    assert body["messages"][1]["content"][0] == {"type": "thinking", "thinking": "I pondered.",
                                                 "signature": "EqEECkYICxgC"}


@pytest.mark.parametrize("token", [
    carried.wrap(ir.Dialect.ANTHROPIC, signature="EqEECkYICxgC"),  # as carried.py writes it
    for_gemini_client(ir.Thinking(signature="EqEECkYICxgC", source=ir.Dialect.ANTHROPIC)),  # base64, for Gemini
])
def test_anthropic_thinking_carried_on_a_function_call_is_unwrapped_before_it(token):
    request = model_turn({"text": "I pondered.", "thought": True}, {**CALL, "thoughtSignature": token})

    assert request.messages[1].parts == [
        ir.Thinking("I pondered.", signature="EqEECkYICxgC", source=ir.Dialect.ANTHROPIC),
        ir.ToolCall("c1", "look", '{"x":1}')]
    body, _ = encode(request, ir.Dialect.ANTHROPIC)
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "I pondered.", "signature": "EqEECkYICxgC"},
        {"type": "tool_use", "id": "c1", "name": "look", "input": {"x": 1}}]


def test_responses_reasoning_goes_back_to_a_responses_upstream_exactly():
    signature = for_gemini_client(ir.Thinking("I pondered.", encrypted="gAAAAB-secret", id="rs_1",
                                              source=ir.Dialect.RESPONSES))
    request = model_turn({"text": "I pondered.", "thought": True, "thoughtSignature": signature}, CALL)

    assert request.messages[1].parts[0] == ir.Thinking("I pondered.", encrypted="gAAAAB-secret", id="rs_1",
                                                       source=ir.Dialect.RESPONSES)
    body, _ = encode(request, ir.Dialect.RESPONSES)
    assert body["input"][1] == {"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAAAB-secret",
                                "summary": [{"type": "summary_text", "text": "I pondered."}]}


def test_a_wrapped_gemini_call_signature_lands_on_its_call():
    token = carried.wrap(ir.Dialect.GEMINI, signature=GEMINI_SIGNATURE, call_id="c1")
    request = model_turn({**CALL, "thoughtSignature": token})
    assert request.messages[1].parts == [ir.ToolCall("c1", "look", '{"x":1}', signature=GEMINI_SIGNATURE)]


@pytest.mark.parametrize("made_by, thinking", [
    (ir.Dialect.ANTHROPIC, ir.Thinking("hmm", signature="EqEECkYICxgC", source=ir.Dialect.ANTHROPIC)),
    (ir.Dialect.RESPONSES, ir.Thinking("hmm", encrypted="gAAAAB", id="rs_1", source=ir.Dialect.RESPONSES)),
    (ir.Dialect.GEMINI, ir.Thinking("hmm", signature="CiQB", source=ir.Dialect.GEMINI)),
])
def test_reasoning_never_reaches_an_upstream_that_did_not_make_it(made_by, thinking):
    request = model_turn({"text": "hmm", "thought": True, "thoughtSignature": for_gemini_client(thinking)},
                         {"text": "ok"})
    for dialect in BY_NAME:
        body, _ = encode(request, dialect)
        sent = json.dumps(body)
        for opaque in ("EqEECkYICxgC", "gAAAAB", "CiQB"):
            assert (opaque in sent) == (dialect == made_by and opaque in (thinking.signature, thinking.encrypted))
