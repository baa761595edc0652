"""This module holds the inputs, the request and answer types both ends share, and the app behind the official SDKs."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import anthropic
import httpx2
import openai
import responses

from ..helpers import app_for, base_config
from droid2api.routing import Router
from droid2api.store import MemoryStore

if TYPE_CHECKING:
    from .upstream import Upstream


# -- inputs ------------------------------------------------------------------------------------------------

# A 1x1 PNG (cyan) and a PDF whose base64 holds "+" (and the PNG's "/"): the characters URL-safe base64 writes
# otherwise, as google-genai does, so that an alphabet left unconverted shows.
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da6360f8ffff3f0005ff02fe815029bd0000000049454e44ae426082")).decode()
PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\ntrailer\n%%EOF").decode()
IMAGE_URL = "https://example.com/cat.png"
PDF_URL = "https://example.com/report.pdf"
QUESTION = (("text", "What is the largest city in the user country?"),)


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    schema: dict


COUNTRY = Tool("get_user_country", "The user's country.", {"type": "object", "properties": {}})
CAPITAL = Tool("get_capital", "The capital of a country.",
               {"type": "object", "properties": {"country": {"type": "string"}}, "required": ["country"]})
ENTITY = Tool("retrieve_entity_info", "Get the knowledge about the given entity.",
              {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})
FINAL = Tool("final_result", "The final answer.", {"type": "object", "properties": {"result": {"type": "integer"}}})


@dataclass(frozen=True)
class Ask:
    """A request, front-neutral: each front writes it in its own dialect. ``content`` holds (kind, ...)
    parts: ("text", s), ("image", media_type, data), ("image_url", url), ("pdf", data), ("pdf_url", url).
    ``messages``, when set, is the front's own message list (a later turn)."""

    content: tuple = QUESTION
    system: str | None = "Be brief."
    tools: tuple = ()
    tool_choice: str | None = None  # "auto" | "required"
    parallel: bool | None = None
    thinking: bool = False
    stop: tuple = ()
    max_tokens: int = 1024
    stream: bool = False
    messages: list | None = None


@dataclass
class Call:
    id: str | None
    name: str
    args: dict
    pieces: int = 1  # argument fragments it arrived in


@dataclass
class Said:
    """What an answer holds: as the client's SDK assembled it (a front reads it), or as the upstream wrote it
    (an upstream class reads it by hand). ``stop`` is in the IR's words for the one, the front's for the other."""

    text: str = ""
    text_pieces: int = 0
    thinking: str = ""
    opaque: list = field(default_factory=list)  # signatures, encrypted reasoning, redacted thinking, in order
    calls: list = field(default_factory=list)
    stop: str | None = None
    stop_sequence: str | None = None
    usage: dict = field(default_factory=dict)  # see usage()
    message: object = None  # the assistant message, in the front's dialect, to send back
    unsigned_thinking: bool = False  # a thinking block whose signature is empty


class Refused(Exception):
    """The gateway answered an error status; ``kind`` is the SDK's exception class name."""

    def __init__(self, status: int, kind: str, message: str, headers: dict, body=None):
        super().__init__(f"{status} {kind}: {message}")
        self.status, self.kind, self.message, self.headers, self.body = status, kind, message, headers, body


class StreamFailed(Exception):
    """A stream began and then ended in the front's error event."""


def usage(total_input=0, cache_read=0, cache_write=0, output=0, reasoning=0) -> dict:
    """Token counts as the IR keeps them: input counts the cached tokens too, output the reasoning ones."""
    return {"input": total_input, "cache_read": cache_read, "cache_write": cache_write, "output": output,
            "reasoning": reasoning}


# -- the gateway, in process, behind the official SDKs -----------------------------------------------------

UPSTREAM_URLS = {"anthropic": "https://anthropic.test", "responses": "https://openai.test/v1",
                 "chat": "https://chat.test/v1", "gemini": "https://gemini.test/v1beta"}
UPSTREAM_TYPES = {"anthropic": "anthropic", "responses": "openai", "chat": "common", "gemini": "google"}
UPSTREAM_MODELS = {"anthropic": "claude-sonnet-4-5", "responses": "gpt-5.1", "chat": "deepseek-chat",
                   "gemini": "gemini-3-pro-preview"}
