"""This module holds the marshmallow schemas that read a Gemini request's tools and settings into IR pieces.

``tools`` load as (path, ir.Tool or ``Dropped``) pairs: function declarations
(``parameters`` in Gemini's schema subset are read back into JSON Schema by
json_schema.py; ``parametersJsonSchema`` is JSON Schema already), Google
Search as a web search, and the tools only Gemini runs (code execution, URL
context, Maps...) as ``Dropped``. ``toolConfig.functionCallingConfig`` loads
as an ir.ToolChoice, ``generationConfig.thinkingConfig`` as an ir.Reasoning;
the rest of ``generationConfig`` is read field by field in front_request.py.
What these objects hold beyond that is kept (``unknown = INCLUDE``) for
``Request.extras``.
"""

from __future__ import annotations

from marshmallow import INCLUDE, ValidationError, fields, post_load, validate

from ... import ir
from ...validation import NOT_EMPTY, count, number_between
from ..decoding import Dropped
from .front_schema import Proto, UpperCaseChoice
from .json_schema import SchemaProblem, to_json_schema

WEB_SEARCH = "google_search"  # the ir.Tool name of a Gemini client's Google Search


class GeminiSchema(fields.Field):
    """A schema in Gemini's subset of OpenAPI, loaded as the JSON Schema it means."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return to_json_schema(value)
        except SchemaProblem as problem:
            message = [problem.message]
            for key in reversed(problem.keys):
                message = {key: message}
            raise ValidationError(message) from None


class JsonSchema(fields.Field):
    """A JSON Schema, taken as it is: an object, or ``true`` / ``false``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (dict, bool)):
            raise ValidationError("must be a JSON Schema (an object)")
        return value


# -- tools ----------------------------------------------------------------------------------------


