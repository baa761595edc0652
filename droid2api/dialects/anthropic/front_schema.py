"""This module holds the marshmallow schemas that read an Anthropic Messages request body, block by block.

Each schema checks the fields it reads and builds IR parts in ``post_load``,
so a bad body fails with a 400 naming the field
(``messages[2].content[0].source.data``). What the IR cannot hold comes out as
a ``Dropped`` marker, which front_request.py turns into an ir.Loss at the
block's path; a thinking block that carries a Gemini function call's
signature comes out as a ``CallSignature``, which it moves onto that call.
Unknown fields inside blocks are ignored (``citations`` on text, Anthropic's
references into its own search results, among them).
"""

from __future__ import annotations

from marshmallow import ValidationError, fields, post_load, validate

from ... import ir
from ...validation import NOT_EMPTY, Lenient, StringOrParts, Tagged, count, json_type, load_present
from ...wire import dumps
from .. import carried
from ..decoding import CallSignature, Dropped, UserLocation, location_option
from .response import SOURCE


class _Block(Lenient):
    type = fields.String(required=True)
    cache_control = fields.Dict(allow_none=True)


# -- content blocks -------------------------------------------------------------


def parts(content) -> list:
    """Content as loaded (a string, or a list of blocks already read into IR parts) as a list of parts."""
    return [ir.Text(content)] if isinstance(content, str) else content


