"""This module holds the marshmallow schemas that read the contents of a Gemini request, part by part.

Each schema checks the fields it reads and builds IR parts in ``post_load``,
so a bad body fails with a 400 naming the field
(``contents[2].parts[0].inlineData.data``). A part loads as a list of IR
parts: its own, preceded by an ir.Thinking when its ``thoughtSignature``
stands for reasoning (Gemini's own signature on a text part; another
dialect's reasoning that carried.py put on a function call). What the IR
cannot hold (code Gemini ran itself, part kinds newer than this code) comes
out as ``Dropped``. Ids of function calls sent without one, and which call a
function response answers, are settled by front_request.py, which sees the
whole conversation.

The REST API reads every field in camelCase and in the proto's snake_case
(``inline_data``), and so does every schema here (``Proto``); an error names
the camelCase field.
"""

from __future__ import annotations

from marshmallow import EXCLUDE, INCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate

from ... import ir
from ...validation import NOT_EMPTY, load_present
from ...wire import dumps
from .. import carried
from ..decoding import Dropped
from ..media import media_type_of, standard_base64
from .stream import SOURCE


class Proto(Schema):
    """A schema of a proto message: its fields may also come in snake_case."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _camel_case(self, data, **kwargs):
        if not isinstance(data, dict) or not any("_" in key for key in data):
            return data
        renamed = {}
        for key, value in data.items():
            camel = _camel(key)
            renamed[camel if camel in self.fields and camel not in data else key] = value
        return renamed


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in rest)


class UpperCaseChoice(fields.String):
    """One of an enum's names, which proto JSON clients write in any case (``ANY``, ``any``)."""

    def __init__(self, choices, **kwargs):
        super().__init__(**kwargs)
        self.choices = tuple(choices)

    def _deserialize(self, value, attr, data, **kwargs):
        name = super()._deserialize(value, attr, data, **kwargs).upper()
        if name not in self.choices:
            raise ValidationError(f"must be one of {', '.join(self.choices)}")
        return name


# -- files ----------------------------------------------------------------------------------------


def file_part(media_type: str, *, data: str | None = None, url: str | None = None, title: str | None = None):
    """An image (an ``image/...`` type) or a document (PDF, text, audio...: the upstream encoders refuse the
    types their model cannot read) as its IR part."""
    if media_type.startswith("image/"):
        return ir.Image(url=url, data=data, media_type=media_type)
    return ir.Document(data=data, media_type=media_type, url=url, title=title)


