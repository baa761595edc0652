"""This module reads the tools of an OpenAI Responses request, the choice among them, its output format and reasoning.

Tools become ir.Tools: a ``function``; a ``custom`` tool (free text, such as
Codex's ``apply_patch``) of kind "custom" with one string parameter, ``input``;
each tool of a ``namespace`` (Codex's MCP servers, its sub-agent tools) under
a name every upstream takes (ids.namespaced_tool_name), keeping the namespace
and the client's name; a web search of kind "web_search". The tools only
OpenAI runs (file search, code interpreter, image generation, computer use,
remote MCP, local shell...) come out as ``Dropped``, to be recorded as a loss.
"""

from __future__ import annotations

from marshmallow import INCLUDE, ValidationError, fields, post_load, validate

from ... import ir
from ...validation import NOT_EMPTY, Lenient, Tagged, json_type, load_present
from ..decoding import Dropped, UserLocation, location_option
from ..ids import namespaced_tool_name
from .front_schema import Typed
from .tools import WEB_SEARCH, custom_input_schema

CHOICE = validate.OneOf(("auto", "none", "required"), error="must be one of {choices}, or an object")
WEB_SEARCH_TYPES = ("web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11")
EFFORTS = {"none": "none", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high",
           "xhigh": "xhigh", "max": "xhigh"}  # reasoning.effort -> IR
SUMMARIES = validate.OneOf(("auto", "concise", "detailed"), error="must be one of {choices}")


# -- tools --------------------------------------------------------------------------


