"""This module holds the checks several end-to-end test modules share: error shapes, what reached the
upstream, and a stream relayed while the upstream is still producing it."""

from __future__ import annotations

from tests import fake_upstream
from tests.helpers import recorded, recorded_json

from .client import post, sse_payloads
from .servers import ANTHROPIC_PATH, FACTORY_KEY, RESPONSES_PATH, SDK_OPTIONS


def assert_not_forwarded(secret: str, received: fake_upstream.Received):
    """``secret`` is nowhere in what the upstream received: headers, query or body."""
    leaked = {name: value for name, value in received.headers.items() if secret in value}
    assert not leaked, f"{secret!r} reached the upstream in {leaked}"
    assert secret not in received.query and secret not in received.body


def anthropic_error(body) -> str:
    """The error type of an Anthropic error body, after checking it has exactly Anthropic's shape."""
    assert body.keys() == {"type", "error"} and body["type"] == "error", body
    assert body["error"].keys() == {"type", "message"} and body["error"]["message"], body
    return body["error"]["type"]


def openai_error(body) -> str:
    """The error type of an OpenAI error body, after checking it has exactly OpenAI's shape."""
    assert body.keys() == {"error"} and body["error"].keys() == {"message", "type", "param", "code"}, body
    assert body["error"]["message"], body
    return body["error"]["type"]


# (endpoint, model, fake upstream path, recorded exchange): one streamed answer per passthrough endpoint.
STREAMED = [
    ("/v1/messages", "claude-test", ANTHROPIC_PATH, "anthropic__test_anthropic_model_thinking_part_stream.0"),
    ("/v1/responses", "gpt-test", RESPONSES_PATH, "openai_responses__test_openai_responses_streaming_usage.0"),
]


def assert_streamed_as_produced(upstream: fake_upstream.FakeUpstream, url: str, model: str, path: str, name: str,
                                ssl_context=None):
    """POST the recorded request of ``name`` to ``url``: its first event must arrive while the upstream holds
    back the rest, and once released the whole recorded stream, byte for byte."""
    raw = recorded(f"{name}.response.sse")
    first = fake_upstream.sse_chunks(raw)[0]
    held = upstream.reply_sse(path, raw, hold_at=1)

    exchange = post(url, {**recorded_json(f"{name}.request.json"), "model": model}, ssl_context=ssl_context)
    early = exchange.read_until(first)

    assert held.state == "holding"  # the upstream has sent nothing past the first event yet
    assert exchange.status == 200 and exchange.headers["content-type"].startswith("text/event-stream")
    held.release()
    assert early + exchange.read() == raw


def assert_factory_headers(received: fake_upstream.Received, provider: str):
    """The upstream got what the droid CLI sends Factory, and none of the SDK client's own key."""
    assert received.headers["authorization"] == f"Bearer {FACTORY_KEY}"
    assert received.headers["x-factory-client"] == "cli"
    assert received.headers["x-api-provider"] == provider
    assert received.headers["user-agent"].startswith("factory-cli/")
    assert received.headers["x-session-id"]
    assert_not_forwarded(SDK_OPTIONS["api_key"], received)


def completed_response(name: str) -> dict:
    """The Responses object a non-streamed call returns: the one the recorded stream completes with."""
    for payload in sse_payloads(recorded(f"{name}.response.sse")):
        if payload["type"] == "response.completed":
            return payload["response"]
    raise AssertionError(f"{name} has no response.completed event")