class InlineData(Proto):
    mimeType = fields.String(required=True, validate=NOT_EMPTY)
    data = fields.String(required=True, validate=NOT_EMPTY)
    displayName = fields.String(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        return file_part(data["mimeType"], data=standard_base64(data["data"]), title=data.get("displayName"))


class FileData(Proto):
    """A file by URI (Cloud Storage, the Files API): sent on as a URL, which only some upstreams read."""

    fileUri = fields.String(required=True, validate=NOT_EMPTY)
    mimeType = fields.String(allow_none=True, validate=NOT_EMPTY)
    displayName = fields.String(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        media_type = data.get("mimeType") or media_type_of(data["fileUri"])
        return file_part(media_type, url=data["fileUri"], title=data.get("displayName"))


# -- function calls and their responses -------------------------------------------------------------


class FunctionCall(Proto):
    id = fields.String(allow_none=True)
    name = fields.String(required=True, validate=NOT_EMPTY)
    args = fields.Dict(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.ToolCall(data.get("id") or "", data["name"], dumps(data.get("args") or {}))


class FunctionResponseFile(Proto):
    """A file a function returned (Gemini 3's multimodal function responses)."""

    inlineData = fields.Nested(InlineData, allow_none=True)
    fileData = fields.Nested(FileData, allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        found = data.get("inlineData") or data.get("fileData")
        if found is None:
            raise ValidationError("must hold inlineData or fileData")
        return found


class FunctionResponse(Proto):
    id = fields.String(allow_none=True)
    name = fields.String(required=True, validate=NOT_EMPTY)
    response = fields.Dict(allow_none=True)
    parts = fields.List(fields.Nested(FunctionResponseFile), allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        text, is_error = result_text(data.get("response") or {})
        content = [ir.Text(text), *(data.get("parts") or [])]
        return ir.ToolResult(data.get("id") or "", content, is_error, name=data["name"])


def result_text(response: dict) -> tuple:
    """(text, is_error) of what a function answered. The API reads a lone ``output`` as the output and a
    lone ``error`` as a failure; those (and ``result``, which the Gemini encoder writes) are sent as their
    own text, and any other object as its JSON."""
    if len(response) == 1:
        (key, value), = response.items()
        if key == "error":
            return (value if isinstance(value, str) else dumps(value)), True
        if key in ("output", "result") and isinstance(value, str):
            return value, False
    return dumps(response), False


# -- parts ----------------------------------------------------------------------------------------------

# A part holds one of these (the proto's ``data`` oneof).
DATA_FIELDS = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
               "codeExecutionResult")
RAN_BY_GEMINI = ("executableCode", "codeExecutionResult")


class Part(Proto):
    class Meta:
        unknown = INCLUDE  # to tell a part of a kind newer than this code from an empty one

    text = fields.String(allow_none=True)
    thought = fields.Boolean(allow_none=True)
    thoughtSignature = fields.String(allow_none=True)
    inlineData = fields.Nested(InlineData, allow_none=True)
    fileData = fields.Nested(FileData, allow_none=True)
    functionCall = fields.Nested(FunctionCall, allow_none=True)
    functionResponse = fields.Nested(FunctionResponse, allow_none=True)
    executableCode = fields.Raw(allow_none=True)
    codeExecutionResult = fields.Raw(allow_none=True)
    # How Gemini should read the part: nothing another model can use.
    videoMetadata = fields.Raw(allow_none=True)
    mediaResolution = fields.Raw(allow_none=True)
    partMetadata = fields.Raw(allow_none=True)

    @post_load
    def _ir(self, data, **kwargs):
        kinds = [key for key in DATA_FIELDS if data.get(key) is not None]
        if len(kinds) > 1:
            raise ValidationError(f"holds both {kinds[0]} and {kinds[1]}; a part holds one")
        signature = data.get("thoughtSignature") or None
        if not kinds:
            newer = sorted(key[:40] for key in data if key not in self.fields)
            if newer:
                return Dropped(f"a part of a kind the gateway does not know ({', '.join(newer[:3])})")
            if signature is None:
                raise ValidationError(f"must hold one of {', '.join(DATA_FIELDS[:5])}")
            return _signed(signature, None)  # a signature alone: Gemini's reasoning without a summary
        kind = kinds[0]
        if kind in RAN_BY_GEMINI:
            return Dropped(f"{kind} records code Gemini ran itself, which only Gemini can read back")
        if kind == "functionCall":
            call = data["functionCall"]
            call.signature, carried_thinking = carried.call_thinking(signature)
            return [carried_thinking, call] if carried_thinking is not None else [call]
        if kind == "text" and data.get("thought"):
            thinking = carried.thinking_from(data["text"], signature, client=SOURCE)
            return [thinking] if has_reasoning(thinking) else []
        part = data[kind] if kind != "text" else ir.Text(data["text"]) if data["text"] else None
        return _signed(signature, part)


def _signed(signature, part) -> list:
    """A part with the signature it carries: the reasoning that led to the part comes first."""
    parts = [carried.thinking_from("", signature, client=SOURCE)] if signature else []
    return parts + ([part] if part is not None else [])


def has_reasoning(thinking: ir.Thinking) -> bool:
    return bool(thinking.text or thinking.signature or thinking.encrypted or thinking.redacted)


# -- contents ---------------------------------------------------------------------------------------

ROLES = {"user": "user", "model": "assistant", "function": "user"}  # "function": the API's old role for results


class Content(Proto):
    """One turn: (ir role, the parts loaded, one list of IR parts or a Dropped each)."""

    role = fields.String(allow_none=True, validate=validate.OneOf(tuple(ROLES), error="must be user or model"))
    parts = fields.List(fields.Nested(Part), required=True,
                        validate=validate.Length(min=1, error="must hold at least one part"))

    @post_load
    def _ir(self, data, **kwargs):
        return ROLES[data.get("role") or "user"], data["parts"]


class SystemContent(Proto):
    role = fields.String(allow_none=True)  # the SDKs send "user", or nothing; it means nothing here
    parts = fields.List(fields.Nested(Part), required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return data["parts"]


SYSTEM_CONTENT = SystemContent()


class SystemInstruction(fields.Field):
    """``systemInstruction``: a Content, or a plain string (which the SDKs and the REST API also take),
    loaded as the parts of a Content."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return [[ir.Text(value)]]
        return load_present(SYSTEM_CONTENT, value)
