"""Fallbacks end to end: which route answers when the first one fails, and what the client is told.

Two fake upstream processes take part, each scripted per test: the session's (A: the primaries) and this
module's own (B: the fallbacks), plus an address nobody listens on. A retry or a fallback happens only
before the first byte has gone to the client; after it, a failure ends the stream with the dialect's error
event, and the fallback upstream never hears of the request.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from droid2api.credentials import fingerprint
from tests.fake_upstream import sse_chunks
from tests.helpers import recorded

from .checks import anthropic_error, completed_response, openai_error
from .client import last_event, post, sse_payloads
from .servers import SYSTEM_PROMPT, free_port, fresh, message_json, message_sse, routes_report

POOL_KEYS = ("sk-ant-pool-one", "sk-ant-pool-two")
SOLO_KEY = "sk-ant-solo"
B_KEY = "sk-ant-fallback"
B_OPENAI_KEY = "sk-openai-fallback"
POOL_PATH = "/pool/v1/messages"  # on A
SOLO_PATH = "/solo/v1/messages"  # on A
B_MESSAGES = "/b/v1/messages"
B_RESPONSES = "/b/v1/responses"
RESPONSES_ANSWER = "openai_responses__test_openai_responses_stream.1"  # says "The capital of France is Paris."
RESPONSES_TEXT = "The capital of France is Paris."
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
SERVER_ERROR = {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}
RATE_LIMITED = {"type": "error", "error": {"type": "rate_limit_error", "message": "Too many requests"}}


@pytest.fixture
def fallback(upstream_b_process):
    """Fake upstream B, where the fallbacks are: nothing queued, no requests recorded."""
    yield from fresh(upstream_b_process)


@pytest.fixture(scope="module")
def routed(start_server, upstream_process, upstream_b_process):
    a, b = upstream_process.client.url, upstream_b_process.client.url
    return start_server(
        upstreams=[
            {"name": "a-pool", "type": "anthropic", "base_url": a + "/pool", "api_keys": list(POOL_KEYS)},
            {"name": "a-solo", "type": "anthropic", "base_url": a + "/solo", "api_key": SOLO_KEY},
            {"name": "nobody", "type": "anthropic", "base_url": f"http://127.0.0.1:{free_port()}", "api_key": "x"},
            {"name": "b-anthropic", "type": "anthropic", "base_url": b + "/b", "api_key": B_KEY},
            {"name": "b-openai", "type": "openai", "base_url": b + "/b/v1", "api_key": B_OPENAI_KEY},
        ],
        models=[
            {"id": "claude-pool", "upstream": "a-pool", "upstream_model": "claude-pooled", "fallbacks": ["claude-b"]},
            {"id": "claude-solo", "upstream": "a-solo", "upstream_model": "claude-solo", "fallbacks": ["claude-b"]},
            {"id": "claude-nobody", "upstream": "nobody", "fallbacks": ["claude-b"]},
            {"id": "claude-x", "upstream": "a-solo", "upstream_model": "claude-x", "fallbacks": ["gpt-b"]},
            {"id": "claude-b", "upstream": "b-anthropic", "upstream_model": "claude-fallback"},
            {"id": "gpt-b", "upstream": "b-openai", "upstream_model": "gpt-5"},
        ],
        model_redirects={},
        first_byte_timeout=0.5, idle_timeout=0.5, read_timeout=0.5, rate_limit_rest=30.0,
    )


def ask(model: str, stream: bool = False, **extra) -> dict:
    """A Messages request whose opening no other request shares (no conversation affinity between tests)."""
    return {"model": model, "max_tokens": 64, "stream": stream,
            "messages": [{"role": "user", "content": f"Say hello ({uuid.uuid4().hex[:8]})"}], **extra}


def chat(model: str, stream: bool = False) -> dict:
    return {"model": model, "stream": stream,
            "messages": [{"role": "user", "content": f"Say hello ({uuid.uuid4().hex[:8]})"}]}


def assert_switched(exchange, first: str, answered: str, status: int, attempts: int) -> dict:
    """The routing headers of an answer a fallback gave; the notice they carry."""
    assert exchange.headers["x-gateway-switched"] == "1"
    assert exchange.headers["x-gateway-model"] == answered
    assert exchange.headers["x-gateway-attempts"] == str(attempts)
    notice = json.loads(exchange.headers["x-gateway-notice"])
    assert notice["type"] == "gateway_notice"
    assert (notice["from"], notice["to"], notice["trigger_status"], notice["attempts"]) == \
        (first, answered, status, attempts)
    assert notice["reason"]
    return notice


def assert_not_switched(exchange, model: str, attempts: int = 1):
    assert exchange.headers["x-gateway-switched"] == "0"
    assert exchange.headers["x-gateway-model"] == model
    assert exchange.headers["x-gateway-attempts"] == str(attempts)
    assert "x-gateway-notice" not in exchange.headers


def answer_from(client, text: str, stream: bool):
    """Queue B's Messages answer saying ``text``, streamed or not."""
    if stream:
        client.reply_sse(B_MESSAGES, message_sse(text))
    else:
        client.reply_json(B_MESSAGES, message_json(text))


