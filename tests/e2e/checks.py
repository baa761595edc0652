"""This module holds the checks several end-to-end test modules share: error shapes, what reached the
upstream, a stream relayed while the upstream is still producing it, and what the replays of the real
CLI agents' requests (test_*_replay.py) have in common."""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from tests import fake_upstream
from tests.helpers import recorded, recorded_json

from .client import post, sse_payloads
from .servers import ANTHROPIC_PATH, FACTORY_KEY, REPO, RESPONSES_PATH, SDK_OPTIONS

# The requests recorded from the real CLI agents (its README says what each holds).
CLIENTS = REPO.parent / "shared" / "fixtures" / "clients"


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


# -- the replays of the real CLI agents' requests ----------------------------------------------------


def client_requests(file: str) -> list:
    """The requests one CLI agent sent (CLIENTS / ``file``): skipped when the shared/ checkout beside the
    repository is missing, a failure under CI=true, which always has it."""
    path = CLIENTS / file
    if not path.is_file():
        reason = (f"the agent's recorded requests are missing: {path} (the shared/ checkout is expected "
                  f"beside the repository, at {REPO.parent / 'shared'})")
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI always has it", pytrace=False)
        pytest.skip(reason)
    return json.loads(path.read_text("utf-8"))


class Replayed:
    """One request replayed to one model: what the client got, and what the upstream received."""

    def __init__(self, sent: dict, path: str, status: int, content_type: str, answer: bytes, recording: str,
                 requests: list):
        self.sent = sent  # the agent's body
        self.path = path  # where the upstream should have been called
        self.status = status
        self.content_type = content_type
        self.answer = answer
        self.recording = recording
        self.requests = requests  # every fake_upstream.Received of this exchange

    @property
    def received(self):
        """The one request the upstream received (a test fails here, not the whole module, if not one)."""
        calls = [(r.method, r.path) for r in self.requests]
        assert calls == [("POST", self.path)], f"the upstream got {calls}; the client got {self.answer[:2000]!r}"
        return self.requests[0]

    @property
    def body(self) -> dict:
        return self.received.json()


def log_since(path, start: int, access_line: re.Pattern, expected_lines: int) -> str:
    """The gateway's log from byte ``start``, once it holds ``expected_lines`` matches of ``access_line``
    (droid2api/logs.py writes one per request, after the response's last byte, so it may trail the
    client's read a little)."""
    deadline = time.monotonic() + 5.0
    while True:
        with open(path, "rb") as log:
            log.seek(start)
            text = log.read().decode("utf-8", "replace")
        if len(access_line.findall(text)) >= expected_lines or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def keys_anywhere(value, skip=("parameters",)) -> set:
    """Every object key inside ``value``, except inside the ``skip`` keys' values (tool schemas)."""
    if isinstance(value, list):
        return set().union(*(keys_anywhere(item, skip) for item in value))
    if not isinstance(value, dict):
        return set()
    found = set(value)
    for key, item in value.items():
        if key not in skip:
            found |= keys_anywhere(item, skip)
    return found


# Gemini's Schema object (generativelanguage v1beta): every field it accepts.
GEMINI_SCHEMA_FIELDS = {"type", "format", "title", "description", "nullable", "enum", "items", "minItems",
                        "maxItems", "properties", "required", "minProperties", "maxProperties",
                        "propertyOrdering", "minLength", "maxLength", "pattern", "minimum", "maximum", "anyOf",
                        "default", "example"}
GEMINI_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"}


def assert_gemini_schema(cleaned, original, where: str):
    """``cleaned`` is in Gemini's Schema subset and keeps ``original``'s structure: the same properties at
    every level, its descriptions, required names among the properties."""
    assert isinstance(cleaned, dict), where
    assert set(cleaned) <= GEMINI_SCHEMA_FIELDS, f"{where}: {set(cleaned) - GEMINI_SCHEMA_FIELDS}"
    if "type" in cleaned:
        assert cleaned["type"] in GEMINI_TYPES, f"{where}.type: {cleaned['type']}"
    if isinstance(original.get("description"), str):
        assert cleaned.get("description") == original["description"], f"{where}.description"
    if "enum" in cleaned:
        assert all(isinstance(value, str) for value in cleaned["enum"]), f"{where}.enum"
    if isinstance(original.get("properties"), dict):
        assert list(cleaned.get("properties", {})) == list(original["properties"]), f"{where}.properties"
        for name, schema in original["properties"].items():
            assert_gemini_schema(cleaned["properties"][name], schema, f"{where}.properties.{name}")
        assert set(cleaned.get("required", [])) == set(original.get("required", [])) & set(original["properties"])
    if isinstance(original.get("items"), dict):
        assert_gemini_schema(cleaned["items"], original["items"], f"{where}.items")
    if cleaned.get("type") == "ARRAY":
        assert "items" in cleaned, f"{where}: Gemini rejects an ARRAY without items"
    if isinstance(original.get("anyOf"), list) and "anyOf" in cleaned:
        for i, (member, source) in enumerate(zip(cleaned["anyOf"], original["anyOf"])):
            assert_gemini_schema(member, source, f"{where}.anyOf[{i}]")


