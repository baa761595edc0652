"""Upstream answers of the wrong shape, converted for a Chat client: a 502 that names the field, never a 500.

Each case is an upstream 200 whose body breaks its dialect's contract (a string
where a list of blocks belongs, a number where text belongs); the Chat front
must answer 502 in the OpenAI error shape, or end a stream with an error chunk
and no ``[DONE]``. The Chat Completions upstream is never converted to by the
Chat front (it is relayed), so its decoders are checked directly.
"""

from __future__ import annotations

import json

import pytest
import responses

from droid2api import ir
from droid2api.dialects import openai_chat
from droid2api.dialects.shape import ShapeError

from .helpers import FACTORY_ENDPOINTS, app_for, sse_events

MODELS = {"anthropic": "claude-test", "openai": "gpt-test", "google": "gemini-test"}


def ask_chat(upstream_type: str, answer: bytes, *, stream: bool):
    """The Chat front's answer to a question whose upstream (of ``upstream_type``) answers ``answer``."""
    body = {"model": MODELS[upstream_type], "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    with responses.RequestsMock() as upstream:
        upstream.post(FACTORY_ENDPOINTS[upstream_type], body=answer,
                      content_type="text/event-stream" if stream else "application/json")
        return app_for().test_client().post("/v1/chat/completions", json=body)


def openai_error(answer) -> str:
    """The message of an OpenAI-shaped error body, checking that shape."""
    body = answer.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]["message"]


def stream_error(answer) -> str:
    """The message of the error chunk a Chat stream must end with; no [DONE] may come."""
    assert answer.status_code == 200
    events = [data for _, data in sse_events(answer.get_data())]
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert set(last) == {"error"} and set(last["error"]) == {"message", "type", "param", "code"}
    return last["error"]["message"]


def sse(events: list) -> bytes:
    return b"".join(f"event: {e.get('type', 'x')}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


# -- non-streamed answers -------------------------------------------------------------------------

ANTHROPIC = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
             "content": [{"type": "text", "text": "hello"}], "stop_reason": "end_turn",
             "usage": {"input_tokens": 3, "output_tokens": 1}}
RESPONSES = {"id": "resp_1", "object": "response", "status": "completed", "model": "gpt", "created_at": 1,
             "output": [{"type": "message", "id": "msg_1", "role": "assistant",
                         "content": [{"type": "output_text", "text": "hello", "annotations": []}]}],
             "usage": {"input_tokens": 3, "output_tokens": 1}}
