"""How passthrough decides that a relayed stream finished: by its events, the way each dialect's servers end one.

A finished stream is relayed untouched; one cut short before its dialect's
final event gets that dialect's error event. Real servers end streams in ways
a byte pattern misses (a Chat finish_reason without ``data: [DONE]``,
Responses events without ``event:`` lines, ``"type": "x"`` with a space), and
model text may say any of those words without ending anything.
"""

from __future__ import annotations

import json

import pytest
import responses

from droid2api.dialects import anthropic, gemini, openai_chat, openai_responses
from droid2api.relay import passthrough_stream
from droid2api.upstream import UpstreamBroken

from .helpers import app_for, exchanges, recorded, sse_events
from .test_endpoints import CHAT, CHAT_URL, RESPONSE, RESPONSES_START, RESPONSES_URL, streaming_upstream


@pytest.fixture
def http():
    return app_for().test_client()


def chat_chunk(delta: dict, finish_reason=None) -> bytes:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


def data_only(raw: bytes, separators=(",", ":")) -> bytes:
    """A recorded Responses stream as a server without ``event:`` lines sends it, its JSON re-spaced."""
    return b"".join(b"data: " + json.dumps(json.loads(data), separators=separators).encode() + b"\n\n"
                    for _, data in sse_events(raw))


def in_pieces(raw: bytes, size: int = 7) -> list:
    return [raw[i:i + size] for i in range(0, len(raw), size)]  # every event split across reads


def relay(http, path: str, body: dict, url: str, raw_pieces: list) -> bytes:
    streaming_upstream(url, raw_pieces, None)  # closed cleanly after the last piece
    return http.post(path, json={**body, "stream": True}).get_data()


# -- each dialect's final events ------------------------------------------------------------------

@pytest.mark.parametrize("dialect, name, data, final", [
    (anthropic, "message_stop", '{"type":"message_stop"}', True),
    (anthropic, "error", '{"type":"error","error":{"type":"overloaded_error","message":"x"}}', True),
    (anthropic, None, '{"type": "message_stop"}', True),  # a data-only server
    (anthropic, "message_delta", '{"type":"message_delta","delta":{"stop_reason":"end_turn"}}', False),
    (anthropic, None, '{"type":"content_block_delta","delta":{"text":"\\"type\\": \\"message_stop\\""}}', False),
    (openai_chat, None, "[DONE]", True),
    (openai_chat, None, '{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}', True),
    (openai_chat, None, '{"choices": [{"index": 1, "finish_reason": null}, {"index": 0, "finish_reason": "length"}]}',
     True),
    (openai_chat, None, '{"error":{"message":"overloaded","type":"server_error"}}', True),
    (openai_chat, None, '{"choices":[{"index":0,"delta":{"content":"[DONE]"},"finish_reason":null}]}', False),
    (openai_chat, None, '{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason": ""}]}', False),
    (openai_chat, None, '{"choices":[{"delta":{"content":"\\"finish_reason\\":\\"stop\\""},"finish_reason":null}]}',
     False),
    (openai_chat, None, '{"choices":[{"delta":{"content":"finish_reason"},"finish_reason":null}],"error":null}', False),
    (openai_responses, "response.completed", '{"type":"response.completed"}', True),
    (openai_responses, "response.failed", '{"type":"response.failed"}', True),
    (openai_responses, "error", '{"type":"error","message":"x"}', True),
    (openai_responses, None, '{"type":"response.incomplete","sequence_number":9}', True),
    (openai_responses, None, '{"type": "response.completed", "sequence_number": 9}', True),
    (openai_responses, None, '{"type":"response.created","response":{"status":"in_progress","error":null}}', False),
    (openai_responses, None, '{"type":"response.output_text.delta","delta":"response.completed"}', False),
    (openai_responses, None, '{"type":"response.output_text.delta","delta":"\\"type\\": \\"response.completed\\""}',
     False),
    (openai_responses, "response.output_text.delta", '{"type":"response.completed"}', False),  # the name decides
    (gemini, None, '{"candidates":[{"content":{"parts":[{"text":"."}]},"finishReason":"STOP"}]}', True),
    (gemini, None, '{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}', True),
    (gemini, None, '{"candidates":[{"content":{"parts":[{"text":"error"}]}}]}', False),
    (gemini, None, '{"candidates":[{"content":{"parts":[{"text":"\\"finishReason\\": \\"STOP\\""}]}}]}', False),
], ids=lambda value: value.NAME if hasattr(value, "NAME") else None)
def test_final_events_of_each_dialect(dialect, name, data, final):
    assert dialect.is_final_event(name, data) is final


# -- streams that finished ------------------------------------------------------------------------

@pytest.mark.parametrize("usage_chunk", [False, True])
@responses.activate
def test_chat_stream_ending_with_finish_reason_and_no_done_is_relayed_untouched(http, usage_chunk):
    for exchange in exchanges("openai", "sse"):
        raw = recorded(f"{exchange}.response.sse")
        raw = raw[:raw.rindex(b"data: [DONE]")]  # what several providers send: no [DONE] at all
        if not usage_chunk:
            raw = raw[:raw.rindex(b"data: ")]
        assert b'"finish_reason":"' in raw  # stop or tool_calls
        responses.reset()
        assert relay(http, "/v1/chat/completions", CHAT, CHAT_URL, in_pieces(raw)) == raw, exchange