def openai_answer_from(client, stream: bool):
    """Queue B's Responses answer (saying RESPONSES_TEXT), streamed or not."""
    if stream:
        client.reply_sse(B_RESPONSES, recorded(f"{RESPONSES_ANSWER}.response.sse"))
    else:
        client.reply_json(B_RESPONSES, completed_response(RESPONSES_ANSWER))


def keys_of(route: dict) -> dict:
    return {key["fingerprint"]: key for key in route["keys"]}


# -- an error status before anything was sent --------------------------------------------------------


def test_a_429_rests_the_key_and_the_pools_next_key_serves(routed, upstream, fallback):
    upstream.reply_json(POOL_PATH, RATE_LIMITED, status=429, headers={"retry-after": "30"})
    upstream.reply_json(POOL_PATH, message_json("from the second key"))

    exchange = post(routed.url + "/v1/messages", ask("claude-pool"))

    assert exchange.status == 200
    assert exchange.json()["content"][0]["text"] == "from the second key"  # no notice: the same model answered
    assert_not_switched(exchange, "claude-pool", attempts=2)
    limited, serving = [r.headers["x-api-key"] for r in upstream.requests(POOL_PATH)]
    assert {limited, serving} == set(POOL_KEYS)
    assert fallback.requests() == []
    resting = keys_of(routes_report(routed)["claude-pool"])
    assert 25 < resting[fingerprint(limited)]["resting_for_models"]["claude-pooled"] <= 30
    assert resting[fingerprint(serving)]["resting_for_models"] == {}

    # While the first key rests, only the second one is sent, request after request.
    upstream.reset()
    for n in range(3):
        upstream.reply_json(POOL_PATH, message_json(f"answer {n}"))
        exchange = post(routed.url + "/v1/messages", ask("claude-pool"))
        assert exchange.status == 200
        assert_not_switched(exchange, "claude-pool")
    assert [r.headers["x-api-key"] for r in upstream.requests()] == [serving] * 3


def test_a_429_on_the_only_key_falls_back_until_retry_after_has_passed(routed, upstream, fallback):
    upstream.reply_json(SOLO_PATH, RATE_LIMITED, status=429, headers={"retry-after": "1"})
    fallback.reply_json(B_MESSAGES, message_json("from the fallback", "claude-fallback"))

    exchange = post(routed.url + "/v1/messages", ask("claude-solo"))

    assert exchange.status == 200
    notice = assert_switched(exchange, "claude-solo", "claude-b", 429, 2)
    assert exchange.json() == {**message_json("from the fallback", "claude-fallback"), "gateway_notice": notice}
    assert upstream.only_request(SOLO_PATH).headers["x-api-key"] == SOLO_KEY
    assert fallback.only_request(B_MESSAGES).headers["x-api-key"] == B_KEY
    assert fallback.only_request().json()["model"] == "claude-fallback"

    # The key rests: the next request goes straight to the fallback, and the notice says why.
    fallback.reply_json(B_MESSAGES, message_json("again from the fallback", "claude-fallback"))
    exchange = post(routed.url + "/v1/messages", ask("claude-solo"))
    assert exchange.status == 200
    notice = assert_switched(exchange, "claude-solo", "claude-b", 429, 1)
    assert "resting" in notice["reason"]
    assert len(upstream.requests()) == 1

    # Once Retry-After has passed, the key serves again.
    deadline = time.monotonic() + 5
    while keys_of(routes_report(routed)["claude-solo"])[fingerprint(SOLO_KEY)]["resting_for_models"]:
        assert time.monotonic() < deadline, "the key still rests 5s after a Retry-After of 1s"
        time.sleep(0.1)
    upstream.reply_json(SOLO_PATH, message_json("the primary is back", "claude-solo"))
    exchange = post(routed.url + "/v1/messages", ask("claude-solo"))
    assert exchange.status == 200
    assert exchange.json()["content"][0]["text"] == "the primary is back"
    assert_not_switched(exchange, "claude-solo")