class TextBlock(_Block):
    text = fields.String(required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Text(data["text"], cache_control=data.get("cache_control"))


class Base64Source(_Block):
    media_type = fields.String(required=True, validate=NOT_EMPTY)
    data = fields.String(required=True, validate=NOT_EMPTY)


class UrlSource(_Block):
    url = fields.String(required=True, validate=NOT_EMPTY)


class PlainTextSource(_Block):
    media_type = fields.String(load_default="text/plain")
    data = fields.String(required=True)


class ImageBlock(_Block):
    source = Tagged({"base64": Base64Source(), "url": UrlSource()}, required=True)

    @post_load
    def _ir(self, data, **kwargs):
        source = data["source"]
        return ir.Image(url=source.get("url"), data=source.get("data"), media_type=source.get("media_type"),
                        cache_control=data.get("cache_control"))


class ContentSource(_Block):
    content = StringOrParts(Tagged({"text": TextBlock(), "image": ImageBlock()}), required=True)


class DocumentBlock(_Block):
    """A PDF (base64 or URL) becomes an ir.Document; a plain-text or content document becomes text,
    which every upstream reads (few take a text file as a file)."""

    source = Tagged({"base64": Base64Source(), "url": UrlSource(), "text": PlainTextSource(),
                     "content": ContentSource()}, required=True)
    title = fields.String(allow_none=True)
    context = fields.String(allow_none=True)
    citations = fields.Dict(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        source, title, cache_control = data["source"], data.get("title"), data.get("cache_control")
        if source["type"] == "text":
            kept = [ir.Text(f"{title}\n\n{source['data']}" if title else source["data"], cache_control)]
        elif source["type"] == "content":
            kept = parts(source["content"])
            if title:
                kept.insert(0, ir.Text(title))
        else:
            kept = [ir.Document(data=source.get("data"), media_type=source.get("media_type") or "application/pdf",
                                url=source.get("url"), title=title, cache_control=cache_control)]
        unsent = [name for name, value in (("context", data.get("context")),
                                           ("citations", (data.get("citations") or {}).get("enabled"))) if value]
        if unsent:
            return Dropped(f"Anthropic-only document settings dropped ({', '.join(unsent)}); the document is kept",
                           kept)
        return kept


class ToolUseBlock(_Block):
    id = fields.String(required=True)
    name = fields.String(required=True, validate=NOT_EMPTY)
    input = fields.Dict(load_default=dict)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.ToolCall(data["id"], data["name"], dumps(data["input"]))


class SearchResultBlock(_Block):
    """Search results a client's own tool found: their text, with where it came from."""

    source = fields.String(required=True)
    title = fields.String(required=True)
    content = fields.List(Tagged({"text": TextBlock()}), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        texts = [data["title"], data["source"], *(part.text for part in data["content"])]
        return ir.Text("\n\n".join(texts), data.get("cache_control"))


RESULT_BLOCKS = {"text": TextBlock(), "image": ImageBlock(), "document": DocumentBlock(),
                 "search_result": SearchResultBlock()}


class ToolResultBlock(_Block):
    tool_use_id = fields.String(required=True)
    content = StringOrParts(Tagged(RESULT_BLOCKS), allow_none=True)
    is_error = fields.Boolean(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.ToolResult(data["tool_use_id"], parts(data.get("content") or []), bool(data.get("is_error")),
                             cache_control=data.get("cache_control"))


class ThinkingBlock(_Block):
    thinking = fields.String(required=True)
    signature = fields.String(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        call = carried.call_signature(data.get("signature"))
        if call is not None:
            return CallSignature(*call)
        return carried.thinking_from(data["thinking"], data.get("signature"))


class RedactedThinkingBlock(_Block):
    data = fields.String(required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Thinking(redacted=data["data"], source=SOURCE)


class ServerToolBlock(_Block):
    """A call of a tool Anthropic ran itself, or its result: only Anthropic can read it back."""

    @post_load
    def _ir(self, data, **kwargs):
        return Dropped(f"a {data['type']} block records a tool only Anthropic runs")


class WebSearchResultBlock(_Block):
    """Anthropic's web search results: the pages' text is encrypted for Anthropic alone, so what another
    model is shown is which pages were found (title and URL)."""

    content = fields.Raw(required=True)

    @post_load
    def _ir(self, data, **kwargs):
        found = [f"- {result.get('title') or result['url']} <{result['url']}>" for result in data["content"]
                 if isinstance(result, dict) and isinstance(result.get("url"), str)
                 and isinstance(result.get("title"), (str, type(None)))] \
            if isinstance(data["content"], list) else []
        if not found:
            return Dropped("a web search that found nothing another model can use")
        return Dropped("web search results: their page text is encrypted for Anthropic; titles and URLs kept",
                       ir.Text("Web search results:\n" + "\n".join(found)))


SERVER_BLOCKS = ("server_tool_use", "web_fetch_tool_result", "code_execution_tool_result",
                 "bash_code_execution_tool_result", "text_editor_code_execution_tool_result",
                 "tool_search_tool_result", "mcp_tool_use", "mcp_tool_result", "container_upload")

USER_BLOCKS = {**RESULT_BLOCKS, "tool_result": ToolResultBlock()}
ASSISTANT_BLOCKS = {"text": TextBlock(), "thinking": ThinkingBlock(), "redacted_thinking": RedactedThinkingBlock(),
                    "tool_use": ToolUseBlock(), "web_search_tool_result": WebSearchResultBlock(),
                    **{kind: ServerToolBlock() for kind in SERVER_BLOCKS}}


# -- messages -----------------------------------------------------------------


class _Message(Lenient):
    role = fields.String(required=True)


class UserMessage(_Message):
    content = StringOrParts(Tagged(USER_BLOCKS), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Message("user", parts(data["content"]))


class AssistantMessage(_Message):
    content = StringOrParts(Tagged(ASSISTANT_BLOCKS), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Message("assistant", parts(data["content"]) if data["content"] else [])


class SystemMessage(_Message):
    """A system message inside ``messages`` (Claude Code sends one): it joins the system instructions."""

    content = StringOrParts(Tagged({"text": TextBlock()}), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return instructions(data["content"])


MESSAGES = {"user": UserMessage(), "assistant": AssistantMessage(), "system": SystemMessage()}


def instructions(content) -> list:
    """A system string or list of text blocks as ir.Instructions."""
    if isinstance(content, str):
        return [ir.Instruction(content)]
    return [ir.Instruction(part.text, cache_control=part.cache_control) for part in content]


# -- tools ----------------------------------------------------------------------


class CustomTool(_Block):
    type = fields.String(load_default="custom")
    name = fields.String(required=True, validate=NOT_EMPTY)
    description = fields.String(allow_none=True)
    input_schema = fields.Dict(required=True)
    strict = fields.Boolean(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Tool(data["name"], data.get("description"), data["input_schema"], data.get("strict"),
                       data.get("cache_control"))


class WebSearchTool(_Block):
    name = fields.String(load_default="web_search")
    max_uses = count()
    allowed_domains = fields.List(fields.String(), allow_none=True)
    blocked_domains = fields.List(fields.String(), allow_none=True)
    user_location = fields.Nested(UserLocation, allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        options = {key: data[key] for key in ("max_uses", "allowed_domains", "blocked_domains")
                   if data.get(key) is not None}
        location = location_option(data.get("user_location"))
        if location:
            options["user_location"] = location
        return ir.Tool(data["name"], kind="web_search", options=options, cache_control=data.get("cache_control"))


CUSTOM_TOOL, WEB_SEARCH_TOOL = CustomTool(), WebSearchTool()


class ToolField(fields.Field):
    """A tool: custom (no ``type``, or ``custom``), web search (``web_search_<version>``), or another of
    Anthropic's own versioned tools (``bash_20250124``, ``text_editor_...``), which only Anthropic runs."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("must be an object")
        kind = value.get("type")
        if kind is None or kind == "custom":
            return load_present(CUSTOM_TOOL, value)
        if not isinstance(kind, str):
            raise ValidationError({"type": [f"must be a string, not {json_type(kind)}"]})
        if kind.startswith("web_search_"):
            return load_present(WEB_SEARCH_TOOL, value)
        return Dropped(f"{kind} is a tool only Anthropic runs")


class ToolChoiceSchema(_Block):
    disable_parallel_tool_use = fields.Boolean(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        mode = {"any": "required"}.get(data["type"], data["type"])
        return ir.ToolChoice(mode, data.get("name")), bool(data.get("disable_parallel_tool_use"))


class NamedToolChoice(ToolChoiceSchema):
    name = fields.String(required=True, validate=NOT_EMPTY)


TOOL_CHOICE = {"auto": ToolChoiceSchema(), "any": ToolChoiceSchema(), "none": ToolChoiceSchema(),
               "tool": NamedToolChoice()}


# -- thinking and output --------------------------------------------------------


class EnabledThinking(_Block):
    budget_tokens = fields.Integer(strict=True, required=True,
                                   validate=validate.Range(min=1, error="must be at least 1"))

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Reasoning(budget_tokens=data["budget_tokens"])


class OtherThinking(_Block):
    """``adaptive``: the model decides how much to think (its default); ``disabled``: no thinking."""

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Reasoning(effort="none" if data["type"] == "disabled" else None)


THINKING = {"enabled": EnabledThinking(), "adaptive": OtherThinking(), "disabled": OtherThinking()}

EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "xhigh"}  # output_config.effort -> IR


class OutputFormat(_Block):
    type = fields.String(required=True, validate=validate.OneOf(("json_schema",), error="must be one of {choices}"))
    schema = fields.Dict(required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.ResponseFormat("json_schema", data["schema"])


class OutputConfig(Lenient):
    effort = fields.String(allow_none=True, validate=validate.OneOf(tuple(EFFORTS), error="must be one of {choices}"))
    format = fields.Nested(OutputFormat, allow_none=True)


class Metadata(Lenient):
    user_id = fields.String(allow_none=True)
