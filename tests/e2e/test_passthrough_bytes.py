"""Every recorded answer replayed through the passthrough endpoints must reach the client byte for byte.

A raw HTTP client reads what the gateway sends, so no SDK can normalise a difference away; the
fake upstream's gate shows that each event is relayed while the upstream is still sending.
"""

from __future__ import annotations

import time

import openai
import pytest

from tests.fake_upstream import sse_chunks
from tests.helpers import RECORDED, exchanges, recorded, recorded_json

from .checks import STREAMED, assert_streamed_as_produced
from .client import in_pieces, post
from .servers import ANTHROPIC_PATH, RESPONSES_PATH, SDK_OPTIONS

CHAT_PATH = "/api/llm/o/v1/chat/completions"
# (exchange, gateway endpoint, model, path the fake upstream answers on)
CASES = ([(name, "/v1/messages", "claude-test", ANTHROPIC_PATH) for name in exchanges("anthropic")]
         + [(name, "/v1/responses", "gpt-test", RESPONSES_PATH) for name in exchanges("openai_responses")]
         + [(name, "/v1/chat/completions", "glm-test", CHAT_PATH) for name in exchanges("openai")])


def response_file(name: str) -> str:
    streamed = f"{name}.response.sse"
    return streamed if (RECORDED / streamed).exists() else f"{name}.response.json"


STREAM_CASES = [case for case in CASES if response_file(case[0]).endswith(".sse")]


@pytest.mark.parametrize("name, endpoint, model, path", CASES, ids=[case[0] for case in CASES])
def test_recorded_answer_arrives_unchanged(gateway, upstream, name, endpoint, model, path):
    raw = recorded(response_file(name))
    meta = recorded_json(f"{name}.meta.json")
    upstream.reply(path, sse_chunks(raw) if meta["content_type"].startswith("text/event-stream") else [raw],
                   content_type=meta["content_type"])

    exchange = post(gateway.url + endpoint, {**recorded_json(f"{name}.request.json"), "model": model})

    assert (exchange.status, exchange.headers["content-type"]) == (meta["status"], meta["content_type"])
    assert exchange.read() == raw


@pytest.mark.parametrize("name, endpoint, model, path", STREAM_CASES, ids=[case[0] for case in STREAM_CASES])
def test_final_event_cut_into_small_pieces_is_still_complete(gateway, upstream, name, endpoint, model, path):
    # The gateway looks for the final event to tell a finished stream from a broken one; here its
    # name arrives across several network reads, so it must not be mistaken for a missing one.
    raw = recorded(response_file(name))
    *events, final = sse_chunks(raw)
    upstream.reply(path, events + in_pieces(final, 5), content_type="text/event-stream; charset=utf-8")

    exchange = post(gateway.url + endpoint, {**recorded_json(f"{name}.request.json"), "model": model})

    assert exchange.read() == raw


def test_chat_stream_that_ends_without_done_is_a_good_answer_for_the_strict_sdk(gateway, upstream):
    # Several providers end a Chat stream with the finish_reason chunk (and the usage chunk) and
    # never send "data: [DONE]"; the answer is complete, so no error may follow it.
    name = "openai__test_run_stream_sync_streams_real_model.1"
    raw = recorded(f"{name}.response.sse")
    raw = raw[:raw.rindex(b"data: [DONE]")]
    request = {**recorded_json(f"{name}.request.json"), "model": "glm-test"}
    for _ in range(2):
        upstream.reply_sse(CHAT_PATH, raw)

    received = post(gateway.url + "/v1/chat/completions", request).read()
    client = openai.OpenAI(base_url=gateway.url + "/v1", **SDK_OPTIONS)
    try:
        chunks = list(client.chat.completions.create(**request))
    finally:
        client.close()

    assert received == raw
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == \
        "The capital of the UK is London."
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"
    assert chunks[-1].usage.total_tokens == 87


@pytest.mark.parametrize("endpoint, model, path, name", STREAMED, ids=["messages", "responses"])
def test_first_event_arrives_while_the_upstream_holds_the_rest(gateway, upstream, endpoint, model, path, name):
    assert_streamed_as_produced(upstream, gateway.url + endpoint, model, path, name)


def test_client_that_goes_away_stops_the_upstream(gateway, upstream):
    raw = recorded("anthropic__test_anthropic_model_thinking_part_stream.0.response.sse")
    first = sse_chunks(raw)[0]
    pings = b'event: ping\ndata: {"type": "ping"}\n\n' * 100
    # Far more than socket buffers hold: the upstream can only finish if someone keeps reading.
    held = upstream.reply(ANTHROPIC_PATH, [first] + [pings] * 2000, content_type="text/event-stream", hold_at=1)
    body = {**recorded_json("anthropic__test_anthropic_model_thinking_part_stream.0.request.json"),
            "model": "claude-test"}

    exchange = post(gateway.url + "/v1/messages", body)
    exchange.read_until(first)
    exchange.close()
    held.release()

    assert wait_for_state(held, ("failed", "done")) == "failed"  # the gateway hung up on it


def wait_for_state(answer, states, limit: float = 20.0) -> str:
    deadline = time.monotonic() + limit
    while answer.state not in states:
        assert time.monotonic() < deadline, f"the upstream answer is still {answer.state!r}"
        time.sleep(0.02)
    return answer.state
