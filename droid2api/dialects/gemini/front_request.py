"""This module reads a Gemini request body (``models/{m}:generateContent``, ``:countTokens``) into an ir.Request.

It accepts what Gemini CLI and the google-genai SDKs send, in camelCase or
the proto's snake_case: ``contents`` of text, thoughts and their
signatures, inline and by-URI files, function calls and responses;
``systemInstruction`` (a Content or a string); function declarations and
Google Search in ``tools``; ``toolConfig``; ``generationConfig`` with
``thinkingConfig``. The model and whether to stream come from the URL, not
the body. Every bad field is a 400 naming it
(``contents[2].parts[0].inlineData.data``), never a 500; so are the two
things the gateway cannot do for another upstream: several candidates
(``candidateCount``) and Google's server-side ``cachedContent``.

Only conversions read a Gemini body: a Gemini upstream is passthrough. What
no other dialect can use is dropped with an ir.Loss in ``Request.losses``
(code execution parts, Gemini's own tools, ``VALIDATED`` mode);
``safetySettings``, the ``generationConfig`` and ``toolConfig`` fields with
no IR slot (``responseModalities``, ``retrievalConfig``...) and unknown
top-level fields are kept in ``Request.extras``, which only the Gemini
encoder sends (the others record a Loss).

Contents are read as the Gemini upstream decoder reads an answer: the
contents of one side in a row are one ir.Message (google-genai's chats keep
each chunk of a streamed answer as a Content of its own), the model's texts
in a row are one text, and its thoughts gather into one ir.Thinking with the
signature that follows them. A function call without an ``id`` gets the one
that decoder would give it (``stream.tool_call_id``); a response without
one answers the first unanswered call of its name in the latest turn that
has one (Gemini pairs them by order).

What a body normalises to on its way back (Gemini -> IR -> Gemini, as tests
check): contents of one role in a row are one, and so are a model's texts
in a row; call and response ids are left out; a response of a lone ``output``
string is sent as ``result``; thought text is not sent (Gemini needs only
the signatures), and a signature alone goes onto the part after it;
``parametersJsonSchema`` and ``responseJsonSchema`` are sent in Gemini's
schema subset, and a function without parameters leaves them out; ``ANY``
with several allowed names is ``ANY``; ``googleSearchRetrieval`` is
``googleSearch``; ``includeThoughts`` is always asked for when thinking is
on; the system instruction has no role; an empty ``generationConfig`` is
left out.
"""

from __future__ import annotations

from marshmallow import INCLUDE, ValidationError, fields, validate

from ... import ir
from ...errors import GatewayError
from ...validation import load_or_400
from ..decoding import kept
from ..ids import hashed
from .front_config import GenerationConfig, Tool, ToolConfig, response_format
from .front_schema import Content, Proto, SystemInstruction, has_reasoning
from .stream import NAME, SOURCE, tool_call_id

CACHED_CONTENT = ("the gateway cannot give Google's cached content to this model's upstream; send the contents "
                  "themselves")


class Refused(fields.Field):
    """A field the gateway cannot serve for another upstream: a 400 that says why."""

    def __init__(self, reason: str, **kwargs):
        super().__init__(**kwargs)
        self.reason = reason

    def _deserialize(self, value, attr, data, **kwargs):
        raise ValidationError(self.reason)


class GenerateContentRequest(Proto):
    class Meta:
        unknown = INCLUDE  # unknown top-level fields become extras

    model = fields.Raw(allow_none=True)  # the URL names the model
    contents = fields.List(fields.Nested(Content), required=True,
                           validate=validate.Length(min=1, error="must hold at least one content"))
    systemInstruction = SystemInstruction(allow_none=True)
    tools = fields.List(fields.Nested(Tool), allow_none=True)
    toolConfig = fields.Nested(ToolConfig, allow_none=True)
    generationConfig = fields.Nested(GenerationConfig, allow_none=True)
    safetySettings = fields.List(fields.Dict(), allow_none=True)  # checked, and kept in extras
    cachedContent = Refused(CACHED_CONTENT, allow_none=True)


class CountTokensRequest(Proto):
    """``:countTokens`` counts ``contents`` alone, or a whole ``generateContentRequest``."""

    contents = fields.List(fields.Nested(Content), allow_none=True)
    generateContentRequest = fields.Nested(GenerateContentRequest, allow_none=True)


