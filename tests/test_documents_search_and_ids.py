"""Tests of what every upstream encoder does with documents, web search tools and tool call ids.

The expected bodies follow each API's reference: Chat's ``file`` part, Responses' ``input_file`` and
``web_search`` tool, Gemini's ``inlineData`` / ``fileData`` and ``googleSearch``, Anthropic's ``document``
block and ``web_search_20250305`` server tool; the id limits are the ones the APIs state in their errors.
"""

from __future__ import annotations

import base64
import re
from types import SimpleNamespace

import pytest

from droid2api import ir
from droid2api.dialects import BY_NAME
from droid2api.dialects.ids import ANTHROPIC_CALL_ID, CHAT_CALL_ID, RESPONSES_CALL_ID, hashed
from droid2api.errors import GatewayError

ROUTE = SimpleNamespace(factory=False, upstream_model="m", fast=False)
ANTHROPIC, RESPONSES, CHAT, GEMINI = ir.Dialect.ANTHROPIC, ir.Dialect.RESPONSES, ir.Dialect.CHAT, ir.Dialect.GEMINI
PDF = base64.b64encode(b"%PDF-1.4 fake").decode()
EPHEMERAL = {"type": "ephemeral"}


def encode(dialect: str, *parts, tools=(), tool_choice=None, source=ANTHROPIC) -> tuple:
    request = ir.Request("m", [ir.Message("user", list(parts))], tools=list(tools), tool_choice=tool_choice,
                         source=source)
    losses = []
    return BY_NAME[dialect].encode_request(request, losses, ROUTE), losses


def user_content(dialect: str, body: dict) -> list:
    return {ANTHROPIC: lambda: body["messages"][0]["content"],
            RESPONSES: lambda: body["input"][0]["content"],
            CHAT: lambda: body["messages"][0]["content"],
            GEMINI: lambda: body["contents"][0]["parts"]}[dialect]()


# -- documents ------------------------------------------------------------------------------------------

INLINE_PDF = ir.Document(data=PDF, title="Q3 report", cache_control=EPHEMERAL)
PDF_URL = ir.Document(url="https://example.com/q3.pdf")


