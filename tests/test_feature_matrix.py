"""What carries over from each front to each upstream dialect: the README's feature matrix, proved here.

Each cell of the matrix is one test, (front, upstream dialect, feature). It drives the in-process app
through the front's official SDK (openai for Chat Completions, anthropic for Messages, both validating
strictly), with the upstream mocked by `responses`: real recorded answers of its dialect
(tests/recorded/) where one covers the feature, else a small answer written here after the dialect's
API reference. It checks both ends: what the upstream received, in the upstream's own terms (the PDF as
its file part, the tools, the thinking settings, the opaque reasoning data on the next turn), and what
the client assembled. The expected values come from reading the upstream answers here, by hand, never
through the gateway's codecs. Same-dialect rows are passthrough: there every exchange must also reach the
upstream as sent (only the model renamed) and come back byte for byte.

A check returns what it found lost, each loss asserted exactly; the cell is ✔ when nothing was,
``degraded: ...`` naming the losses, or ``✘ ...`` when the gateway refuses the feature. The test asserts
its cell against EXPECTED (below), so a change in behaviour fails here until EXPECTED and the README say
so. The README block between the feature-matrix markers is rendered from the cells the tests produced;
the last test compares it when the whole matrix ran. Regenerate it with
``.venv/bin/python -m tests.test_feature_matrix --write`` (or ``UPDATE_FEATURE_MATRIX=1`` during pytest).
"""

from __future__ import annotations

import base64
import json
import os
import sys
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import anthropic
import httpx2
import openai
import pytest
import responses
from anthropic.types import Message
from openai.lib.streaming.chat import ChatCompletionStreamState

from .helpers import anthropic_events, app_for, base_config, recorded, recorded_json, strictly

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- feature-matrix:start -->", "<!-- feature-matrix:end -->"

FEATURES = ("text", "stream", "tools", "streamed tool args", "parallel tools", "thinking + signature", "images",
            "documents (PDF)", "usage incl. cache", "stop reasons", "errors")

# -- what the tests expect: every cell is ✔ unless listed here ---------------------------------------------

GEMINI_WHOLE_ARGS = "degraded: arguments arrive whole (Gemini sends each call complete)"
NOT_FULL = {
    ("chat", "responses"): {
        "stop reasons": "degraded: stop sequences dropped (Responses has none)",
    },
    ("chat", "gemini"): {
        "streamed tool args": GEMINI_WHOLE_ARGS,
        "parallel tools": "degraded: cannot be turned off (Gemini has no switch)",
        "images": "degraded: http(s) URLs refused (400); dropped from tool results",
    },
    ("chat", "anthropic"): {},
    ("messages", "responses"): {
        "stop reasons": "degraded: stop sequences dropped (Responses has none); stop_sequence reads as end_turn",
    },
    ("messages", "chat"): {
        "thinking + signature": "degraded: text only, unsigned; not sent back",
        "images": "degraded: tool-result images sent as image_url in a tool message (Chat takes text only)",
        "documents (PDF)": "degraded: PDF URLs refused (400)",
        "stop reasons": "degraded: stop_sequence reads as end_turn",
    },
    ("messages", "gemini"): {
        "streamed tool args": GEMINI_WHOLE_ARGS,
        "parallel tools": "degraded: cannot be turned off (Gemini has no switch)",
        "images": "degraded: http(s) URLs refused (400); dropped from tool results",
        "documents (PDF)": "degraded: PDF URLs refused (400)",
        "stop reasons": "degraded: stop_sequence reads as end_turn",
    },
}
for _upstream in ("anthropic", "responses", "gemini"):
    NOT_FULL.setdefault(("chat", _upstream), {})["documents (PDF)"] = "✘ 400: the Chat front reads no `file` part"


def expected(front: str, upstream: str, feature: str) -> str:
    return NOT_FULL.get((front, upstream), {}).get(feature, "✔")


# -- inputs ------------------------------------------------------------------------------------------------

PNG = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                                     "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()
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
    signature: str | None = None