class FunctionDeclaration(Proto):
    name = fields.String(required=True, validate=NOT_EMPTY)
    description = fields.String(allow_none=True)
    parameters = GeminiSchema(allow_none=True)
    parametersJsonSchema = JsonSchema(allow_none=True)
    # What the function returns, and whether Gemini may carry on while it runs: for Gemini alone.
    response = fields.Raw(allow_none=True)
    responseJsonSchema = fields.Raw(allow_none=True)
    behavior = fields.Raw(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        if data.get("parameters") is not None and data.get("parametersJsonSchema") is not None:
            raise ValidationError("give parameters or parametersJsonSchema, not both", "parametersJsonSchema")
        parameters = data.get("parameters") or data.get("parametersJsonSchema")
        if not isinstance(parameters, dict):  # none, or `true`: any arguments
            parameters = {"type": "object", "properties": {}}
        tool = ir.Tool(data["name"], data.get("description"), parameters)
        unsent = [key for key in ("response", "responseJsonSchema", "behavior") if data.get(key) is not None]
        if unsent:
            return Dropped(f"{', '.join(unsent)}: for Gemini alone; the function is kept", tool)
        return tool


class GoogleSearch(Proto):
    excludeDomains = fields.List(fields.String(), allow_none=True)
    timeRangeFilter = fields.Raw(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        options = {"blocked_domains": data["excludeDomains"]} if data.get("excludeDomains") else {}
        tool = ir.Tool(WEB_SEARCH, kind="web_search", options=options)
        if data.get("timeRangeFilter") is not None:
            return Dropped("timeRangeFilter: no other web search takes one; the search is kept", tool)
        return tool


class GoogleSearchRetrieval(Proto):
    """Gemini 1.5's search tool: a web search, whose dynamic retrieval setting only Gemini 1.5 had."""

    dynamicRetrievalConfig = fields.Raw(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        tool = ir.Tool(WEB_SEARCH, kind="web_search")
        if data.get("dynamicRetrievalConfig") is not None:
            return Dropped("dynamicRetrievalConfig: for Gemini alone; the search is kept", tool)
        return tool


class Tool(Proto):
    """One entry of ``tools``, which may declare functions and switch on Gemini's own tools at once."""

    class Meta:
        unknown = INCLUDE  # Gemini's own tools: each is named in a loss

    functionDeclarations = fields.List(fields.Nested(FunctionDeclaration), allow_none=True)
    googleSearch = fields.Nested(GoogleSearch, allow_none=True)
    googleSearchRetrieval = fields.Nested(GoogleSearchRetrieval, allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        loaded = [(f"functionDeclarations[{i}]", tool) for i, tool in enumerate(data.get("functionDeclarations") or [])]
        for key in ("googleSearch", "googleSearchRetrieval"):
            if data.get(key) is not None:
                loaded.append((key, data[key]))
        # Sorted: marshmallow gathers unknown fields in no fixed order, and losses are listed in one.
        loaded += [(key, Dropped(f"{key[:40]} is a tool only Gemini runs"))
                   for key in sorted(data) if key not in self.fields and data[key] is not None]
        return loaded


# -- tool choice -------------------------------------------------------------------------------------

MODES = ("AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED")


class FunctionCallingConfig(Proto):
    mode = UpperCaseChoice(MODES, allow_none=True)
    allowedFunctionNames = fields.List(fields.String(validate=NOT_EMPTY), allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        """An ir.ToolChoice, or a Dropped keeping the nearest one."""
        mode, names = data.get("mode") or "AUTO", list(dict.fromkeys(data.get("allowedFunctionNames") or []))
        if mode == "NONE":
            return ir.ToolChoice("none")
        if mode == "ANY":
            if len(names) == 1:
                return ir.ToolChoice("tool", names[0])
            if names:
                return Dropped(f"only {len(names)} of the functions may be called, which no other upstream can be "
                               "told; any may be", ir.ToolChoice("required"))
            return ir.ToolChoice("required")
        if mode == "VALIDATED":
            return Dropped("VALIDATED (calls checked against their schemas) has no equivalent elsewhere; sent as "
                           "auto", ir.ToolChoice("auto"))
        if names:
            return Dropped("allowedFunctionNames applies to mode ANY; ignored", ir.ToolChoice("auto"))
        return ir.ToolChoice("auto")


class ToolConfig(Proto):
    class Meta:
        unknown = INCLUDE  # retrievalConfig and the like: extras

    functionCallingConfig = fields.Nested(FunctionCallingConfig, allow_none=True)


# -- generation settings ---------------------------------------------------------------------------

THINKING_LEVELS = {"MINIMAL": "minimal", "LOW": "low", "MEDIUM": "medium", "HIGH": "high",
                   "THINKING_LEVEL_UNSPECIFIED": None}


class ThinkingConfig(Proto):
    """Thinking as an ir.Reasoning: a budget of 0 turns it off, -1 (or nothing) leaves it to the model;
    ``includeThoughts`` asks for the thought summaries (``summary`` "auto")."""

    includeThoughts = fields.Boolean(allow_none=True)
    thinkingBudget = fields.Integer(strict=True, allow_none=True, validate=validate.Range(
        min=-1, error="must be a number of tokens, 0 (no thinking) or -1 (the model decides)"))
    thinkingLevel = UpperCaseChoice(THINKING_LEVELS, allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        reasoning = ir.Reasoning(effort=THINKING_LEVELS[data.get("thinkingLevel") or "THINKING_LEVEL_UNSPECIFIED"],
                                 summary="auto" if data.get("includeThoughts") else None)
        budget = data.get("thinkingBudget")
        if budget == 0:
            reasoning.effort = "none"
        elif budget is not None and budget > 0:
            reasoning.budget_tokens = budget
        return reasoning


class WholeNumber(fields.Integer):
    """A whole number, which google-genai for Python writes as a float (its ``top_k`` is one): 40.0 is 40."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


ONE_CANDIDATE = ("must be 1: over the gateway this model answers with one candidate per request; send 1 or "
                 "leave it out")


class GenerationConfig(Proto):
    class Meta:
        unknown = INCLUDE  # responseModalities, speechConfig, mediaResolution...: extras

    temperature = number_between(0, 2)
    topP = number_between(0, 1)
    topK = WholeNumber(strict=True, allow_none=True, validate=validate.Range(min=1, error="must be at least 1"))
    maxOutputTokens = count()
    candidateCount = fields.Integer(strict=True, allow_none=True, validate=validate.Equal(1, error=ONE_CANDIDATE))
    stopSequences = fields.List(fields.String(), allow_none=True)
    presencePenalty = number_between(-2, 2)
    frequencyPenalty = number_between(-2, 2)
    seed = fields.Integer(strict=True, allow_none=True)
    responseMimeType = fields.String(allow_none=True)
    responseSchema = GeminiSchema(allow_none=True)
    responseJsonSchema = JsonSchema(allow_none=True)
    thinkingConfig = fields.Nested(ThinkingConfig, allow_none=True)

    @post_load
    def _one_schema(self, data, **kwargs):
        if data.get("responseSchema") is not None and data.get("responseJsonSchema") is not None:
            raise ValidationError("give responseSchema or responseJsonSchema, not both", "responseJsonSchema")
        return data


def response_format(config: dict):
    """The ir.ResponseFormat that a loaded generationConfig asks for: None for text, a Dropped for output
    no other upstream can be asked for (``text/x.enum``...)."""
    mime_type = config.get("responseMimeType") or None
    schema = config.get("responseSchema") if config.get("responseSchema") is not None \
        else config.get("responseJsonSchema")
    if mime_type in (None, "text/plain") and schema is None:
        return None
    if mime_type in (None, "application/json"):
        if isinstance(schema, dict):
            return ir.ResponseFormat("json_schema", schema)
        return ir.ResponseFormat("json_object")  # no schema, or `true`: any JSON
    return Dropped(f"responseMimeType {mime_type[:60]!r} has no equivalent elsewhere; the answer is plain text")
