"""This module reads an OpenAI Responses request body (POST /v1/responses) into an ir.Request.

It accepts what Codex and the openai SDKs send: ``input`` as a string or a
list of items — messages of every role (system and developer messages join
the instructions, as ``instructions`` does), function and custom tool calls
and their outputs, reasoning items — function, custom, namespaced and web
search tools, ``tool_choice``, ``reasoning``, ``text.format`` and the
sampling settings. Every bad field is a 400 naming it
(``input[3].content[0].image_url``), never a 500.

Items of one side that follow each other are one ir.Message, one turn (the
Responses encoder splits them into items again): user messages and the
outputs of calls are the user's turn; assistant messages, calls and
reasoning the assistant's. What the IR cannot hold is dropped with an
ir.Loss in ``Request.losses``: the tools only OpenAI runs, and their items
in the history. Fields with no IR slot (``include``, ``store``,
``previous_response_id``, ``prompt_cache_key``, ``client_metadata``,
``service_tier``, ``truncation``, ``text.verbosity``, anything new) are kept
in ``Request.extras``, which only the Responses encoder sends back; the
gateway reads ``store`` and ``previous_response_id`` there, and the front's
answer reads ``include`` (it sends ``encrypted_content`` only when asked).

What a Responses body normalises to on its way back (Responses -> IR ->
Responses): the input is a list of typed items, and a turn's messages are
one message; system messages and ``instructions`` are one ``instructions``;
an empty ``instructions`` and null fields are left out; ``safety_identifier``
alone is sent as ``user``; effort ``max`` is ``xhigh``; a reasoning summary
is asked for (``auto``) unless the client chose one; a web search is
``web_search`` without its default ``external_web_access: true``.
"""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from ... import ir
from ...validation import NOT_EMPTY, StringOrParts, count, load_or_400, number_between
from ..decoding import CallSignature, attach_call_signatures, kept
from .front_schema import ItemField
from .front_tools import ReasoningConfig, TextConfig, ToolChoiceField, ToolField
from .response import NAME


class ResponsesRequest(Schema):
    class Meta:
        unknown = INCLUDE  # unknown top-level fields become extras

    model = fields.String(required=True)
    input = StringOrParts(ItemField(), what="items", allow_none=True)
    instructions = fields.String(allow_none=True)
    tools = fields.List(ToolField(), allow_none=True)
    tool_choice = ToolChoiceField(allow_none=True)
    parallel_tool_calls = fields.Boolean(allow_none=True)
    max_output_tokens = count()
    temperature = number_between(0, 2)
    top_p = number_between(0, 1)
    text = fields.Nested(TextConfig, allow_none=True)
    reasoning = fields.Nested(ReasoningConfig, allow_none=True)
    stream = fields.Boolean(allow_none=True)
    metadata = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    user = fields.String(allow_none=True)
    safety_identifier = fields.String(allow_none=True)
    # Checked here, as the gateway and the front read them, and kept in extras: the IR has no slot for them.
    include = fields.List(fields.String(), allow_none=True)
    store = fields.Boolean(allow_none=True)
    previous_response_id = fields.String(allow_none=True, validate=NOT_EMPTY)
    background = fields.Boolean(allow_none=True)
    prompt_cache_key = fields.String(allow_none=True)
    client_metadata = fields.Dict(allow_none=True)
    service_tier = fields.String(allow_none=True)
    truncation = fields.String(allow_none=True,
                               validate=validate.OneOf(("auto", "disabled"), error="must be one of {choices}"))
    max_tool_calls = count()


# One instance serves every request: building a schema deep-copies its fields; loading keeps no state on it.
RESPONSES_REQUEST = ResponsesRequest()
IN_THE_IR = {"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
             "temperature", "top_p", "text", "reasoning", "stream", "metadata", "user", "safety_identifier"}


def decode_request(body: dict) -> ir.Request:
    data = load_or_400(RESPONSES_REQUEST, body)
    request = ir.Request(model=data["model"], source=NAME)
    if data.get("instructions"):
        request.system.append(ir.Instruction(data["instructions"]))
    add_turns(request, data.get("input"))
    for i, tool in enumerate(data.get("tools") or []):
        tool = kept(tool, f"tools[{i}]", request.losses)
        request.tools.extend(tool if isinstance(tool, list) else [tool] if tool is not None else [])
    request.tool_choice = tool_choice(kept(data.get("tool_choice"), "tool_choice", request.losses), request.tools)
    request.parallel_tool_calls = data.get("parallel_tool_calls")
    request.max_tokens = data.get("max_output_tokens")
    request.temperature, request.top_p = data.get("temperature"), data.get("top_p")
    text = {key: value for key, value in (data.get("text") or {}).items() if value is not None}
    request.response_format = text.pop("format", None)
    request.reasoning = data.get("reasoning")
    request.stream = bool(data.get("stream"))
    request.include_usage = request.stream  # a Responses stream always ends with the usage
    request.metadata = data.get("metadata")
    request.user = data.get("user") or data.get("safety_identifier")
    request.extras = {key: value for key, value in data.items() if key not in IN_THE_IR and value is not None}
    if text:
        request.extras["text"] = text  # verbosity: the encoder merges it into the text it writes
    if data.get("user") and data.get("safety_identifier"):
        request.extras["safety_identifier"] = data["safety_identifier"]  # the user is the user; keep both
    return request


def add_turns(request: ir.Request, loaded):
    """The loaded ``input`` as the request's turns (and instructions), in order."""
    if isinstance(loaded, str):
        request.messages.append(ir.Message("user", [ir.Text(loaded)]))
        return
    signatures = {}  # turn index -> (where, CallSignature) pairs, put on their calls once the turn is whole
    for i, item in enumerate(loaded or []):
        where = f"input[{i}]"
        item = kept(item, where, request.losses)
        if item is None:
            continue
        if isinstance(item, ir.Message) and item.role == "system":
            request.system.extend(item.parts)
            continue
        role, parts = _side(item)
        if not request.messages or request.messages[-1].role != role:
            request.messages.append(ir.Message(role))
        turn = len(request.messages) - 1
        for part in parts:
            if isinstance(part, CallSignature):
                signatures.setdefault(turn, []).append((where, part))
            else:
                request.messages[turn].parts.append(part)
    for turn, found in signatures.items():
        attach_call_signatures(request.messages[turn].parts, found, request.losses)


def _side(item) -> tuple:
    """(role, parts) of a loaded item: a call's output is the user's, a call or reasoning the assistant's."""
    if isinstance(item, ir.Message):
        return item.role, item.parts
    if isinstance(item, ir.ToolResult):
        return "user", [item]
    return "assistant", item if isinstance(item, list) else [item]


def tool_choice(choice: ir.ToolChoice | None, tools: list) -> ir.ToolChoice | None:
    """The choice, naming a namespaced tool by its IR name when the client named it by its own."""
    if choice is not None and choice.mode == "tool" and all(tool.name != choice.name for tool in tools):
        named = [tool.name for tool in tools if tool.client_name == choice.name]
        if len(named) == 1:
            choice.name = named[0]
    return choice