class FunctionTool(Typed):
    name = fields.String(required=True, validate=NOT_EMPTY)
    description = fields.String(allow_none=True)
    parameters = fields.Dict(allow_none=True)
    strict = fields.Boolean(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Tool(data["name"], data.get("description"), data.get("parameters") or {}, data.get("strict"))


class CustomTool(Typed):
    name = fields.String(required=True, validate=NOT_EMPTY)
    description = fields.String(allow_none=True)
    format = fields.Dict(allow_none=True)  # {"type": "text"} or {"type": "grammar", "syntax", "definition"}

    @post_load
    def _ir(self, data, **kwargs):
        options = {"format": data["format"]} if data.get("format") else {}
        return ir.Tool(data["name"], data.get("description"), custom_input_schema(), kind="custom", options=options)


FUNCTION_TOOL, CUSTOM_TOOL = FunctionTool(), CustomTool()


class NamespaceTool(Typed):
    """A group of tools: each becomes an ir.Tool of its own, named ``namespace__name`` upstream."""

    name = fields.String(required=True, validate=NOT_EMPTY)
    description = fields.String(allow_none=True)
    tools = fields.List(Tagged({"function": FUNCTION_TOOL, "custom": CUSTOM_TOOL}), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        namespace = data["name"]
        for tool in data["tools"]:
            tool.namespace, tool.client_name = namespace, tool.name
            tool.name = namespaced_tool_name(namespace, tool.name)
            if data.get("description"):
                tool.options["namespace_description"] = data["description"]
        return data["tools"]


class Filters(Lenient):
    allowed_domains = fields.List(fields.String(), allow_none=True)


class WebSearchTool(Typed):
    """OpenAI's web search (and its preview): the ir.Tool options every web search has."""

    filters = fields.Nested(Filters, allow_none=True)
    user_location = fields.Nested(UserLocation, allow_none=True)
    search_context_size = fields.String(allow_none=True, validate=validate.OneOf(("low", "medium", "high")))
    external_web_access = fields.Boolean(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        options = {}
        if (data.get("filters") or {}).get("allowed_domains") is not None:
            options["allowed_domains"] = data["filters"]["allowed_domains"]
        if location_option(data.get("user_location")):
            options["user_location"] = location_option(data["user_location"])
        if data.get("search_context_size") is not None:
            options["search_context_size"] = data["search_context_size"]
        if data.get("external_web_access") is False:  # true, live search, is what every web search does
            options["external_web_access"] = False
        return ir.Tool(WEB_SEARCH, kind="web_search", options=options)


TOOLS = {"function": FUNCTION_TOOL, "custom": CUSTOM_TOOL, "namespace": NamespaceTool(),
         **dict.fromkeys(WEB_SEARCH_TYPES, WebSearchTool())}


class ToolField(fields.Field):
    """A tool of one of the kinds above; any other type is a tool only OpenAI runs."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("must be an object")
        kind = value.get("type")
        if not isinstance(kind, str):
            problem = "is required" if kind is None else f"must be a string, not {json_type(kind)}"
            raise ValidationError({"type": [problem]})
        if kind in TOOLS:
            return load_present(TOOLS[kind], value)
        return Dropped(f"{kind[:80]} is a tool only OpenAI runs")


# -- tool choice --------------------------------------------------------------------


class NamedChoice(Typed):
    """``{"type": "function" | "custom", "name": ...}``: that tool, and no other."""

    name = fields.String(required=True, validate=NOT_EMPTY)
    namespace = fields.String(allow_none=True, validate=NOT_EMPTY)

    @post_load
    def _ir(self, data, **kwargs):
        namespace = data.get("namespace")
        return ir.ToolChoice("tool", namespaced_tool_name(namespace, data["name"]) if namespace else data["name"])


class HostedChoice(Typed):
    """A hosted tool by its type: the web search is the one kept."""

    @post_load
    def _ir(self, data, **kwargs):
        if data["type"] in WEB_SEARCH_TYPES:
            return ir.ToolChoice("tool", WEB_SEARCH)
        return Dropped(f"tool_choice forces {data['type']}, a tool only OpenAI runs; the model may choose")


class AllowedTools(Typed):
    """A subset of the tools: the IR offers all of them, so only "one tool, required" keeps its meaning."""

    mode = fields.String(required=True, validate=validate.OneOf(("auto", "required"), error="must be one of {choices}"))
    tools = fields.List(fields.Dict(), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        if data["mode"] == "required" and len(data["tools"]) == 1:
            only = data["tools"][0]
            chosen = CHOICES.get(only["type"]) if isinstance(only.get("type"), str) else None
            if isinstance(chosen, (NamedChoice, HostedChoice)):
                try:
                    return chosen.load(only)
                except ValidationError as e:  # named at its place in the list, not at the list's owner
                    raise ValidationError({0: e.messages}, "tools") from None
        return Dropped("allowed_tools: every tool is offered, the model is not held to the subset",
                       ir.ToolChoice(data["mode"]))


HOSTED_CHOICES = ("file_search", "computer", "computer_use", "computer_use_preview", "code_interpreter",
                  "image_generation", "mcp", "shell", "apply_patch", "programmatic_tool_calling")
CHOICES = {"function": NamedChoice(), "custom": NamedChoice(), "allowed_tools": AllowedTools(),
           **dict.fromkeys(WEB_SEARCH_TYPES + HOSTED_CHOICES, HostedChoice())}


class ToolChoiceField(Tagged):
    """``auto`` / ``none`` / ``required``, or an object naming a tool, a hosted tool or a subset."""

    def __init__(self, **kwargs):
        super().__init__(CHOICES, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            CHOICE(value)
            return ir.ToolChoice(value)
        return super()._deserialize(value, attr, data, **kwargs)


# -- output format and reasoning ----------------------------------------------------


class PlainFormat(Typed):
    @post_load
    def _ir(self, data, **kwargs):
        return ir.ResponseFormat(data["type"])


class SchemaFormat(Typed):
    name = fields.String(required=True, validate=NOT_EMPTY)
    schema = fields.Dict(required=True)
    description = fields.String(allow_none=True)
    strict = fields.Boolean(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.ResponseFormat("json_schema", data["schema"], data["name"], data.get("description"),
                                 data.get("strict"))


class TextConfig(Lenient):
    """``text``: the format has an IR slot; the rest (``verbosity``) is kept for a Responses upstream."""

    class Meta:
        unknown = INCLUDE

    format = Tagged({"text": PlainFormat(), "json_object": PlainFormat(), "json_schema": SchemaFormat()},
                    allow_none=True)
    verbosity = fields.String(allow_none=True, validate=validate.OneOf(("low", "medium", "high")))


class ReasoningConfig(Lenient):
    effort = fields.String(allow_none=True, validate=validate.OneOf(tuple(EFFORTS), error="must be one of {choices}"))
    summary = fields.String(allow_none=True, validate=SUMMARIES)
    generate_summary = fields.String(allow_none=True, validate=SUMMARIES)  # summary's deprecated name

    @post_load
    def _ir(self, data, **kwargs):
        effort, summary = data.get("effort"), data.get("summary") or data.get("generate_summary")
        if effort is None and summary is None:
            return None  # no wish either way: the model's default
        return ir.Reasoning(effort=EFFORTS.get(effort), summary=summary)
