"""Decoding a Chat Completions request body into an ir.Request, with marshmallow.

Every field is validated where it is read, so a bad body fails with a 400
naming the field (``messages[2].tool_calls[0].function.name``). Unknown
top-level fields are kept as extras for a Chat upstream; unknown fields
inside messages (an SDK echoing ``annotations`` or ``audio: null`` back) are
ignored.
"""

from __future__ import annotations

from marshmallow import EXCLUDE, INCLUDE, Schema, ValidationError, fields, post_load, validate, validates_schema

from ... import ir
from ...reasoning import EFFORTS
from ...validation import StringOrList, StringOrParts, Tagged, count, load_or_400, number_between
from . import reasoning
from .parts import TEXT, TEXT_AND_IMAGES, RefusalPart, Part

NAME = ir.Dialect.CHAT


class FunctionCall(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, error="must not be empty"))
    arguments = fields.String(load_default="")


class ExtraContent(Schema):
    """Provider extras on a tool call; only Google's thought signature is read (see reasoning.py)."""

    class Meta:
        unknown = EXCLUDE

    google = fields.Nested(Schema.from_dict({"thought_signature": fields.String(allow_none=True)}), unknown=EXCLUDE,
                           allow_none=True)


class ToolCallSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True)
    type = fields.String(load_default="function",
                         validate=validate.OneOf(("function",), error="only function tool calls are supported"))
    function = fields.Nested(FunctionCall, required=True)
    extra_content = fields.Nested(ExtraContent, allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        google = (data.get("extra_content") or {}).get("google") or {}
        function = data["function"]
        return ir.ToolCall(data["id"], function["name"], function["arguments"],
                           signature=google.get("thought_signature") or None)


class ReasoningDetail(Schema):
    """A ``reasoning_details`` entry sent back (see reasoning.py), typed so thinking_parts sees only strings."""

    class Meta:
        unknown = EXCLUDE

    type = fields.String(allow_none=True)
    format = fields.String(allow_none=True)
    id = fields.String(allow_none=True)
    index = fields.Integer(strict=True, allow_none=True)
    text = fields.String(allow_none=True)
    summary = fields.String(allow_none=True)
    signature = fields.String(allow_none=True)
    data = fields.String(allow_none=True)


class _Message(Schema):
    class Meta:
        unknown = EXCLUDE

    role = fields.String(required=True)
    name = fields.String(allow_none=True)


class _PlainText:
    """For a message schema whose only required fields are role and content, and whose post_load is ``_ir``.
    The shortcut skips the schema's field validators and hooks: these schemas have none on role and content,
    and tests/test_load_present.py fails if a plain message ever loads otherwise through the schema."""

    def load_plain(self, value: dict):
        """``{"role": ..., "content": "text"}`` and nothing else, as the schema would load it; else None.
        (The role is the tag: Tagged has checked it is a string.)"""
        if len(value) == 2 and isinstance(value.get("content"), str):
            return self._ir({"role": value["role"], "content": value["content"]})
        return None


class SystemMessage(_PlainText, _Message):
    content = StringOrParts(Tagged(TEXT), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        content = data["content"]
        if isinstance(content, str):
            return [ir.Instruction(content, data["role"])]
        return [ir.Instruction(p.text, data["role"], p.cache_control) for p in content]


class UserMessage(_PlainText, _Message):
    content = StringOrParts(Tagged(TEXT_AND_IMAGES), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        content = data["content"]
        return ir.Message("user", [ir.Text(content)] if isinstance(content, str) else content, data.get("name"))


class AssistantMessage(_PlainText, _Message):
    content = StringOrParts(Tagged({**TEXT, "refusal": RefusalPart()}), allow_none=True)
    refusal = fields.String(allow_none=True)
    tool_calls = fields.List(fields.Nested(ToolCallSchema), allow_none=True)
    function_call = fields.Nested(FunctionCall, allow_none=True)  # the pre-tools form
    reasoning_content = fields.String(allow_none=True)
    reasoning = fields.String(allow_none=True)  # what some OpenAI-compatible servers call it
    reasoning_details = fields.List(fields.Nested(ReasoningDetail), allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        parts = reasoning.thinking_parts(data.get("reasoning_details"),
                                         data.get("reasoning_content") or data.get("reasoning"))
        content = data.get("content")
        if isinstance(content, str):
            if content:
                parts.append(ir.Text(content))
        elif content:
            parts.extend(content)
        if data.get("refusal"):
            parts.append(ir.Refusal(data["refusal"]))
        parts.extend(data.get("tool_calls") or [])
        if data.get("function_call"):
            call = data["function_call"]
            parts.append(ir.ToolCall(call["name"], call["name"], call["arguments"]))
        return ir.Message("assistant", parts, data.get("name"))


class ToolMessage(_Message):
    tool_call_id = fields.String(required=True)
    content = StringOrParts(Tagged(TEXT_AND_IMAGES), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        content = data["content"]
        return ir.ToolResult(data["tool_call_id"], [ir.Text(content)] if isinstance(content, str) else content)


class FunctionMessage(_Message):
    """The pre-tools ``function`` role: its name doubles as the call id."""

    name = fields.String(required=True)
    content = fields.String(required=True, allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.ToolResult(data["name"], [ir.Text(data["content"] or "")], name=data["name"])


MESSAGES = {
    "system": SystemMessage(), "developer": SystemMessage(), "user": UserMessage(),
    "assistant": AssistantMessage(), "tool": ToolMessage(), "function": FunctionMessage(),
}


class ToolChoiceField(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("auto", "none", "required"):
            return ir.ToolChoice(value)
        if isinstance(value, dict) and value.get("type") == "function":
            name = (value.get("function") or {}).get("name") if isinstance(value.get("function"), dict) else None
            if isinstance(name, str) and name:
                return ir.ToolChoice("tool", name)
        raise ValidationError('must be "auto", "none", "required" or {"type": "function", "function": {"name": ...}}')


class FunctionSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, error="must not be empty"))
    description = fields.String(allow_none=True)
    parameters = fields.Dict(allow_none=True)
    strict = fields.Boolean(allow_none=True)


class ToolSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    type = fields.String(required=True, validate=validate.OneOf(("function",), error=(
        "only function tools can be converted to this model's upstream")))
    function = fields.Nested(FunctionSchema, required=True)
    cache_control = fields.Dict()

    @post_load
    def _ir(self, data, **kwargs):
        f = data["function"]
        return ir.Tool(f["name"], f.get("description"), f.get("parameters") or {}, f.get("strict"),
                       data.get("cache_control"))


class JsonSchemaFormat(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True)
    schema = fields.Dict(allow_none=True)
    description = fields.String(allow_none=True)
    strict = fields.Boolean(allow_none=True)


class ResponseFormat(Part):
    json_schema = fields.Nested(JsonSchemaFormat)

    @validates_schema
    def _schema_given(self, data, **kwargs):
        if data["type"] == "json_schema" and "json_schema" not in data:
            raise ValidationError("is required when type is json_schema", "json_schema")

    @post_load
    def _ir(self, data, **kwargs):
        spec = data.get("json_schema") or {}
        return ir.ResponseFormat(data["type"], spec.get("schema"), spec.get("name"), spec.get("description"),
                                 spec.get("strict"))


class StreamOptions(Schema):
    class Meta:
        unknown = EXCLUDE

    include_usage = fields.Boolean(load_default=False)


class OpenRouterReasoning(Schema):
    """OpenRouter's ``reasoning`` object; an effort this gateway does not know is ignored, not refused."""

    class Meta:
        unknown = EXCLUDE

    effort = fields.String(allow_none=True)
    max_tokens = fields.Integer(strict=True, allow_none=True,
                                validate=validate.Range(min=0, error="must not be negative"))
    enabled = fields.Boolean(allow_none=True)
    exclude = fields.Boolean(allow_none=True)


class AnthropicThinking(Schema):
    """Anthropic's ``thinking`` object, which some Chat clients send to reach Claude models."""

    class Meta:
        unknown = EXCLUDE

    type = fields.String(allow_none=True)
    budget_tokens = fields.Integer(strict=True, allow_none=True,
                                   validate=validate.Range(min=0, error="must not be negative"))


class ChatRequest(Schema):
    class Meta:
        unknown = INCLUDE  # unknown top-level fields become extras

    model = fields.String(required=True)
    messages = fields.List(Tagged(MESSAGES, tag="role"), required=True,
                           validate=validate.Length(min=1, error="must hold at least one message"))
    stream = fields.Boolean(load_default=False, allow_none=True)
    stream_options = fields.Nested(StreamOptions, allow_none=True)
    max_tokens = count()
    max_completion_tokens = count()
    temperature = number_between(0, 2)
    top_p = number_between(0, 1)
    top_k = count()
    n = count()
    stop = StringOrList(allow_none=True)
    presence_penalty = number_between(-2, 2)
    frequency_penalty = number_between(-2, 2)
    seed = fields.Integer(strict=True, allow_none=True)
    tools = fields.List(fields.Nested(ToolSchema), allow_none=True)
    tool_choice = ToolChoiceField(allow_none=True)
    parallel_tool_calls = fields.Boolean(allow_none=True)
    response_format = Tagged({k: ResponseFormat() for k in ("text", "json_object", "json_schema")}, allow_none=True)
    reasoning_effort = fields.String(allow_none=True, validate=validate.OneOf(EFFORTS, error="must be one of {choices}"))
    reasoning = fields.Nested(OpenRouterReasoning, allow_none=True)  # {"effort": ..., "max_tokens": ...}
    thinking = fields.Nested(AnthropicThinking, allow_none=True)  # {"type": "enabled", "budget_tokens": ...}
    user = fields.String(allow_none=True)
    metadata = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)


# One instance serves every request: building a marshmallow schema deep-copies all its fields, which
# would cost more than loading a body; loading keeps no state on the instance.
CHAT_REQUEST = ChatRequest()
KNOWN = set(CHAT_REQUEST.fields)


def decode_request(body: dict) -> ir.Request:
    data = load_or_400(CHAT_REQUEST, body)
    request = ir.Request(model=data["model"], source=NAME)
    for entry in data["messages"]:
        if isinstance(entry, list):
            request.system.extend(entry)
        elif isinstance(entry, ir.ToolResult):
            last = request.messages[-1] if request.messages else None
            if last is not None and last.role == "user" and last.parts and \
                    all(isinstance(p, ir.ToolResult) for p in last.parts):
                last.parts.append(entry)  # consecutive tool messages answer one assistant turn together
            else:
                request.messages.append(ir.Message("user", [entry]))
        else:
            request.messages.append(entry)
    request.tools = data.get("tools") or []
    request.tool_choice = data.get("tool_choice")
    request.parallel_tool_calls = data.get("parallel_tool_calls")
    request.max_tokens = data.get("max_completion_tokens") or data.get("max_tokens")
    for name in ("temperature", "top_p", "top_k", "n", "presence_penalty", "frequency_penalty", "seed", "user",
                 "metadata", "response_format"):
        setattr(request, name, data.get(name))
    request.stop = data.get("stop") or []
    request.stream = bool(data.get("stream"))
    request.include_usage = bool((data.get("stream_options") or {}).get("include_usage"))
    request.reasoning = _reasoning(data)
    request.extras = {k: v for k, v in data.items() if k not in KNOWN}
    return request


def _reasoning(data: dict) -> ir.Reasoning | None:
    if data.get("reasoning_effort"):
        return ir.Reasoning(effort=data["reasoning_effort"])
    options = data.get("reasoning") or {}
    if options:
        if options.get("enabled") is False or options.get("effort") == "none":
            return ir.Reasoning(effort="none")
        effort = options.get("effort") if options.get("effort") in EFFORTS else None
        budget = options.get("max_tokens") if isinstance(options.get("max_tokens"), int) else None
        if effort or budget:
            return ir.Reasoning(effort=effort, budget_tokens=budget)
    thinking = data.get("thinking") or {}
    if thinking.get("type") == "disabled":
        return ir.Reasoning(effort="none")
    if thinking.get("type") == "enabled" and isinstance(thinking.get("budget_tokens"), int):
        return ir.Reasoning(budget_tokens=thinking["budget_tokens"])
    return None
