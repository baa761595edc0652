"""No upstream answer makes the Chat front crash: a property test over damaged upstream answers.

Each example takes a real recorded answer of one upstream dialect (tests/recorded/)
and damages it with tests/json_mutations.py — wrong types, missing and unknown
keys, surrogates, huge numbers, cut or non-UTF-8 JSON — and, for streams, also
drops, repeats or cuts events or adds garbage. The answer is served with
`responses` to the Chat front, which converts it. Whatever the upstream sent:

* the status is below 500, or 502/503/504 (the upstream's fault, as the gateway maps it);
* a JSON answer is a valid ChatCompletion or an OpenAI-shaped error;
* a stream ends with ``data: [DONE]`` after a finish chunk, or with an error chunk and no
  ``[DONE]`` — never a clean close without either;
* nothing is logged as a crash (no ERROR record carrying a traceback).

The Chat front relays a Chat Completions upstream instead of converting it, so
that dialect's decoders run here through the same pieces the Gateway uses.
HYPOTHESIS_PROFILE=deep searches longer.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from droid2api import ir
from droid2api.dialects import openai_chat
from droid2api.errors import GatewayError
from droid2api.gateway import _decode_response
from droid2api.relay import converted_stream, decode_stream

from . import hypothesis_profiles  # noqa: F401  (loads the profile before any @given runs)
from .helpers import LogRecords, app_for, exchanges, recorded, recorded_json, sse_events
from .json_mutations import damaged_bodies

MODELS = {"anthropic": "claude-test", "openai": "gpt-test", "google": "gemini-test"}
RECORDING_PREFIX = {"anthropic": "anthropic", "openai": "openai_responses", "google": "google", "common": "openai"}
UPSTREAM_STATUSES = (502, 503, 504)  # the upstream's failures, as the gateway reports them


def _stream_seeds(kind: str) -> list:
    """Each recorded stream of an upstream type as a list of (event name, JSON data, data as bytes)."""
    return [[(event, json.loads(data), data.encode())
             for event, data in sse_events(recorded(f"{name}.response.sse")) if data.strip() != "[DONE]"]
            for name in exchanges(RECORDING_PREFIX[kind], "sse")]


def _plain_seeds(kind: str) -> list:
    """Recorded complete answers; the Responses API's are the ``response`` of each recorded completed event."""
    seeds = [recorded_json(f"{name}.response.json") for name in exchanges(RECORDING_PREFIX[kind], "json")]
    if kind == "openai":
        seeds += [data["response"] for events in STREAMS["openai"] for _, data, _ in events
                  if data.get("type") == "response.completed"]
    if kind == "common":  # a recorded stream, folded into the answer it stands for
        for events in STREAMS["common"]:
            decoder = openai_chat.StreamDecoder()
            folded = ir.accumulate([e for _, _, data in events for e in decoder.feed(None, data.decode())]
                                   + decoder.close())
            seeds.append(openai_chat.encode_response(folded, "gpt-4o-mini"))
    return seeds


STREAMS = {kind: _stream_seeds(kind) for kind in RECORDING_PREFIX}
PLAIN = {kind: _plain_seeds(kind) for kind in RECORDING_PREFIX}


# -- damaged answers ----------------------------------------------------------------------------

def _damaged(seed) -> st.SearchStrategy:
    """One JSON document damaged; the mutation library also sets ``model``, one more key to survive."""
    return damaged_bodies([seed], ["upstream-model"])


@st.composite
def damaged_streams(draw, kind: str) -> bytes:
    events = draw(st.sampled_from(STREAMS[kind]))
    frames = [(event, data) for event, _, data in events]
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(frames) - 1))
        frames[at] = (frames[at][0], draw(_damaged(events[at][1])))
    for _ in range(draw(st.integers(0, 1))):
        at = draw(st.integers(0, len(frames) - 1))
        action = draw(st.sampled_from(["drop", "repeat", "garbage"]))
        if action == "drop":
            del frames[at]
        elif action == "repeat":
            frames.insert(at, frames[at])
        else:
            frames.insert(at, (None, draw(st.binary(max_size=20)).replace(b"\n", b"").replace(b"\r", b"")))
    raw = b"".join((f"event: {event}\n".encode() if event else b"") + b"data: " + data + b"\n\n"
                   for event, data in frames)
    if kind == "common" and draw(st.booleans()):
        raw += b"data: [DONE]\n\n"
    if draw(st.integers(0, 4)) == 0:  # the connection closed early
        raw = raw[:draw(st.integers(0, len(raw)))]
    return raw