# One instance serves every request: building a schema deep-copies its fields; loading keeps no state on it.
GENERATE_CONTENT_REQUEST = GenerateContentRequest()
COUNT_TOKENS_REQUEST = CountTokensRequest()
IN_THE_IR = set(GENERATE_CONTENT_REQUEST.fields) - {"safetySettings"}
GENERATION_FIELDS = set(GenerationConfig().fields)
TOOL_CONFIG_FIELDS = set(ToolConfig().fields)


def decode_request(body: dict, model: str, stream: bool) -> ir.Request:
    """A generateContent body as an ir.Request for ``model`` (from the URL); ``stream`` for streamGenerateContent."""
    return _request(load_or_400(GENERATE_CONTENT_REQUEST, body), model, stream)


def count_tokens_request(body: dict, model: str) -> ir.Request:
    """A countTokens body as the ir.Request whose input is to be counted."""
    data = load_or_400(COUNT_TOKENS_REQUEST, body)
    whole = data.get("generateContentRequest")
    if whole is not None:
        if data.get("contents") is not None:
            raise GatewayError(400, "invalid contents: give contents or generateContentRequest, not both",
                               param="contents")
        return _request(whole, model, False, "generateContentRequest.")
    if not data.get("contents"):
        raise GatewayError(400, "invalid contents: is required (or generateContentRequest)", param="contents")
    return _request({"contents": data["contents"]}, model, False)


def _request(data: dict, model: str, stream: bool, where: str = "") -> ir.Request:
    request = ir.Request(model=model, source=NAME, stream=stream, include_usage=stream)  # streams report usage
    losses = request.losses
    request.system = _instructions(data.get("systemInstruction") or [], f"{where}systemInstruction", losses)
    request.messages = _Turns(losses, where).read(data["contents"])
    for i, loaded in enumerate(data.get("tools") or []):
        for path, tool in loaded:
            tool = kept(tool, f"{where}tools[{i}].{path}", losses)
            if tool is not None:
                request.tools.append(tool)
    tool_config = data.get("toolConfig") or {}
    request.tool_choice = kept(tool_config.get("functionCallingConfig"),
                               f"{where}toolConfig.functionCallingConfig", losses)
    config = data.get("generationConfig") or {}
    request.temperature, request.top_p = config.get("temperature"), config.get("topP")
    request.top_k = config.get("topK")
    request.max_tokens = config.get("maxOutputTokens")
    request.stop = config.get("stopSequences") or []
    request.presence_penalty, request.frequency_penalty = config.get("presencePenalty"), config.get("frequencyPenalty")
    request.seed = config.get("seed")
    request.response_format = kept(response_format(config), f"{where}generationConfig.responseMimeType", losses)
    request.reasoning = config.get("thinkingConfig")
    request.extras = _extras(data, config, tool_config)
    return request


def _extras(data: dict, config: dict, tool_config: dict) -> dict:
    """What the Gemini encoder sends as it came: fields with no IR slot, at the top and in the two configs."""
    extras = {key: value for key, value in data.items() if key not in IN_THE_IR and value is not None}
    for key, nested, known in (("generationConfig", config, GENERATION_FIELDS),
                               ("toolConfig", tool_config, TOOL_CONFIG_FIELDS)):
        unknown = {name: value for name, value in nested.items() if name not in known and value is not None}
        if unknown:
            extras[key] = unknown
    return extras


def _instructions(loaded: list, where: str, losses: list) -> list:
    """The loaded parts of a system instruction as ir.Instructions: only text can instruct."""
    instructions = []
    for j, items in enumerate(loaded):
        for item in kept(items, f"{where}.parts[{j}]", losses) or []:
            if isinstance(item, ir.Text):
                instructions.append(ir.Instruction(item.text))
            elif not isinstance(item, ir.Thinking):  # a signature here signs nothing
                losses.append(ir.Loss(f"{where}.parts[{j}]", f"a system instruction holds text only; "
                                                             f"a {type(item).__name__} was dropped"))
    return [instruction for instruction in instructions if instruction.text]


