"""This module holds the marshmallow schemas that read the items and content of an OpenAI Responses request.

Each schema checks the fields it reads and builds IR parts in ``post_load``,
so a bad body fails with a 400 naming the field
(``input[3].content[0].image_url``). A message item loads as an ir.Message
(role "system" for system and developer messages, whose parts are
ir.Instructions); a call item as an ir.ToolCall, its output as an
ir.ToolResult; a reasoning item as ir.Thinking parts, or as a
``CallSignature`` when it only carries a Gemini function call's signature
(carried.py). Items that record a tool only OpenAI runs come out as
``Dropped``. front_request.py groups them into turns; front_tools.py reads
the tools.

What the gateway cannot serve is a 400 that says so: a file by ``file_id``
(it has no files API) and an ``item_reference`` to an item it does not keep.
"""

from __future__ import annotations

from marshmallow import ValidationError, fields, post_load

from ... import ir
from ...compaction import SUMMARY_INTRO, summary_from
from ...validation import NOT_EMPTY, Lenient, StringOrParts, Tagged, shown
from ...wire import dumps
from .. import carried
from ..decoding import CallSignature, Dropped
from ..ids import namespaced_tool_name
from ..media import media_type_of, parse_data_url
from .response import SOURCE

NO_FILES = "the gateway has no files API; send the file itself (a data: URL) or its URL"
BAD_DATA_URL = "a data: URL must be base64 with its type (data:<type>;base64,...)"


class Typed(Lenient):
    """An object told apart by its ``type`` (a content part, an item, a tool), which Tagged has checked."""

    type = fields.String(required=True)


def parts(content) -> list:
    """Content as loaded (a string, or a list of parts already read into IR parts) as a list of parts."""
    return [ir.Text(content)] if isinstance(content, str) else content


# -- content ------------------------------------------------------------------------


