"""The Gemini front's answers, streamed (both framings) and not, as the official google-genai SDK reads them.

Every recorded upstream answer (all four dialects: the other three are what
the front converts, Gemini's own checks X -> IR -> X) is decoded to IR events
and encoded as a stream, in SSE and as a JSON array, and as a plain answer.
Each chunk goes through the SDK's own client and models; the chunks, folded
the way the SDK's users put a stream together, must give the plain answer's
parts, and the last chunk its finish reason and usage. The other checks
follow what only this front does: thoughts shown only when asked for, the
signatures a client must send back (carried.py's base64 form for other
dialects' data), malformed calls, usage arithmetic, errors and the model list.
"""

import json
from dataclasses import replace

import pytest
from google.genai import _common, chats, errors, types

from droid2api import ir
from droid2api.config import ModelConfig
from droid2api.dialects import carried
from droid2api.dialects import gemini as front
from droid2api.dialects.gemini.front_request import decode_request
from droid2api.dialects.gemini.front_response import encode_usage

from .gemini_sdk import (array_chunks, as_sdk_reads, fold, history_sent_back, list_models, sdk_response,
                         sdk_stream)
from .helpers import PROVIDER_DIALECTS, exchanges, recorded, sse_events, upstream_events

RECORDINGS = [(provider, name) for provider in PROVIDER_DIALECTS for name in exchanges(provider)]
FRAMINGS = [True, False]  # sse


def request(include_thoughts: bool | None = True) -> ir.Request:
    """A Gemini client's request, decoded by the Gemini front: ``None`` has no thinkingConfig."""
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    if include_thoughts is not None:
        body["generationConfig"] = {"thinkingConfig": {"includeThoughts": include_thoughts}}
    return decode_request(body, "client-model", stream=True)


def encoded_stream(events, req=None, sse=True) -> bytes:
    encoder = front.StreamEncoder("client-model", req or request(), sse=sse)
    return b"".join(encoder.encode(event) for event in events)


def streamed(events, req=None, sse=True) -> list:
    """The SDK's chunks of the stream, in either framing."""
    raw = encoded_stream(events, req, sse)
    return sdk_stream(raw) if sse else array_chunks(raw)


def plain(events, req=None) -> types.GenerateContentResponse:
    return sdk_response(front.encode_response(ir.accumulate(events), "client-model", req or request()))


def answer(*parts, stop="end_turn", usage=None) -> list:
    """The IR events of a complete answer made of ``parts``."""
    return list(ir.response_events(ir.Response("up_1", "upstream-model", list(parts), stop,
                                               usage=usage or ir.Usage(10, 5))))


def ending(response) -> dict:
    """What a whole answer or a stream's last chunk says beyond its parts."""
    candidate = response.candidates[0]
    return {"finish_reason": candidate.finish_reason, "finish_message": candidate.finish_message,
            "usage": response.usage_metadata.model_dump(exclude_none=True), "model": response.model_version,
            "id": response.response_id}


@pytest.mark.parametrize("sse", FRAMINGS)
@pytest.mark.parametrize("provider, name", RECORDINGS)
def test_a_gemini_client_gets_the_same_answer_streamed_or_not(provider, name, sse):
    events = upstream_events(provider, name)
    chunks, whole = streamed(events, sse=sse), plain(events)
    assert fold(chunks) == fold([whole])
    assert ending(chunks[-1]) == ending(whole)
    assert all(chunk.candidates[0].finish_reason is None and chunk.usage_metadata is None for chunk in chunks[:-1])
    assert {(chunk.model_version, chunk.response_id) for chunk in chunks} == {("client-model", whole.response_id)}
    # google-genai's chats keep a turn in their history only if every chunk of it is one they accept.
    assert all(chats._validate_response(chunk) for chunk in chunks) and chats._validate_response(whole)


@pytest.mark.parametrize("provider, name", RECORDINGS)
def test_the_two_framings_carry_the_same_chunks(provider, name):
    events = upstream_events(provider, name)
    sse, array = encoded_stream(events), encoded_stream(events, sse=False)
    assert sse.endswith(b"\r\n\r\n") and b"\n\n" not in sse.replace(b"\r\n\r\n", b"")
    assert array.startswith(b"[") and array.endswith(b"]")
    assert [json.loads(data) for _, data in sse_events(sse)] == json.loads(array)


