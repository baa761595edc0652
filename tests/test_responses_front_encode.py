"""The Responses front's answers, streamed and not, as the official openai SDK reads them.

Every recorded upstream answer (all four dialects: the other three are what
the front converts, Responses' own checks X -> IR -> X) is decoded to IR
events, encoded as a Responses stream and as a plain Response. The stream's
events are validated strictly against the SDK's types and the Responses
grammar and folded by the SDK's own ResponseStream; the result must be the
Response the plain answer gives: text, reasoning summaries, encrypted content,
calls and usage. The other checks follow what only this front does: custom
and namespaced tools given back in the client's terms, ``include`` deciding
whether encrypted content is shown, the Gemini signature carrier, incomplete
answers and failures.
"""

import json

import pytest
from openai.types.responses import Response

from droid2api import ir
from droid2api.config import ModelConfig
from droid2api.dialects import carried, openai_chat
from droid2api.dialects import openai_responses as front
from droid2api.errors import GatewayError
from droid2api.wire import dumps

from .helpers import PROVIDER_DIALECTS, exchanges, recorded, sse_events, strictly, upstream_events
from .responses_sdk import responses_assemble, responses_events

RECORDINGS = [(provider, name) for provider in PROVIDER_DIALECTS for name in exchanges(provider)]
INCLUDE = {"include": ["reasoning.encrypted_content"]}


def request(*tools, **extras) -> ir.Request:
    return ir.Request("client-model", tools=list(tools), stream=True, extras=extras)


def stream_as_responses(events, req=None) -> bytes:
    encoder = front.StreamEncoder("client-model", req or request(**INCLUDE))
    return b"".join(encoder.encode(event) for event in events)


def plain_response(events, req=None) -> Response:
    """The non-streamed answer for the same events, validated strictly as the SDK's Response."""
    return strictly(Response, dumps(front.encode_response(ir.accumulate(events), "client-model",
                                                          req or request(**INCLUDE))))


def dumped(response) -> dict:
    """A Response as comparable data: created_at aside (an upstream without one gets the clock's)."""
    data = response.model_dump(mode="json", exclude_none=True)
    data.pop("created_at")
    return data


def answer(*parts, stop="end_turn", usage=None) -> list:
    """The IR events of a complete answer made of ``parts``."""
    return list(ir.response_events(ir.Response("up_1", "upstream-model", list(parts), stop,
                                               usage=usage or ir.Usage(10, 5), created=1_700_000_000)))


def items(response) -> list:
    return [item.model_dump(mode="json", exclude_none=True) for item in response.output]


@pytest.mark.parametrize("provider, name", RECORDINGS)
def test_a_responses_client_gets_the_same_response_streamed_or_not(provider, name):
    events = upstream_events(provider, name)
    _, streamed = responses_assemble(stream_as_responses(events))
    plain = plain_response(events)
    assert dumped(streamed) == dumped(plain)
    assert plain.model == "client-model" and plain.id.startswith("resp_") and plain.status == "completed"
    assert plain.output and plain.usage.total_tokens == plain.usage.input_tokens + plain.usage.output_tokens


@pytest.mark.parametrize("name", exchanges("openai_responses"))
def test_a_responses_answer_comes_back_as_responses_sent_it(name):
    """X -> IR -> X: the items as output_item.done gave them (OpenAI re-encrypts reasoning for its
    response.completed), message and call item ids aside (the IR keeps none), and the usage."""
    payloads = [json.loads(data) for _, data in sse_events(recorded(f"{name}.response.sse"))]
    original = [payload["item"] for payload in payloads if payload["type"] == "response.output_item.done"]
    _, streamed = responses_assemble(stream_as_responses(upstream_events("openai_responses", name)))

    def comparable(item: dict) -> dict:
        if item["type"] == "message":  # some answers leave out the empty logprobs
            item = {**item, "content": [{"logprobs": [], **entry} for entry in item["content"]]}
        return item if item["type"] == "reasoning" else {key: value for key, value in item.items() if key != "id"}

    assert [comparable(item) for item in items(streamed)] == [comparable(item) for item in original]
    usage = payloads[-1]["response"]["usage"]
    assert streamed.usage.model_dump(exclude_none=True) == {
        **usage, "input_tokens_details": {**usage["input_tokens_details"], "cache_write_tokens": 0}}


# -- reasoning --------------------------------------------------------------