class TextContent(Typed):
    """``input_text`` or ``output_text`` (whose annotations and logprobs nobody else reads)."""

    text = fields.String(required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Text(data["text"])


class RefusalContent(Typed):
    refusal = fields.String(required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Refusal(data["refusal"])


class ImageContent(Typed):
    image_url = fields.String(allow_none=True, validate=NOT_EMPTY)
    file_id = fields.String(allow_none=True)
    detail = fields.String(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        url, detail = data.get("image_url"), data.get("detail")
        if url is None and data.get("file_id") is not None:
            raise ValidationError([NO_FILES], "file_id")
        if url is None:
            raise ValidationError(["is required"], "image_url")
        if not url.startswith("data:"):
            return ir.Image(url=url, detail=detail)  # the gateway never fetches it: the upstream may
        inline = parse_data_url(url)
        if inline is None or not inline[1]:
            raise ValidationError([BAD_DATA_URL], "image_url")
        return ir.Image(data=inline[1], media_type=inline[0], detail=detail)


class FileContent(Typed):
    """A document: inline (``file_data``, a data: URL or bare base64 named by ``filename``) or by URL."""

    file_data = fields.String(allow_none=True, validate=NOT_EMPTY)
    file_url = fields.String(allow_none=True, validate=NOT_EMPTY)
    file_id = fields.String(allow_none=True)
    filename = fields.String(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        filename = data.get("filename") or None
        if data.get("file_data") is not None:
            inline = parse_data_url(data["file_data"])
            if inline is None and data["file_data"].startswith("data:"):
                raise ValidationError([BAD_DATA_URL], "file_data")
            media_type, base64_data = inline or (media_type_of(filename), data["file_data"])
            return ir.Document(data=base64_data, media_type=media_type, title=filename)
        if data.get("file_url") is not None:
            return ir.Document(url=data["file_url"], title=filename)
        if data.get("file_id") is not None:
            raise ValidationError([NO_FILES], "file_id")
        raise ValidationError(["is required (or file_url)"], "file_data")


TEXT = TextContent()
INPUT_CONTENT = {"input_text": TEXT, "input_image": ImageContent(), "input_file": FileContent()}
# The API takes output_text and refusal in assistant messages; SDK types also allow input_text there.
OUTPUT_CONTENT = {"output_text": TEXT, "refusal": RefusalContent(), "input_text": TEXT}


# -- messages -----------------------------------------------------------------------


class UserMessage(Lenient):
    content = StringOrParts(Tagged(INPUT_CONTENT), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Message("user", parts(data["content"]))


class AssistantMessage(Lenient):
    content = StringOrParts(Tagged(OUTPUT_CONTENT), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Message("assistant", parts(data["content"]))


class InstructionMessage(Lenient):
    """A system or developer message: its texts join the request's instructions, keeping the role."""

    role = fields.String(required=True)
    content = StringOrParts(Tagged({"input_text": TEXT}), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Message("system", [ir.Instruction(part.text, role=data["role"]) for part in parts(data["content"])])


class _ByRole:
    """A message item, told apart again by its role (Tagged calls ``load`` as on a schema)."""

    def __init__(self):
        instructions = InstructionMessage()
        self.field = Tagged({"user": UserMessage(), "assistant": AssistantMessage(), "system": instructions,
                             "developer": instructions}, tag="role")

    def load(self, value):
        return self.field.deserialize(value)


# -- calls and their outputs ---------------------------------------------------------


def called_name(data: dict) -> str:
    """The tool name the IR knows a call by: a namespaced tool's is joined (ids.namespaced_tool_name)."""
    namespace = data.get("namespace")
    return namespaced_tool_name(namespace, data["name"]) if namespace else data["name"]


class _Call(Typed):
    call_id = fields.String(required=True, validate=NOT_EMPTY)
    name = fields.String(required=True, validate=NOT_EMPTY)
    namespace = fields.String(allow_none=True, validate=NOT_EMPTY)


class FunctionCallItem(_Call):
    arguments = fields.String(load_default="")

    @post_load
    def _ir(self, data, **kwargs):
        return ir.ToolCall(data["call_id"], called_name(data), data["arguments"])


class CustomToolCallItem(_Call):
    """A call of a custom tool: its free text is the one string argument other upstreams were offered."""

    input = fields.String(required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.ToolCall(data["call_id"], called_name(data), dumps({"input": data["input"]}))


class CallOutputItem(Typed):
    """``function_call_output`` or ``custom_tool_call_output``: what the client's tool answered."""

    call_id = fields.String(required=True, validate=NOT_EMPTY)
    output = StringOrParts(Tagged(INPUT_CONTENT), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.ToolResult(data["call_id"], parts(data["output"]))


# -- reasoning ----------------------------------------------------------------------


class ReasoningItem(Typed):
    """One reasoning item: a Thinking part per summary (and reasoning_text) part, sharing the item id, the
    encrypted content on the last, as the Responses decoders give them. Another dialect's reasoning
    carried in ``encrypted_content`` becomes that dialect's one part again."""

    id = fields.String(allow_none=True)
    summary = fields.List(Tagged({"summary_text": TEXT}), allow_none=True)
    content = fields.List(Tagged({"reasoning_text": TEXT}), allow_none=True)
    encrypted_content = fields.String(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        encrypted, item_id = data.get("encrypted_content"), data.get("id")
        call = carried.call_signature(encrypted)
        if call is not None:
            return CallSignature(*call)
        texts = [part.text for part in (data.get("summary") or []) + (data.get("content") or [])]
        if carried.unwrap(encrypted) is not None:
            return [carried.thinking_from("".join(texts), encrypted, client=SOURCE, item_id=item_id)]
        texts = texts or [""]
        last = len(texts) - 1
        return [carried.thinking_from(text, encrypted if i == last else None, client=SOURCE, item_id=item_id)
                for i, text in enumerate(texts)]


# -- what the gateway cannot use ------------------------------------------------------


class ItemReference(Lenient):
    """A reference the gateway could not resolve: the items of stored responses were put in its place before
    decoding (stored_responses.resolve_references), so this one names nothing the gateway keeps."""

    id = fields.String(allow_none=True)

    @post_load
    def _refuse(self, data, **kwargs):
        raise ValidationError(f"an item_reference ({data.get('id')!r}) to an item the gateway does not keep (it "
                              "keeps the items of responses it stored, until they expire); send the item itself, "
                              "or use previous_response_id")


class HostedToolItem(Typed):
    """A call or output of a tool OpenAI runs (or defines) itself, or OpenAI's compacted history."""

    @post_load
    def _ir(self, data, **kwargs):
        return Dropped(f"a {data['type']} item records what only OpenAI can read back")


class CompactionItem(Typed):
    """A compacted history: the gateway's own (a summary it made, see compaction.py) goes back as context;
    OpenAI's encrypted one only OpenAI can read."""

    encrypted_content = fields.String(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        summary = summary_from(data.get("encrypted_content"))
        if summary is None:
            return Dropped("a compaction item records what only OpenAI can read back")
        return ir.Message("user", [ir.Text(SUMMARY_INTRO + summary)])


HOSTED_ITEMS = ("web_search_call", "file_search_call", "computer_call", "computer_call_output",
                "code_interpreter_call", "image_generation_call", "local_shell_call", "local_shell_call_output",
                "shell_call", "shell_call_output", "apply_patch_call", "apply_patch_call_output", "mcp_list_tools",
                "mcp_approval_request", "mcp_approval_response", "mcp_call", "tool_search_call",
                "tool_search_output", "additional_tools", "compaction_trigger")
_HOSTED_ITEM = HostedToolItem()
_OUTPUT = CallOutputItem()
ITEMS = {"message": _ByRole(), "function_call": FunctionCallItem(), "function_call_output": _OUTPUT,
         "custom_tool_call": CustomToolCallItem(), "custom_tool_call_output": _OUTPUT, "reasoning": ReasoningItem(),
         "item_reference": ItemReference(), "compaction": CompactionItem(),
         **{kind: _HOSTED_ITEM for kind in HOSTED_ITEMS}}


class ItemField(Tagged):
    """An input item, told apart by ``type``; a message may leave its type out (the SDKs' easy input
    message), and a bare ``{"id": ...}`` is an item reference."""

    def __init__(self, **kwargs):
        super().__init__(ITEMS, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict) and value.get("type") is None:
            implied = "item_reference" if "role" not in value and "id" in value else "message"
            value = {**value, "type": implied}
        return super()._deserialize(value, attr, data, **kwargs)

    def _refusal(self, kind) -> str:
        if not isinstance(kind, str):
            return super()._refusal(kind)
        return (f"{shown(kind)} is not an input item type the gateway knows (message, function_call, "
                "function_call_output, custom_tool_call, custom_tool_call_output, reasoning, or the item of a "
                "tool OpenAI runs)")