@pytest.mark.parametrize("status, body", [(500, SERVER_ERROR), (529, OVERLOADED)])
def test_a_server_error_falls_back_to_the_next_model(routed, upstream, fallback, status, body):
    upstream.reply_json(SOLO_PATH, body, status=status)
    fallback.reply_json(B_MESSAGES, message_json("from the fallback", "claude-fallback"))

    exchange = post(routed.url + "/v1/messages", ask("claude-solo"))

    assert exchange.status == 200
    notice = assert_switched(exchange, "claude-solo", "claude-b", status, 2)
    answer = exchange.json()
    assert answer["gateway_notice"] == notice and answer["content"][0]["text"] == "from the fallback"
    for received in (upstream.only_request(SOLO_PATH), fallback.only_request(B_MESSAGES)):
        assert received.body.count(json.dumps(SYSTEM_PROMPT)[1:-1]) == 1  # each gets the system prompt once


@pytest.mark.parametrize("stream", [False, True])
def test_a_refused_connection_falls_back(routed, upstream, fallback, stream):
    answer_from(fallback, "from the fallback", stream)

    exchange = post(routed.url + "/v1/messages", ask("claude-nobody", stream))

    assert exchange.status == 200
    notice = assert_switched(exchange, "claude-nobody", "claude-b", 502, 2)
    assert "connection refused" in notice["reason"]
    received = exchange.read()
    assert b"from the fallback" in received and b'"gateway_notice"' in received
    assert upstream.requests() == []


@pytest.mark.parametrize("how", ["no status line, streamed", "no status line", "headers but no body"])
def test_an_upstream_that_hangs_before_its_first_byte_is_left_for_the_fallback(routed, upstream, fallback, how):
    stream = how != "no status line"
    if how == "headers but no body":  # the status and headers arrive, the first byte of the body never does
        held = upstream.reply(SOLO_PATH, [b"", message_sse("too late")], chunked=False, hold_at=1,
                              content_type="text/event-stream")
    else:
        held = upstream.reply(SOLO_PATH, [message_sse("too late")], hold_at=0, content_type="text/event-stream")
    answer_from(fallback, "from the fallback", stream)

    exchange = post(routed.url + "/v1/messages", ask("claude-solo", stream))

    assert exchange.status == 200
    notice = assert_switched(exchange, "claude-solo", "claude-b", 504, 2)
    assert ("read timed out before its first byte" if how == "headers but no body" else
            "did not answer within 0.5s") in notice["reason"]
    received = exchange.read()
    assert b"from the fallback" in received and b"too late" not in received
    assert held.state in ("holding", "failed")  # never released: the gateway gave up waiting


def test_a_stream_dropped_before_its_first_byte_is_left_for_the_fallback(routed, upstream, fallback):
    upstream.reply_sse(SOLO_PATH, message_sse("never sent"), drop_after=0)  # status and headers, then cut
    fallback.reply_sse(B_MESSAGES, message_sse("from the fallback"))

    exchange = post(routed.url + "/v1/messages", ask("claude-solo", True))

    assert exchange.status == 200
    notice = assert_switched(exchange, "claude-solo", "claude-b", 502, 2)
    assert "broke off its response before its first byte" in notice["reason"]
    received = exchange.read()
    assert received.startswith(b"event: message_start\n")
    assert sse_payloads(received)[2]["delta"]["text"] == "from the fallback"
    assert last_event(received)[0] == "message_stop"


def test_an_answer_broken_off_before_the_client_got_any_of_it_is_left_for_the_fallback(routed, upstream, fallback):
    raw = json.dumps(message_json("never whole")).encode()
    upstream.reply(SOLO_PATH, [raw[:40], raw[40:]], chunked=False, drop_after=1)  # not streamed: nothing relayed yet
    fallback.reply_json(B_MESSAGES, message_json("from the fallback"))

    exchange = post(routed.url + "/v1/messages", ask("claude-solo"))

    assert exchange.status == 200
    notice = assert_switched(exchange, "claude-solo", "claude-b", 502, 2)
    assert "broke off" in notice["reason"]
    assert exchange.json()["content"][0]["text"] == "from the fallback"