def test_one_reasoning_item_keeps_its_summaries_and_encrypted_content():
    name = "openai_responses__test_openai_responses_thinking_part_iter.0"
    done = [json.loads(data)["item"] for _, data in sse_events(recorded(f"{name}.response.sse"))
            if '"response.output_item.done"' in data]
    _, response = responses_assemble(stream_as_responses(upstream_events("openai_responses", name)))
    reasoning = items(response)[0]
    assert reasoning == {"id": done[0]["id"], "type": "reasoning", "summary": done[0]["summary"],
                         "encrypted_content": done[0]["encrypted_content"]}
    assert len(reasoning["summary"]) == 4


@pytest.mark.parametrize("provider, name", [(p, n) for p, n in RECORDINGS if "thinking" in n or "signature" in n])
def test_without_include_no_encrypted_content_is_sent(provider, name):
    events = upstream_events(provider, name)
    bare = request()
    raw = stream_as_responses(events, bare)
    assert b"encrypted_content" not in raw
    _, streamed = responses_assemble(raw)
    assert dumped(streamed) == dumped(plain_response(events, bare))
    assert "encrypted_content" not in dumps(front.encode_response(ir.accumulate(events), "m", bare))
    summaries = [s.text for item in streamed.output if item.type == "reasoning" for s in item.summary]
    assert summaries == [part.text for part in ir.accumulate(events).parts
                         if isinstance(part, ir.Thinking) and part.text]


def test_other_dialects_reasoning_rides_in_encrypted_content():
    events = answer(ir.Thinking(text="anthropic's", signature="EqSig==", source=ir.Dialect.ANTHROPIC),
                    ir.Thinking(redacted="opaque-data", source=ir.Dialect.ANTHROPIC),  # carried.py cannot wrap it
                    ir.Thinking(text="plain reasoning"),  # a Chat upstream's reasoning_content: nothing opaque
                    ir.Thinking(source=ir.Dialect.GEMINI),  # nothing in it at all
                    ir.Thinking(signature="gemini-sig", source=ir.Dialect.GEMINI),
                    ir.Text("answer"))
    _, response = responses_assemble(stream_as_responses(events))
    assert dumped(response) == dumped(plain_response(events))
    reasoning = [item for item in response.output if item.type == "reasoning"]
    assert [[s.text for s in item.summary] for item in reasoning] == [["anthropic's"], ["plain reasoning"], []]
    back = [carried.thinking_from("", item.encrypted_content, client=ir.Dialect.RESPONSES, item_id=item.id)
            for item in reasoning]
    assert (back[0].signature, back[0].source) == ("EqSig==", ir.Dialect.ANTHROPIC)
    assert reasoning[1].encrypted_content is None
    assert (back[2].signature, back[2].source) == ("gemini-sig", ir.Dialect.GEMINI)
    assert [item.type for item in response.output] == ["reasoning"] * 3 + ["message"]