@pytest.mark.parametrize("name", exchanges("google"))
def test_a_gemini_answer_comes_back_as_gemini_sent_it(name):
    """X -> IR -> X: what the SDK shows of it (text, thoughts, calls, finish reason, token counts; not the
    per-modality details the IR has no slot for), and the same IR when the answer is read again. A signature
    Gemini put on the first text after the thoughts is on the thought it signs."""
    try:
        bodies = [json.loads(recorded(f"{name}.response.json"))]
    except FileNotFoundError:
        bodies = [json.loads(data) for _, data in sse_events(recorded(f"{name}.response.sse"))]
    original = [as_sdk_reads(body) for body in bodies]
    events = upstream_events("google", name)
    encoded = front.encode_response(ir.accumulate(events), "client-model", request())
    whole = sdk_response(encoded)

    def shown(responses):
        parts = [part for response in responses for part in response.candidates[0].content.parts]
        return ("".join(part.text or "" for part in parts if not part.thought),
                "".join(part.text or "" for part in parts if part.thought),
                [(part.function_call.name, part.function_call.args) for part in parts if part.function_call],
                [part.thought_signature for part in parts if part.thought_signature])

    assert shown([whole]) == shown(original)
    assert whole.candidates[0].finish_reason == original[-1].candidates[0].finish_reason
    counts = original[-1].usage_metadata.model_dump(exclude_none=True)
    assert whole.usage_metadata.model_dump(exclude_none=True) == {
        key: value for key, value in counts.items() if not key.endswith("_details")}
    again, first = front.decode_response(encoded), ir.accumulate(events)
    assert (again.parts, again.stop_reason, again.usage, again.id) == (first.parts, first.stop_reason, first.usage,
                                                                       first.id)


# -- thoughts and signatures ------------------------------------------------

THINKING = [(p, n) for p, n in RECORDINGS if "thinking" in n or "signature" in n]


@pytest.mark.parametrize("asked", [False, None])
@pytest.mark.parametrize("provider, name", THINKING)
def test_thought_text_only_when_asked_for_but_signatures_always(provider, name, asked):
    events = upstream_events(provider, name)
    shown, hidden = request(True), request(asked)
    for sse in FRAMINGS:
        folded = fold(streamed(events, hidden, sse))
        assert folded == fold([plain(events, hidden)])
        assert all(part["text"] == "" for part in folded if part.get("thought"))
        with_thoughts = fold(streamed(events, shown, sse))
        assert [part for part in with_thoughts if not part.get("thought")] == [
            part for part in folded if not part.get("thought")]
        signatures = [part.get("thought_signature") for part in with_thoughts if "thought_signature" in part]
        assert signatures == [part["thought_signature"] for part in folded if "thought_signature" in part]
    thoughts = [part.text for part in ir.accumulate(events).parts if isinstance(part, ir.Thinking) and part.text]
    assert "".join(part["text"] for part in fold([plain(events, shown)]) if part.get("thought")) == "".join(thoughts)


def test_thoughts_are_asked_for_by_a_reasoning_summary_in_the_ir():
    events = answer(ir.Thinking(text="hm"), ir.Text("yes"))
    for reasoning, shown in ((ir.Reasoning("high", summary="auto"), True), (ir.Reasoning("high"), False),
                             (ir.Reasoning("high", summary="none"), False), (None, False)):
        req = ir.Request("client-model", reasoning=reasoning)
        assert fold([plain(events, req)]) == [{"text": "hm", "thought": True}] * shown + [{"text": "yes"}]


def sent_back(part) -> str:
    """A part's thoughtSignature as the SDK writes it into the next request's history."""
    return _common.encode_unserializable_types(part.model_dump(exclude_none=True))["thought_signature"]


@pytest.mark.parametrize("provider, name", [("anthropic", "anthropic__test_anthropic_model_thinking_part_stream.0"),
                                            ("openai_responses",
                                             "openai_responses__test_openai_responses_thinking_part_iter.0")])
def test_other_dialects_reasoning_comes_back_through_the_thought_signature(provider, name):
    events = upstream_events(provider, name)
    originals = [part for part in ir.accumulate(events).parts if isinstance(part, ir.Thinking)]
    assert originals and all(part.source == PROVIDER_DIALECTS[provider] for part in originals)
    for sse in FRAMINGS:
        parts = [part for chunk in streamed(events, sse=sse) for part in chunk.candidates[0].content.parts
                 if part.thought_signature]
        back = [carried.thinking_from("", sent_back(part), client=ir.Dialect.GEMINI) for part in parts]
        assert [(t.source, t.signature, t.encrypted, t.id) for t in back] == [
            (t.source, t.signature, t.encrypted, t.id) for t in originals]