def test_a_client_error_goes_back_at_once_without_a_fallback(routed, upstream, fallback):
    raw = json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too big"}},
                     indent=2).encode()
    upstream.reply_json(SOLO_PATH, raw, status=400)

    exchange = post(routed.url + "/v1/messages", ask("claude-solo"))

    assert exchange.status == 400
    assert exchange.read() == raw  # as the upstream wrote it
    assert exchange.headers["x-gateway-attempts"] == "1" and exchange.headers["x-gateway-switched"] == "0"
    assert "x-gateway-notice" not in exchange.headers
    assert fallback.requests() == []
    assert routes_report(routed)["claude-solo"]["breaker"] == {"state": "closed", "consecutive_failures": 0}


def test_when_every_route_fails_the_client_gets_the_last_failure(routed, upstream, fallback):
    upstream.reply_json(SOLO_PATH, SERVER_ERROR, status=500)
    fallback.reply_json(B_MESSAGES, OVERLOADED, status=529)

    exchange = post(routed.url + "/v1/messages", ask("claude-solo"))

    assert exchange.status == 529
    assert exchange.json() == OVERLOADED
    assert exchange.headers["x-gateway-attempts"] == "2" and exchange.headers["x-gateway-switched"] == "0"
    assert "x-gateway-notice" not in exchange.headers


# -- the notice, in the client's dialect, whoever answers ---------------------------------------------


def test_the_notice_rides_on_message_start_of_a_stream(routed, upstream, fallback):
    upstream.reply_json(SOLO_PATH, OVERLOADED, status=529)
    answer = message_sse("from the fallback", "claude-fallback")
    fallback.reply_sse(B_MESSAGES, answer)

    exchange = post(routed.url + "/v1/messages", ask("claude-solo", True))

    notice = assert_switched(exchange, "claude-solo", "claude-b", 529, 2)
    received = exchange.read()
    first, rest = sse_payloads(received)[0], sse_payloads(received)[1:]
    assert first["type"] == "message_start" and first["message"]["gateway_notice"] == notice
    assert rest == sse_payloads(answer)[1:]  # the rest relayed untouched
    assert received.endswith(sse_chunks(answer)[-1])


@pytest.mark.parametrize("stream", [False, True])
def test_an_anthropic_model_falls_back_to_an_openai_one_for_a_messages_client(routed, upstream, fallback, stream):
    upstream.reply_json(SOLO_PATH, OVERLOADED, status=529)
    openai_answer_from(fallback, stream)

    exchange = post(routed.url + "/v1/messages", ask("claude-x", stream))

    assert exchange.status == 200
    notice = assert_switched(exchange, "claude-x", "gpt-b", 529, 2)
    assert upstream.only_request(SOLO_PATH).json()["model"] == "claude-x"
    sent = fallback.only_request(B_RESPONSES)
    assert sent.headers["authorization"] == f"Bearer {B_OPENAI_KEY}" and sent.json()["model"] == "gpt-5"
    if stream:
        received = exchange.read()
        payloads = sse_payloads(received)
        assert payloads[0]["type"] == "message_start" and payloads[0]["message"]["gateway_notice"] == notice
        text = "".join(p["delta"].get("text", "") for p in payloads if p["type"] == "content_block_delta")
        assert text == RESPONSES_TEXT and last_event(received)[0] == "message_stop"
    else:
        answer = exchange.json()
        assert answer["type"] == "message" and answer["gateway_notice"] == notice
        assert [block["text"] for block in answer["content"] if block["type"] == "text"] == [RESPONSES_TEXT]