class _Turns:
    """``contents`` as ir.Messages, read as the Gemini upstream decoder reads an answer: the contents of
    one side in a row are one turn (google-genai's chats keep each chunk of a streamed answer as a
    Content of its own), the model's text runs on in one part and its reasoning gathers. Every call gets
    an id, and each function response is paired with the call it answers."""

    def __init__(self, losses: list, where: str):
        self.losses = losses
        self.where = where
        self.calls = []  # (turn, ir.ToolCall) of every call so far
        self.answered = set()  # ids of the calls a response has answered
        self.ids = set()

    def read(self, contents: list) -> list:
        messages = []
        for i, (role, loaded) in enumerate(contents):
            same_turn = bool(messages) and messages[-1].role == role
            parts = messages[-1].parts if same_turn else []
            self._add(parts, i, len(messages) - 1 if same_turn else len(messages), role, loaded)
            if parts and not same_turn:  # a content whose every part was dropped is no turn
                messages.append(ir.Message(role, parts))
        return messages

    def _add(self, parts: list, i: int, turn: int, role: str, loaded: list):
        """The loaded parts of ``contents[i]`` added to the parts of its ``turn``."""
        for j, items in enumerate(loaded):
            at = f"{self.where}contents[{i}].parts[{j}]"
            for part in kept(items, at, self.losses) or []:
                if isinstance(part, ir.Thinking):
                    if role == "user":
                        self.losses.append(ir.Loss(at, "reasoning in a user turn has no meaning; dropped"))
                    else:
                        add_thinking(parts, part)
                    continue
                if role == "assistant" and isinstance(part, ir.Text) and parts and type(parts[-1]) is ir.Text:
                    parts[-1].text += part.text  # the model's text, streamed in pieces, is one text
                    continue
                if isinstance(part, ir.ToolCall):
                    self._identify(part, i, turn, len(parts))
                elif isinstance(part, ir.ToolResult):
                    self._pair(part, at)
                parts.append(part)

    def _identify(self, call: ir.ToolCall, i: int, turn: int, index: int):
        if not call.id:
            # The id the Gemini upstream decoder gave this call when it was the answer's part ``index``.
            call.id = tool_call_id(index, call.name, call.arguments)
            if call.id in self.ids:  # the same call at the same place of an earlier turn: ids must differ
                call.id = hashed(f"{i}:{index}:{call.name}:{call.arguments}")
        self.ids.add(call.id)
        self.calls.append((turn, call))

    def _pair(self, result: ir.ToolResult, at: str):
        if not result.call_id:
            call = self._answered_by(result.name)
            if call is None:
                raise GatewayError(400, f"invalid {at}.functionResponse: it answers no functionCall named "
                                        f"{result.name[:80]!r} earlier in contents", param=f"{at}.functionResponse")
            result.call_id = call.id
        self.answered.add(result.call_id)

    def _answered_by(self, name: str) -> ir.ToolCall | None:
        """The call a response without an id answers: the first unanswered call of its name in the latest
        turn with one; failing that, the latest call of its name."""
        waiting = [(turn, call) for turn, call in self.calls if call.name == name and call.id not in self.answered]
        if waiting:
            latest = waiting[-1][0]
            return next(call for turn, call in waiting if turn == latest)
        return next((call for _, call in reversed(self.calls) if call.name == name), None)


def add_thinking(parts: list, thinking: ir.Thinking):
    """Add reasoning to a turn's parts as the Gemini upstream decoder does: thought text continues the
    reasoning before it, and a signature completes reasoning that has none yet (Gemini signs the last of
    a run of thoughts, or the call they led to); anything else starts a new part."""
    last = parts[-1] if parts and isinstance(parts[-1], ir.Thinking) else None
    if last is not None and not _opaque(last):
        last.text += thinking.text
        last.signature, last.encrypted, last.id = thinking.signature, thinking.encrypted, thinking.id
        last.source = thinking.source
    elif last is not None and last.source == SOURCE and thinking.source == SOURCE and not _opaque(thinking):
        last.text += thinking.text  # a Gemini signature does not cover the summary: more of it may follow
    elif has_reasoning(thinking) or thinking.id:
        parts.append(thinking)


def _opaque(thinking: ir.Thinking) -> bool:
    return bool(thinking.signature or thinking.encrypted or thinking.redacted or thinking.id)