@pytest.mark.parametrize("dialect, expected", [
    (ANTHROPIC, {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                 "title": "Q3 report", "cache_control": EPHEMERAL}),
    (RESPONSES, {"type": "input_file", "filename": "Q3 report.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}),
    (CHAT, {"type": "file", "file": {"filename": "Q3 report.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}}),
    (GEMINI, {"inlineData": {"mimeType": "application/pdf", "data": PDF}}),
])
def test_an_inline_pdf_reaches_every_upstream(dialect, expected):
    body, _ = encode(dialect, ir.Text("Summarise."), INLINE_PDF)
    assert user_content(dialect, body)[1] == expected


@pytest.mark.parametrize("dialect, expected", [
    (ANTHROPIC, {"type": "document", "source": {"type": "url", "url": "https://example.com/q3.pdf"}}),
    (RESPONSES, {"type": "input_file", "file_url": "https://example.com/q3.pdf"}),
])
def test_a_pdf_url_reaches_the_upstreams_that_fetch_it(dialect, expected):
    body, _ = encode(dialect, ir.Text("Summarise."), PDF_URL)
    assert user_content(dialect, body)[1] == expected


@pytest.mark.parametrize("dialect, param", [(CHAT, "messages[0].content[1]"), (GEMINI, "messages[0].content[1]")])
def test_a_pdf_url_is_a_400_where_the_upstream_would_need_the_gateway_to_fetch_it(dialect, param):
    with pytest.raises(GatewayError) as caught:
        encode(dialect, ir.Text("Summarise."), PDF_URL)
    assert (caught.value.status, caught.value.param) == (400, param)
    assert "https://example.com/q3.pdf" in caught.value.message


def test_gemini_reads_cloud_storage_documents_itself():
    body, _ = encode(GEMINI, ir.Document(url="gs://bucket/q3.pdf"))
    assert body["contents"][0]["parts"] == [{"fileData": {"fileUri": "gs://bucket/q3.pdf",
                                                          "mimeType": "application/pdf"}}]


def test_anthropic_reads_a_text_document_as_text_and_refuses_other_kinds():
    notes = ir.Document(data=base64.b64encode("ça va".encode()).decode(), media_type="text/plain")
    body, _ = encode(ANTHROPIC, notes)
    assert body["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "ça va"}}]
    with pytest.raises(GatewayError) as caught:
        encode(ANTHROPIC, ir.Document(data="UEsDBA==", media_type="application/vnd.ms-excel"))
    assert (caught.value.status, caught.value.param) == (400, "messages[0].content[0]")


def test_documents_in_tool_results():
    result = ir.ToolResult("call_1", [ir.Text("here"), INLINE_PDF])
    call = ir.Message("assistant", [ir.ToolCall("call_1", "fetch", "{}")])
    request = ir.Request("m", [ir.Message("user", [ir.Text("go")]), call, ir.Message("user", [result])])
    bodies = {dialect: BY_NAME[dialect].encode_request(request, [], ROUTE) for dialect in (ANTHROPIC, RESPONSES)}
    assert bodies[ANTHROPIC]["messages"][2]["content"][0]["content"][1]["type"] == "document"
    assert bodies[RESPONSES]["input"][2]["output"][1]["type"] == "input_file"


# -- web search -----------------------------------------------------------------------------------------

SEARCH = ir.Tool("web_search", kind="web_search", options={
    "max_uses": 3, "allowed_domains": ["example.com"], "blocked_domains": ["spam.example"],
    "user_location": {"city": "Paris", "country": "FR"}, "search_context_size": "high"})
LOOK = ir.Tool("look", "Look.", {"type": "object", "properties": {"x": {"type": "string"}}})


def test_web_search_for_anthropic():
    body, losses = encode(ANTHROPIC, ir.Text("news?"), tools=[LOOK, SEARCH])
    assert body["tools"][1] == {"type": "web_search_20250305", "name": "web_search", "max_uses": 3,
                                "allowed_domains": ["example.com"], "blocked_domains": ["spam.example"],
                                "user_location": {"type": "approximate", "city": "Paris", "country": "FR"}}
    assert [loss.field for loss in losses] == ["tools[1].search_context_size"]


def test_web_search_for_responses():
    body, losses = encode(RESPONSES, ir.Text("news?"), tools=[LOOK, SEARCH])
    assert body["tools"][1] == {"type": "web_search", "filters": {"allowed_domains": ["example.com"]},
                                "user_location": {"type": "approximate", "city": "Paris", "country": "FR"},
                                "search_context_size": "high"}
    assert [loss.field for loss in losses] == ["tools[1].max_uses", "tools[1].blocked_domains"]


def test_web_search_for_gemini():
    body, losses = encode(GEMINI, ir.Text("news?"), tools=[SEARCH])
    assert body["tools"] == [{"googleSearch": {}}]
    assert {loss.field for loss in losses} == {f"tools[0].{key}" for key in SEARCH.options}
    # Gemini refuses Google Search beside function declarations: the functions stay, the search goes.
    body, losses = encode(GEMINI, ir.Text("news?"), tools=[LOOK, SEARCH])
    assert body["tools"] == [{"functionDeclarations": [{"name": "look", **body["tools"][0]["functionDeclarations"][0]}]}]
    assert "tools" in {loss.field for loss in losses}


def test_web_search_is_dropped_for_chat():
    body, losses = encode(CHAT, ir.Text("news?"), tools=[LOOK, SEARCH])
    assert [tool["function"]["name"] for tool in body["tools"]] == ["look"]
    assert [loss.field for loss in losses] == ["tools[1]"]

    body, losses = encode(CHAT, ir.Text("news?"), tools=[SEARCH], tool_choice=ir.ToolChoice("required"))
    assert "tools" not in body and "tool_choice" not in body
    assert [loss.field for loss in losses] == ["tools[0]", "tool_choice"]


@pytest.mark.parametrize("dialect, expected", [
    (ANTHROPIC, {"type": "tool", "name": "web_search"}),
    (RESPONSES, {"type": "allowed_tools", "mode": "required", "tools": [{"type": "web_search"}]}),
    (CHAT, "auto"),
])
def test_a_forced_web_search(dialect, expected):
    body, _ = encode(dialect, ir.Text("news?"), tools=[LOOK, SEARCH], tool_choice=ir.ToolChoice("tool", "web_search"))
    assert body["tool_choice"] == expected


def test_a_forced_web_search_leaves_gemini_to_decide():
    body, losses = encode(GEMINI, ir.Text("news?"), tools=[LOOK, SEARCH], tool_choice=ir.ToolChoice("tool", "web_search"))
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert "tool_choice" in {loss.field for loss in losses}


# -- tool call ids ----------------------------------------------------------------------------------------


def test_hashed_ids_are_stable_and_valid_everywhere():
    for value in ("functions.get_weather:0", "x" * 200, "", "\ud83d"):
        fitted = hashed(value)
        assert fitted == hashed(value) and len(fitted) == 37
        assert all(rule.accepts(fitted) for rule in (ANTHROPIC_CALL_ID, CHAT_CALL_ID, RESPONSES_CALL_ID))
    assert hashed("a") != hashed("b")


def tool_loop(call_id: str) -> ir.Request:
    return ir.Request("m", [ir.Message("user", [ir.Text("go")]),
                            ir.Message("assistant", [ir.ToolCall(call_id, "look", "{}")]),
                            ir.Message("user", [ir.ToolResult(call_id, [ir.Text("done")])])])


def sent_ids(dialect: str, call_id: str) -> tuple:
    losses = []
    body = BY_NAME[dialect].encode_request(tool_loop(call_id), losses, ROUTE)
    if dialect == ANTHROPIC:
        ids = body["messages"][1]["content"][0]["id"], body["messages"][2]["content"][0]["tool_use_id"]
    elif dialect == CHAT:
        ids = body["messages"][1]["tool_calls"][0]["id"], body["messages"][2]["tool_call_id"]
    else:
        ids = body["input"][1]["call_id"], body["input"][2]["call_id"]
    return ids, losses


@pytest.mark.parametrize("dialect, kept, refused", [
    (ANTHROPIC, "toolu_01X9wcHKKAZD9tBC711xipPa", "functions.get_weather:0"),
    (ANTHROPIC, "call_abc-DEF_123", "call abc"),
    (CHAT, "c" * 40, "c" * 41),
    (RESPONSES, "c" * 64, "c" * 65),
])
def test_each_upstream_gets_ids_it_accepts_and_calls_still_meet_their_results(dialect, kept, refused):
    (call, result), losses = sent_ids(dialect, kept)
    assert call == result == kept and losses == []

    (call, result), losses = sent_ids(dialect, refused)
    assert call == result == hashed(refused)
    assert re.fullmatch(r"call_[0-9a-f]{32}", call)
    assert len(losses) == 2 and all(refused[:40] in loss.reason for loss in losses)
