"""This module reads Gemini's ``Schema`` (its OpenAPI 3.0 subset) back into JSON Schema: the inverse of schema.py.

A Gemini client declares function parameters (``parameters``) and structured
output (``responseSchema``) in that subset; every other upstream takes JSON
Schema. The rewrite:

* ``type`` names are lower-cased (``STRING`` is ``string``); ``TYPE_UNSPECIFIED``
  is left out;
* ``nullable: true`` becomes ``"null"`` among the types (``["string", "null"]``),
  or a ``{"type": "null"}`` member of ``anyOf``, and ``null`` among the
  ``enum`` values (a JSON Schema enum without it refuses null);
* enum values of an INTEGER or NUMBER schema, which the subset writes as
  strings (``["101", "201"]``), are numbers again;
* counts (``minItems``...), which proto JSON may write as strings (they are
  int64), are numbers;
* the proto's snake_case spellings (``any_of``, ``max_items``...) are read
  as their camelCase names, except inside ``properties``, whose keys are
  the client's own names;
* every other keyword (``format``, ``title``, ``description``, ``default``,
  ``example``, ``propertyOrdering``, and JSON Schema keywords a client put
  there) is kept as it is.

``schema.clean_schema(to_json_schema(s))`` is ``s`` again for a schema of
the subset (key order aside). A schema that is not one (a ``type`` that names
no type, ``properties`` that is not an object) is a ``SchemaProblem`` naming
the keys that lead to it, for the caller to report as a 400.
"""

from __future__ import annotations

import math

from .schema_size import MAX_DEPTH

_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
_UNSPECIFIED = "TYPE_UNSPECIFIED"

_CAMEL_CASE = {"any_of": "anyOf", "min_items": "minItems", "max_items": "maxItems", "min_length": "minLength",
               "max_length": "maxLength", "min_properties": "minProperties", "max_properties": "maxProperties",
               "property_ordering": "propertyOrdering"}
_COUNTS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf")
_SCHEMA_MAPS = ("properties", "$defs", "definitions")


class SchemaProblem(ValueError):
    """A schema that cannot be read: ``keys`` lead from the schema's root to the bad value."""

    def __init__(self, keys: tuple, message: str):
        super().__init__(message)
        self.keys = keys
        self.message = message


def to_json_schema(schema) -> dict:
    """The JSON Schema that Gemini's ``schema`` means; a SchemaProblem if it is not a schema."""
    return _convert(schema, ())


def _convert(schema, keys: tuple) -> dict:
    if len(keys) > MAX_DEPTH * 2:  # each level of nesting is two keys (properties.x)
        raise SchemaProblem(keys, "the schema nests too deeply")
    if not isinstance(schema, dict):
        raise SchemaProblem(keys, "must be a schema (an object)")
    out = {}
    for key, value in schema.items():
        camel = _CAMEL_CASE.get(key)
        if camel is not None and camel not in schema:
            key = camel
        at = keys + (key,)
        if key == "type":
            types = _types(value, at)
            if types:
                out["type"] = types[0] if len(types) == 1 else types
        elif key == "nullable":
            if not isinstance(value, bool):
                raise SchemaProblem(at, "must be true or false")
        elif key in _SCHEMA_MAPS:
            if not isinstance(value, dict):
                raise SchemaProblem(at, "must be an object of schemas")
            out[key] = {name: _convert(sub, at + (name,)) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS:
            if not isinstance(value, list):
                raise SchemaProblem(at, "must be a list of schemas")
            out[key] = [_convert(sub, at + (i,)) for i, sub in enumerate(value)]
        elif key == "items":
            out[key] = [_convert(sub, at + (i,)) for i, sub in enumerate(value)] if isinstance(value, list) \
                else _convert(value, at)
        elif key == "enum":
            if not isinstance(value, list):
                raise SchemaProblem(at, "must be a list")
            out[key] = list(value)
        elif key in _COUNTS:
            out[key] = _count(value, at)
        else:
            out[key] = value
    if "enum" in out:
        out["enum"] = [_number(v, out.get("type")) for v in out["enum"]]
    if schema.get("nullable") is True:
        _allow_null(out)
    return out


def _types(value, at: tuple) -> list:
    names = value if isinstance(value, list) else [value]
    if not names or not all(isinstance(name, str) for name in names):
        raise SchemaProblem(at, "must be a type name (STRING, NUMBER, INTEGER, BOOLEAN, ARRAY or OBJECT)")
    types = []
    for name in names:
        if name.upper() == _UNSPECIFIED:
            continue
        if name.upper() not in _TYPES:
            raise SchemaProblem(at, f"{name[:40]!r} is not a type (STRING, NUMBER, INTEGER, BOOLEAN, ARRAY "
                                    "or OBJECT)")
        types.append(name.lower())
    return list(dict.fromkeys(types))


def _count(value, at: tuple) -> int:
    """A count as a number: proto JSON writes int64 values as strings."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    raise SchemaProblem(at, "must be a whole number of at least 0")


def _number(value, json_type):
    """An enum value of a numeric schema as a number (the subset writes them as strings), else as it is."""
    if not isinstance(value, str) or json_type not in ("integer", "number"):
        return value
    try:
        number = int(value) if json_type == "integer" else float(value)
    except ValueError:
        return value
    return number if isinstance(number, int) or math.isfinite(number) else value


def _allow_null(out: dict):
    """``nullable: true`` in JSON Schema's words, on a converted schema."""
    if "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        if "null" not in types:
            out["type"] = [*types, "null"]
    elif "anyOf" in out:
        if not any(member.get("type") == "null" for member in out["anyOf"]):
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
