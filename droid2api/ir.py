"""The canonical intermediate representation (IR) that every dialect converts to and from.

The IR is a superset of the four wire dialects, not one of them: a conversion
Chat -> IR -> Anthropic keeps thinking signatures, redacted thinking, cache
token counts and named tool choices that a Chat-shaped pivot would drop.
Every dialect module decodes its wire format into these types and encodes
these types into its wire format; no dialect ever talks to another directly.

Conventions that all codecs share:

* Token counts: ``Usage.input_tokens`` counts *every* prompt token, including
  the cached ones (``cache_read_tokens`` and ``cache_write_tokens`` are subsets
  of it). ``Usage.output_tokens`` counts every generated token, including
  reasoning (``reasoning_tokens`` is a subset). Anthropic, which reports these
  as disjoint numbers, adds and subtracts at its edge.
* Tool call arguments are kept as the JSON *text* the model produced, so that
  streamed fragments concatenate into exactly what a non-streamed call returns.
* ``Thinking.source`` names the dialect (a ``Dialect`` value) whose signature /
  encrypted content the part carries; an encoder only sends those opaque blobs
  back to the dialect that made them.
* Stop reasons: end_turn, max_tokens, stop_sequence, tool_use, content_filter,
  refusal, pause_turn, error.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


class Dialect:
    """The one name each wire dialect has in code (``Thinking.source``, ``Request.source``, a dialect
    package's ``NAME``). Config's model ``type`` words (anthropic, openai, common, google) are mapped to
    these once, in config.py, and compared nowhere else."""

    ANTHROPIC = "anthropic"
    RESPONSES = "openai_responses"
    CHAT = "openai_chat"
    GEMINI = "gemini"
    ALL = (ANTHROPIC, RESPONSES, CHAT, GEMINI)

# -- content parts ----------------------------------------------------------


@dataclass(slots=True)
class Text:
    text: str
    cache_control: dict | None = None


@dataclass(slots=True)
class Refusal:
    text: str


@dataclass(slots=True)
class Image:
    """An image by URL (``url``) or inline (``data`` is base64, ``media_type`` set)."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None
    cache_control: dict | None = None


@dataclass(slots=True)
class Document:
    """A file for the model to read: a PDF (``media_type``) inline as base64 ``data``, or by ``url``."""

    data: str | None = None
    media_type: str = "application/pdf"
    url: str | None = None
    title: str | None = None
    cache_control: dict | None = None


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str = ""
    signature: str | None = None  # Gemini's thought signature on a functionCall part


@dataclass(slots=True)
class ToolResult:
    call_id: str
    content: list = field(default_factory=list)  # Text, Image and Document parts
    is_error: bool = False
    name: str | None = None  # Gemini answers a function by name, not by id
    cache_control: dict | None = None


@dataclass(slots=True)
class Thinking:
    """Model reasoning: visible text and/or the opaque data needed to send it back.

    ``signature`` is Anthropic's block signature or Gemini's thought signature,
    ``encrypted`` is the Responses API's ``encrypted_content``, ``redacted`` is
    the data of an Anthropic ``redacted_thinking`` block. ``id`` groups the
    summary parts of one Responses reasoning item.
    """

    text: str = ""
    signature: str | None = None
    encrypted: str | None = None
    redacted: str | None = None
    source: str | None = None
    id: str | None = None


# -- request ----------------------------------------------------------------


@dataclass(slots=True)
class Instruction:
    """System or developer text; dialects without a developer role fold it into system."""

    text: str
    role: str = "system"
    cache_control: dict | None = None


@dataclass(slots=True)
class Message:
    role: str  # "user" or "assistant"; tool results are ToolResult parts of a user message
    parts: list = field(default_factory=list)
    name: str | None = None


@dataclass(slots=True)
class Tool:
    """A tool the model may call: a function (``kind`` "function"), or the upstream's own web search
    (``kind`` "web_search", which the upstream runs itself; ``options`` keeps the client's settings such
    as allowed domains).

    A web search's ``options`` use these names, whichever dialect they came from: ``allowed_domains`` and
    ``blocked_domains`` (lists of domains), ``max_uses`` (searches per request), ``user_location`` (an
    object of any of ``city``, ``region``, ``country``, ``timezone``) and ``search_context_size``
    (low | medium | high). An encoder sends those its dialect has and records a Loss for the rest.

    A Responses ``custom`` tool (free-form text input, such as Codex's ``apply_patch``) has ``kind``
    "custom": upstreams without custom tools are offered a function taking one string argument,
    ``input``, and the front turns calls of it back into custom tool calls (``options`` keeps its
    ``format``). A tool the client groups under a ``namespace`` (Codex's MCP tools) has ``name``
    flattened to an upstream-safe name and ``namespace`` / ``client_name`` to restore it on every call
    that comes back (``options`` keeps the namespace's description as ``namespace_description``).
    """

    name: str
    description: str | None = None
    parameters: dict = field(default_factory=dict)  # JSON Schema
    strict: bool | None = None
    cache_control: dict | None = None
    kind: str = "function"  # function | web_search | custom
    options: dict = field(default_factory=dict)
    namespace: str | None = None
    client_name: str | None = None  # the name the client calls the tool by, when ``name`` had to change


@dataclass(slots=True)
class ToolChoice:
    mode: str  # "auto" | "none" | "required" | "tool"
    name: str | None = None  # the forced tool when mode == "tool"


@dataclass(slots=True)
class Reasoning:
    effort: str | None = None  # none | minimal | low | medium | high | xhigh
    budget_tokens: int | None = None
    summary: str | None = None


@dataclass(slots=True)
class ResponseFormat:
    type: str  # "text" | "json_object" | "json_schema"
    schema: dict | None = None
    name: str | None = None
    description: str | None = None
    strict: bool | None = None


@dataclass(slots=True)
class Request:
    model: str
    messages: list = field(default_factory=list)
    system: list = field(default_factory=list)  # Instruction
    tools: list = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list = field(default_factory=list)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    n: int | None = None
    reasoning: Reasoning | None = None
    response_format: ResponseFormat | None = None
    stream: bool = False
    include_usage: bool = False
    metadata: dict | None = None
    user: str | None = None
    # Fields of the source dialect with no IR slot, re-emitted only when
    # encoding back to that same dialect (``source``).
    source: str | None = None
    extras: dict = field(default_factory=dict)
    # ir.Loss records of what decoding the client's body could not carry into the IR (a block only
    # its own dialect can use), to be logged beside the encoder's.
    losses: list = field(default_factory=list)


# -- response ---------------------------------------------------------------


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Response:
    id: str
    model: str
    parts: list = field(default_factory=list)  # Text, Refusal, Thinking, ToolCall
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)
    created: int | None = None