GEMINI = {"candidates": [{"content": {"role": "model", "parts": [{"text": "hello"}]}, "finishReason": "STOP"}],
          "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}, "modelVersion": "gemini"}

PLAIN_CASES = {
    # The two of the issue: an empty 200 with zero usage, and a 500.
    "anthropic content is a string": ("anthropic", {**ANTHROPIC, "content": "hello"},
                                      "content must be a list of blocks, not string"),
    "anthropic text is a number": ("anthropic", {**ANTHROPIC, "content": [{"type": "text", "text": 5}]},
                                   "content[0].text must be a string, not 5"),
    "anthropic usage is a string": ("anthropic", {**ANTHROPIC, "usage": {"input_tokens": 3, "output_tokens": "1"}},
                                    "usage.output_tokens must be a non-negative integer, not string"),
    "anthropic tool input is a list": ("anthropic", {**ANTHROPIC, "content": [
        {"type": "tool_use", "id": "t1", "name": "f", "input": [1]}]}, "content[0].input must be an object, not array"),
    "responses text is a number": ("openai", {**RESPONSES, "output": [
        {"type": "message", "content": [{"type": "output_text", "text": 5}]}]},
        "output[0].content[0].text must be a string, not 5"),
    "responses without output": ("openai", {k: v for k, v in RESPONSES.items() if k != "output"},
                                 "output is required"),
    "gemini text is a number": ("google", {**GEMINI, "candidates": [{"content": {"parts": [{"text": 5}]},
                                                                     "finishReason": "STOP"}]},
                                "candidates[0].content.parts[0].text must be a string, not 5"),
    "gemini candidates is an object": ("google", {**GEMINI, "candidates": {"content": {}}},
                                       "candidates must be a list of candidates, not object"),
    "gemini usage is a string": ("google", {**GEMINI, "usageMetadata": {"promptTokenCount": "3"}},
                                 "usageMetadata.promptTokenCount must be a non-negative integer, not string"),
}


@pytest.mark.parametrize("upstream_type, answer, problem", PLAIN_CASES.values(), ids=PLAIN_CASES)
def test_a_wrong_shape_is_a_502_naming_the_field(upstream_type, answer, problem):
    reply = ask_chat(upstream_type, json.dumps(answer).encode(), stream=False)
    assert reply.status_code == 502
    upstream_name = f"factory-{upstream_type}"
    assert openai_error(reply) == f"upstream {upstream_name} sent an answer of an unexpected shape: {problem}"


# -- streamed answers -----------------------------------------------------------------------------

ANTHROPIC_EVENTS = [
    {"type": "message_start", "message": {"id": "msg_1", "model": "claude", "usage": {"input_tokens": 3}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hello"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
    {"type": "message_stop"},
]
RESPONSES_EVENTS = [
    {"type": "response.created", "response": {"id": "resp_1", "model": "gpt", "created_at": 1}},
    {"type": "response.content_part.added", "output_index": 0, "content_index": 0,
     "part": {"type": "output_text", "text": ""}},
    {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "hello"},
    {"type": "response.completed", "response": {**RESPONSES}},
]


def replaced(events: list, at: int, **fields) -> list:
    return [{**event, **fields} if i == at else event for i, event in enumerate(events)]


STREAM_CASES = {
    "anthropic text delta is a number": (
        "anthropic", replaced(ANTHROPIC_EVENTS, 2, delta={"type": "text_delta", "text": 5}),
        "a content_block_delta event of an unexpected shape: delta.text must be a string, not 5"),
    "anthropic usage is a string": (
        "anthropic", replaced(ANTHROPIC_EVENTS, 0, message={"id": "m", "usage": "many"}),
        "a message_start event of an unexpected shape: message.usage must be an object, not string"),
    "anthropic arguments into a text block": (
        "anthropic", replaced(ANTHROPIC_EVENTS, 2, delta={"type": "input_json_delta", "partial_json": "{}"}),
        "a content_block_delta event of an unexpected shape: a input_json_delta does not belong in a text block"),
    "responses delta is a number": (
        "openai", replaced(RESPONSES_EVENTS, 2, delta=5),
        "a response.output_text.delta event of an unexpected shape: delta must be a string, not 5"),
    "responses usage is a list": (
        "openai", replaced(RESPONSES_EVENTS, 3, response={**RESPONSES, "usage": [1]}),
        "a response.completed event of an unexpected shape: response.usage must be an object, not array"),
    "gemini parts is a string": (
        "google", [{**GEMINI, "candidates": [{"content": {"parts": "hello"}, "finishReason": "STOP"}]}],
        "an event of an unexpected shape: candidates[0].content.parts must be a list of parts, not string"),
    # Each chunk repeats the usage so far, and the decoder reads only the last chunk's, when the stream ends.
    "gemini usage is a string": (
        "google", [{**GEMINI, "candidates": [{"content": {"parts": [{"text": "hel"}]}}]},
                   {**GEMINI, "usageMetadata": {"promptTokenCount": 3, "thoughtsTokenCount": "1"}}],
        "an event of an unexpected shape: usageMetadata.thoughtsTokenCount must be a non-negative integer, not string"),
}


@pytest.mark.parametrize("upstream_type, events, problem", STREAM_CASES.values(), ids=STREAM_CASES)
def test_a_wrong_shape_in_a_stream_ends_it_with_an_error_chunk(upstream_type, events, problem):
    assert stream_error(ask_chat(upstream_type, sse(events), stream=True)) == f"the upstream sent {problem}"


# -- the Chat Completions upstream, decoded directly -------------------------------------------------

CHAT = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "glm",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


@pytest.mark.parametrize("answer, problem", [
    ({**CHAT, "choices": {"0": {}}}, "choices must be a list of choices, not object"),
    ({**CHAT, "choices": [{"message": {"content": ["hello"]}}]}, "choices[0].message.content[0] must be an object"),
    ({**CHAT, "choices": [{"message": {"content": [{"type": "text", "text": 5}]}}]},
     "choices[0].message.content[0].text must be a string, not 5"),
    ({**CHAT, "choices": [{"message": {"tool_calls": [{"id": "c1", "function": {"name": 7}}]}}]},
     "choices[0].message.tool_calls[0].function.name must be a string, not 7"),
    ({**CHAT, "usage": {"prompt_tokens": True}}, "usage.prompt_tokens must be a non-negative integer, not boolean"),
])
def test_a_chat_answer_of_the_wrong_shape_names_the_field(answer, problem):
    with pytest.raises(ShapeError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        openai_chat.decode_response(answer)


@pytest.mark.parametrize("chunk, problem", [
    ({"choices": [{"index": 0, "delta": {"content": 5}}]}, "choices[0].delta.content must be a string, not 5"),
    ({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": [0]}]}}]},
     "choices[0].delta.tool_calls[0].index must be a non-negative integer, not array"),
    ({"choices": [{"index": 0, "delta": {}, "finish_reason": {"why": "stop"}}]},
     "choices[0].finish_reason must be a string, not object"),
])
def test_a_chat_chunk_of_the_wrong_shape_ends_the_stream_with_an_error(chunk, problem):
    decoder = openai_chat.StreamDecoder()
    events = decoder.feed(None, json.dumps({"id": "c", "model": "m", **chunk}))
    assert isinstance(events[-1], ir.StreamError) and events[-1].status == 502
    assert events[-1].message == f"the upstream sent an event of an unexpected shape: {problem}"
    assert decoder.feed(None, json.dumps({"choices": [{"delta": {"content": "more"}}]})) == []
    assert decoder.close() == []


def test_chat_content_as_a_list_of_parts_is_read_as_its_text():
    # Mistral and some other Chat providers send content as parts, in answers and in deltas.
    parts = [{"type": "text", "text": "hel"}, {"type": "reference", "ids": [1]}, {"type": "text", "text": "lo"}]
    answer = {**CHAT, "choices": [{"index": 0, "message": {"role": "assistant", "content": parts},
                                   "finish_reason": "stop"}]}
    assert [part.text for part in openai_chat.decode_response(answer).parts] == ["hello"]
    decoder = openai_chat.StreamDecoder()
    events = decoder.feed(None, json.dumps({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {
        "content": parts}}]}))
    assert "".join(e.value for e in events if isinstance(e, ir.Delta)) == "hello"