@pytest.mark.parametrize("stream", [False, True])
def test_an_anthropic_model_falls_back_to_an_openai_one_for_a_chat_client(routed, upstream, fallback, stream):
    upstream.reply_json(SOLO_PATH, SERVER_ERROR, status=500)
    openai_answer_from(fallback, stream)

    exchange = post(routed.url + "/v1/chat/completions", chat("claude-x", stream))

    assert exchange.status == 200
    notice = assert_switched(exchange, "claude-x", "gpt-b", 500, 2)
    assert upstream.only_request(SOLO_PATH).json()["model"] == "claude-x"  # converted to Messages first
    assert fallback.only_request(B_RESPONSES).json()["model"] == "gpt-5"  # then to Responses
    if stream:
        received = exchange.read()
        payloads = sse_payloads(received)
        assert payloads[0]["object"] == "chat.completion.chunk" and payloads[0]["gateway_notice"] == notice
        assert all("gateway_notice" not in p for p in payloads[1:])
        text = "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads if p["choices"])
        assert text == RESPONSES_TEXT and received.endswith(b"data: [DONE]\n\n")
    else:
        answer = exchange.json()
        assert answer["object"] == "chat.completion" and answer["gateway_notice"] == notice
        assert answer["choices"][0]["message"]["content"] == RESPONSES_TEXT


def test_the_notice_rides_on_response_created_for_a_responses_client(routed, upstream, fallback):
    upstream.reply_json(SOLO_PATH, OVERLOADED, status=529)
    raw = recorded(f"{RESPONSES_ANSWER}.response.sse")
    fallback.reply_sse(B_RESPONSES, raw)

    exchange = post(routed.url + "/v1/responses", {"model": "claude-x", "stream": True, "input": "Hello?"})

    assert exchange.status == 200
    notice = assert_switched(exchange, "claude-x", "gpt-b", 529, 2)
    payloads = sse_payloads(exchange.read())
    assert payloads[0]["type"] == "response.created" and payloads[0]["gateway_notice"] == notice
    assert payloads[1:] == sse_payloads(raw)[1:]


# -- after the first byte: no retry, no switch, an error event ---------------------------------------


@pytest.mark.parametrize("failure", ["stall", "drop"])
def test_a_messages_stream_that_fails_after_its_first_byte_ends_with_an_error_event(routed, upstream, fallback,
                                                                                   failure):
    answer = message_sse("half an answer")
    chunks = sse_chunks(answer)
    upstream.reply_sse(SOLO_PATH, answer, **{"hold_at" if failure == "stall" else "drop_after": 2})

    exchange = post(routed.url + "/v1/messages", ask("claude-solo", True))

    assert exchange.status == 200
    assert_not_switched(exchange, "claude-solo")
    received = exchange.read()
    assert received.startswith(chunks[0] + chunks[1])
    name, error = last_event(received[len(chunks[0] + chunks[1]):])
    assert name == "error" and anthropic_error(error)
    assert ("timed out" if failure == "stall" else "broke off") in error["error"]["message"]
    assert b"message_stop" not in received
    assert fallback.requests() == []  # never a silent switch
    assert len(upstream.requests()) == 1  # nor a retry


@pytest.mark.parametrize("failure", ["stall", "drop"])
def test_a_converted_stream_that_fails_after_its_first_byte_ends_with_an_error_event(routed, upstream, fallback,
                                                                                    failure):
    upstream.reply_sse(SOLO_PATH, message_sse("half an answer"),
                       **{"hold_at" if failure == "stall" else "drop_after": 3})

    exchange = post(routed.url + "/v1/chat/completions", chat("claude-x", True))

    assert exchange.status == 200
    assert_not_switched(exchange, "claude-x")
    received = exchange.read()
    payloads = sse_payloads(received)
    assert payloads[0]["object"] == "chat.completion.chunk"
    assert "half an answer" in received.decode()
    assert payloads[-1].keys() == {"error"} and openai_error(payloads[-1])
    assert b"[DONE]" not in received and all(p.get("choices", [{}])[0].get("finish_reason") is None
                                            for p in payloads[:-1])
    assert fallback.requests() == []
    assert len(upstream.requests()) == 1


def test_a_converted_messages_stream_that_stalls_ends_with_an_error_event(routed, upstream, fallback):
    raw = recorded(f"{RESPONSES_ANSWER}.response.sse")
    fallback.reply_sse(B_RESPONSES, raw, hold_at=3)  # the Messages front sends pings meanwhile: idle_timeout rules

    exchange = post(routed.url + "/v1/messages", ask("gpt-b", True))

    assert exchange.status == 200
    assert_not_switched(exchange, "gpt-b")
    received = exchange.read()
    assert sse_payloads(received)[0]["type"] == "message_start"
    name, error = last_event(received)
    assert name == "error" and anthropic_error(error) and "timed out" in error["error"]["message"]
    assert b"message_stop" not in received
    assert len(fallback.requests()) == 1