# The upstream dialect each front relays to.
PASSTHROUGH = {"chat": "chat", "messages": "anthropic", "responses": "responses", "gemini": "gemini"}


def model_for(upstream: str) -> str:
    return f"{upstream}-model"


class Gateway:
    """The app with a model on each upstream dialect, and the SDK clients that talk to it through a mock
    transport; ``exchanges`` keeps each (client request body, status, answer bytes)."""

    def __init__(self):
        config = base_config(
            upstreams=[{"name": name, "type": UPSTREAM_TYPES[name], "base_url": url, "api_key": f"key-{name}"}
                       for name, url in UPSTREAM_URLS.items()],
            models=[{"id": model_for(name), "upstream": name, "upstream_model": UPSTREAM_MODELS[name]}
                    for name in UPSTREAM_URLS])
        self.http = app_for(config).test_client()
        self.exchanges = []
        options = {"api_key": "sk-client", "max_retries": 0, "_strict_response_validation": True}
        self.openai = openai.OpenAI(base_url="http://gateway.test/v1", http_client=self._transport(), **options)
        self.anthropic = anthropic.Anthropic(base_url="http://gateway.test", http_client=self._transport(), **options)
        # For an upstream's own answer relayed byte for byte: the recorded Responses answers predate fields the
        # SDK now requires (sequence_number, cache_write_tokens), which is no fault of the gateway's.
        self.openai_relayed = openai.OpenAI(base_url="http://gateway.test/v1", http_client=self._transport(),
                                            **{**options, "_strict_response_validation": False})

    def _transport(self):
        return httpx2.Client(transport=httpx2.MockTransport(self._answer))

    def _answer(self, request):
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in ("host", "content-length")]
        answer = self.http.open(request.url.raw_path.decode(), method=request.method, data=request.content,
                                headers=headers)
        raw = answer.get_data()
        self.exchanges.append((request.content, answer.status_code, raw))
        return httpx2.Response(answer.status_code, headers=list(answer.headers.items()), content=raw)

    def forget_routing(self):
        """A fresh routing state: breakers closed, no key resting."""
        app_gateway = self.http.application.extensions["droid2api"]
        router = app_gateway.router
        app_gateway.router = Router(router.settings, router.policy, router.credentials, MemoryStore())

    @property
    def last(self) -> bytes:
        return self.exchanges[-1][2]


@lru_cache(maxsize=None)
def gateway() -> Gateway:
    return Gateway()


def sse_payloads(raw: bytes) -> list:
    """(event name, data) of each event of an SSE body; written here so the oracle shares no code with the
    gateway. The recordings use LF or CRLF framing."""
    events = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            events.append((name, "\n".join(data)))
    return events


# -- an upstream's answer ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    raw: bytes
    sse: bool = False
    status: int = 200
    headers: tuple = ()


# -- one exchange ------------------------------------------------------------------------------------------


@dataclass
class Hit:
    url: str
    body: dict


def exchange(front, up: Upstream, ask: Ask, answer: Answer) -> tuple:
    """Send ``ask`` through ``front`` to the model on ``up``, which answers ``answer``: (what the client got,
    [Hit] the upstream received). A passthrough exchange must reach the upstream as sent, only the model
    renamed (a front whose URL names the model sends no model in the body), and come back byte for byte."""
    gw = gateway()
    gw.forget_routing()  # one exchange's 429 or 5xx must not rest a key or trip a breaker for the next
    body = front.body(ask, model_for(up.key))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, up.url(ask.stream), body=answer.raw, status=answer.status,
                 content_type="text/event-stream" if answer.sse else "application/json", headers=dict(answer.headers))
        failure, got = None, None
        try:
            got = front.send(gw, body)
        except (Refused, StreamFailed) as e:
            failure = e
        hits = [Hit(call.request.url, json.loads(call.request.body)) for call in mock.calls]
    if PASSTHROUGH[front.key] == up.key:
        client_body, status, relayed = gw.exchanges[-1]
        sent = json.loads(client_body)
        if not getattr(front, "model_in_url", False):
            sent["model"] = UPSTREAM_MODELS[up.key]
        assert [hit.body for hit in hits] == [sent]
        assert (status, relayed) == (answer.status, answer.raw), "a passthrough answer is relayed byte for byte"
    if failure is not None:
        failure.hits = hits
        raise failure
    return got, hits