def normalised(parts: list) -> list:
    """IR parts with Gemini's own signatures in one base64 alphabet: google-genai sends back in URL-safe
    base64 what Gemini sent in the standard one, and Gemini reads both."""
    def signed(part):
        if getattr(part, "source", ir.Dialect.GEMINI) == ir.Dialect.GEMINI and getattr(part, "signature", None):
            return replace(part, signature=part.signature.replace("-", "+").replace("_", "/"))
        return part
    return [signed(part) for part in parts]


@pytest.mark.parametrize("provider, name", RECORDINGS)
def test_the_answer_in_the_sdks_chat_history_reads_back_as_the_upstream_gave_it(provider, name):
    """Through the Gemini front's request decoder: every part the client was shown, each with the opaque data
    of the dialect that made it (thought text included, as it was asked for)."""
    events = upstream_events(provider, name)
    body = front.encode_response(ir.accumulate(events), "client-model", request())
    turn = decode_request(history_sent_back(json.dumps(body).encode(), stream=False), "client-model", False)
    (answered,) = [message for message in turn.messages if message.role == "assistant"]
    shown = [part for part in ir.accumulate(events).parts if not (isinstance(part, ir.Thinking) and part.redacted)]
    assert normalised(answered.parts) == normalised(shown)


def test_a_streamed_answer_in_the_sdks_chat_history_reads_back_as_the_upstream_gave_it():
    # google-genai's chat keeps each chunk of a streamed answer as a Content of its own; the request
    # decoder reads the model's Contents in a row as one turn, so a thought's text and signature meet again.
    events = upstream_events("anthropic", "anthropic__test_anthropic_model_thinking_part_stream.0")
    turn = decode_request(history_sent_back(encoded_stream(events), stream=True), "client-model", True)
    answered = [part for message in turn.messages if message.role == "assistant" for part in message.parts]
    assert answered == ir.accumulate(events).parts


