"""Tests of how the Gemini front reads a request's tools and settings (dialects/gemini/front_config.py).

Written after the Gemini API reference (generativelanguage v1beta ``Tool``, ``ToolConfig``,
``GenerationConfig``, ``ThinkingConfig``): each setting as the IR holds it, what no other upstream can
be told as a loss, and what has no IR slot kept in extras for a Gemini upstream.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from droid2api import ir
from droid2api.dialects import BY_NAME
from droid2api.dialects.gemini import decode_request

USER = {"role": "user", "parts": [{"text": "hi"}]}


def decode(**fields) -> ir.Request:
    return decode_request({"contents": [USER], **fields}, "m", False)


def encode(request: ir.Request, dialect: str) -> tuple:
    losses = []
    return BY_NAME[dialect].encode_request(request, losses, SimpleNamespace(factory=False, upstream_model="m",
                                                                            fast=False)), losses


def fields_lost(request: ir.Request) -> list:
    return [loss.field for loss in request.losses]


# -- tools ------------------------------------------------------------------------------------------------


def test_function_declarations_in_gemini_schema_or_json_schema():
    request = decode(tools=[{"function_declarations": [
        {"name": "a", "description": "A.", "parameters": {
            "type": "OBJECT", "properties": {"n": {"type": "INTEGER", "nullable": True}}, "required": ["n"]}},
        {"name": "b", "parametersJsonSchema": {"type": "object", "additionalProperties": False}},
        {"name": "c"},
        {"name": "d", "parameters": {"type": "OBJECT"}, "response": {"type": "STRING"}}]}])

    assert request.tools == [
        ir.Tool("a", "A.", {"type": "object", "properties": {"n": {"type": ["integer", "null"]}}, "required": ["n"]}),
        ir.Tool("b", None, {"type": "object", "additionalProperties": False}),
        ir.Tool("c", None, {"type": "object", "properties": {}}),
        ir.Tool("d", None, {"type": "object"})]
    assert fields_lost(request) == ["tools[0].functionDeclarations[3]"]


def test_google_search_is_a_web_search_and_geminis_own_tools_are_losses():
    request = decode(tools=[{"googleSearch": {"excludeDomains": ["spam.example"]}},
                            {"google_search_retrieval": {}},
                            {"codeExecution": {}, "urlContext": {}}])

    assert request.tools == [
        ir.Tool("google_search", kind="web_search", options={"blocked_domains": ["spam.example"]}),
        ir.Tool("google_search", kind="web_search")]
    assert fields_lost(request) == ["tools[2].codeExecution", "tools[2].urlContext"]
    body, _ = encode(request, ir.Dialect.ANTHROPIC)
    assert body["tools"][0]["type"].startswith("web_search") and body["tools"][0]["blocked_domains"] == ["spam.example"]


@pytest.mark.parametrize("calling, expected, lost", [
    ({"mode": "AUTO"}, ir.ToolChoice("auto"), False),
    ({"mode": "none"}, ir.ToolChoice("none"), False),
    ({"mode": "ANY"}, ir.ToolChoice("required"), False),
    ({"mode": "ANY", "allowedFunctionNames": ["f"]}, ir.ToolChoice("tool", "f"), False),
    ({"mode": "ANY", "allowed_function_names": ["f", "g"]}, ir.ToolChoice("required"), True),
    ({"mode": "VALIDATED"}, ir.ToolChoice("auto"), True),
    ({"mode": "AUTO", "allowedFunctionNames": ["f"]}, ir.ToolChoice("auto"), True),
    ({}, ir.ToolChoice("auto"), False),
])
def test_function_calling_config(calling, expected, lost):
    request = decode(tool_config={"function_calling_config": calling})
    assert request.tool_choice == expected
    assert fields_lost(request) == (["toolConfig.functionCallingConfig"] if lost else [])


def test_tool_config_fields_with_no_ir_slot_go_back_to_gemini_only():
    request = decode(toolConfig={"functionCallingConfig": {"mode": "ANY"},
                                 "retrievalConfig": {"languageCode": "en"}})

    assert request.extras == {"toolConfig": {"retrievalConfig": {"languageCode": "en"}}}
    body, _ = encode(request, ir.Dialect.GEMINI)
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}, "retrievalConfig": {"languageCode": "en"}}
    _, losses = encode(request, ir.Dialect.ANTHROPIC)
    assert "toolConfig" in {loss.field for loss in losses}


# -- generation settings ------------------------------------------------------------------------------------


def test_sampling_and_limits():
    request = decode(generationConfig={"temperature": 1.5, "topP": 0.5, "topK": 40.0, "maxOutputTokens": 100,
                                       "stopSequences": ["END"], "presencePenalty": 0.5, "frequencyPenalty": -0.5,
                                       "seed": 7, "candidateCount": 1})

    assert (request.temperature, request.top_p, request.top_k, request.max_tokens, request.stop) == \
        (1.5, 0.5, 40, 100, ["END"])
    assert (request.presence_penalty, request.frequency_penalty, request.seed, request.n) == (0.5, -0.5, 7, None)
    assert isinstance(request.top_k, int)
    assert request.extras == {} and request.losses == []


@pytest.mark.parametrize("thinking, expected", [
    ({"includeThoughts": True, "thinkingLevel": "HIGH"}, ir.Reasoning(effort="high", summary="auto")),
    ({"thinking_level": "minimal"}, ir.Reasoning(effort="minimal")),
    ({"thinkingLevel": "LOW"}, ir.Reasoning(effort="low")),
    ({"thinkingLevel": "MEDIUM"}, ir.Reasoning(effort="medium")),
    ({"thinkingBudget": 0}, ir.Reasoning(effort="none")),
    ({"thinkingBudget": -1, "includeThoughts": True}, ir.Reasoning(summary="auto")),
    ({"thinking_budget": 2048}, ir.Reasoning(budget_tokens=2048)),
    ({"includeThoughts": False}, ir.Reasoning()),
])
def test_thinking_config(thinking, expected):
    assert decode(generation_config={"thinking_config": thinking}).reasoning == expected


def test_no_thinking_config_leaves_reasoning_to_the_model():
    assert decode(generationConfig={"temperature": 0}).reasoning is None


def test_thinking_budget_zero_turns_thinking_off_elsewhere():
    request = decode(generationConfig={"thinkingConfig": {"thinkingBudget": 0}})
    body, _ = encode(request, ir.Dialect.ANTHROPIC)
    assert "thinking" not in body


@pytest.mark.parametrize("settings, expected", [
    ({"responseMimeType": "application/json"}, ir.ResponseFormat("json_object")),
    ({"responseMimeType": "application/json", "responseSchema": {
        "type": "OBJECT", "properties": {"a": {"type": "STRING", "format": "date-time"}}}},
     ir.ResponseFormat("json_schema", {"type": "object", "properties": {"a": {"type": "string",
                                                                              "format": "date-time"}}})),
    ({"response_mime_type": "application/json", "response_json_schema": {"type": "array", "items": {"type": "string"}}},
     ir.ResponseFormat("json_schema", {"type": "array", "items": {"type": "string"}})),
    ({"responseSchema": {"type": "STRING"}}, ir.ResponseFormat("json_schema", {"type": "string"})),
    ({"responseMimeType": "text/plain"}, None),
])
def test_response_formats(settings, expected):
    request = decode(generationConfig=settings)
    assert request.response_format == expected and request.losses == []


def test_an_enum_response_is_a_loss():
    request = decode(generationConfig={"responseMimeType": "text/x.enum",
                                       "responseSchema": {"type": "STRING", "enum": ["a", "b"]}})
    assert request.response_format is None
    assert fields_lost(request) == ["generationConfig.responseMimeType"]


# -- extras -----------------------------------------------------------------------------------------------------


def test_fields_with_no_ir_slot_go_back_to_gemini_and_are_losses_elsewhere():
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    request = decode(safety_settings=safety, labels={"team": "a"}, model="models/ignored",
                     generationConfig={"temperature": 0.5, "responseModalities": ["TEXT"],
                                       "mediaResolution": "MEDIA_RESOLUTION_LOW"})

    assert request.extras == {"safetySettings": safety, "labels": {"team": "a"},
                              "generationConfig": {"responseModalities": ["TEXT"],
                                                   "mediaResolution": "MEDIA_RESOLUTION_LOW"}}
    body, _ = encode(request, ir.Dialect.GEMINI)
    assert body["safetySettings"] == safety and body["labels"] == {"team": "a"}
    assert body["generationConfig"] == {"temperature": 0.5, "responseModalities": ["TEXT"],
                                        "mediaResolution": "MEDIA_RESOLUTION_LOW"}
    for dialect in (ir.Dialect.ANTHROPIC, ir.Dialect.RESPONSES, ir.Dialect.CHAT):
        body, losses = encode(request, dialect)
        assert "safetySettings" not in body and "model" not in request.extras
        assert {"safetySettings", "labels", "generationConfig"} <= {loss.field for loss in losses}