@dataclass
class Said:
    """What an answer holds, as the client assembled it (Got) or as the upstream wrote it (read here)."""

    text: str = ""
    text_pieces: int = 0
    thinking: str = ""
    opaque: list = field(default_factory=list)  # signatures, encrypted reasoning, redacted thinking, in order
    calls: list = field(default_factory=list)
    stop: str | None = None  # the IR vocabulary for upstream answers; the front's own for clients
    stop_sequence: str | None = None
    usage: dict = field(default_factory=dict)  # input (all, cached included), cache_read, cache_write, output, reasoning
    message: object = None  # the assistant message, in the front's dialect, to send back
    unsigned_thinking: bool = False  # a thinking block whose signature is empty


class Refused(Exception):
    """The gateway answered an error status; ``kind`` is the SDK's exception class name."""

    def __init__(self, status: int, kind: str, message: str, headers: dict, body=None):
        super().__init__(f"{status} {kind}: {message}")
        self.status, self.kind, self.message, self.headers, self.body = status, kind, message, headers, body


class StreamFailed(Exception):
    """A stream began and then ended in the front's error event."""


class Unsupported(Exception):
    """The feature does not carry over at all: the cell is ✘ and this says why."""


def usage(input=0, cache_read=0, cache_write=0, output=0, reasoning=0) -> dict:
    return {"input": input, "cache_read": cache_read, "cache_write": cache_write, "output": output,
            "reasoning": reasoning}


# -- the gateway, in process, behind the official SDKs -----------------------------------------------------

UPSTREAM_URLS = {"anthropic": "https://anthropic.test", "responses": "https://openai.test/v1",
                 "chat": "https://chat.test/v1", "gemini": "https://gemini.test/v1beta"}
UPSTREAM_TYPES = {"anthropic": "anthropic", "responses": "openai", "chat": "common", "gemini": "google"}
UPSTREAM_MODELS = {"anthropic": "claude-sonnet-4-5", "responses": "gpt-5.1", "chat": "deepseek-chat",
                   "gemini": "gemini-3-pro-preview"}


def model_for(upstream: str) -> str:
    return f"{upstream}-model"


class Gateway:
    """The app with a model on each upstream dialect, and the two SDK clients that talk to it through a
    mock transport; ``exchanges`` keeps each (client request body, status, answer bytes)."""

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

    def _transport(self):
        return httpx2.Client(transport=httpx2.MockTransport(self._answer))

    def _answer(self, request):
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in ("host", "content-length")]
        answer = self.http.open(request.url.raw_path.decode(), method=request.method, data=request.content,
                                headers=headers)
        raw = answer.get_data()
        self.exchanges.append((request.content, answer.status_code, raw))
        return httpx2.Response(answer.status_code, headers=list(answer.headers.items()), content=raw)

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


# -- fronts ------------------------------------------------------------------------------------------------