def test_a_gemini_thought_signature_rides_in_a_reasoning_item_before_its_call():
    name = "google__test_google_streaming_tool_call_thought_signature.0"
    raw = stream_as_responses(upstream_events("google", name))
    _, response = responses_assemble(raw)
    signature = json.loads(sse_events(recorded(f"{name}.response.sse"))[0][1])[
        "candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    carrier, call = response.output[-2:]
    assert carrier.type == "reasoning" and carrier.summary == []
    assert call.type == "function_call" and call.name == "get_country" and call.arguments == "{}"
    assert carried.call_signature(carrier.encrypted_content) == (call.call_id, signature)
    # Without include there is nothing to carry it in: the call alone.
    _, bare = responses_assemble(stream_as_responses(upstream_events("google", name), request()))
    assert [item.type for item in bare.output] == ["function_call"]


def test_a_signature_that_comes_after_its_call_is_carried_right_after_it():
    events = [ir.Start("up_1", "m"), ir.PartStart(0, ir.ToolCall("call_1", "f")), ir.Delta(0, "arguments", "{}"),
              ir.Delta(0, "signature", "late-sig"), ir.PartStop(0), ir.Finish("tool_use", ir.Usage(1, 1))]
    _, response = responses_assemble(stream_as_responses(events))
    call, carrier = response.output
    assert call.type == "function_call"
    assert carried.call_signature(carrier.encrypted_content) == ("call_1", "late-sig")


# -- tools ------------------------------------------------------------------

PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hello \"world\"\n*** End Patch\n"


def fragments(text: str, size: int = 7) -> list:
    return [text[i:i + size] for i in range(0, len(text), size)]


def streamed_call(call: ir.ToolCall, stop="tool_use") -> list:
    """A call whose arguments arrive in small fragments, as upstreams stream them."""
    return ([ir.Start("up_1", "m", 1_700_000_000), ir.PartStart(0, ir.ToolCall(call.id, call.name))]
            + [ir.Delta(0, "arguments", piece) for piece in fragments(call.arguments)]
            + [ir.PartStop(0), ir.Finish(stop, ir.Usage(3, 4))])


def test_a_custom_tool_call_gives_the_input_text_back():
    patch_tool = ir.Tool("apply_patch", kind="custom", options={"format": {"type": "text"}})
    req = request(patch_tool, **INCLUDE)
    events = streamed_call(ir.ToolCall("call_1", "apply_patch", json.dumps({"input": PATCH})))
    raw = stream_as_responses(events, req)
    names = [payload["type"] for payload in responses_events(raw)]
    assert "response.function_call_arguments.delta" not in names
    assert names[2:6] == ["response.output_item.added", "response.custom_tool_call_input.delta",
                          "response.custom_tool_call_input.done", "response.output_item.done"]
    _, response = responses_assemble(raw)
    assert dumped(response) == dumped(plain_response(events, req))
    assert items(response) == [{"id": response.output[0].id, "type": "custom_tool_call", "call_id": "call_1",
                                "name": "apply_patch", "input": PATCH}]
    assert response.tools[0].model_dump(exclude_none=True) == {"name": "apply_patch", "type": "custom",
                                                               "format": {"type": "text"}}


@pytest.mark.parametrize("arguments, expected", [("", ""), ("{}", ""), ('{"patch": "x"}', '{"patch": "x"}'),
                                                 ('{"input": "unterminated', '{"input": "unterminated')])
def test_custom_tool_input_from_other_arguments(arguments, expected):
    req = request(ir.Tool("apply_patch", kind="custom"))
    events = streamed_call(ir.ToolCall("call_1", "apply_patch", arguments))
    _, response = responses_assemble(stream_as_responses(events, req))
    assert response.output[0].input == expected == plain_response(events, req).output[0].input


def test_a_namespaced_call_gets_the_clients_name_and_namespace_back():
    lookup = ir.Tool("mcp__docs__lookup", "find a page", {"type": "object"}, namespace="mcp__docs",
                     client_name="lookup", options={"namespace_description": "the docs server"})
    edit = ir.Tool("mcp__docs__edit", kind="custom", namespace="mcp__docs", client_name="edit")
    req = ir.Request("client-model", tools=[ir.Tool("plain"), lookup, edit],
                     tool_choice=ir.ToolChoice("tool", "mcp__docs__lookup"))
    events = answer(ir.ToolCall("call_1", "mcp__docs__lookup", '{"q": "x"}'),
                    ir.ToolCall("call_2", "mcp__docs__edit", '{"input": "new text"}'),
                    ir.ToolCall("call_3", "plain", ""), stop="tool_use")
    _, response = responses_assemble(stream_as_responses(events, req))
    assert dumped(response) == dumped(plain_response(events, req))
    calls = [{key: value for key, value in item.items() if key != "id"} for item in items(response)]
    assert calls == [{"type": "function_call", "call_id": "call_1", "name": "lookup", "namespace": "mcp__docs",
                      "arguments": '{"q": "x"}', "status": "completed"},
                     {"type": "custom_tool_call", "call_id": "call_2", "name": "edit", "namespace": "mcp__docs",
                      "input": "new text"},
                     {"type": "function_call", "call_id": "call_3", "name": "plain", "arguments": "{}",
                      "status": "completed"}]
    tools = [tool.model_dump(exclude_none=True) for tool in response.tools]
    assert tools[1] == {"type": "namespace", "name": "mcp__docs", "description": "the docs server", "tools": [
        {"type": "function", "name": "lookup", "description": "find a page", "parameters": {"type": "object"}},
        {"type": "custom", "name": "edit"}]}
    assert response.tool_choice.model_dump() == {"type": "function", "name": "lookup"}


def test_function_arguments_stream_as_they_come_and_empty_ones_are_an_empty_object():
    events = streamed_call(ir.ToolCall("call_1", "search", '{"q": "a long query", "n": 3}'))
    deltas = [p["delta"] for p in responses_events(stream_as_responses(events))
              if p["type"] == "response.function_call_arguments.delta"]
    assert deltas == fragments('{"q": "a long query", "n": 3}')
    raw = stream_as_responses(answer(ir.ToolCall("call_1", "now"), stop="tool_use"))
    assert [p["delta"] for p in responses_events(raw) if p["type"].endswith("arguments.delta")] == ["{}"]


# -- text, status and usage -------------------------------------------------


def test_text_and_refusals_share_one_message_item():
    events = answer(ir.Text("first"), ir.Text(""), ir.Refusal("I can't help with that."), ir.Text("last"))
    raw = stream_as_responses(events)
    _, response = responses_assemble(raw)
    assert dumped(response) == dumped(plain_response(events))
    (message,) = items(response)
    assert message["content"] == [{"type": "output_text", "text": "first", "annotations": [], "logprobs": []},
                                  {"type": "refusal", "refusal": "I can't help with that."},
                                  {"type": "output_text", "text": "last", "annotations": [], "logprobs": []}]
    assert message["status"] == "completed" and response.output_text == "firstlast"
    assert "response.refusal.delta" in [payload["type"] for payload in responses_events(raw)]


@pytest.mark.parametrize("stop, reason", [("max_tokens", "max_output_tokens"), ("content_filter", "content_filter"),
                                          ("refusal", "content_filter")])
def test_an_answer_cut_off_is_incomplete_and_so_is_its_last_item(stop, reason):
    events = answer(ir.Thinking(text="hm"), ir.Text("half an ans"), stop=stop)
    raw = stream_as_responses(events)
    assert responses_events(raw)[-1]["type"] == "response.incomplete"
    _, response = responses_assemble(raw)
    assert dumped(response) == dumped(plain_response(events))
    assert response.status == "incomplete" and response.incomplete_details.reason == reason
    assert [getattr(item, "status", None) for item in response.output] == [None, "incomplete"]


@pytest.mark.parametrize("stop", ["end_turn", "tool_use", "stop_sequence", "pause_turn", None])
def test_other_stops_complete_the_answer(stop):
    _, response = responses_assemble(stream_as_responses(answer(ir.Text("x"), stop=stop)))
    assert response.status == "completed" and response.incomplete_details is None


def test_usage_counts_like_the_ir():
    usage = ir.Usage(input_tokens=100, output_tokens=50, cache_read_tokens=30, cache_write_tokens=20,
                     reasoning_tokens=10)
    events = answer(ir.Text("hi"), usage=usage)
    expected = {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 30, "cache_write_tokens": 20},
                "output_tokens": 50, "output_tokens_details": {"reasoning_tokens": 10}, "total_tokens": 150}
    assert front.encode_response(ir.accumulate(events), "m")["usage"] == expected
    payloads = responses_events(stream_as_responses(events))
    assert payloads[0]["response"]["usage"] is None and payloads[-1]["response"]["usage"] == expected


