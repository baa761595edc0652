"""This module holds what the upstream dialects share: scripted answers, errors, and the Upstream base class."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..helpers import recorded
from .exchange import COUNTRY, ENTITY, Answer, Call, Said, sse_payloads, usage


@dataclass(frozen=True)
class Script:
    """A small answer to write in an upstream's dialect where no recording covers a feature."""

    text: tuple = ()  # text fragments
    thinking: tuple = ()  # thinking fragments (a Chat upstream's reasoning_content)
    calls: tuple = ()  # (id, name, (argument fragments, ...))
    stop: str = "end_turn"  # IR vocabulary
    stop_sequence: str | None = None
    usage: dict = field(default_factory=lambda: usage(12, 0, 0, 5, 0))


@dataclass(frozen=True)
class Scenario:
    """A thinking answer and what the next turn must send back."""

    answer: Answer
    tools: tuple = ()
    next_request: str | None = None  # a recorded next request whose assistant turn must be sent back exactly


def sse(events) -> bytes:
    """Named SSE events, as Anthropic and Responses send them."""
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def data_sse(payloads, end: str = "\n\n") -> bytes:
    return b"".join(f"data: {p if isinstance(p, str) else json.dumps(p)}{end}".encode() for p in payloads)


def arguments_of(call) -> str:
    return "".join(call[2])


ERRORS = {"rate_limit": "Slow down: 40 requests per minute at most.", "bad_request": "messages.0.content: too long."}
MIDSTREAM = "The model is overloaded; try again."
ERROR_STATUS = {"rate_limit": 429, "bad_request": 400}


def error_answer(kind: str, body: dict) -> Answer:
    """An upstream's error answer of ``kind``; a 429 says when to retry."""
    status = ERROR_STATUS[kind]
    return Answer(json.dumps(body).encode(), status=status, headers=(("retry-after", "7"),) if status == 429 else ())


def openai_error(kind: str) -> Answer:
    """The error shape both OpenAI dialects share."""
    return error_answer(kind, {"error": {
        "message": ERRORS[kind], "type": "requests" if kind == "rate_limit" else "invalid_request_error",
        "param": None, "code": "rate_limit_exceeded" if kind == "rate_limit" else None}})


class Upstream:
    """An upstream dialect, one subclass each. It answers (``text_answer``, ``tool_answer``, ``parallel_answer``,
    ``thinking_scenarios``, ``usage_answer``, ``stop_answer``, ``error``, ``stream_error``), reads an answer back
    by hand (``read``), and reads what the gateway sent it (``system``, ``user_parts``, ``tools``,
    ``tool_choice``, ``parallel``, ``thinking_requested``, ``stop_sent``, ``calls_sent``, ``results_sent``,
    ``opaque_sent``, ``thinking_sent``), each in the dialect's own terms, normalised to the same values."""

    key = title = ""
    has_ids = True  # whether its tool calls have ids (results name their call by id)

    def recorded(self, name: str) -> Answer:
        sse_path = f"{name}.response.sse"
        try:
            return Answer(recorded(sse_path), True)
        except FileNotFoundError:
            return Answer(recorded(f"{name}.response.json"))

    def answer(self, script: Script, stream: bool) -> Answer:
        return Answer(self.build(script, stream), stream)

    def ref(self, call: Call):
        """How a tool result sent to this upstream names the call it answers."""
        return call.id if self.has_ids else call.name

    def call_ref(self, call: Call):
        return call.id if self.has_ids else None

    def asked_to_stream(self, url: str, body: dict) -> bool:
        return body.get("stream") is True

    def read(self, answer: Answer) -> Said:
        return self.read_sse(sse_payloads(answer.raw)) if answer.sse else self.read_json(json.loads(answer.raw))

    # Hand-made answers every upstream gives the same way.

    def parallel_answer(self, stream: bool) -> Answer:
        calls = tuple((f"call_family_{i}", ENTITY.name, ('{"name": ', f'"{name}"}}')) for i, name in
                      enumerate(("Alice", "Bob")))
        return self.answer(Script(text=("Looking them up.",), calls=calls, stop="tool_use"), stream)

    def usage_answer(self, stream: bool) -> Answer:
        return self.answer(Script(text=("Paris", "."), usage=self.CACHED), stream)

    def stop_answer(self, stop: str, stream: bool) -> Answer:
        if stop == "tool_use":
            return self.answer(Script(calls=(("call_stop", COUNTRY.name, ("{}",)),), stop=stop), stream)
        if stop == "content_filter":
            return self.answer(Script(text=self.FILTERED_TEXT, stop=stop), stream)
        if stop == "stop_sequence":
            return self.answer(Script(text=("1, 2, 3",), stop=stop, stop_sequence="END"), stream)
        return self.answer(Script(text=("Cut sh",) if stop == "max_tokens" else ("Done.",), stop=stop), stream)

    FILTERED_TEXT = ()


def parts_of(content, part_reader) -> list:
    if isinstance(content, str):
        return [("text", content)]
    return [part for block in content for part in [part_reader(block)] if part is not None]


def data_url_part(url: str, image: bool):
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        media_type = header.split(";")[0]
        return ("image", media_type, data) if image else ("pdf", data)
    return ("image_url", url) if image else ("pdf_url", url)