class ChatFront:
    """A client of POST /v1/chat/completions, through the openai SDK."""

    key, title = "chat", "Chat Completions `/v1/chat/completions`"
    STOPS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
             "content_filter": "content_filter"}
    KINDS = {"rate_limit": "RateLimitError", "bad_request": "BadRequestError"}

    def part(self, part) -> dict:
        kind = part[0]
        if kind == "text":
            return {"type": "text", "text": part[1]}
        if kind == "image":
            return {"type": "image_url", "image_url": {"url": f"data:{part[1]};base64,{part[2]}"}}
        if kind == "image_url":
            return {"type": "image_url", "image_url": {"url": part[1]}}
        if kind == "pdf":
            return {"type": "file", "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{part[1]}"}}
        raise AssertionError(f"Chat Completions has no {kind} part")

    def user(self, content) -> dict:
        return {"role": "user", "content": [self.part(p) for p in content]}

    def tool_results(self, results) -> list:
        return [{"role": "tool", "tool_call_id": call_id,
                 "content": parts[0][1] if [p[0] for p in parts] == ["text"] else [self.part(p) for p in parts]}
                for call_id, parts in results]

    def called(self, call_id: str, tool: Tool, args: dict) -> dict:
        return {"role": "assistant", "content": None,
                "tool_calls": [{"id": call_id, "type": "function",
                                "function": {"name": tool.name, "arguments": json.dumps(args)}}]}

    def body(self, ask: Ask, model: str) -> dict:
        messages = [{"role": "system", "content": ask.system}] if ask.system else []
        messages += ask.messages if ask.messages is not None else [self.user(ask.content)]
        body = {"model": model, "messages": messages, "max_tokens": ask.max_tokens}
        if ask.tools:
            body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                               "parameters": t.schema}} for t in ask.tools]
        if ask.tool_choice:
            body["tool_choice"] = ask.tool_choice
        if ask.parallel is not None:
            body["parallel_tool_calls"] = ask.parallel
        if ask.thinking:
            body["reasoning_effort"] = "high"
        if ask.stop:
            body["stop"] = list(ask.stop)
        if ask.stream:
            body.update(stream=True, stream_options={"include_usage": True})
        return body

    def send(self, gw: Gateway, body: dict) -> Said:
        try:
            if not body.get("stream"):
                completion = gw.openai.chat.completions.create(**body)
                return self._said(completion.model_dump(), None, None)
            state, last_usage, text_pieces, arg_pieces = ChatCompletionStreamState(), None, 0, {}
            for chunk in gw.openai.chat.completions.create(**body):  # every chunk validated strictly
                if chunk.usage is not None:
                    last_usage = chunk.usage.model_dump()
                for choice in chunk.choices:
                    text_pieces += bool(choice.delta.content)
                    for call in choice.delta.tool_calls or []:
                        if call.function and call.function.arguments:
                            arg_pieces[call.index] = arg_pieces.get(call.index, 0) + 1
                if chunk.choices:
                    state.handle_chunk(chunk)
            return self._said(state.current_completion_snapshot.model_dump(), last_usage, (text_pieces, arg_pieces))
        except openai.APIStatusError as e:
            raise Refused(e.status_code, type(e).__name__, e.message, dict(e.response.headers), e.body) from None
        except openai.APIError as e:  # the error chunk that ends a stream
            raise StreamFailed(e.message) from None

    def _said(self, completion: dict, streamed_usage, pieces) -> Said:
        choice = completion["choices"][0]
        message = choice["message"]
        details = message.get("reasoning_details") or []
        calls = message.get("tool_calls") or []
        opaque = [d.get("signature") or d.get("data") for d in details if d.get("signature") or d.get("data")]
        opaque += [c["extra_content"]["google"]["thought_signature"] for c in calls
                   if (c.get("extra_content") or {}).get("google", {}).get("thought_signature")]
        counts = completion.get("usage") or streamed_usage or {}
        prompt = counts.get("prompt_tokens_details") or {}
        completion_details = counts.get("completion_tokens_details") or {}
        said = Said(text=message.get("content") or "", thinking=message.get("reasoning_content") or "", opaque=opaque,
                    calls=[Call(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"] or "{}"))
                           for c in calls],
                    stop=choice["finish_reason"],
                    usage=usage(counts.get("prompt_tokens", 0), prompt.get("cached_tokens") or 0,
                                prompt.get("cache_write_tokens") or 0, counts.get("completion_tokens", 0),
                                completion_details.get("reasoning_tokens") or 0),
                    message={k: v for k, v in message.items() if v is not None and k != "parsed"})
        for call in said.message.get("tool_calls") or []:
            call["function"].pop("parsed_arguments", None)
        if pieces is not None:
            said.text_pieces = pieces[0]
            for index, call in enumerate(said.calls):
                call.pieces = pieces[1].get(index, 0)
        else:
            said.text_pieces = 1 if said.text else 0
        return said


class MessagesFront:
    """A client of POST /v1/messages, through the anthropic SDK."""

    key, title = "messages", "Messages `/v1/messages`"
    STOPS = {"end_turn": "end_turn", "stop_sequence": "stop_sequence", "max_tokens": "max_tokens",
             "tool_use": "tool_use", "content_filter": "refusal"}
    KINDS = {"rate_limit": "RateLimitError", "bad_request": "BadRequestError"}

    def part(self, part) -> dict:
        kind = part[0]
        if kind == "text":
            return {"type": "text", "text": part[1]}
        if kind == "image":
            return {"type": "image", "source": {"type": "base64", "media_type": part[1], "data": part[2]}}
        if kind == "image_url":
            return {"type": "image", "source": {"type": "url", "url": part[1]}}
        if kind == "pdf":
            return {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": part[1]}}
        if kind == "pdf_url":
            return {"type": "document", "source": {"type": "url", "url": part[1]}}
        raise AssertionError(kind)

    def user(self, content) -> dict:
        return {"role": "user", "content": [self.part(p) for p in content]}

    def tool_results(self, results) -> list:
        return [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call_id,
             "content": parts[0][1] if [p[0] for p in parts] == ["text"] else [self.part(p) for p in parts]}
            for call_id, parts in results]}]

    def called(self, call_id: str, tool: Tool, args: dict) -> dict:
        return {"role": "assistant", "content": [{"type": "tool_use", "id": call_id, "name": tool.name, "input": args}]}

    def body(self, ask: Ask, model: str) -> dict:
        body = {"model": model, "max_tokens": ask.max_tokens,
                "messages": ask.messages if ask.messages is not None else [self.user(ask.content)]}
        if ask.system:
            body["system"] = ask.system
        if ask.tools:
            body["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.schema}
                             for t in ask.tools]
        if ask.tool_choice or ask.parallel is False:
            body["tool_choice"] = {"type": {"required": "any"}.get(ask.tool_choice, ask.tool_choice or "auto")}
            if ask.parallel is False:
                body["tool_choice"]["disable_parallel_tool_use"] = True
        if ask.thinking:
            body.update(thinking={"type": "enabled", "budget_tokens": 4000}, max_tokens=8000)
        if ask.stop:
            body["stop_sequences"] = list(ask.stop)
        if ask.stream:
            body["stream"] = True
        return body

    def send(self, gw: Gateway, body: dict) -> Said:
        try:
            if not body.get("stream"):
                message = gw.anthropic.messages.create(**body)
                strictly(Message, gw.last.decode())  # no field the SDK does not know
                return self._said(message, None)
            with gw.anthropic.messages.stream(**{k: v for k, v in body.items() if k != "stream"}) as stream:
                message = stream.get_final_message()
            return self._said(message, anthropic_events(gw.last))  # grammar and strict types of each event
        except anthropic.APIStatusError as e:
            if e.status_code == 200:  # an error event in a stream that had begun
                raise StreamFailed(e.message) from None
            raise Refused(e.status_code, type(e).__name__, e.message, dict(e.response.headers), e.body) from None

    def _said(self, message, events) -> Said:
        blocks = message.content
        counts = message.usage
        details = counts.output_tokens_details
        said = Said(
            text="".join(b.text for b in blocks if b.type == "text"),
            thinking="".join(b.thinking for b in blocks if b.type == "thinking"),
            opaque=[b.signature if b.type == "thinking" else b.data for b in blocks
                    if (b.type == "thinking" and b.signature) or b.type == "redacted_thinking"],
            unsigned_thinking=any(b.type == "thinking" and not b.signature for b in blocks),
            calls=[Call(b.id, b.name, b.input) for b in blocks if b.type == "tool_use"],
            stop=message.stop_reason, stop_sequence=message.stop_sequence,
            usage=usage(counts.input_tokens + (counts.cache_read_input_tokens or 0)
                        + (counts.cache_creation_input_tokens or 0), counts.cache_read_input_tokens or 0,
                        counts.cache_creation_input_tokens or 0, counts.output_tokens,
                        (details.thinking_tokens if details else 0) or 0),
            message={"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in blocks]})
        if events is None:
            said.text_pieces = 1 if said.text else 0
            return said
        kinds, pieces = {}, {}
        for event in events:
            if event["type"] == "content_block_start":
                kinds[event["index"]] = event["content_block"]["type"]
            elif event["type"] == "content_block_delta":
                delta = event["delta"]
                if delta["type"] == "text_delta":
                    said.text_pieces += 1
                elif delta["type"] == "input_json_delta" and delta["partial_json"]:
                    pieces[event["index"]] = pieces.get(event["index"], 0) + 1
        tool_blocks = [index for index, kind in sorted(kinds.items()) if kind == "tool_use"]
        for call, index in zip(said.calls, tool_blocks):
            call.pieces = pieces.get(index, 0)
        return said


FRONTS = {"chat": ChatFront(), "messages": MessagesFront()}