def relayed_responses_stream(raw: bytes, **stream_options):
    """What the openai SDK's own ResponseStream makes of a real upstream's Responses stream that the
    gateway relayed: (the events it yields, the Response it ends with).

    tests/responses_sdk.responses_assemble is the check for the streams the gateway writes; real 2025
    traffic fails the installed SDK's strict types (``usage.input_tokens_details.cache_write_tokens``,
    ``response.store``), so here the SDK parses as it does by default (no strict validation), after the
    grammar it relies on is checked by hand: each ``event:`` line names its payload's type, every event
    is numbered by ``sequence_number`` from 0, and ``response.completed`` ends the stream.
    """
    import httpx2
    import openai

    from tests.helpers import sse_events

    events = sse_events(raw)
    payloads = [json.loads(data) for _, data in events]
    assert [name for name, _ in events] == [payload["type"] for payload in payloads]
    assert [payload["sequence_number"] for payload in payloads] == list(range(len(payloads)))
    assert payloads[-1]["type"] == "response.completed" and payloads[0]["type"] == "response.created"

    def answer(request):
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    client = openai.OpenAI(api_key="test", base_url="http://gateway.test/v1", max_retries=0,
                           http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))
    with client.responses.stream(model="client-model", input="hi", **stream_options) as stream:
        yielded = list(stream)
        final = stream.get_final_response()
    client.close()
    return yielded, final


# -- Gemini streams (test_gemini_*.py) ---------------------------------------------------------------


def gemini_sse_chunks(raw: bytes) -> list:
    """The payloads of a Gemini ``?alt=sse`` stream that ends well, each checked as google-genai's own type
    with its strictness: every event ``data:`` lines only, ended by a blank line; every payload a
    GenerateContentResponse with no field the SDK does not know (its models forbid extras) and every
    ``thoughtSignature`` base64 (the SDK holds signatures as bytes)."""
    from google.genai import types

    assert raw.endswith((b"\r\n\r\n", b"\n\n")), raw[-200:]
    payloads = []
    for event in re.split(rb"\r\n\r\n|\n\n", raw):
        if not event:
            continue
        lines = event.replace(b"\r\n", b"\n").split(b"\n")
        assert all(line.startswith(b"data: ") for line in lines), event[:300]
        data = b"\n".join(line[len(b"data: "):] for line in lines)
        types.GenerateContentResponse.model_validate_json(data)
        payloads.append(json.loads(data))
    return payloads


def genai_reads_stream(raw: bytes) -> list:
    """What google-genai's ``generate_content_stream`` yields for ``raw`` as the body of its request (its own
    SSE parser, error handling and conversion, through a mock transport)."""
    import httpx2
    from google import genai
    from google.genai import types

    def answer(request):
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    options = types.HttpOptions(base_url="http://gateway.test",
                                httpx_client=httpx2.Client(transport=httpx2.MockTransport(answer)))
    client = genai.Client(api_key="test", http_options=options)
    try:
        return list(client.models.generate_content_stream(model="client-model", contents="hi"))
    finally:
        client.close()


def gemini_folded(responses: list) -> dict:
    """google-genai GenerateContentResponses (a stream's chunks, or one whole answer) as what they say
    together: the thought text, the text, the function calls ``(id, name, args)`` and the thought
    signatures (bytes), in order."""
    folded = {"thoughts": "", "text": "", "calls": [], "signatures": []}
    for response in responses:
        for part in response.candidates[0].content.parts or []:
            if part.function_call is not None:
                call = part.function_call
                folded["calls"].append((call.id, call.name, call.args))
            elif part.text is not None:
                folded["thoughts" if part.thought else "text"] += part.text
            if part.thought_signature:
                folded["signatures"].append(part.thought_signature)
    return folded


def join_texts(texts: list) -> str:
    """One instruction string: a blank line between two texts unless the first already ends a line."""
    joined = ""
    for text in texts:
        if joined and not joined.endswith("\n"):
            joined += "\n\n"
        joined += text
    return joined