def test_the_response_echoes_the_request_settings():
    req = ir.Request("client-model", tools=[ir.Tool("f", "does f", {"type": "object"}, strict=True),
                                            ir.Tool("web_search", kind="web_search",
                                                    options={"allowed_domains": ["example.com"]})],
                     tool_choice=ir.ToolChoice("required"), parallel_tool_calls=False, max_tokens=99,
                     temperature=0.5, top_p=0.9, metadata={"k": "v"}, reasoning=ir.Reasoning("high", summary="auto"),
                     response_format=ir.ResponseFormat("json_schema", {"type": "object"}, "out", strict=True),
                     system=[ir.Instruction("the operator's prompt")],
                     extras={"truncation": "auto", "text": {"verbosity": "low"}, "previous_response_id": "resp_0"})
    response = plain_response(answer(ir.Text("{}")), req)
    assert response.instructions is None  # the operator's system prompt is not the client's to read
    assert [tool.type for tool in response.tools] == ["function", "web_search"]
    assert response.tools[1].filters.allowed_domains == ["example.com"]
    assert response.tool_choice == "required" and response.parallel_tool_calls is False
    assert response.max_output_tokens == 99
    assert (response.temperature, response.top_p, response.metadata, response.truncation) == (0.5, 0.9, {"k": "v"},
                                                                                               "auto")
    assert (response.reasoning.effort, response.reasoning.summary) == ("high", "auto")
    assert response.text.format.model_dump(by_alias=True, exclude_none=True) == {
        "type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}
    assert (response.text.verbosity, response.previous_response_id) == ("low", "resp_0")


# -- failures and keep-alives -----------------------------------------------


def test_a_stream_error_is_an_error_event_then_response_failed_and_nothing_follows():
    encoder = front.StreamEncoder("m", request())
    events = answer(ir.Text("done item"), ir.ToolCall("call_1", "f", '{"a": 1}'))
    raw = b"".join(encoder.encode(event) for event in events[:6])  # the text done, the call half written
    raw += encoder.encode(ir.StreamError(429, "rate_limit_error", "slow down"))
    assert encoder.encode(ir.PartStop(1)) == encoder.encode(ir.Finish("end_turn")) == encoder.ping() == b""
    payloads = responses_events(raw)
    error, failed = payloads[-2:]
    assert error == {"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "param": None,
                     "sequence_number": len(payloads) - 2}
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": "rate_limit_exceeded", "message": "slow down"}
    assert [item["type"] for item in failed["response"]["output"]] == ["message"]  # only the items done
    sdk_events, response = responses_assemble(raw)
    assert [event.type for event in sdk_events[-2:]] == ["error", "response.failed"]
    assert response.status == "failed" and response.error.message == "slow down"


def test_an_error_before_anything_else_still_starts_the_response():
    encoder = front.StreamEncoder("m", None)
    raw = encoder.encode(ir.StreamError(503, "overloaded_error", "busy"))
    assert [payload["type"] for payload in responses_events(raw)] == ["response.created", "response.in_progress",
                                                                       "error", "response.failed"]


@pytest.mark.parametrize("status, kind, code", [(429, "rate_limit_error", "rate_limit_exceeded"),
                                                (400, "context_length_exceeded", "context_length_exceeded"),
                                                (400, "invalid_request_error", "invalid_prompt"),
                                                (502, "upstream_error", "server_error"),
                                                (503, "overloaded_error", "server_error")])
def test_failure_codes_are_ones_clients_act_on(status, kind, code):
    raw = front.StreamEncoder("m", None).encode(ir.StreamError(status, kind, "no"))
    assert json.loads(sse_events(raw)[-1][1])["response"]["error"]["code"] == code


def test_an_answer_that_ended_in_error_is_not_ended_cleanly():
    events = answer(ir.Text("x"), stop="error")
    with pytest.raises(GatewayError) as caught:
        front.encode_response(ir.accumulate(events), "m")
    assert caught.value.status == 502
    assert responses_events(stream_as_responses(events))[-1]["response"]["error"]["code"] == "server_error"


def test_pings_are_comments_the_sdk_skips():
    encoder = front.StreamEncoder("client-model", request())
    events = answer(ir.Text("hello"), ir.ToolCall("call_1", "f", '{"a": 1}'), stop="tool_use")
    raw = encoder.ping()
    for event in events:
        raw += encoder.encode(event) + encoder.ping()
    assert raw.startswith(b": keep-alive\n\n") and encoder.ping() == b""
    _, response = responses_assemble(raw)
    assert dumped(response) == dumped(plain_response(events, request()))


def test_a_stream_without_start_or_part_stops_still_keeps_the_grammar():
    encoder = front.StreamEncoder("m", request())
    raw = b"".join(encoder.encode(event) for event in [
        ir.PartStart(0, ir.Text("")), ir.Delta(0, "text", "a"),
        ir.PartStart(1, ir.ToolCall("call_1", "f")), ir.Delta(1, "arguments", "{}"),
        ir.Finish("tool_use", ir.Usage(3, 4))])
    _, response = responses_assemble(raw)
    assert [item.type for item in response.output] == ["message", "function_call"]
    assert (response.usage.input_tokens, response.usage.output_tokens) == (3, 4)


# -- models -----------------------------------------------------------------


def test_the_model_list_is_openais_shape_shared_with_the_chat_front():
    models = [ModelConfig(id="gpt-test", type="openai", name="GPT Test")]
    assert front.model_list(models, 1_700_000_000) == openai_chat.model_list(models, 1_700_000_000)
    assert front.model_entry is openai_chat.model_entry