def damaged_answers(kind: str):
    return st.one_of(st.sampled_from(PLAIN[kind]).flatmap(_damaged), st.binary(max_size=30))


@st.composite
def any_answer(draw, kind: str, streamed: bool) -> tuple:
    """(body, whether it is served as an event stream): mostly what was asked for, sometimes the other."""
    if draw(st.integers(0, 9)) == 0:
        streamed = not streamed
    return draw(damaged_streams(kind) if streamed else damaged_answers(kind)), streamed


# -- the properties -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gateway():
    """(test client, log records)."""
    with LogRecords() as records:
        yield app_for().test_client(), records


def check_error(body: dict):
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


def check_plain(status: int, body: dict):
    assert status < 500 or status in UPSTREAM_STATUSES, (status, body)
    if status == 200:
        ChatCompletion.model_validate(body)
    else:
        check_error(body)


def check_stream(raw: bytes):
    """Ends with [DONE] after a finish chunk, or with an error chunk and no [DONE] at all."""
    data = [d for _, d in sse_events(raw)]
    assert data, "a stream that closed without a word"
    if data[-1] == "[DONE]":
        chunks = [json.loads(d) for d in data[:-1]]
        assert all("error" not in c for c in chunks)
        finishes = [ChatCompletionChunk.model_validate(c).choices[0].finish_reason for c in chunks if c["choices"]]
        assert finishes and finishes[-1] is not None and all(f is None for f in finishes[:-1])
    else:
        assert "[DONE]" not in data
        check_error(json.loads(data[-1]))
        for chunk in data[:-1]:
            ChatCompletionChunk.model_validate_json(chunk)


def ask(http, kind: str, answer: bytes, stream: bool, answer_streamed: bool):
    """The Chat front's answer when the upstream answers ``answer``, as an event stream or not."""
    body = {"model": MODELS[kind], "messages": [{"role": "user", "content": "hi"}], "stream": stream,
            "stream_options": {"include_usage": True}} if stream else \
        {"model": MODELS[kind], "messages": [{"role": "user", "content": "hi"}]}
    content_type = "text/event-stream" if answer_streamed else "application/json"
    with responses.RequestsMock() as upstream:
        upstream.post(re.compile(r"https://api\.factory\.ai/.*"), body=answer, content_type=content_type)
        reply = http.post("/v1/chat/completions", json=body)
        return reply.status_code, reply.content_type, reply.get_data()


@given(data=st.data())
def test_no_complete_upstream_answer_crashes_the_chat_front(gateway, data):
    http, records = gateway
    kind = data.draw(st.sampled_from(list(MODELS)), label="upstream type")
    answer, streamed = data.draw(any_answer(kind, False), label="answer")
    status, content_type, raw = ask(http, kind, answer, False, streamed)
    assert content_type == "application/json"
    check_plain(status, json.loads(raw))
    assert not records.crashes()


@given(data=st.data())
def test_no_upstream_stream_crashes_the_chat_front(gateway, data):
    http, records = gateway
    kind = data.draw(st.sampled_from(list(MODELS)), label="upstream type")
    answer, streamed = data.draw(any_answer(kind, True), label="answer")
    status, content_type, raw = ask(http, kind, answer, True, streamed)
    if content_type.startswith("text/event-stream"):
        assert status == 200
        check_stream(raw)
    else:
        check_plain(status, json.loads(raw))
    assert not records.crashes()


def _upstream(raw: bytes):
    """What decode_stream and converted_stream read: a body in one piece, a name, a close()."""
    return SimpleNamespace(name="chat-upstream", iter_bytes=lambda: iter([raw]), close=lambda: None)


@given(data=st.data())
def test_no_chat_completions_answer_breaks_its_decoders(gateway, data):
    _, records = gateway
    answer = data.draw(damaged_answers("common"), label="answer")
    try:
        response = _decode_response(openai_chat, answer, "chat-upstream")
    except GatewayError as e:
        assert e.status in UPSTREAM_STATUSES
    else:
        ChatCompletion.model_validate(openai_chat.encode_response(response, "m"))
    stream = _upstream(data.draw(damaged_streams("common"), label="stream"))
    events = decode_stream(stream, openai_chat.StreamDecoder())
    check_stream(b"".join(converted_stream(stream, events, openai_chat.StreamEncoder("m", ir.Request("m", include_usage=True)))))
    assert not records.crashes()