def test_geminis_own_signatures_go_back_unchanged():
    name = "google__test_google_streaming_tool_call_thought_signature.0"
    signature = json.loads(sse_events(recorded(f"{name}.response.sse"))[0][1])[
        "candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    for sse in FRAMINGS:
        (call,) = [part for chunk in streamed(upstream_events("google", name), sse=sse)
                   for part in chunk.candidates[0].content.parts if part.function_call]
        assert call.function_call.name == "get_country" and call.function_call.args == {}
        assert carried.unwrap(sent_back(call)) is None
        assert sent_back(call).encode() == signature.replace("+", "-").replace("/", "_").encode()


def test_thoughts_without_text_or_signature_and_redacted_thinking_are_not_shown():
    events = answer(ir.Thinking(redacted="opaque", source=ir.Dialect.ANTHROPIC), ir.Thinking(text=""),
                    ir.Thinking(source=ir.Dialect.GEMINI), ir.Text("answer"))
    for sse in FRAMINGS:
        assert fold(streamed(events, sse=sse)) == fold([plain(events)]) == [{"text": "answer"}]


def test_signatures_that_come_late_stay_on_their_part():
    events = [ir.Start("up_1", "m"),
              ir.PartStart(0, ir.Thinking(source=ir.Dialect.ANTHROPIC)), ir.Delta(0, "thinking", "a"),
              ir.Delta(0, "thinking", "b"), ir.Delta(0, "signature", "Eq"), ir.Delta(0, "signature", "Sig=="),
              ir.PartStop(0),
              ir.PartStart(1, ir.ToolCall("call_1", "f", signature="CiQB")), ir.Delta(1, "arguments", '{"a"'),
              ir.Delta(1, "signature", "late"), ir.Delta(1, "arguments", ": 1}"), ir.PartStop(1),
              ir.Finish("tool_use", ir.Usage(3, 4))]
    chunks = streamed(events)
    assert len(chunks) == 5  # two thought texts, the signature, the call, the end
    thought, call = fold(chunks)
    assert carried.thinking_from("", sent_back(types.Part(**thought)), client=ir.Dialect.GEMINI) == ir.Thinking(
        signature="EqSig==", source=ir.Dialect.ANTHROPIC)
    assert call["function_call"] == {"id": "call_1", "name": "f", "args": {"a": 1}}
    assert sent_back(types.Part(**call)) == "CiQBlate"
    assert fold(chunks) == fold([plain(events)])


# -- calls, finish reasons, usage -------------------------------------------


def test_text_goes_out_as_it_comes_and_a_call_whole_when_it_ends():
    events = [ir.Start("up_1", "m"), ir.PartStart(0, ir.Text("")), ir.Delta(0, "text", "Let me "),
              ir.Delta(0, "text", "look."), ir.PartStop(0), ir.PartStart(1, ir.ToolCall("call_1", "search")),
              *[ir.Delta(1, "arguments", piece) for piece in ('{"q": ', '"x", ', '"n": 3}')], ir.PartStop(1),
              ir.Finish("tool_use", ir.Usage(3, 4))]
    encoder = front.StreamEncoder("client-model", request())
    out = [encoder.encode(event) for event in events]
    assert [bool(chunk) for chunk in out] == [False, False, True, True, False, False, False, False, False, True,
                                              True]
    chunks = sdk_stream(b"".join(out))
    assert [chunk.text for chunk in chunks[:2]] == ["Let me ", "look."]
    assert chunks[2].function_calls[0].model_dump(exclude_none=True) == {
        "id": "call_1", "name": "search", "args": {"q": "x", "n": 3}}
    assert chunks[3].candidates[0].finish_reason == types.FinishReason.STOP


@pytest.mark.parametrize("stop, finish", [("end_turn", "STOP"), ("tool_use", "STOP"), ("stop_sequence", "STOP"),
                                          ("pause_turn", "STOP"), (None, "STOP"), ("max_tokens", "MAX_TOKENS"),
                                          ("content_filter", "SAFETY"), ("refusal", "SAFETY"),
                                          ("error", "OTHER")])
def test_finish_reasons(stop, finish):
    events = answer(ir.Text("x"), stop=stop)
    assert plain(events).candidates[0].finish_reason == finish
    for sse in FRAMINGS:
        assert streamed(events, sse=sse)[-1].candidates[0].finish_reason == finish


@pytest.mark.parametrize("stop, finish", [("tool_use", "MALFORMED_FUNCTION_CALL"), ("max_tokens", "MAX_TOKENS")])
def test_a_call_whose_arguments_are_not_an_object_is_left_out(stop, finish):
    events = answer(ir.Text("calling"), ir.ToolCall("call_1", "f", "[1, 2]"), ir.ToolCall("call_2", "g", ""),
                    ir.ToolCall("call_3", "h", '{"cut": "of'), stop=stop)
    whole = plain(events)
    assert [call.name for call in whole.function_calls] == ["g"] and whole.function_calls[0].args == {}
    assert whole.candidates[0].finish_reason == finish
    # finishMessage is Gemini's, though google-genai's Gemini API client does not read it.
    message = ("the upstream sent arguments for function call 'f', 'h' that are not a JSON object; "
               "the call was left out")
    assert front.encode_response(ir.accumulate(events), "m")["candidates"][0]["finishMessage"] == message
    assert json.loads(encoded_stream(events, sse=False))[-1]["candidates"][0]["finishMessage"] == message
    for sse in FRAMINGS:
        chunks = streamed(events, sse=sse)
        assert fold(chunks) == fold([whole]) and ending(chunks[-1]) == ending(whole)


def test_refusals_are_text_and_an_empty_answer_still_has_a_part():
    assert plain(answer(ir.Refusal("I can't."), stop="refusal")).text == "I can't."
    empty = plain(answer(stop="max_tokens"))
    assert empty.candidates[0].content.parts == [types.Part(text="")] and chats._validate_response(empty)


def test_usage_counts_like_gemini():
    usage = ir.Usage(input_tokens=100, output_tokens=50, cache_read_tokens=30, cache_write_tokens=20,
                     reasoning_tokens=10)
    expected = {"prompt_token_count": 100, "candidates_token_count": 40, "cached_content_token_count": 30,
                "thoughts_token_count": 10, "total_token_count": 150}
    events = answer(ir.Text("hi"), usage=usage)
    assert plain(events).usage_metadata.model_dump(exclude_none=True) == expected
    for sse in FRAMINGS:
        assert streamed(events, sse=sse)[-1].usage_metadata.model_dump(exclude_none=True) == expected
    assert encode_usage(ir.Usage(7, 3)) == {"promptTokenCount": 7, "candidatesTokenCount": 3,
                                                  "totalTokenCount": 10}
    # An upstream that counts more reasoning than output: no negative count.
    assert encode_usage(ir.Usage(1, 2, reasoning_tokens=5))["candidatesTokenCount"] == 0


# -- failures ---------------------------------------------------------------


@pytest.mark.parametrize("sse", FRAMINGS)
def test_a_stream_error_is_googles_error_shape_and_nothing_follows(sse):
    encoder = front.StreamEncoder("client-model", request(), sse=sse)
    events = answer(ir.Text("half"), ir.ToolCall("call_1", "f", '{"a": 1}'))
    raw = b"".join(encoder.encode(event) for event in events[:6])  # the text sent, the call half written
    raw += encoder.encode(ir.StreamError(429, "rate_limit_error", "slow down"))
    assert encoder.encode(ir.PartStop(1)) == encoder.encode(ir.Finish("end_turn")) == b""
    assert encoder.encode(ir.StreamError(500, "api_error", "again")) == b""
    error = {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    if sse:
        assert json.loads(sse_events(raw)[-1][1]) == error
        received = []
        with pytest.raises(errors.ClientError) as caught:
            sdk_stream(raw, received)
        assert [chunk.text for chunk in received] == ["half"]
    else:
        body = json.loads(raw)  # the array is closed: the body stays valid JSON
        assert body[-1] == error and len(body) == 2
        with pytest.raises(errors.ClientError) as caught:
            array_chunks(raw)
    assert (caught.value.code, caught.value.status, caught.value.message) == (429, "RESOURCE_EXHAUSTED",
                                                                               "slow down")


@pytest.mark.parametrize("sse", FRAMINGS)
def test_an_error_before_anything_else_is_the_whole_stream(sse):
    raw = front.StreamEncoder("m", None, sse=sse).encode(ir.StreamError(503, "overloaded_error", "busy"))
    error = {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}
    assert (json.loads(raw) == [error]) if not sse else (raw == b"data: " + json.dumps(
        error, separators=(",", ":")).encode() + b"\r\n\r\n")
    with pytest.raises(errors.ServerError):
        sdk_stream(raw) if sse else array_chunks(raw)


def test_a_stream_without_start_or_part_stops_still_ends_well():
    encoder = front.StreamEncoder("m", request(), sse=False)
    raw = b"".join(encoder.encode(event) for event in [
        ir.PartStart(0, ir.Text("")), ir.Delta(0, "text", "a"),
        ir.PartStart(1, ir.ToolCall("call_1", "f")), ir.Delta(1, "arguments", "{}"),
        ir.Finish("tool_use", ir.Usage(3, 4))])
    chunks = array_chunks(raw)
    assert fold(chunks) == [{"text": "a"}, {"function_call": {"id": "call_1", "name": "f", "args": {}}}]
    assert len({chunk.response_id for chunk in chunks}) == 1 and chunks[0].response_id


def test_the_encoders_say_their_content_type():
    assert front.StreamEncoder("m", None).content_type == "text/event-stream"
    assert front.StreamEncoder("m", None, sse=False).content_type == "application/json"


# -- models -----------------------------------------------------------------


def test_the_model_list_is_googles_shape_as_the_sdk_reads_it():
    models = [ModelConfig(id="gemini-test", type="google", name="Gemini Test"),
              ModelConfig(id="claude-test", type="anthropic")]
    body = front.model_list(models, 1_700_000_000)
    listed, got = list_models(lambda path: body if path.endswith("/models")
                              else front.model_entry(models[0], 1_700_000_000))
    assert [(m.name, m.display_name, m.version) for m in listed] == [
        ("models/gemini-test", "Gemini Test", "1700000000"), ("models/claude-test", "claude-test", "1700000000")]
    assert listed[0].supported_actions == ["generateContent", "streamGenerateContent", "countTokens"]
    assert got == listed[0]
    assert body["models"][1]["baseModelId"] == "claude-test"


def test_the_token_count_is_googles_shape():
    assert types.CountTokensResponse.model_validate(front.encode_token_count(42)).total_tokens == 42
