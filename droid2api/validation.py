"""marshmallow helpers shared by the config schema and the dialect request schemas.

marshmallow reports errors as nested dicts keyed by field name and list
index; clients and operators want one readable path (``messages[3].content``)
and one sentence. Dialect bodies are also full of unions — a field that is a
string or a list, a list of parts told apart by their ``type`` — which
marshmallow has no field for; ``OneOf``-style fields live here.
"""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing, validate

from .errors import GatewayError


def error_paths(messages, path: str = ""):
    """marshmallow's nested error dict as (``models[3].reasoning``, ``must be ...``) pairs."""
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, (dict, list)):
                yield from error_paths(message, path)
            else:
                yield path or "(top level)", sentence(message)
        return
    for key, value in messages.items():
        if key in ("_schema", "value"):
            # "value" is where marshmallow files an error about a Dict's value (no schema here has a
            # field of that name): model_redirects.a, not model_redirects.a.value.
            sub = path
        elif isinstance(key, int):
            sub = f"{path}[{key}]"
        else:
            sub = f"{path}.{key}" if path else str(key)
        yield from error_paths(value, sub)


def sentence(message) -> str:
    """marshmallow's "Not a valid integer." as "not a valid integer"."""
    message = str(message).rstrip(".")
    if message == "Missing data for required field":
        return "is required"
    return message[:1].lower() + message[1:]


def load_or_400(schema: Schema, data: dict):
    """``schema.load(data)``, with a validation failure turned into a 400 naming the first bad field."""
    try:
        return load_present(schema, data)
    except ValidationError as e:
        problems = list(error_paths(e.messages))
        path, message = problems[0]
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        raise GatewayError(400, f"invalid {path}: {message}{more}", param=path) from None


def load_present(schema: Schema, data):
    """``schema.load(data)``, by a copy of ``schema`` narrowed to the fields ``data`` has (and the required and
    defaulted ones, which act when absent).

    marshmallow visits every declared field on every load, present or not, at about 1 µs each: a Chat
    request declares 24 fields and a client sends three or four, and a long conversation has hundreds of
    parts with a few optional fields each. The copy loads, validates and reports errors exactly as the
    whole schema does, unknown fields included, since every field the data holds is in it. One copy is
    made per set of fields seen (the first request of each shape pays for it), a bounded number per schema.
    """
    if type(data) is not dict or not isinstance(schema, Schema):  # marshmallow's own error; a loader of ours
        return schema.load(data)
    narrowing = schema.__dict__.get("_narrowing")
    if narrowing is None:
        narrowing = schema._narrowing = _Narrowing(schema)
    if narrowing.names is None:
        return schema.load(data)
    present = narrowing.names.intersection(data)
    copy = narrowing.copies.get(present)
    if copy is None:
        if len(narrowing.copies) >= _MAX_NARROWED:
            narrowing.copies.clear()
        copy = narrowing.copies[present] = type(schema)(only=present | narrowing.always, unknown=schema.unknown,
                                                        many=schema.many, partial=schema.partial)
    return copy.load(data)


_MAX_NARROWED = 64


class _Narrowing:
    """What load_present knows of one schema instance: its field names and the narrowed copies made of it."""

    def __init__(self, schema: Schema):
        loaded = schema.load_fields
        renamed = any(f.data_key not in (None, name) for name, f in loaded.items()) or _pre_loads(schema)
        # A schema whose data keys are not its field names (or may not be, once a pre_load hook has changed
        # them), or one narrowed already, loads as it is.
        self.names = None if renamed or schema.only is not None else frozenset(loaded)
        self.always = frozenset(name for name, f in loaded.items() if f.required or f.load_default is not missing)
        self.copies = {}


def _pre_loads(schema: Schema) -> bool:
    """Whether ``schema`` has a pre_load hook; true when marshmallow does not say (its ``_hooks`` are keyed by
    tag in marshmallow 4, by (tag, many) in 3)."""
    hooks = getattr(schema, "_hooks", None)
    if not isinstance(hooks, dict):
        return True
    return any(methods for key, methods in hooks.items() if "pre_load" in (key if isinstance(key, tuple) else (key,)))


def shown(value, limit: int = 60) -> str:
    """A client's value quoted in an error message, cut short: the message must stay readable."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class Tagged(fields.Field):
    """A dict whose ``type`` key picks the schema that loads it (a tagged union).

    The tag is checked to be a string before it is looked up: a client's ``"role": ["user"]``
    cannot be a dict key, and must be a 400 naming ``messages[0].role``, not a TypeError.
    A schema may load its commonest shape itself (``load_plain(value)``, None for any other shape):
    a long history is mostly plain text messages, and marshmallow's walk costs ~10 µs each.
    """

    def __init__(self, schemas: dict, tag: str = "type", **kwargs):
        super().__init__(**kwargs)
        self.schemas = schemas
        self.tag = tag

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("must be an object")
        kind = value.get(self.tag)
        schema = self.schemas.get(kind) if isinstance(kind, str) else None
        if schema is None:
            raise ValidationError({self.tag: [self._refusal(kind)]})
        load_plain = getattr(schema, "load_plain", None)
        loaded = load_plain(value) if load_plain is not None else None
        return loaded if loaded is not None else load_present(schema, value)

    def _refusal(self, kind) -> str:
        choices = ", ".join(repr(k) for k in self.schemas)
        if kind is None:
            return f"is required (one of {choices})"
        if not isinstance(kind, str):
            return f"must be a string (one of {choices}), not {json_type(kind)}"
        return f"{shown(kind)} is not supported here (expected one of {choices})"


class StringOrList(fields.Field):
    """A string or a list of strings, always loaded as a list (``stop``)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise ValidationError("must be a string or a list of strings")


class StringOrParts(fields.Field):
    """Message content: a plain string, or a list of parts loaded by ``parts`` (a field); ``what`` names
    the parts in the error message (a Responses ``input`` is a list of items)."""

    def __init__(self, parts: fields.Field, what: str = "content parts", **kwargs):
        super().__init__(**kwargs)
        self.parts = fields.List(parts)
        self.what = what

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return self.parts.deserialize(value, attr, data, **kwargs)
        raise ValidationError(f"must be a string or a list of {self.what}")


def json_type(value) -> str:
    """The JSON name of a parsed value's type, for messages such as "must be a string, not array"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class Lenient(Schema):
    """A schema that ignores the fields it does not declare: SDKs echo back fields a request never needs."""

    class Meta:
        unknown = EXCLUDE


NOT_EMPTY = validate.Length(min=1, error="must not be empty")


def number_between(low, high, **kwargs) -> fields.Float:
    """A number from ``low`` to ``high`` (a sampling setting), or null."""
    return fields.Float(allow_none=True, validate=validate.Range(low, high, error=f"must be between {low} and {high}"),
                        **kwargs)


def count(**kwargs) -> fields.Integer:
    """A whole number of at least 1 (a token limit, a choice count), or null; 1.0 and "1" are refused."""
    return fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, error="must be at least 1"),
                          **kwargs)