@responses.activate
def test_responses_data_only_streams_are_relayed_untouched(http):
    for exchange in exchanges("openai_responses", "sse"):
        for separators in [(",", ":"), (", ", ": ")]:  # "type":"x" and "type": "x"
            raw = data_only(recorded(f"{exchange}.response.sse"), separators)
            responses.reset()
            assert relay(http, "/v1/responses", RESPONSE, RESPONSES_URL, in_pieces(raw)) == raw, exchange


@responses.activate
def test_a_chat_answer_that_mentions_its_end_markers_ends_only_at_its_final_chunk(http):
    text = (chat_chunk({"role": "assistant", "content": "the stream ends with [DONE]\ndata: [DONE]"})
            + chat_chunk({"content": "[DONE]"})
            + chat_chunk({"content": '{"error": "x", "finish_reason": "stop"}'}))
    cut = relay(http, "/v1/chat/completions", CHAT, CHAT_URL, in_pieces(text))  # closed politely, too early
    [(_, error)] = sse_events(cut[len(text):])
    assert cut.startswith(text) and "before the final event" in json.loads(error)["error"]["message"]

    done = text + chat_chunk({}, "stop")  # and no [DONE]
    responses.reset()
    assert relay(http, "/v1/chat/completions", CHAT, CHAT_URL, in_pieces(done)) == done


@responses.activate
def test_a_data_only_responses_answer_that_mentions_completion_ends_only_when_completed(http):
    for separators in [(",", ":"), (", ", ": ")]:
        def event(payload: dict) -> bytes:
            return b"data: " + json.dumps(payload, separators=separators).encode() + b"\n\n"

        text = (event({"type": "response.created", "sequence_number": 0, "response": {"error": None}})
                + event({"type": "response.output_text.delta", "sequence_number": 1,
                         "delta": 'wait for "type": "response.completed" or "type":"error"'})
                + event({"type": "response.output_text.delta", "sequence_number": 2, "delta": "response.completed"}))
        responses.reset()
        cut = relay(http, "/v1/responses", RESPONSE, RESPONSES_URL, in_pieces(text))
        [(name, error)] = sse_events(cut[len(text):])
        assert cut.startswith(text) and name == "error" and json.loads(error)["sequence_number"] == 3

        done = text + event({"type": "response.completed", "sequence_number": 3})
        responses.reset()
        assert relay(http, "/v1/responses", RESPONSE, RESPONSES_URL, in_pieces(done)) == done, separators


# -- streams cut short ----------------------------------------------------------------------------

@responses.activate
def test_responses_error_event_is_numbered_after_a_large_last_event(http):
    big = (b'event: response.output_item.done\ndata: {"type":"response.output_item.done","sequence_number":41,'
           b'"item":{"type":"message","content":[{"type":"output_text","text":"' + b"x" * 20000 + b'"}]}}\n\n')
    received = relay(http, "/v1/responses", RESPONSE, RESPONSES_URL, [RESPONSES_START, big[:9000], big[9000:]])
    [(name, error)] = sse_events(received[len(RESPONSES_START + big):])
    assert name == "error" and json.loads(error)["sequence_number"] == 42


class ScriptedUpstream:
    """What passthrough_stream reads: the upstream's body in pieces, then a clean end or a broken connection."""

    name = "scripted"

    def __init__(self, pieces: list, failure: UpstreamBroken | None = None):
        self.pieces, self.failure, self.closed = pieces, failure, False

    def iter_bytes(self):
        yield from self.pieces
        if self.failure is not None:
            raise self.failure

    def close(self):
        self.closed = True


GEMINI_TEXT = b'data: {"candidates": [{"content": {"parts": [{"text": "error"}],"role": "model"}}]}\r\n\r\n'
GEMINI_END = (b'data: {"candidates": [{"content": {"parts": [{"text": "."}],"role": "model"},'
              b'"finishReason": "STOP"}]}\r\n\r\n')


def test_gemini_stream_ends_at_a_finish_reason_not_at_a_word():
    for sent, failure, finished in [
        (GEMINI_TEXT + GEMINI_END, None, True),
        (GEMINI_TEXT + GEMINI_END.rstrip(), None, True),  # the last event left without its blank line
        (GEMINI_TEXT, None, False),  # a text that says "error" is no error, nor an end
        (GEMINI_TEXT, UpstreamBroken(502, "upstream scripted broke off its response"), False),
    ]:
        upstream = ScriptedUpstream(in_pieces(sent, 5), failure)
        received = b"".join(passthrough_stream(upstream, gemini, dev=False))
        assert received.startswith(sent) and upstream.closed
        if finished:
            assert received == sent
        else:
            [(_, error)] = sse_events(received[len(sent):])
            assert json.loads(error)["error"]["status"] == "UNAVAILABLE"