# -- stream events ----------------------------------------------------------
#
# A stream is: Start, then for each part PartStart(index) Delta* PartStop(index),
# one part at a time, then exactly one Finish -- or a StreamError at any point,
# after which nothing follows. Parts are numbered 0, 1, 2... in order of
# appearance across all kinds.


@dataclass(slots=True)
class Start:
    id: str
    model: str
    created: int | None = None


@dataclass(slots=True)
class PartStart:
    index: int
    part: object  # an empty Text / Refusal / Thinking, or a ToolCall with id and name


@dataclass(slots=True)
class Delta:
    index: int
    kind: str  # "text" | "thinking" | "arguments" | "signature" | "encrypted"
    value: str


@dataclass(slots=True)
class PartStop:
    index: int


@dataclass(slots=True)
class Finish:
    stop_reason: str | None
    usage: Usage = field(default_factory=Usage)
    stop_sequence: str | None = None


@dataclass(slots=True)
class StreamError:
    status: int
    type: str
    message: str


@dataclass(slots=True)
class Loss:
    """Something a conversion could not carry across: logged in dev mode, asserted on in tests."""

    field: str
    reason: str


_DELTA_TARGET = {
    "text": "text",
    "thinking": "text",
    "arguments": "arguments",
    "signature": "signature",
    "encrypted": "encrypted",
}


def accumulate(events) -> Response:
    """Fold a stream of IR events into the Response a non-streamed call returns.

    Raises ValueError on a StreamError or a stream that never finished, so
    callers cannot mistake a broken stream for a complete answer.
    """
    response = None
    parts = {}
    for event in events:
        if isinstance(event, Start):
            response = Response(id=event.id, model=event.model, created=event.created)
        elif isinstance(event, PartStart):
            parts[event.index] = replace(event.part)  # a copy: the events stay as they were
        elif isinstance(event, Delta):
            part = parts[event.index]
            attr = _DELTA_TARGET[event.kind]
            setattr(part, attr, (getattr(part, attr) or "") + event.value)
        elif isinstance(event, Finish):
            if response is None:
                raise ValueError("stream finished before it started")
            response.parts = [parts[i] for i in sorted(parts)]
            response.stop_reason = event.stop_reason
            response.stop_sequence = event.stop_sequence
            response.usage = event.usage
            return response
        elif isinstance(event, StreamError):
            raise ValueError(f"stream failed: {event.message}")
    raise ValueError("stream ended without a finish event")


class ResponseEvents:
    """The events of a complete Response, iterable like any stream of them; whoever wants the Response back
    takes ``response`` rather than folding the events into a copy of it (an upstream's JSON answer)."""

    __slots__ = ("response",)

    def __init__(self, response: Response):
        self.response = response

    def __iter__(self):
        return response_events(self.response)


def response_events(response: Response):
    """The stream of IR events equivalent to a complete Response (its inverse of accumulate)."""
    yield Start(id=response.id, model=response.model, created=response.created)
    for index, part in enumerate(response.parts):
        if isinstance(part, ToolCall):
            yield PartStart(index, ToolCall(id=part.id, name=part.name, signature=part.signature))
            if part.arguments:
                yield Delta(index, "arguments", part.arguments)
        elif isinstance(part, Thinking):
            yield PartStart(index, Thinking(redacted=part.redacted, source=part.source, id=part.id))
            if part.text:
                yield Delta(index, "thinking", part.text)
            if part.signature:
                yield Delta(index, "signature", part.signature)
            if part.encrypted:
                yield Delta(index, "encrypted", part.encrypted)
        else:
            yield PartStart(index, type(part)(text=""))
            if part.text:
                yield Delta(index, "text", part.text)
        yield PartStop(index)
    yield Finish(response.stop_reason, response.usage, response.stop_sequence)
